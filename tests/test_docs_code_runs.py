"""Every ```python block of the user docs runs as written (README.md, docs/**/*.md; not the
history log docs/physics-log.md).

A page's blocks run in order in one namespace, as a reader would type them, in a fresh
interpreter whose working directory is an empty temporary folder (so a relative path works
only if the page made it). Markers on the line before a fence (HTML comments, invisible in
the built site):

- ``<!-- docs-test: skip (reason) -->``: the block cannot run headless by nature (it needs a
  headset, a haptic device, a display); it is still parsed.
- ``<!-- docs-test: fragment -->``: a fragment (a signature, ``...`` placeholders); parsed only.
- ``<!-- docs-test: setup`` ... ``-->``: hidden code run before the block, for the context
  the text describes in words (say, "your App" or "the pack you loaded").

A block whose first line is ``# file: PATH`` (``# file: PATH (excerpt)`` is only a label) is
also written to PATH under the temporary folder, ```yaml blocks included, before anything
runs: a pack built up over a page exists on disk when its code loads it. A python ``# file:``
block runs with ``__file__`` set to that path, and a test module's ``test_*`` functions
are then called, as pytest would.

Run ``python tests/test_docs_code_runs.py [PAGE ...]`` for a block-by-block table.
"""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
EXCLUDED = {"docs/physics-log.md"}  # a history log: its code is how things were, not how they are
# a cold numba cache compiles docs/tissue.md's soft-body kernels in the child: 119 s measured on a
# loaded 2-core machine (3 s with the cache warm), so the limit leaves room for that
TIMEOUT_S = 300
SLOW_PAGES: set[str] = set()  # pages over ~20 s (numba compiles excluded); marked slow

FENCE = re.compile(r"^```(\w*)\s*$")
MARKER = re.compile(r"^<!--\s*docs-test:\s*(skip|fragment)\b\s*(.*?)\s*-->\s*$")
SETUP_OPEN = re.compile(r"^<!--\s*docs-test:\s*setup\s*$")
FILE_HEADER = re.compile(r"^#\s*file:\s*(\S+)\s*(\(excerpt\))?\s*$")


@dataclass
class Block:
    """One fenced code block of a page."""

    lang: str
    line: int  # 1-based line of the opening fence
    code: str
    mode: str = "run"  # "run", "skip" or "fragment"
    reason: str = ""
    setup: str = ""  # hidden code from a docs-test setup comment, run first
    file: str | None = None  # the `# file:` path, when the block is a whole file


