"""The instructor console in headless Chromium: log in, see live vitals, change the rhythm;
every connected client observes the change; remove an added casualty; play a voice
call-out's stored clip; open the debrief, jump to an annotation and see every member's view
there. Skipped where Chromium/chromedriver is missing."""

from __future__ import annotations

import asyncio
import shutil
import threading
import time
import urllib.request

import numpy as np
import pytest
from team_common import emergency_pack

from vrmed.session import replay
from vrmed.team.local import scripted_team
from vrmed.team.server import TeamServer
from vrmed.team.voice import clip_hash, pcm_wav

IDENTITY = [1.0, 0.0, 0.0, 0.0]  # looking along -Z

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

    server = TeamServer(pack, "code_blue_team", speed=4, instructor_password="s3cret", debrief_size=(120, 90))
    call(server.start())
    driver = None
    try:
        clients = call(scripted_team(server, ["leader", "compressor.1"]))
        # head poses for the debrief: the leader 1 m behind the compressor, both looking along -Z
        for slot, z in (("leader", 1.0), ("compressor.1", 0.0)):
            call(clients[slot].send(devices={"head": {"position": [0.0, 1.7, z], "orientation": IDENTITY}}))
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
        # ... and removed again (transferred): no longer watched, a recorded CasualtyRemoved
        _wait(lambda: driver.find_element(by.ID, "remove-which").get_attribute("value") == "visitor")
        driver.find_element(by.ID, "remove-casualty").click()
        _wait(lambda: "CasualtyRemoved" in driver.find_element(by.ID, "timeline").text)
        _wait(lambda: "visitor" not in driver.find_element(by.ID, "vitals").text)
        # a voice call-out: on the timeline with an audio player whose source serves the stored clip
        tone = (8000 * np.sin(2 * np.pi * 440 * np.arange(3200) / 16000)).astype("<i2")
        wav = pcm_wav(tone.tobytes(), 16000)
        sha = call(clients["leader"].send_voice(wav))
        audio = _wait(lambda: driver.find_elements(by.CSS_SELECTOR, "#timeline audio"))[0]
        src = audio.get_attribute("src")
        assert f"/voice/{sha}.wav?key=" in src and "0.2 s" in driver.find_element(by.ID, "timeline").text
        with urllib.request.urlopen(src, timeout=10) as r:
            assert r.headers["Content-Type"] == "audio/wav" and clip_hash(r.read()) == sha
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
        # the debrief of the running session: jump to the annotation; every member's view there
        driver.find_element(by.ID, "tab-debrief").click()
        note = _wait(
            lambda: [b for b in driver.find_elements(by.CSS_SELECTOR, "#db-marks button") if "note:" in b.text]
        )
        note_t = float(note[0].get_attribute("data-t"))
        note[0].click()
        loaded = "return Array.from(document.querySelectorAll('#db-views img')).filter(i => i.naturalWidth > 0).length"
        _wait(lambda: driver.execute_script(loaded) == 2, timeout=60)
        assert float(driver.find_element(by.ID, "db-time").text) == pytest.approx(note_t, abs=0.051)
        assert "replay exact" in driver.find_element(by.ID, "db-status").text
        assert "Patient.rhythm" in driver.find_element(by.ID, "db-vitals").text
        images = {}
        for img in driver.find_elements(by.CSS_SELECTOR, "#db-views img"):
            with urllib.request.urlopen(img.get_attribute("src"), timeout=10) as r:
                images[img.get_attribute("data-client")] = r.read()
        assert set(images) == {c.client for c in clients.values()}
        first, second = images.values()
        assert first.startswith(b"\x89PNG") and second.startswith(b"\x89PNG") and first != second
        clip = driver.find_element(by.CSS_SELECTOR, f"#db-voice [data-sha='{sha}'] audio")
        assert clip.get_attribute("src") == src
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
    removed = [e["data"] for e in log.events if e["type"].endswith(":CasualtyRemoved")]
    assert removed == [{"casualty": "visitor", "disposition": "transferred"}]
    paused = [e["data"]["paused"] for e in log.events if e["type"].endswith(":SessionPaused")]
    assert paused == [True, False]
    assert [n["text"] for n in log.header["annotations"]] == ["compressions paused too long"]
    result, again = replay(log, pack=pack)  # the instructor's injection and pause replay exactly
    again.close()
    assert result.ok, result.first_difference
