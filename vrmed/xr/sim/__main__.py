"""``python -m vrmed.xr.sim``: build the shim, write the manifest, print its path.

Use it as ``XR_RUNTIME_JSON=$(python -m vrmed.xr.sim) vrmed run sandbox --input openxr``,
or with any Python OpenXR program: ``XR_RUNTIME_JSON=$(python -m vrmed.xr.sim) python app.py``
(the shim starts the runtime inside that program's interpreter).
"""

from __future__ import annotations

import sys

from .build import ShimBuildError, write_manifest


def main() -> int:
    """Print the manifest path (exit 1 with the reason if the shim cannot be built)."""
    try:
        print(write_manifest())
    except ShimBuildError as exc:
        print(f"vrmed.xr.sim: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