def doc_pages() -> list[str]:
    """The user docs, as repository-relative paths, with at least one python block."""
    pages = [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md"))]
    names = [p.relative_to(REPO).as_posix() for p in pages]
    return [n for n in names if n not in EXCLUDED and "```python" in (REPO / n).read_text(encoding="utf-8")]


def parse_blocks(text: str) -> list[Block]:
    """The page's fenced blocks (top-level fences only, which is all the docs use), with
    their markers, hidden setup and `# file:` path."""
    lines = text.splitlines()
    blocks: list[Block] = []
    pending: tuple[str, str] | None = None
    setup = ""
    i = 0
    while i < len(lines):
        line = lines[i]
        marker = MARKER.match(line)
        if marker:
            pending = (marker.group(1), marker.group(2).strip("() "))
            i += 1
            continue
        if SETUP_OPEN.match(line):
            end = lines.index("-->", i + 1)
            setup += "\n".join(lines[i + 1 : end]) + "\n"
            i = end + 1
            continue
        fence = FENCE.match(line)
        if fence:
            end = next(j for j in range(i + 1, len(lines)) if lines[j].startswith("```"))
            code = "\n".join(lines[i + 1 : end]) + "\n"
            block = Block(fence.group(1), i + 1, code)
            header = FILE_HEADER.match(code.split("\n", 1)[0])
            if header and not header.group(2):
                block.file = header.group(1)
            if pending:
                block.mode, block.reason = pending
            block.setup, pending, setup = setup, None, ""
            blocks.append(block)
            i = end + 1
            continue
        if line.strip():
            pending = None  # a marker applies to the fence right after it only
        i += 1
    return blocks


# Runs in the child interpreter: writes the page's files, runs its python blocks in one
# namespace, and prints one JSON line per block. Every block runs even after a failure, so
# the table shows all of a page's problems at once (a later block may fail only because an
# earlier one did).
DRIVER = r"""
import json, sys, traceback
from pathlib import Path

spec = json.loads(sys.stdin.read())
for path, text in spec["files"]:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(text, encoding="utf-8")
ns = {"__name__": "__main__"}
for block in spec["blocks"]:
    status, detail = "pass", ""
    try:
        if block["setup"]:
            exec(compile(block["setup"], f"{spec['page']}:{block['line']} (setup)", "exec"), ns)
        if block["file"]:
            ns["__file__"] = str(Path(block["file"]).resolve())
        # padded so a traceback's line numbers are the page's
        exec(compile("\n" * block["line"] + block["code"], spec["page"], "exec"), ns)
        if block["file"] and Path(block["file"]).name.startswith("test_"):
            for name, value in list(ns.items()):
                if name.startswith("test_") and callable(value):
                    value()
    except BaseException:
        status, detail = "fail", traceback.format_exc()[-3000:]
    print(json.dumps({"line": block["line"], "status": status, "detail": detail}), flush=True)
"""


def run_page(page: str, tmp: Path, timeout: float = TIMEOUT_S) -> tuple[list[dict], str]:
    """Run a page's blocks in a fresh interpreter in `tmp`; one result per block (skipped
    and fragment blocks are parsed here and reported without running)."""
    blocks = parse_blocks((REPO / page).read_text(encoding="utf-8"))
    results: list[dict] = []
    runnable: list[dict[str, Any]] = []
    for b in blocks:
        if b.lang != "python":
            continue
        ast.parse(b.setup + b.code, filename=f"{page}:{b.line}")  # every block must at least parse
        if b.mode == "run":
            runnable.append({"line": b.line, "code": b.code, "setup": b.setup, "file": b.file})
        else:
            results.append({"line": b.line, "status": b.mode, "detail": b.reason})
    spec = {
        "page": page,
        "files": [(b.file, b.code) for b in blocks if b.file],
        "blocks": runnable,
    }
    stderr = ""
    if runnable:
        try:
            proc = subprocess.run(
                [sys.executable, "-c", DRIVER],
                input=json.dumps(spec),
                cwd=tmp,
                capture_output=True,
                text=True,
                timeout=timeout,
                env=child_env(tmp),
            )
            stderr = proc.stderr
            results += [json.loads(x) for x in proc.stdout.splitlines() if x.startswith('{"line"')]
        except subprocess.TimeoutExpired as exc:
            tail = exc.stderr.decode(errors="replace") if isinstance(exc.stderr, bytes) else exc.stderr or ""
            stderr = f"timed out after {timeout} s\n{tail}"
    done = {r["line"] for r in results}
    for item in runnable:
        if item["line"] not in done:  # the interpreter died or timed out before reporting it
            results.append({"line": item["line"], "status": "fail", "detail": stderr[-3000:]})
    first = {b.line: b.code.split("\n", 1)[0] for b in blocks}
    for r in results:
        r["first"] = first[r["line"]]
    return sorted(results, key=lambda r: r["line"]), stderr


def child_env(tmp: Path) -> dict[str, str]:
    """The environment of the child: this one, with the user's config and data folders moved
    into `tmp` so a snippet that stores something (records, settings) cannot touch them."""
    env = dict(os.environ)
    home = tmp / "home"
    home.mkdir(exist_ok=True)
    env.update(HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"), XDG_DATA_HOME=str(home / ".local/share"))
    env.setdefault("MPLBACKEND", "Agg")
    return env


@pytest.mark.parametrize(
    "page",
    [pytest.param(p, marks=[pytest.mark.slow] if p in SLOW_PAGES else [], id=p) for p in doc_pages()],
)
def test_page_code_runs(page, tmp_path):
    """The page's python blocks run, in order, in one namespace."""
    results, stderr = run_page(page, tmp_path)
    failed = [r for r in results if r["status"] == "fail"]
    report = "\n\n".join(f"{page}:{r['line']}: {r['first']}\n{r['detail']}" for r in failed)
    assert not failed, f"{len(failed)} block(s) failed:\n{report}\n--- stderr tail ---\n{stderr[-2000:]}"


def test_markers_say_why_and_every_block_is_seen():
    """A skip names its reason; a marker sits on a python block; every python fence of a
    page is one the runner found (one indented in a list would not be)."""
    for page in doc_pages():
        text = (REPO / page).read_text(encoding="utf-8")
        blocks = parse_blocks(text)
        fences = len(re.findall(r"^\s*```python", text, re.M))
        assert fences == sum(b.lang == "python" for b in blocks), f"{page}: an indented python fence is not run"
        for b in blocks:
            if b.mode == "skip":
                assert b.reason, f"{page}:{b.line}: a docs-test skip needs a reason"
            if b.mode != "run" or b.setup:
                assert b.lang == "python", f"{page}:{b.line}: docs-test marker on a {b.lang or 'plain'} block"


def main(argv: list[str]) -> None:
    """Print a block-by-block table for the given pages (default: all)."""
    import tempfile  # deferred: only the command-line table needs it

    for page in argv or doc_pages():
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            results, _ = run_page(page, Path(tmp))
            dt = time.perf_counter() - t0
        for r in results:
            why = r["detail"].strip().splitlines()[-1] if r["detail"].strip() else ""
            print(f"{page}:{r['line']}\t{r['status']}\t{dt:.1f}s\t{r['first'][:50]}\t{why[:160]}")


if __name__ == "__main__":
    main(sys.argv[1:])
