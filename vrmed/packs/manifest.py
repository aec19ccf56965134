"""What a pack consists of: its declared files, their content hashes, and what must never ship.

A pack is the files the engine reads from it, nothing else: ``pack.yaml``, ``systems.py``,
``prefabs/*.yaml``, ``scenarios/*.yaml`` and everything under ``assets/``, plus the globs
its ``pack.yaml`` lists under ``include:``. The same list is

- hashed when the pack loads (:func:`file_hashes`, :func:`content_hash`), so a session log
  records exactly which pack content it was made with and a replay can name the files that
  changed since; and
- bundled by ``vrmed package`` (:func:`bundle_problems` refuses secret-looking files and
  symlinks leading out of the pack), so tests, caches, version-control folders and
  whatever else lies in the pack's folder stay out of a shipped simulator.
"""

from __future__ import annotations

import fnmatch
import hashlib
import re
from collections.abc import Iterable, Sequence
from pathlib import Path

#: Globs (relative to the pack folder) every pack consists of.
DEFAULT_CONTENT: tuple[str, ...] = (
    "pack.yaml",
    "systems.py",
    "prefabs/*.yaml",
    "prefabs/*.yml",
    "scenarios/*.yaml",
    "scenarios/*.yml",
    "assets/**/*",
)

#: Folder names never part of a pack, whatever a glob says (caches, VCS, virtualenvs, tests).
SKIPPED_DIRS = frozenset(
    {"__pycache__", ".git", ".hg", ".svn", ".venv", "venv", ".tox", ".nox", ".pytest_cache", ".mypy_cache",
     ".ruff_cache", "node_modules", "tests", "build", "dist", ".idea", ".vscode"}
)  # fmt: skip
#: Files never part of a pack (compiled caches and editor/OS litter).
SKIPPED_FILES = ("*.pyc", "*.pyo", "*.nbi", "*.nbc", ".DS_Store", "Thumbs.db", "*~", "*.swp")

#: File names that look like secrets or learner data: refused by ``vrmed package`` when a
#: glob of the pack selects them (patterns after gitleaks' and GitHub's default ignores).
SECRET_NAMES = (
    ".env",
    ".env.*",
    "*.env",
    ".netrc",
    ".pypirc",
    ".npmrc",
    "*.pem",
    "*.key",
    "*.p12",
    "*.pfx",
    "*.kdbx",
    "id_rsa*",
    "id_dsa*",
    "id_ecdsa*",
    "id_ed25519*",
    "credentials*",
    "*secret*",
    "*password*",
    "*token*",
    "records.yaml",
    "records.yml",
    "*.sqlite",
    "*.db",
)
#: Column names of a table that holds learner data (a class list, an export of records).
_LEARNER_COLUMNS = re.compile(r"\b(learner|student|trainee|e-?mail|mbox|account|password|surname)\b", re.I)
_TABLES = ("*.csv", "*.tsv", "*.xlsx", "*.xls", "*.ods")


def _skipped(rel: Path) -> bool:
    if any(part in SKIPPED_DIRS for part in rel.parts[:-1]):
        return True
    return any(fnmatch.fnmatch(rel.name, pat) for pat in SKIPPED_FILES)


def declared_files(root: Path, include: Sequence[str] = ()) -> list[str]:
    """The pack's files (POSIX paths relative to ``root``, sorted): the default content and
    ``include`` globs, less caches, tests and version-control folders.

    Symlinks are listed as they are (not resolved): :func:`bundle_problems` says whether
    they stay inside the pack.
    """
    root = Path(root)
    found: set[str] = set()
    for pattern in (*DEFAULT_CONTENT, *include):
        for path in root.glob(pattern):
            if path.is_dir() and not path.is_symlink():
                continue
            rel = path.relative_to(root)
            if not _skipped(rel):
                found.add(rel.as_posix())
    return sorted(found)


def file_hashes(root: Path, files: Iterable[str]) -> dict[str, str]:
    """SHA-256 (hex) of each file's bytes, by relative path; unreadable files are left out
    (the loader reports those that matter)."""
    out: dict[str, str] = {}
    for rel in files:
        try:
            out[rel] = hashlib.sha256((Path(root) / rel).read_bytes()).hexdigest()
        except OSError:
            continue
    return out


def content_hash(hashes: dict[str, str]) -> str:
    """One SHA-256 over the per-file hashes (paths included, so a rename changes it)."""
    h = hashlib.sha256()
    for rel in sorted(hashes):
        h.update(f"{rel}\0{hashes[rel]}\n".encode())
    return h.hexdigest()


def changed_files(recorded: dict[str, str], current: dict[str, str]) -> list[str]:
    """Files that differ between two per-file hash maps: ``changed``, ``added`` or ``removed``."""
    out = []
    for rel in sorted(set(recorded) | set(current)):
        if rel not in current:
            out.append(f"{rel} (removed)")
        elif rel not in recorded:
            out.append(f"{rel} (added)")
        elif recorded[rel] != current[rel]:
            out.append(f"{rel} (changed)")
    return out


def looks_secret(rel: str) -> bool:
    """True for a file name that looks like credentials or a secret store."""
    name = Path(rel).name.lower()
    return any(fnmatch.fnmatch(name, pat) for pat in SECRET_NAMES)


def learner_table(path: Path) -> bool:
    """True for a table (CSV, TSV, spreadsheet) whose header names learner-data columns.

    Spreadsheets are binary: any of them is treated as learner data (a pack's numeric
    tables belong in CSV, where the header can be checked)."""
    name = path.name.lower()
    if not any(fnmatch.fnmatch(name, pat) for pat in _TABLES):
        return False
    if not name.endswith((".csv", ".tsv")):
        return True
    try:
        with path.open("r", encoding="utf-8", errors="replace") as fh:
            header = fh.readline(4096)
    except OSError:
        return True
    return bool(_LEARNER_COLUMNS.search(header))


def bundle_problems(root: Path, files: Iterable[str]) -> list[str]:
    """Why some of a pack's declared files must not be shipped: secret-looking names,
    learner tables, and symlinks that lead out of the pack (one line each, empty if none)."""
    root = Path(root).resolve()
    problems = []
    for rel in files:
        path = root / rel
        # Every component of the path, not only the file: a symlinked folder can lead out too.
        target = path.resolve()
        if not target.is_relative_to(root):
            problems.append(f"{rel}: a symlink leading out of the pack (to {target}); copy the file into the pack")
            continue
        if looks_secret(rel) or looks_secret(target.name):
            problems.append(f"{rel}: looks like a secret or credentials file; it must not ship in a pack")
        elif learner_table(target):
            problems.append(f"{rel}: a table with learner-data columns; learner records must not ship in a pack")
    return problems


__all__ = [
    "DEFAULT_CONTENT",
    "SECRET_NAMES",
    "bundle_problems",
    "changed_files",
    "content_hash",
    "declared_files",
    "file_hashes",
    "learner_table",
    "looks_secret",
]
