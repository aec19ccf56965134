"""The dashboard and the debrief in a real browser: headless Chromium (Debian's `chromium`
and `chromium-driver`, installed by .ci/run) driven by Selenium. Pages load, charts render
with data, login is required, a learner cannot open another learner's page.

Skips only when chromium or chromedriver is not installed."""

from __future__ import annotations

import shutil
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from vrmed.dashboard import UserStore, create_app

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not (CHROMIUM and DRIVER), reason="needs Debian's chromium and chromium-driver"),
]


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[str]:
    import uvicorn  # deferred: the ASGI server is only needed when the browser tests run
    from test_dashboard import A, cohort_db

    users = UserStore(tmp_path_factory.mktemp("browser") / "users.json")
    users.add("teacher", "correct-horse-1", "instructor")
    users.add("alice", "alice-password", "learner", A)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    srv = uvicorn.Server(uvicorn.Config(create_app(cohort_db(), users), host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not srv.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert srv.started, "the dashboard did not start"
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    from selenium import webdriver  # deferred: only with chromium installed
    from selenium.webdriver.chrome.service import Service  # deferred: as above

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1200,900"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(executable_path=DRIVER), options=options)
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


def sign_in(browser, base: str, name: str, password: str) -> None:
    from selenium.webdriver.common.by import By  # deferred: only with chromium installed

    browser.delete_all_cookies()
    browser.get(base + "/login")
    browser.find_element(By.NAME, "username").send_keys(name)
    browser.find_element(By.NAME, "password").send_keys(password)
    browser.execute_script("window.__vrmed_before_submit = true")
    browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    # the POST (a scrypt check) answers with a new page: wait for that document before reading
    # the URL (a marker set on the old page is gone on the new one)
    from selenium.common.exceptions import WebDriverException  # deferred: only with chromium installed
    from selenium.webdriver.support.ui import WebDriverWait  # deferred: only with chromium installed

    def loaded(b: Any) -> bool:
        try:
            return bool(
                b.execute_script(
                    "return window.__vrmed_before_submit === undefined && document.readyState === 'complete'"
                )
            )
        except WebDriverException:  # between documents
            return False

    WebDriverWait(browser, 30).until(loaded)


def chart_marks(browser, chart: str) -> int:
    """Drawn marks (paths and uses) of a chart's SVG, as the browser laid it out."""
    return browser.execute_script(
        "const c = document.querySelector(`[data-chart='${arguments[0]}'] svg`);"
        "if (!c) return -1; const r = c.getBoundingClientRect();"
        "return r.width > 100 && r.height > 100 ? c.querySelectorAll('path, use').length : 0;",
        chart,
    )


def test_login_required_and_cohort_page_renders(server, browser):
    from selenium.webdriver.common.by import By  # deferred: only with chromium installed

    browser.delete_all_cookies()
    browser.get(server + "/")
    assert browser.current_url.endswith("/login")
    sign_in(browser, server, "teacher", "wrong-password")
    assert "Wrong user name or password" in browser.page_source
    sign_in(browser, server, "teacher", "correct-horse-1")
    assert browser.find_element(By.TAG_NAME, "h1").text == "Cohort"
    assert chart_marks(browser, "cohort-distribution") > 5
    assert "keep_in_view" in browser.page_source


def test_learner_curves_and_isolation(server, browser):
    from test_dashboard import A, B

    sign_in(browser, server, "alice", "alice-password")
    assert browser.current_url.endswith(f"/learner/{A}")
    assert chart_marks(browser, "curve-task_time_s") > 12  # twelve attempts drawn, and more
    assert chart_marks(browser, "cusum") > 2
    browser.get(f"{server}/learner/{B}")
    assert "Not allowed" in browser.page_source and B not in browser.page_source.split("</h1>")[1]


def test_debrief_page_renders_its_figures(browser, tmp_path):
    from click.testing import CliRunner  # deferred: only this test records a session

    from vrmed.cli import cli

    log, page = tmp_path / "s.jsonl", tmp_path / "s.html"
    assert (
        CliRunner().invoke(cli, ["run", "sandbox", "--headless", "--seconds", "3", "--record", str(log)]).exit_code == 0
    )
    assert CliRunner().invoke(cli, ["report", str(log), "-o", str(page)]).exit_code == 0
    browser.get(page.as_uri())
    sizes = browser.execute_script(
        "return [...document.querySelectorAll('figure svg')].map(s => {const r = s.getBoundingClientRect();"
        "return [Math.round(r.width), Math.round(r.height), s.querySelectorAll('path, use').length];});"
    )
    assert len(sizes) == 2 and all(w > 300 and h > 150 and marks > 10 for w, h, marks in sizes), sizes
    rows = browser.execute_script("return document.querySelectorAll('table tr').length")
    assert rows > 10
