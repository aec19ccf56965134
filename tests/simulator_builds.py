"""The suite's two ``vrmed package`` builds, made side by side (tests/conftest.py:
``packaged_simulators``): the lean "wardsim" simulator and
the "hygiene-trainer" that docs/guide-first-pack.md builds (both checked by tests/test_simulator_builds.py).

Each build is ~45 s (idle) of PyInstaller's single-threaded module analysis, which is most
of what the two tests cost. The ward build runs as its own ``python -m vrmed package``
process while this process follows the guide step by step (its ``vrmed`` commands through
click's CliRunner, as before, its own package step included), so on the suite's two cores
the pair takes about as long as the guide alone. Both are finished before the fixture
returns: nothing keeps running into later (timing-sensitive) tests.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from click.testing import CliRunner
from conftest import write_tree

from vrmed.cli import cli

GUIDE = Path(__file__).resolve().parents[1] / "docs" / "guide-first-pack.md"
BLOCK = re.compile(r"```(\w+)\n(.*?)```", re.S)

#: A YAML-only pack (no systems.py; only the physiology plugin, which a lean build keeps).
YAML_PACK = {
    "pack.yaml": "name: ward\nversion: 0.3.0\nplugins: [physiology]\ndefault_scenario: hypoxia\n",
    "prefabs/patient.yaml": """
        patient:
          components:
            Transform: {position: [0, 0.8, 0]}
            Patient: {spo2: 96}
            VisualMesh: {mesh: assets/tri.obj, scale: 0.5}
        """,
    "scenarios/hypoxia.yaml": """
        duration: 12
        rates: {display: 30}
        entities:
          - {name: patient, prefab: patient}
        script:
          initial: stable
          states:
            stable:
              transitions:
                - {after: 2, to: hypoxic}
            hypoxic:
              on_enter: [{physiology: {entity: patient, spo2: 86, rr: 28}}]
              transitions:
                - {event: OxygenApplied, to: done}
            done:
              final: true
        rubric:
          rules:
            - {id: oxygen, kind: deadline, event: OxygenApplied, within: 10, critical: true}
        learner:
          - {t: 5, event: OxygenApplied}
        """,
    "assets/tri.obj": "v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 3\n",
    # not pack content: never bundled
    "tests/test_ward.py": "def test_nothing():\n    pass\n",
    ".env": "LRS_PASSWORD=hunter2\n",
    "learners.csv": "learner,email\nann,ann@example.org\n",
    ".git/config": "[remote]\n  url = https://token@example.org/x.git\n",
    "notes/draft.md": "not declared\n",
}
TINY_PACK = {"pack.yaml": "name: tiny\nversion: 0.1.0\n", "scenarios/s.yaml": "duration: 1\nentities: []\n"}


def steps() -> list[tuple[str, str]]:
    """(kind, payload) in document order: ("file", "path\\ncontent") or ("cmd", "command")."""
    out = []
    for lang, body in BLOCK.findall(GUIDE.read_text(encoding="utf-8")):
        first, _, rest = body.partition("\n")
        if first.startswith("# file: "):
            out.append(("file", first[len("# file: ") :].strip() + "\n" + rest))
        elif lang == "console":
            out += [("cmd", line[2:].strip()) for line in body.splitlines() if line.startswith("$ ")]
    return out


@dataclass
class GuideRun:
    """What following the guide in ``folder`` printed: one output per command, in order, up
    to the first that failed (``failure`` then says which and why; "" when all passed)."""

    folder: Path
    outputs: list[str] = field(default_factory=list)
    failure: str = ""


@dataclass
class WardBuild:
    """``vrmed package ward tiny --name wardsim``: its exit status and printed output."""

    folder: Path
    returncode: int
    output: str


def follow_guide(folder: Path) -> GuideRun:
    """Write the guide's files and run its commands in ``folder`` (the working directory
    while it runs), in document order, stopping at the first command that fails."""
    run = GuideRun(folder)
    runner = CliRunner()
    old_cwd = os.getcwd()
    os.chdir(folder)
    try:
        for kind, payload in steps():
            if kind == "file":
                rel, _, content = payload.partition("\n")
                path = folder / rel
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(content, encoding="utf-8")
                continue
            argv = shlex.split(payload)
            if argv[0] == "vrmed":
                result = runner.invoke(cli, argv[1:])
                if result.exit_code != 0:
                    run.failure = f"{payload}\n{result.output}"
                    return run
                run.outputs.append(result.output)
            elif argv[0] == "rm":
                for rel in argv[1:]:
                    (folder / rel).unlink()
            elif argv[0] == "pytest":
                proc = subprocess.run(
                    [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *argv[1:]],
                    capture_output=True,
                    text=True,
                    cwd=folder,
                )
                if proc.returncode != 0:
                    run.failure = f"{payload}\n{proc.stdout}{proc.stderr}"
                    return run
                run.outputs.append(proc.stdout)
            else:
                run.failure = f"the guide uses a command this test cannot follow: {payload}"
                return run
    finally:
        os.chdir(old_cwd)
    return run


def ward_command(ward: Path) -> list[str]:
    """Write the ward and tiny packs under ``ward``; the command that packages them there."""
    write_tree(ward / "ward", YAML_PACK)
    write_tree(ward / "tiny", TINY_PACK)
    cmd = [sys.executable, "-m", "vrmed", "package", str(ward / "ward"), str(ward / "tiny")]
    return cmd + ["--name", "wardsim", "-o", str(ward / "dist"), "--version", "2.1.0"]


def build_both(base: Path) -> tuple[GuideRun, WardBuild]:
    """Start the ward build, follow the guide meanwhile, then wait for the ward build."""
    ward = base / "ward-build"
    cmd = ward_command(ward)
    log = ward / "package.log"  # a file, not a pipe: nobody reads while the guide runs
    with open(log, "w", encoding="utf-8") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, cwd=ward)
        try:
            (base / "guide").mkdir()
            guide = follow_guide(base / "guide")
            proc.wait(timeout=900)
        finally:
            if proc.poll() is None:  # the guide raised: do not leave a build running
                proc.kill()
                proc.wait()
    return guide, WardBuild(ward, proc.returncode, log.read_text(encoding="utf-8"))


def measure(base: Path) -> dict[str, float]:
    """``build_both`` with each chain's CPU seconds (this process and its children for the
    guide, the ward process's own rusage): on two free cores the pair's wall time is about
    the larger of the two, against their sum one after the other."""
    import resource  # deferred: only the measurement needs it (POSIX)
    import time  # deferred: with resource, for the measurement only

    def cpu(who: int) -> float:
        r = resource.getrusage(who)
        return r.ru_utime + r.ru_stime

    ward = base / "ward-build"
    cmd = ward_command(ward)
    t0, s0, c0 = time.perf_counter(), cpu(resource.RUSAGE_SELF), cpu(resource.RUSAGE_CHILDREN)
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ward)
    (base / "guide").mkdir()
    guide = follow_guide(base / "guide")
    guide_cpu = cpu(resource.RUSAGE_SELF) - s0 + cpu(resource.RUSAGE_CHILDREN) - c0
    _, status, usage = os.wait4(proc.pid, 0)
    if guide.failure or status:
        raise SystemExit(f"a build failed: {guide.failure or status}")
    ward_cpu = usage.ru_utime + usage.ru_stime
    return {"wall_s": time.perf_counter() - t0, "guide_cpu_s": guide_cpu, "ward_cpu_s": ward_cpu}


if __name__ == "__main__":  # python tests/simulator_builds.py: the figures in docs/architecture.md
    import tempfile

    with tempfile.TemporaryDirectory(prefix="vrmed-builds-") as tmp:
        m = measure(Path(tmp))
    print(
        f"wall {m['wall_s']:.1f} s (load {os.getloadavg()[0]:.1f}); CPU: guide chain {m['guide_cpu_s']:.1f} s, "
        f"ward build {m['ward_cpu_s']:.1f} s; two free cores: {m['guide_cpu_s'] + m['ward_cpu_s']:.1f} s one "
        f"after the other, ~{max(m['guide_cpu_s'], m['ward_cpu_s']):.1f} s side by side"
    )
