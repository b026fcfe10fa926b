"""`gridsim dash` in a real browser: Debian's Chromium driven by Playwright.

The test starts the dashboard's server, runs the baseline, moves a lever
(5 grid leaders per station), runs that option and checks that its KPI cards
and its map differ from the baseline's, and that the page answered while the
runs were going. It needs the `[viz]` extra, Playwright and Debian's
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
            assert page.locator(".run-error").count() == 0
            page.screenshot(path=str(tmp_path / "dashboard.png"), full_page=True)
        finally:
            browser.close()
    assert (tmp_path / "dashboard.png").stat().st_size > 10_000
