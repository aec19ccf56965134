"""SoftBody declared in pack YAML: a procedural box or a real mesh, validated like any component."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import MESHES, write_tree

from vrmed.components.tissue.ligament import surface_vertex_areas
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


LIGAMENT_SLAB = PACK["prefabs/organs.yaml"].replace(
    "pin_below: 0.0001",
    "velocity_damping: 8.0\n              ligaments:\n                - {below: 0.0001, stiffness: 2.0e+6}",
)


def test_ligaments_from_yaml_carry_the_weight_with_the_winkler_sag(tmp_path):
    """``ligaments: [{below: h, stiffness: k}]`` holds the slab by its bottom face (issue #16
    item 4: organs held over surface patches, not pins): no vertex pinned, the 55 bottom-face
    vertices tied by springs k A_i. At rest the springs carry the weight M g, and since each
    pulls k A_i u_i, the area-weighted mean sag is exactly M g / (k A) (A_i a third of each
    vertex's boundary triangles: the face's 40 cm^2 plus half the sides' lowest 1 cm row, 54 cm^2)."""
    files = dict(PACK)
    files["prefabs/organs.yaml"] = LIGAMENT_SLAB
    session = build_session(load_pack(write_tree(tmp_path / "lig", files)), None)
    try:
        body = session.app.get(session.entities["organ"], SoftBody)
        (patch,) = body.constraints
        assert not body.pinned.any() and patch.indices.size == 11 * 5
        area = 1.0 / (2.0e6 * patch.compliance)  # k A_i -> A_i
        assert np.allclose(area, surface_vertex_areas(body.rest_points, body.tets)[patch.indices], rtol=1e-12)
        # each side quad of the lowest 1 cm row gives its bottom corners half its area
        assert area.sum() == pytest.approx(0.1 * 0.04 + 2 * (0.1 + 0.04) * 0.01 / 2, rel=1e-12)
        session.run(seconds=1.5)
        weight = body.mass.sum() * 9.80665
        assert patch.total_force[1] == pytest.approx(weight, rel=0.01)
        sag = body.rest_points[patch.indices, 1] - body.x[patch.indices, 1]
        assert (area * sag).sum() / area.sum() == pytest.approx(weight / (2.0e6 * area.sum()), rel=0.02)
    finally:
        session.close()


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("{below: 0.0001, stiffness: 2.0e6}", "write 2.0e+6, with a sign after the e"),
        ("{stiffness: 1000.0}", "give one selection: centre and radius"),
        ("{stiffness: 1000.0, below: 0.0, centre: [0.0, 0.0, 0.0], radius: 0.01}", "got centre, below"),
        ("{stiffness: 1000.0, vertices: []}", "the list is empty"),
        ("{stiffness: 1000.0, vertices: [0.5]}", "expected an integer"),
        ("{stiffness: -5.0, below: 0.001}", "stiffness must be a positive number of Pa/m"),
        ("{stiffness: 1000.0, centre: [0.0, 0.0, 0.0]}", "needs a radius > 0 m"),
        ("{stiffness: 1000.0, centre: [0.0, 0.0], radius: 0.01}", "centre"),
    ],
)
def test_a_bad_ligament_is_one_error_naming_file_line_and_key(tmp_path, entry, message):
    files = dict(PACK)
    files["prefabs/organs.yaml"] = LIGAMENT_SLAB.replace("{below: 0.0001, stiffness: 2.0e+6}", entry)
    with pytest.raises(PackError) as info:
        load_pack(write_tree(tmp_path / "bad", files))
    msg = str(info.value.issues[0])
    assert msg.startswith("bad/prefabs/organs.yaml:") and "SoftBody" in msg and message in msg, msg


@pytest.mark.parametrize(
    ("vertices", "message"),
    [("[0, 999]", "index 999 is out of range (the body has 165 vertices)"), ("[46]", "vertex 46 is inside the body")],
)
def test_a_ligament_on_vertices_the_surface_lacks_is_one_error(tmp_path, vertices, message):
    """``vertices:`` selects surface vertices by index (like ``pins``): an index out of range or
    an interior vertex (no surface area to carry a spring) is one error naming it."""
    files = dict(PACK)
    files["prefabs/organs.yaml"] = LIGAMENT_SLAB.replace("below: 0.0001", f"vertices: {vertices}")
    with pytest.raises(PackError) as info:
        build_session(load_pack(write_tree(tmp_path / "idx", files)), None)
    assert "ligaments[0]" in str(info.value) and message in str(info.value), str(info.value)


def test_a_ligament_selecting_no_vertex_names_the_lowest(tmp_path):
    files = dict(PACK)
    files["prefabs/organs.yaml"] = LIGAMENT_SLAB.replace("below: 0.0001", "below: -0.01")
    with pytest.raises(PackError) as info:
        build_session(load_pack(write_tree(tmp_path / "low", files)), None)
    msg = str(info.value)
    assert "ligaments[0]" in msg and "no surface vertex lies below y = -0.01 m; the lowest is at 0 m" in msg
