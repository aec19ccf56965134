"""Property-based fault tests (hypothesis), bounded to run in seconds: pack YAML, scenario
expressions and session logs. Every input is either accepted or one clean error (a
PackError with file:line, an ExprError, a SessionLogError naming the file and line);
never another exception, never more than a second of this thread's CPU time (a hang guard
that a loaded machine cannot trip, as wall time could), never pack code.

Counts per area are collected in STATS and printed by the last test (run with -s)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import write_tree
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from records_env import records_env

from vrmed.cli import cli
from vrmed.packs import PackError, load_pack
from vrmed.recording import SessionLog, SessionLogError
from vrmed.scenario.expr import ExprError, compile_expr

STATS: dict[str, dict[str, int]] = {}
FAST = settings(
    database=None,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def tally(area: str, outcome: str) -> None:
    STATS.setdefault(area, {"inputs": 0}).setdefault(outcome, 0)
    STATS[area]["inputs"] += 1
    STATS[area][outcome] += 1


# -- pack YAML ------------------------------------------------------------------------------

numbers = st.one_of(
    st.integers(1, 500),
    st.floats(0.01, 1000.0),
    st.integers(-(10**30), 10**30),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([".nan", ".inf", "-.inf", "1.0e+308", "1.0e-300", "0", "-1", "1e12", "99999999999999999999999"]),
)
scalars = st.one_of(numbers, st.text(max_size=12), st.booleans(), st.none())
values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=6), inner, max_size=3)),
    max_leaves=12,
)


def _yaml(value) -> str:
    if (
        isinstance(value, str)
        and value.startswith((".", "1", "9", "-", "0"))
        and value.replace(".", "")
        .replace("e", "")
        .replace("+", "")
        .replace("-", "")
        .replace("n", "")
        .replace("a", "")
        .replace("i", "")
        .replace("f", "")
        .isalnum()
    ):
        return value  # a number-looking token, unquoted (the YAML parser decides what it is)
    return json.dumps(value)


FIELDS = {
    "duration": numbers,
    "rates": st.dictionaries(
        st.sampled_from(["display", "physics", "logic", "substeps", "bogus"]), numbers, max_size=3
    ),
    "position": st.lists(numbers, min_size=3, max_size=3) | st.lists(numbers, max_size=4),
    "scale": numbers,
}
HOSTILE_DOCS = [
    "a: &a [x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n"
    "d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\nf: [*e,*e,*e,*e,*e,*e,*e,*e,*e]\n",
    "entities: &a [*a]\n",
    "entities: [\x00]\n",
    "entities: !!python/object/apply:os.system ['true']\n",
    "entities: []\nduration: " + "9" * 5000 + "\n",
    "entities: " + "[" * 500 + "]" * 500 + "\n",
    "\ufeffentities: []\n",
    "entities: []\n" + "x: 1\n" * 10,
    "? [a]\n: 1\n",
    "- 1\n- 2\n",
]


def _load(root: Path) -> None:
    t0 = time.thread_time()
    try:
        load_pack(root, allow_code=False)
        outcome = "valid"
    except PackError as exc:
        for issue in exc.issues:
            assert issue.file and isinstance(issue.line, int), issue
        outcome = "clean_error"
    took = time.thread_time() - t0
    assert took < 2.0, f"{took:.2f} s"
    tally("pack_yaml", outcome)


@pytest.mark.slow
@settings(FAST, max_examples=60)
@given(
    duration=FIELDS["duration"],
    rates=FIELDS["rates"],
    position=FIELDS["position"],
    extra=st.just({}) | st.dictionaries(st.sampled_from(["title", "learner", "script", "rubric"]), values, max_size=2),
)
def test_fuzzed_scenarios_are_valid_or_clean_errors(tmp_path_factory, duration, rates, position, extra):
    scen = [f"duration: {_yaml(duration)}"]
    if rates:
        scen.append("rates: {" + ", ".join(f"{k}: {_yaml(v)}" for k, v in rates.items()) + "}")
    scen.append("entities:\n  - components:\n      Transform: {position: [" + ", ".join(map(_yaml, position)) + "]}")
    scen += [f"{k}: {json.dumps(v)}" for k, v in extra.items()]
    root = write_tree(
        tmp_path_factory.mktemp("fz") / "fz",
        {"pack.yaml": "name: fz\nversion: 1.0.0\ndefault_scenario: s\n", "scenarios/s.yaml": "\n".join(scen) + "\n"},
    )
    _load(root)


@pytest.mark.parametrize("doc", HOSTILE_DOCS)
def test_hostile_yaml_documents(tmp_path, doc):
    root = write_tree(tmp_path / "hy", {"pack.yaml": "name: hy\nversion: 1.0.0\ndefault_scenario: s\n"})
    (root / "scenarios").mkdir()
    (root / "scenarios" / "s.yaml").write_bytes(doc.encode("utf-8"))
    _load(root)


@settings(FAST, max_examples=80)
@given(data=st.binary(max_size=300))
def test_random_bytes_as_pack_yaml(tmp_path_factory, data):
    root = write_tree(tmp_path_factory.mktemp("rb") / "rb", {"pack.yaml": "name: rb\nversion: 1.0.0\n"})
    (root / "scenarios").mkdir()
    (root / "scenarios" / "s.yaml").write_bytes(data)
    _load(root)


# -- scenario expressions --------------------------------------------------------------------

atoms = st.one_of(
    st.integers(-(10**6), 10**6).map(str),
    st.floats(allow_nan=False, allow_infinity=False, width=32).map(repr),
    st.sampled_from(["0", "'a'", "'x' * 99999", "[1, 2]", "true", "None", "vars.n", "event.dose", "1e308", "(", ")"]),
)
exprs = st.recursive(
    atoms,
    lambda inner: (
        st.tuples(
            inner, st.sampled_from([" + ", " - ", " * ", " / ", " < ", " == ", " in ", " and ", " or "]), inner
        ).map("".join)
        | inner.map(lambda e: f"not {e}")
        | inner.map(lambda e: f"({e})")
    ),
    max_leaves=10,
)
HOSTILE_EXPRS = [
    "1/0",
    "'a' < 1",
    "'a' * 1000000000",
    "[1] * 100000000",
    " + ".join(["1"] * 20000),
    "(" * 5000 + "1" + ")" * 5000,
    "__import__('os')",
    "vars.__class__",
    "(lambda: 1)()",
    "1e308 * 10",
]


def _expr(text: str, lookup) -> None:
    t0 = time.thread_time()
    try:
        expr = compile_expr(text)
    except ExprError:
        tally("expressions", "clean_error")
        return
    try:
        expr.evaluate(lookup)
        tally("expressions", "evaluated")
    except ExprError:
        tally("expressions", "clean_error")
    except KeyError:  # an unknown name: the loader reports these at validation time
        tally("expressions", "unknown_name")
    assert time.thread_time() - t0 < 1.0


@settings(FAST, max_examples=300)
@given(text=exprs, n=st.one_of(st.integers(), st.text(max_size=3), st.none()), dose=st.floats())
def test_fuzzed_expressions(text, n, dose):
    _expr(text, {"vars.n": n, "event.dose": dose}.__getitem__)


@pytest.mark.parametrize("text", HOSTILE_EXPRS)
def test_hostile_expressions(text):
    _expr(text, {}.__getitem__)
    if text in ("1/0", "'a' < 1", "'a' * 1000000000"):
        with pytest.raises(ExprError):  # constant expressions fail at load time, not mid-session
            compile_expr(text)


# -- session logs ----------------------------------------------------------------------------

PLAIN = {
    "pack.yaml": "name: logfuzz\nversion: 1.0.0\ndefault_scenario: s\n",
    "scenarios/s.yaml": "duration: 0.2\ninput:\n  scripted:\n    right_hand:\n"
    "      - {t: 0.0, position: [0, 0, 0]}\n      - {t: 0.2, position: [0, 0.1, 0]}\nentities: []\n",
}


@pytest.fixture(scope="module")
def small_log(tmp_path_factory) -> bytes:
    root = write_tree(tmp_path_factory.mktemp("lp") / "logfuzz", PLAIN)
    path = root.parent / "s.jsonl"
    res = CliRunner().invoke(cli, ["run", str(root), "--headless", "--record", str(path)])
    assert res.exit_code == 0, res.output
    return path.read_bytes()


@st.composite
def damaged_logs(draw, base: bytes):
    lines = base.split(b"\n")
    how = draw(st.sampled_from(["truncate", "flip", "line", "value", "insert"]))
    if how == "truncate":
        return base[: draw(st.integers(0, len(base)))]
    if how == "flip":
        data = bytearray(base)
        for _ in range(draw(st.integers(1, 4))):
            data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
        return bytes(data)
    if how == "line":
        i = draw(st.integers(0, len(lines) - 1))
        lines[i] = draw(
            st.sampled_from(
                [
                    b"",
                    b"[]",
                    b"null",
                    b"{}",
                    b'{"kind": "input"}',
                    b"\xff\xfe",
                    b"NaN",
                    b'{"kind": "end", "frames": 1000000000000}',
                    b"[" * 3000,
                ]
            )
        )
        return b"\n".join(lines)
    if how == "value":
        i = draw(st.integers(0, len(lines) - 2))
        try:
            rec = json.loads(lines[i])
        except ValueError:
            return base
        key = draw(st.sampled_from(sorted(rec) or ["kind"]))
        rec[key] = draw(st.sampled_from([None, -1, 10**12, "x", [], {}, 1e308, True]))
        rec.pop("h", None)
        lines[i] = json.dumps(rec).encode()
        return b"\n".join(lines)
    i = draw(st.integers(0, len(lines)))
    lines.insert(i, lines[draw(st.integers(0, len(lines) - 1))])  # a duplicated line
    return b"\n".join(lines)


@settings(FAST, max_examples=150)
@given(data=st.data())
def test_damaged_logs_are_clean_errors(small_log, tmp_path_factory, data):
    raw = data.draw(damaged_logs(small_log))
    path = tmp_path_factory.mktemp("dl") / "d.jsonl"
    path.write_bytes(raw)
    t0 = time.thread_time()
    try:
        SessionLog.read(path)
        tally("session_logs", "read")
    except SessionLogError as exc:
        assert str(exc).startswith(str(path)), str(exc)
        tally("session_logs", "clean_error")
    assert time.thread_time() - t0 < 1.0


@pytest.mark.parametrize(
    "raw",
    [
        b"\xff\xfe\x00garbage\n",
        b'{"kind": "header", "format": "vrmed-session/1"}\n{"t": NaN}\n',
        b"",
        b"\n\n",
        b'{"kind": "header", "format": "vrmed-session/1", "pack": "logfuzz"}\n'
        b'{"kind": "end", "frames": 1000000000000}\n',
        b"[" * 100000 + b"\n",
    ],
)
@pytest.mark.parametrize("command", [["replay"], ["report"], ["records", "add", "--learner", "x"]])
def test_malformed_logs_in_every_command(tmp_path, raw, command):
    path = tmp_path / "m.jsonl"
    path.write_bytes(raw)
    env = records_env(tmp_path, "fuzz-test-secret-0b7c5a", store="st")
    res = CliRunner().invoke(cli, [*command, str(path)], env=env)
    assert res.exit_code == 1 and res.output.startswith("error: ") and "Traceback" not in res.output, res.output
    assert res.exception is None or isinstance(res.exception, SystemExit)
    tally("cli_logs", "clean_error")


def test_counts():
    """The run's counts per area (printed with -s)."""
    print("\nfuzz counts:", json.dumps(STATS, sort_keys=True))
    assert STATS
