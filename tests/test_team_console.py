"""The instructor console in headless Chromium: log in, see live vitals, change the rhythm;
every connected client observes the change. Skipped where Chromium/chromedriver is missing."""

from __future__ import annotations

import asyncio
import shutil
import threading
import time

import pytest
from team_common import emergency_pack

from vrmed.session import replay
from vrmed.team.local import scripted_team
from vrmed.team.server import TeamServer

webdriver = pytest.importorskip("selenium.webdriver")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(
    not (CHROMIUM and DRIVER), reason="Debian's chromium and chromedriver are not installed"
)


def _browser():
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1000,800"):
        opts.add_argument(arg)
    return webdriver.Chrome(service=Service(DRIVER), options=opts)


def _wait(predicate, timeout: float = 20.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("timed out waiting")


@pytest.mark.slow
def test_console_shows_vitals_and_injects_a_rhythm_change_all_clients_see():
    pack = emergency_pack()
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    def call(coro, timeout=30.0):
        return asyncio.run_coroutine_threadsafe(coro, loop).result(timeout)

    server = TeamServer(pack, "code_blue_team", speed=4, instructor_password="s3cret")
    call(server.start())
    driver = None
    try:
        clients = call(scripted_team(server, ["leader", "compressor.1"]))
        driver = _browser()
        driver.get(f"http://127.0.0.1:{server.port}/")
        by = webdriver.common.by.By
        driver.find_element(by.ID, "password").send_keys("wrong")
        driver.find_element(by.ID, "login-btn").click()
        _wait(lambda: "wrong instructor password" in driver.find_element(by.ID, "login-error").text)
        pw = driver.find_element(by.ID, "password")
        pw.clear()
        pw.send_keys("s3cret")
        driver.find_element(by.ID, "login-btn").click()
        _wait(lambda: driver.find_element(by.ID, "main").is_displayed())
        _wait(lambda: driver.find_element(by.ID, "rhythm").text == "vf")  # live vitals from the physiology
        assert float(driver.find_element(by.ID, "time").text) > 2.0
        assert "Patient.spo2" in driver.find_element(by.ID, "vitals").text
        driver.find_element(by.ID, "rhythm-pea").click()
        _wait(lambda: driver.find_element(by.ID, "rhythm").text == "pea")
        assert "RhythmInjected" in driver.find_element(by.ID, "timeline").text
        # an equipment failure from its button (the first declared: the defibrillator)
        driver.find_element(by.ID, "fail").click()
        _wait(lambda: "EquipmentFailed" in driver.find_element(by.ID, "timeline").text)
        # a second casualty from its button (at the default position), watched like the patient
        driver.find_element(by.ID, "add-casualty").click()
        _wait(lambda: "visitor" in driver.find_element(by.ID, "vitals").text)
        assert "CasualtyAdded" in driver.find_element(by.ID, "timeline").text
        assert driver.find_element(by.ID, "rhythm").text == "pea"  # the header stays on the original patient
        for c in clients.values():
            _wait(lambda c=c: c.state.get("watch", {}).get("patient", {}).get("Patient.rhythm") == "pea")
            changes = [e["data"]["to_rhythm"] for e in c.events if e["type"] == "RhythmChanged"]
            assert changes[-1] == "pea"
        # pause: no simulated time passes for anyone; resume: it runs on
        driver.find_element(by.ID, "pause").click()
        _wait(lambda: driver.find_element(by.ID, "status").text == "paused")
        frozen = server.session.app.clock.frame
        time.sleep(0.3)
        assert server.session.app.clock.frame == frozen + 0 and clients["leader"].state["paused"]
        driver.find_element(by.ID, "note").send_keys("compressions paused too long")
        driver.find_element(by.ID, "annotate").click()
        _wait(lambda: "compressions paused too long" in driver.find_element(by.ID, "timeline").text)
        driver.find_element(by.ID, "resume").click()
        _wait(lambda: server.session.app.clock.frame > frozen + 5)
        for c in clients.values():
            call(c.close())
    finally:
        if driver is not None:
            driver.quit()
        call(server.stop())
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
    log = server.finish()
    server.session.close()
    events = [e for e in log.events if e["type"].endswith(":RhythmInjected")]
    assert [e["data"]["rhythm"] for e in events] == ["pea"]  # recorded: the debrief replays it
    failed = [e["data"] for e in log.events if e["type"].endswith(":EquipmentFailed")]
    assert failed == [
        {"failure": "defib_no_charge", "label": "Defibrillator fails to charge", "duration_s": 30.0, "monitor": ""}
    ]
    added = [e["data"] for e in log.events if e["type"].endswith(":CasualtyAdded")]
    assert added == [{"casualty": "visitor", "prefab": "adult_inpatient", "x": 1.5, "y": 0.1, "z": 1.0}]
    paused = [e["data"]["paused"] for e in log.events if e["type"].endswith(":SessionPaused")]
    assert paused == [True, False]
    assert [n["text"] for n in log.header["annotations"]] == ["compressions paused too long"]
    result, again = replay(log, pack=pack)  # the instructor's injection and pause replay exactly
    again.close()
    assert result.ok, result.first_difference
