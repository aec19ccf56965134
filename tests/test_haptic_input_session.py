"""`--input haptic`: the scenario's declared devices drive its instruments through the
ordinary session path (make_input -> build_session adds the rig's plugin), the session is a
person's, and its replay re-sends the device-health events with no device attached."""

from __future__ import annotations

import dataclasses

import pytest

from vrmed.errors import VrmedError
from vrmed.session import build_session, make_input, open_target, replay


@pytest.fixture(scope="module")
def simulated_pack():
    pack = open_target("laparoscopy")[0]
    scenario = pack.scenario("peg_transfer_haptic")
    settings = dict(scenario.settings)
    haptics = dict(settings["haptics"])
    haptics["devices"] = {
        name: {**spec, "family": "simulated", "name": None} if isinstance(spec, dict) else spec
        for name, spec in haptics["devices"].items()
    }
    for spec in haptics["devices"].values():
        spec.pop("name", None)
    settings["haptics"] = haptics
    changed = dataclasses.replace(scenario, settings=settings)
    return dataclasses.replace(pack, scenarios={**pack.scenarios, "peg_transfer_haptic": changed})


@pytest.mark.slow
def test_haptic_input_drives_a_person_session_that_replays(simulated_pack):
    session = build_session(simulated_pack, "peg_transfer_haptic", input_kind="haptic")
    try:
        session.run(seconds=0.5)
        log = session.finish()
    finally:
        session.close()
    assert log.header["input"] == "haptic" and log.header["learner"] == "person"
    # every frame carries both styluses, connected and tracking
    sample = log.inputs[max(log.inputs)]["data"]
    for name in ("left_hand", "right_hand"):
        assert sample[name]["buttons"]["connected"] == 1.0 and len(sample[name]["position"]) == 3
    result, again = replay(log, pack=simulated_pack)
    again.close()
    assert result.ok, result.first_difference


def test_haptic_input_without_declared_devices_is_one_clear_error():
    pack = open_target("laparoscopy")[0]
    with pytest.raises(VrmedError, match="declares no haptic devices"):
        make_input("haptic", pack.scenario("peg_transfer"))
