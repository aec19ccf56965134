"""SoftBody declared in pack YAML: a procedural box or a real mesh, validated like any component."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import MESHES, write_tree

from vrmed.components.tissue.softbody import SoftBody
from vrmed.packs import PackError, load_pack
from vrmed.session import build_session

PACK = {
    "pack.yaml": "name: tissue\nversion: 0.1.0\nplugins: [softbody]\ndefault_scenario: sag\n",
    "prefabs/organs.yaml": """
        slab:
          components:
            SoftBody:
              box: {size: [0.1, 0.02, 0.04], cells: [10, 2, 4]}
              material: {youngs_modulus: 20000.0, poisson_ratio: 0.45, density: 1000.0, damping: 0.001}
              pin_below: 0.0001
    """,
    "scenarios/sag.yaml": """
        duration: 0.5
        entities:
          - {name: organ, prefab: slab}
    """,
}


def test_box_softbody_from_yaml_deforms_under_gravity(tmp_path):
    pack = load_pack(write_tree(tmp_path / "tissue", PACK))
    session = build_session(pack, None)
    try:
        body = session.app.get(session.entities["organ"], SoftBody)
        assert body.material.youngs_modulus == 20000.0 and body.n_tets == 6 * 10 * 2 * 4
        assert body.pinned.sum() == 11 * 5  # the bottom face (y = 0)
        session.run(seconds=0.3)
        assert np.isfinite(body.x).all()
        free = ~body.pinned
        assert (body.x[free, 1] < body.rest_points[free, 1]).all()  # sagged
        assert np.array_equal(body.x[body.pinned], body.rest_points[body.pinned])
    finally:
        session.close()


def test_softbody_yaml_errors_name_file_line_and_key(tmp_path):
    files = dict(PACK)
    files["prefabs/organs.yaml"] = """
        slab:
          components:
            SoftBody:
              box: {size: [0.1, 0.02, 0.04], cells: [10, 2, 4]}
              material: {youngs_modulus: 20000.0, poisson_ratio: 0.6}
        both:
          components:
            SoftBody:
              mesh: assets/none.msh
    """
    with pytest.raises(PackError) as info:
        load_pack(write_tree(tmp_path / "tissue", files))
    msgs = [str(i) for i in info.value.issues]
    assert msgs[0] == (
        "tissue/prefabs/organs.yaml:5: slab.components.SoftBody.material: invalid Material: "
        "Material: Poisson ratio must be in [0, 0.5), got 0.6."
    )
    assert msgs[1].startswith(
        "tissue/prefabs/organs.yaml:9: both.components.SoftBody.mesh: file not found: 'assets/none.msh'"
    )


def test_real_liver_mesh_from_yaml(tmp_path):
    files = dict(PACK)
    # asset paths are relative to the pack folder (absolute ones are refused): ship a copy
    files["meshes/liver.msh"] = (MESHES / "liver.msh").read_text()
    files["prefabs/organs.yaml"] = """
        liver:
          components:
            SoftBody:
              mesh: meshes/liver.msh
              scale: 0.01
              offset: [0.0, 0.1, 0.0]
              material: {youngs_modulus: 1500.0, poisson_ratio: 0.45, density: 1060.0}
              pins: [0, 1, 2]
    """
    files["scenarios/sag.yaml"] = "duration: 0.1\nentities:\n  - {name: organ, prefab: liver}\n"
    session = build_session(load_pack(write_tree(tmp_path / "tissue", files)), None)
    try:
        body = session.app.get(session.entities["organ"], SoftBody)
        assert body.n_vertices == 181 and body.n_tets == 596  # the README's counts for liver.msh
        session.run(frames=9)
        assert np.isfinite(body.x).all()
    finally:
        session.close()


def test_volume_term_from_yaml(tmp_path):
    """``volume: nodal`` in a pack's SoftBody builds the body with the nodal volume term (the
    solver then builds its data on the first step); a value that is neither mode is one clear
    error naming the file, line and key."""
    files = dict(PACK)
    files["prefabs/organs.yaml"] = PACK["prefabs/organs.yaml"].replace(
        "pin_below: 0.0001", "pin_below: 0.0001\n              volume: nodal"
    )
    session = build_session(load_pack(write_tree(tmp_path / "nodal", files)), None)
    try:
        body = session.app.get(session.entities["organ"], SoftBody)
        assert body.volume == "nodal"
        session.run(seconds=0.05)
        assert body.nodal is not None and np.isfinite(body.x).all()
    finally:
        session.close()
    files["prefabs/organs.yaml"] = PACK["prefabs/organs.yaml"].replace(
        "pin_below: 0.0001", "pin_below: 0.0001\n              volume: mixed"
    )
    with pytest.raises(PackError) as info:
        load_pack(write_tree(tmp_path / "mixed", files))
    msg = str(info.value.issues[0])
    assert msg.startswith("mixed/prefabs/organs.yaml:3: slab.components.SoftBody: invalid SoftBodySpec: volume must")
    assert "'mixed'" in msg and "tet, nodal" in msg
