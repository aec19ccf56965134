"""Validation issues and the error that carries them."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import VrmedError


@dataclass(frozen=True, order=True)
class PackIssue:
    """One problem in a pack: where (file relative to the pack's parent, line, key) and what."""

    file: str
    line: int
    key: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.key}: {self.message}" if self.key else f"{where}: {self.message}"


class PackError(VrmedError):
    """A pack failed validation; ``issues`` lists every problem found, in file order."""

    def __init__(self, pack: str, issues: list[PackIssue]) -> None:
        self.pack = pack
        self.issues = sorted(set(issues))
        lines = "\n".join(f"  {i}" for i in self.issues)
        n = len(self.issues)
        super().__init__(f"pack {pack!r} is invalid ({n} problem{'s' if n != 1 else ''}):\n{lines}")
