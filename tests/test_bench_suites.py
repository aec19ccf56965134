"""Every ``vrmed bench`` suite can run, and the catalogue and cantilever suites measure what
they say (quick mode)."""

from __future__ import annotations

import importlib

import numpy as np
import pytest

from vrmed.bench import available_suites, run_suite
from vrmed.benchmarks.script_shifts import ring_offsets
from vrmed.components.tissue.softbody import Material, SoftBody
from vrmed.errors import VrmedError
from vrmed.mesh import box_tets


def test_every_listed_suite_has_a_run_function() -> None:
    """``vrmed bench`` with no suite runs every listed one: a module listed without ``run`` (the
    cantilever study was one) ended that command in a raw AttributeError."""
    for name in available_suites():
        module = importlib.import_module(f"vrmed.benchmarks.{name}")
        assert callable(getattr(module, "run", None)), name


def test_a_module_without_run_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import vrmed.bench as bench

    monkeypatch.setattr(bench, "available_suites", lambda: ["_tissue_peers_helpers"])
    monkeypatch.setattr(bench.importlib, "import_module", lambda name: object())
    with pytest.raises(VrmedError, match="has no run"):
        run_suite("_tissue_peers_helpers")


def test_quick_catalogue_recovers_a_crushed_box_and_holds_a_poke() -> None:
    """The generated 0.2 m box at liver stiffness: squashed to 2 % of its height it comes back
    uninverted to its rest shape (docs/physics.md, "Robustness catalogue": < 2 mm after rigid
    alignment); the 5 mm sphere poked 20 mm in at 2 m/s stays outside it (surface within the
    docs' 0.5 mm tolerance of the tool) with no event."""
    rows = {r["run"]: r for r in run_suite("tissue_catalogue", quick=True)["rows"]}
    crushed, poke = rows["crushed"], rows["poke_2"]
    assert crushed["finite"] and crushed["inverted_start"] > 0
    assert crushed["inverted_end"] == 0 and crushed["rms_to_rest_mm"] < 2.0
    assert crushed["speed_end_m_s"] < 0.01
    assert poke["finite"] and poke["enclosed_no_event"] == 0 and poke["surface_in_tool_mm"] <= 0.5
    assert poke["inside_events"] == [] and poke["punctured"] == 0
    assert 1.0 < poke["peak_force_n"] < 10.0  # it did press the box
    assert poke["inverted_end"] == 0


def test_quick_cantilever_reports_the_beam_against_euler_bernoulli() -> None:
    (row,) = run_suite("cantilever", quick=True)["rows"]
    assert row["nu"] == 0.3 and row["cells_through"] == 4 and row["tets"] == 20 * 4 * 4 * 6
    assert 0.5 < row["x_euler_bernoulli"] < 1.1 and row["inverted"] == 0


def test_the_cantilever_end_load_is_a_uniform_shear_on_the_free_face() -> None:
    """``python -m vrmed.benchmarks.cantilever --load tip`` (docs/physics.md, "Nodal volume",
    "At the default substeps: the cell size"): consistent nodal forces of a uniform -y traction
    on the x = L face summing to the load, nothing elsewhere; a load it does not know is refused."""
    import numpy as np

    from vrmed.benchmarks.cantilever import _tip_face_forces, cantilever_ratio
    from vrmed.mesh import box_tets

    mesh = box_tets((0.12, 0.02, 0.02), (12, 2, 2))
    f = _tip_face_forces(mesh, 0.12, 2.0e-3)
    end = np.abs(mesh.points[:, 0] - 0.12) < 1e-12
    assert np.isclose(f[:, 1].sum(), -2.0e-3, rtol=1e-12) and np.all(f[:, [0, 2]] == 0.0)
    assert np.all(f[~end] == 0.0) and np.all(f[end, 1] < 0.0)
    # the moment of a uniform traction about the face's centre line is zero
    assert abs(np.sum(f[end, 1] * (mesh.points[end, 2] - 0.01))) < 1e-15
    with pytest.raises(ValueError, match="load must be"):
        cantilever_ratio(2, 0.3, 1, load="point")


