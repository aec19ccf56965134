"""Learning-records settings for tests: a private store, an institution secret and homepage,
and no user config (``HOME`` and ``VRMED_RECORDS_CONFIG`` point nowhere real), so a test
never reads or writes the machine's own records; and a sandbox session recorded through the
CLI, the log those tests read."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from vrmed.cli import cli


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


def recorded_sandbox(folder: Path, seed: int) -> Path:
    """``vrmed run sandbox --headless --seed SEED --record folder/s.jsonl`` through the CLI:
    a full sandbox session (it passes), its log streamed, chained and sealed; the log's path."""
    path = folder / "s.jsonl"
    res = CliRunner().invoke(cli, ["run", "sandbox", "--headless", "--seed", str(seed), "--record", str(path)])
    assert res.exit_code == 0, res.output
    return path
