"""The local store of attempts and the on-disk statement queue.

Layout (one folder per pseudonymous learner, so export and deletion are per learner)::

    STORE/learners/<pseudonym>/attempts/<attempt id>.json   scored attempts
    STORE/learners/<pseudonym>/outbox/<statement id>.json   statements not yet accepted by the LRS
    STORE/learners/<pseudonym>/sent/<statement id>.json     statements the LRS accepted

Every file is written atomically (temporary file, fsync, rename, fsync of the folder), so
a crash leaves either the old or the new file, never half of one. A statement moves from
outbox to sent only after the LRS accepted it; a crash in between leaves it queued, and
sending it again is harmless because its id is stable (the LRS keeps one copy). An
unreadable file is reported by name, never skipped.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as _dt
import json
import os
import re
import shutil
import stat
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .attempt import Attempt
from .errors import RecordsStoreError

_PSEUDONYM = re.compile(r"^l-[0-9a-f]{32}$")


#: Largest store file read (bytes): an attempt or statement is a few KB.
MAX_STORE_FILE_BYTES = 4 << 20
#: Temporary files older than this (seconds) were left by a killed write and are removed.
STALE_TMP_S = 60.0


def _make_dir(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)  # learner data: owner only
    except (FileExistsError, NotADirectoryError):
        raise RecordsStoreError(f"{folder}: exists but is not a folder; move it aside") from None
    except OSError as exc:
        raise RecordsStoreError(f"{folder}: cannot create the store folder ({exc.strerror or exc})") from None
    if not folder.is_dir():
        raise RecordsStoreError(f"{folder}: exists but is not a folder; move it aside")


def write_json_atomic(path: Path, data: Any) -> None:
    """Write ``data`` as JSON to ``path`` atomically and durably (owner-only permissions)."""
    _make_dir(path.parent)
    if path.exists() and not path.is_file():
        raise RecordsStoreError(f"{path}: exists but is not a regular file; move it aside")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, sort_keys=True, indent=1)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)


def _fsync_dir(folder: Path) -> None:
    # The rename is only durable once the folder entry is on disk (POSIX); Windows has no
    # directory fsync, where os.replace is already as durable as it gets.
    if hasattr(os, "O_DIRECTORY"):
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def read_json(path: Path) -> Any:
    """Read a store file; a clear error naming it when it is unreadable. Special files
    (a FIFO would block the read forever, a device could be endless) and oversized files
    are refused without reading them."""
    try:
        # O_NONBLOCK: opening a FIFO with no writer must not block; regular files ignore it.
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOFOLLOW", 0))
    except OSError as exc:
        raise RecordsStoreError(
            f"{path}: unreadable store file ({exc.strerror or exc}; a symlink?); nothing was changed: restore "
            f"it from a backup or move it aside, then run the command again"
        ) from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise RecordsStoreError(f"{path}: not a regular file (a FIFO, device or folder); move it aside")
        if info.st_size > MAX_STORE_FILE_BYTES:
            raise RecordsStoreError(f"{path}: larger than {MAX_STORE_FILE_BYTES} bytes; not a vrmed store file")
        with os.fdopen(fd, "rb") as fh:
            fd = -1
            raw = fh.read(MAX_STORE_FILE_BYTES + 1)
        return json.loads(raw.decode("utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise RecordsStoreError(
            f"{path}: unreadable store file ({exc}); nothing was changed: restore it from a "
            f"backup or move it aside, then run the command again"
        ) from None
    finally:
        if fd >= 0:
            os.close(fd)


@dataclass(frozen=True)
class QueuedStatement:
    """A statement in the outbox, with where it came from."""

    path: Path
    learner: str
    attempt_id: str
    order: str
    statement: dict[str, Any]

    @property
    def id(self) -> str:
        """The statement id."""
        return str(self.statement["id"])


@dataclass(frozen=True)
class StoreCounts:
    """How many learners, attempts and statements (queued and sent) the store holds."""

    learners: int
    attempts: int
    queued: int
    sent: int


class RecordStore:
    """The attempt store and statement queue in one folder (see the module docstring)."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        if self.root.exists() and not self.root.is_dir():
            raise RecordsStoreError(f"{self.root}: the records store must be a folder, but this is a file")
        self.removed_temporaries = self.clean_stale_temporaries()

    def clean_stale_temporaries(self, older_than_s: float = STALE_TMP_S) -> int:
        """Remove temporary files left by writes that were killed (``.NAME.*.tmp`` older
        than ``older_than_s``); returns how many. A live write's file is seconds old at most."""
        base = self.root / "learners"
        if not base.is_dir():
            return 0
        removed, now = 0, time.time()
        for tmp in base.glob("*/*/.*.tmp"):
            try:
                if tmp.is_file() and not tmp.is_symlink() and now - tmp.stat().st_mtime > older_than_s:
                    tmp.unlink()
                    removed += 1
            except OSError:  # gone already (another process cleaned it): nothing to do
                continue
        return removed

    # -- layout
    def learner_dir(self, learner: str) -> Path:
        """Folder of one pseudonymous learner."""
        if not _PSEUDONYM.match(learner):
            # A raw id must never become a folder name (it would put personal data on disk).
            raise RecordsStoreError(f"{learner!r} is not a learner pseudonym; pseudonymise ids first")
        return self.root / "learners" / learner

    def learners(self) -> list[str]:
        """Pseudonyms of every learner with records."""
        base = self.root / "learners"
        if not base.is_dir():
            return []
        return sorted(p.name for p in base.iterdir() if p.is_dir() and _PSEUDONYM.match(p.name))

    # -- attempts
    def has_attempt(self, attempt: Attempt) -> bool:
        """Whether the attempt is already stored."""
        return (self.learner_dir(attempt.learner) / "attempts" / f"{attempt.attempt_id}.json").is_file()

    def add_attempt(self, attempt: Attempt, statements: list[dict[str, Any]]) -> bool:
        """Store an attempt and queue its statements; False (and no change) when it is
        already stored. Statements are queued before the attempt file is written, so the
        attempt file marks a complete add: an interrupted add is completed by re-running it."""
        folder = self.learner_dir(attempt.learner)
        target = folder / "attempts" / f"{attempt.attempt_id}.json"
        if target.is_file():
            return False
        for index, stmt in enumerate(statements):
            if (folder / "sent" / f"{stmt['id']}.json").is_file():
                continue
            write_json_atomic(
                folder / "outbox" / f"{stmt['id']}.json",
                {
                    "learner": attempt.learner,
                    "attempt_id": attempt.attempt_id,
                    "order": f"{attempt.started}|{index:03d}",
                    "statement": stmt,
                },
            )
        write_json_atomic(target, dataclasses.replace(attempt, statement_ids=[s["id"] for s in statements]).to_dict())
        return True

    def attempts(self, learner: str) -> list[Attempt]:
        """A learner's attempts, oldest first."""
        folder = self.learner_dir(learner) / "attempts"
        if not folder.is_dir():
            return []
        found = [Attempt.from_dict(read_json(p), str(p)) for p in sorted(folder.glob("*.json"))]
        return sorted(found, key=lambda a: (a.started_at(), a.attempt_id))

    # -- queue
    def queued(self) -> list[QueuedStatement]:
        """Every statement waiting for the LRS, in the order they happened."""
        items = []
        for learner in self.learners():
            for path in sorted((self.learner_dir(learner) / "outbox").glob("*.json")):
                data = read_json(path)
                if (
                    not isinstance(data, dict)
                    or not isinstance(data.get("statement"), dict)
                    or data["statement"].get("id") != path.stem
                ):
                    raise RecordsStoreError(f"{path}: not a queued statement written by vrmed; move it aside")
                items.append(
                    QueuedStatement(
                        path, learner, str(data.get("attempt_id")), str(data.get("order")), data["statement"]
                    )
                )
        return sorted(items, key=lambda q: (q.order, q.id))

    def mark_sent(self, item: QueuedStatement) -> None:
        """Record that the LRS accepted a queued statement: the sent copy is written before
        the queued one is removed, so a crash in between only causes a harmless resend."""
        sent = self.learner_dir(item.learner) / "sent" / item.path.name
        write_json_atomic(
            sent,
            {
                "learner": item.learner,
                "attempt_id": item.attempt_id,
                "order": item.order,
                "statement": item.statement,
                "sent_at": _dt.datetime.now(_dt.UTC).isoformat(),
            },
        )
        with contextlib.suppress(FileNotFoundError):
            item.path.unlink()

    def sent_ids(self, learner: str | None = None) -> list[str]:
        """Ids of statements the LRS accepted (one learner or all)."""
        learners = [learner] if learner else self.learners()
        return sorted(p.stem for lr in learners for p in (self.learner_dir(lr) / "sent").glob("*.json"))

    def counts(self) -> StoreCounts:
        """Learners, attempts, queued and sent statements."""
        learners = self.learners()
        attempts = sum(len(list((self.learner_dir(lr) / "attempts").glob("*.json"))) for lr in learners)
        queued = sum(len(list((self.learner_dir(lr) / "outbox").glob("*.json"))) for lr in learners)
        return StoreCounts(len(learners), attempts, queued, len(self.sent_ids()))

    @contextlib.contextmanager
    def push_lock(self) -> Iterator[None]:
        """Hold an exclusive lock while pushing, so two pushes never race on one queue."""
        _make_dir(self.root)
        lock = self.root / ".push.lock"
        if lock.is_symlink() or (lock.exists() and not lock.is_file()):
            raise RecordsStoreError(f"{lock}: not a regular file (a FIFO or symlink?); move it aside")
        with open(lock, "a+") as fh:
            try:
                import fcntl  # deferred: POSIX only, Windows has no fcntl (handled below)
            except ImportError:  # Windows: pushes are serialised by the operator instead
                yield
                return
            try:
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise RecordsStoreError(f"{self.root}: another `vrmed records push` is running; wait for it") from None
            try:
                yield
            finally:
                fcntl.flock(fh.fileno(), fcntl.LOCK_UN)

    # -- privacy: export and erasure per learner
    def export(self, learner: str) -> dict[str, Any]:
        """Everything stored about one learner: attempts and statements (queued and sent)."""
        folder = self.learner_dir(learner)

        def statements(kind: str) -> list[dict[str, Any]]:
            return [read_json(p) for p in sorted((folder / kind).glob("*.json"))]

        return {
            "format": "vrmed-learner-export/1",
            "learner": learner,
            "attempts": [a.to_dict() for a in self.attempts(learner)],
            "queued_statements": statements("outbox"),
            "sent_statements": statements("sent"),
        }

    def delete(self, learner: str) -> StoreCounts:
        """Delete every local record of one learner (attempts, queued and sent statements);
        returns what was deleted. Statements already in the LRS stay there (ask the LRS
        operator, or void them: xAPI 1.0.3 Data §2.3.2)."""
        folder = self.learner_dir(learner)
        doomed = folder.with_name(f".deleting-{folder.name}")
        if doomed.is_dir():  # left by a delete that was interrupted: finish it
            shutil.rmtree(doomed)
        if not folder.is_dir():
            return StoreCounts(0, 0, 0, 0)
        counts = StoreCounts(
            1,
            len(list((folder / "attempts").glob("*.json"))),
            len(list((folder / "outbox").glob("*.json"))),
            len(list((folder / "sent").glob("*.json"))),
        )
        # Rename first so a crash mid-delete never leaves a half-deleted learner that looks intact.
        os.replace(folder, doomed)
        shutil.rmtree(doomed)
        return counts
