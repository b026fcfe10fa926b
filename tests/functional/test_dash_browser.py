"""`gridsim dash` in a real browser: Debian's Chromium driven by Playwright.

The test starts the dashboard's server, runs the baseline, moves a lever
(5 grid leaders per station), runs that option and checks that its KPI cards
and its map differ from the baseline's, that the page answered while the
runs were going, that the backlog draws both lines, that titles and the
export's labels are whole, and that no request the page makes fails. It needs the `[viz]` extra, Playwright and Debian's
`chromium` (`.ci/run` installs them); without them it is skipped, saying why.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pytest


pytest.importorskip("solara", reason="the dashboard needs the viz extra: pip install -e '.[viz]'")
pytest.importorskip("solara_assets", reason="the dashboard needs the viz extra: pip install -e '.[viz]'")
sync_api = pytest.importorskip("playwright.sync_api", reason="the browser test needs playwright (the test extra)")
CHROMIUM = shutil.which("chromium")
ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (apt-get install -y "
                                                         "chromium; .ci/run does it where apt is available)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server(tmp_path):
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "gridsim.cli", "dash", "--port", str(port), "--days", "8",
                             "--replicates", "2", "--workers", "2", "--results", str(tmp_path / "dash")],
                            cwd=tmp_path, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(url, timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError("the dashboard did not start: " + proc.stdout.read().decode()[-2000:])
            time.sleep(0.5)
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def filled(page, i: int):
    """Wait until option card i shows its KPIs, its cost and its map (Solara fills a card in steps)."""
    page.wait_for_function(
        """i => { const c = document.querySelectorAll('.option-card')[i];
                  return c && c.innerText.includes('Annual cost') && c.querySelector('.city-map[src]'); }""",
        arg=i, timeout=60_000)


def test_lever_run_and_compare_in_chromium(server, tmp_path):
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1500, "height": 1100})
            failed = []           # the page is served from this machine: every request must be answered
            page.on("response", lambda r: failed.append(f"{r.status} {r.url}") if r.status >= 400 else None)
            page.on("requestfailed", lambda r: failed.append(f"failed {r.url}"))
            page.goto(server, timeout=60_000)
            page.wait_for_selector(".run-button", timeout=60_000)
            page.wait_for_function("document.body.innerText.includes('This option: baseline')", timeout=30_000)
            page.click(".run-button")                                   # the baseline
            page.wait_for_selector(".option-card", timeout=180_000)
            filled(page, 0)                                             # the card renders in steps
            cards = page.locator(".option-card")
            assert cards.count() == 1
            base_text = cards.nth(0).inner_text()
            base_map = page.locator(".option-card .city-map").nth(0).get_attribute("src")
            assert "P90 resolution time" in base_text and "Annual cost" in base_text and base_map

            page.locator(".lever-grid-leaders button", has_text="5").click()      # move a lever
            page.wait_for_function("document.body.innerText.includes('This option: 5 grid leaders per station')")
            page.click(".run-button")
            page.wait_for_selector(".run-progress", timeout=30_000)
            # the page answers while the runs go on: another lever moves and its label follows
            page.locator(".lever-cover button", has_text="station").click()
            page.wait_for_function("document.body.innerText.includes('5 grid leaders per station, cover station')",
                                   timeout=10_000)
            assert page.locator(".run-progress").count() == 1                     # still running then
            page.wait_for_function("document.querySelectorAll('.option-card').length == 2", timeout=180_000)
            page.wait_for_selector(".run-progress", state="detached", timeout=60_000)
            filled(page, 1)
            option_text = cards.nth(1).inner_text()
            option_map = page.locator(".option-card .city-map").nth(1).get_attribute("src")
            assert option_text.startswith("5 grid leaders per station")
            assert "vs baseline" in option_text and option_text != base_text
            assert option_map and option_map != base_map
            assert page.locator(".backlog").count() == 1
            # both lines of the backlog are drawn and visible, the baseline's under the option's
            lines = page.locator(".backlog svg g[id^='backlog-']")
            assert lines.count() == 2
            for i in range(2):
                box = lines.nth(i).bounding_box()
                assert box and box["width"] > 100
            assert page.locator(".backlog svg g[id^='backlog-dash-']").count() == 2
            # titles and the export's option labels whole: each once, none cut off
            titles = page.locator(".option-card .option-title")
            assert [titles.nth(i).inner_text() for i in range(2)] == ["Baseline", "5 grid leaders per station"]
            # a checkbox is .v-input--checkbox in Vuetify 2 (ipyvuetify 1.x, as pinned), .v-checkbox in 3
            labels = page.locator(".export-card :is(.v-input--checkbox, .v-checkbox) label")
            assert [labels.nth(i).inner_text() for i in range(labels.count())] == ["baseline",
                                                                                    "5 grid leaders per station"]
            for element in [*(titles.nth(i) for i in range(2)), *(labels.nth(i) for i in range(labels.count()))]:
                assert element.evaluate("e => e.scrollWidth <= e.clientWidth + 1")
            assert "Targets: one KPI" in page.locator(".export-card").inner_text()
            page.click(".export-button")
            page.wait_for_selector(".exported", timeout=10_000)
            exported = page.locator(".exported").inner_text()
            assert "[options.baseline]" in exported and "[options.5_grid_leaders_per_station]" in exported
            assert " pp [" in option_text                                       # share differences in points
            assert page.locator(".run-error").count() == 0
            assert failed == []
            page.screenshot(path=str(tmp_path / "dashboard.png"), full_page=True)
        finally:
            browser.close()
    assert (tmp_path / "dashboard.png").stat().st_size > 10_000
