"""Learning-records settings for tests: a private store, an institution secret and homepage,
and no user config (``HOME`` and ``VRMED_RECORDS_CONFIG`` point nowhere real), so a test
never reads or writes the machine's own records."""

from __future__ import annotations

from pathlib import Path


def records_env(root: Path, secret: str, store: str = "store", **extra: str) -> dict[str, str]:
    """Environment for ``vrmed records``/``progress`` commands with the store at ``root/store``;
    ``extra`` adds or overrides variables (e.g. ``VRMED_LRS_ENDPOINT``)."""
    return {
        "VRMED_RECORDS_DIR": str(root / store),
        "VRMED_INSTITUTION_SECRET": secret,
        "VRMED_INSTITUTION_HOMEPAGE": "https://sso.example.edu/",
        "VRMED_RECORDS_CONFIG": "",
        "HOME": str(root),
        **extra,
    }
