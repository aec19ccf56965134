"""``vrmed new-pack``: a pack that validates, runs and passes its own test out of the box."""

from __future__ import annotations

import re
from pathlib import Path

from .errors import VrmedError
from .version import __version__

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


def _files(name: str) -> dict[str, str]:
    major_minor = ".".join(__version__.split(".")[:2])
    return {
        "pack.yaml": f"""\
name: {name}
version: 0.1.0
engine: ">={major_minor}"
title: {name.replace("_", " ").title()}
description: A new vrmed pack. Describe the procedure it trains here.
systems: [spin]
default_scenario: demo
""",
        f"prefabs/{name}.yaml": """\
# Entity templates: components and their fields. `extends: other` inherits a prefab.
spinner:
  description: Something that turns at a steady rate.
  components:
    Transform: {position: [0.0, 1.0, 0.0]}
    Spin: {rate: 1.5}
""",
        "scenarios/demo.yaml": """\
title: Demo
description: One spinner turning for two seconds.
duration: 2.0
entities:
  - name: top
    prefab: spinner
""",
        "systems.py": f'''\
"""Systems and components of the {name} pack."""

from __future__ import annotations

import math
from dataclasses import dataclass

import vrmed
from vrmed.api import Transform


@vrmed.component
@dataclass
class Spin:
    """Turns the entity about the vertical axis at ``rate`` rad/s; ``angle`` is the total."""

    rate: float = 1.0
    angle: float = 0.0


@vrmed.system("logic", in_set="logic.scenario")
def spin(app: vrmed.App) -> None:
    """Advance every spinner by rate * dt and write the rotation into its Transform."""
    for _, (tf, s) in app.query(Transform, Spin):
        s.angle += s.rate * app.clock.dt
        tf.orientation[:] = (math.cos(s.angle / 2), 0.0, math.sin(s.angle / 2), 0.0)


def summary(app: vrmed.App) -> dict:
    """Printed at the end of `vrmed run`."""
    return {{"angles_rad": [round(s.angle, 4) for _, s in app.query(Spin)]}}
''',
        f"tests/test_{name}.py": f'''\
"""Tests of the {name} pack: it validates, and the spinner turns at its rate."""

from pathlib import Path

import pytest

from vrmed.api import build_session, load_pack

PACK = Path(__file__).resolve().parents[1]


def test_pack_is_valid():
    pack = load_pack(PACK)
    assert "demo" in pack.scenarios


def test_spinner_turns_at_its_rate():
    session = build_session(load_pack(PACK), "demo")
    try:
        session.run(seconds=2.0)
        summary = session.pack.summary(session.app)
    finally:
        session.close()
    # 1.5 rad/s for 2 s of simulated time, integrated at the logic rate.
    assert summary["angles_rad"] == [pytest.approx(3.0, abs=1e-9)]
''',
    }


def scaffold_pack(name: str, directory: Path) -> Path:
    """Create pack ``name`` under ``directory``; refuses to overwrite an existing folder."""
    if not _NAME.match(name):
        raise VrmedError(
            f"{name!r} is not a valid pack name: use lower-case letters, digits and '_', starting with a letter"
        )
    root = Path(directory) / name
    if root.exists():
        raise VrmedError(f"{root} already exists; choose another name or remove it")
    for rel, text in _files(name).items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root
