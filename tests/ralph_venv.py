"""The ralph LRS virtualenv that tests/test_records_lrs.py runs ralph from (its pins clash with
ours), built once in <repo>/.cache/ralph-venv.

A fresh clone (CI) has no such folder, and building it (a venv plus ``pip install`` of ralph
and its ~40 dependencies) took ~45 s on this machine, which the first LRS test used to wait
for. ``tests/conftest.py`` therefore starts this module as a low-priority background process
as soon as the session has collected an LRS test, so the build overlaps the tests that run
before it; the fixture's own :func:`ensure_ralph_venv` then waits on the same file lock and
finds the venv ready (or builds it itself, with the error shown, if the background build
failed). Run ``python tests/ralph_venv.py`` to build it by hand.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
#: ralph's auth module imports requests without declaring it, hence the second requirement.
RALPH_REQUIREMENTS = ["ralph-malph[cli,lrs]==5.1.0", "requests>=2.31"]
RALPH_VENV = REPO / ".cache" / "ralph-venv"


class RalphVenvError(RuntimeError):
    """pip could not install ralph into the virtualenv (its output is the message)."""


def venv_python() -> Path:
    """The virtualenv's python (it may not exist yet)."""
    return RALPH_VENV / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def is_ready() -> bool:
    """True when the virtualenv is complete for :data:`RALPH_REQUIREMENTS` (no lock taken)."""
    marker = RALPH_VENV / ".vrmed-ready"
    return marker.is_file() and marker.read_text() == " ".join(RALPH_REQUIREMENTS) and venv_python().is_file()


def ensure_ralph_venv() -> Path:
    """Create the ralph virtualenv once (locked against parallel builders: another test run or
    the background build); returns its python. Raises :class:`RalphVenvError` if pip fails."""
    RALPH_VENV.parent.mkdir(parents=True, exist_ok=True)
    with open(RALPH_VENV.parent / "ralph-venv.lock", "a+") as lock:
        with contextlib.suppress(ImportError):
            import fcntl  # deferred: POSIX only (elsewhere parallel builds are not locked)

            fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        if is_ready():
            return venv_python()
        shutil.rmtree(RALPH_VENV, ignore_errors=True)  # a half-built venv from an interrupted run
        subprocess.run([sys.executable, "-m", "venv", str(RALPH_VENV)], check=True)
        proc = subprocess.run(
            [
                str(venv_python()),
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                *RALPH_REQUIREMENTS,
            ],
            capture_output=True,
            text=True,
            timeout=600,
        )
        if proc.returncode != 0:
            raise RalphVenvError(
                f"could not install {RALPH_REQUIREMENTS} into {RALPH_VENV}:\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}"
            )
        (RALPH_VENV / ".vrmed-ready").write_text(" ".join(RALPH_REQUIREMENTS))
    return venv_python()


def start_background_build() -> subprocess.Popen | None:
    """Build the virtualenv in a niced child process unless it is ready; the child (or None)."""
    if is_ready():
        return None
    nice = ["nice", "-n", "19"] if shutil.which("nice") else []
    return subprocess.Popen(
        [*nice, sys.executable, str(Path(__file__).resolve())],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # a Ctrl-C in the test run does not interrupt pip half-way
    )


if __name__ == "__main__":
    print(ensure_ralph_venv())
