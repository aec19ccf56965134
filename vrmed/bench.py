"""The benchmark runner behind ``vrmed bench``: finds suites in ``vrmed.benchmarks``."""

from __future__ import annotations

import importlib
import pkgutil
import platform
from typing import Any

from .errors import VrmedError


def available_suites() -> list[str]:
    """Names of the benchmark suites installed with vrmed."""
    # found by name like entry points: the core layer imports no benchmark module statically
    suites = importlib.import_module("vrmed.benchmarks")
    return sorted(m.name for m in pkgutil.iter_modules(suites.__path__) if not m.name.startswith("_"))


def run_suite(
    name: str, *, quick: bool = False, peers: bool = False, targets: list[str] | None = None
) -> dict[str, Any]:
    """Run one suite and return its result (``suite``, ``rows``, ``notes``, ``machine``).

    ``targets`` are the suite's own arguments (e.g. ``vrmed bench scene PACK/SCENARIO``)."""
    suites = available_suites()
    if name not in suites:
        raise VrmedError(f"no benchmark suite {name!r}; available: {', '.join(suites) or 'none'}")
    module = importlib.import_module(f"vrmed.benchmarks.{name}")
    if not callable(getattr(module, "run", None)):
        raise VrmedError(
            f"benchmark module vrmed.benchmarks.{name} has no run(options) function, so it is not a suite: "
            f"give it one, or rename it with a leading underscore"
        )
    result = dict(module.run({"quick": quick, "peers": peers, "targets": list(targets or [])}))
    result.setdefault("suite", name)
    result.setdefault("notes", [])
    result["machine"] = {
        "python": platform.python_version(),
        "processor": platform.machine(),
        "system": platform.system(),
    }
    return result


def parse_suite_args(args: list[str], suites: list[str]) -> list[tuple[str, list[str]]]:
    """Split ``vrmed bench`` arguments into suites and their targets: a word that is not a
    suite name is an argument of the suite before it (``scene laparoscopy/peg_transfer``)."""
    plan: list[tuple[str, list[str]]] = []
    for arg in args:
        if arg in suites:
            plan.append((arg, []))
        elif plan:
            plan[-1][1].append(arg)
        else:
            raise VrmedError(f"no benchmark suite {arg!r}; available: {', '.join(suites) or 'none'}")
    return plan


def format_table(rows: list[dict[str, Any]]) -> str:
    """Rows of flat dicts as an aligned text table (union of keys, in first-seen order)."""
    if not rows:
        return "(no rows)"
    keys: list[str] = []
    for row in rows:
        keys.extend(k for k in row if k not in keys)

    def cell(v: Any) -> str:
        if v is None:
            return "-"
        if isinstance(v, float):
            return f"{v:.4g}"
        return str(v)

    table = [keys] + [[cell(row.get(k)) for k in keys] for row in rows]
    widths = [max(len(r[i]) for r in table) for i in range(len(keys))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in table]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