def test_script_start_moves_the_whole_dissection_script() -> None:
    """``vrmed bench script_shifts`` moves the scenario setting ``script_start``: the laparoscopy
    pack's scripted dissection then starts that much later, every key after the first (t = 0,
    the hands at home) shifted by the same amount, nothing else changed."""
    import warnings

    from vrmed.input import InputPlugin
    from vrmed.session import build_session, open_target

    pack, _ = open_target("laparoscopy")
    settings = pack.scenarios["dissection_scissors"].settings

    def key_times() -> dict[str, list[float]]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            session = build_session(pack, "dissection_scissors", seed=0)
        try:
            source = session.app.resource(InputPlugin).source
            return {d: [k.t for k in keys] for d, keys in source._tracks.items()}  # type: ignore[union-attr]
        finally:
            session.close()

    assert "script_start" not in settings
    default = key_times()
    settings["script_start"] = 0.55
    try:
        shifted = key_times()
    finally:
        settings.pop("script_start")
    assert set(shifted) == set(default) == {"left_hand", "right_hand"}
    for device, times in default.items():
        assert shifted[device][0] == times[0] == 0.0
        assert shifted[device][1:] == pytest.approx([t + 0.05 for t in times[1:]], abs=1e-9)


def test_the_accuracy_suite_reports_each_item_one_figure_against_its_reference() -> None:
    """``vrmed bench tissue_accuracy`` (issue #16 item 1): the full suite's bar rows are the bar
    the unit tests run (tests/test_tissue_accuracy.py shares the setup), with Hooke's and the exact
    hyperelastic references computed analytically; a row outside its target says NO. Quick mode
    (60 frames, not settled) checks the plumbing: the rows, their references and the verdict."""
    from vrmed.benchmarks.tissue_accuracy import LIVER_E, _row, exact_uniaxial
    from vrmed.components.tissue.softbody import Material

    rows = {(r["check"], r["against"]): r for r in run_suite("tissue_accuracy", quick=True)["rows"]}
    a, b = exact_uniaxial(Material(LIVER_E, 0.45, 1060.0), 0.01 * LIVER_E)
    assert rows[("bar nu 0.45: axial strain", "Hooke sigma/E")]["reference"] == 0.01
    assert rows[("bar nu 0.45: axial strain", "exact hyperelastic")]["reference"] == round(a - 1.0, 6)
    assert rows[("bar nu 0.45: lateral strain", "exact hyperelastic")]["reference"] == round(b - 1.0, 6)
    assert rows[("bar nu 0.45: Poisson's ratio -lateral/axial", "nu")]["reference"] == 0.45
    # 1 % strain under E / 100: the exact answer is 0.7-0.9 % off Hooke (nu 0.3-0.45), as the notes say
    assert 0.0085 < (a - 1.0) / 0.01 - 1.0 < 0.0095
    assert _row("x", 1.06, 1.0, "y", 5.0)["met"] == "NO" and _row("x", 0.96, 1.0, "y", 5.0)["met"] == "yes"
    assert _row("x", 0.96, 1.0, "y", None)["met"] is None


def test_the_ring_offset_is_zero_for_a_rigid_move_and_the_whole_move_of_a_lone_vertex() -> None:
    """``vrmed bench script_shifts``' columns ``ring_cut_mm`` / ``ring_other_mm``: a body
    translated has every vertex in its ring (offset 0 up to rounding); one vertex moved by d
    alone is out of its ring by |d|, and each of its neighbours by |d| times its share of the
    neighbour's ring (the tets the two share over 3 x the neighbour's tets)."""
    body = SoftBody.from_mesh(box_tets((0.03, 0.01, 0.02), (3, 2, 2)), Material(5.4e3, 0.45, 1060.0))
    body.x[:] = body.rest_points + [0.01, -0.02, 0.005]
    assert ring_offsets(body).max() < 1e-15
    body.x[:] = body.rest_points
    k = int(np.argmax(np.bincount(body.tets.ravel())))  # an inner vertex
    d = np.array([1e-3, -2e-3, 0.5e-3])
    body.x[k] += d
    off = ring_offsets(body)
    assert off[k] == pytest.approx(np.linalg.norm(d), rel=1e-12)
    tets_of = np.bincount(body.tets.ravel(), minlength=body.n_vertices)
    for j in np.unique(body.tets[(body.tets == k).any(axis=1)]):
        if j != k:
            shared = int(((body.tets == k).any(axis=1) & (body.tets == j).any(axis=1)).sum())
            assert off[j] == pytest.approx(np.linalg.norm(d) * shared / (3 * tets_of[j]), rel=1e-12)


def test_script_shifts_refuses_an_option_it_does_not_know() -> None:
    """``vrmed bench script_shifts ... scissors_friction=F`` is its only option; a typo is an error
    before any session runs, as is a friction that is not a number >= 0."""
    with pytest.raises(VrmedError, match="unknown option"):
        run_suite("script_shifts", targets=["laparoscopy/dissection_scissors", "10", "friction=0.05"])
    for bad in ("-1", "slippery"):
        with pytest.raises(VrmedError, match="scissors_friction must be >= 0"):
            run_suite("script_shifts", targets=["laparoscopy/dissection_scissors", f"scissors_friction={bad}"])
