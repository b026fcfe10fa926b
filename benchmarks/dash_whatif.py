"""How long the dashboard takes to show a what-if (a benchmark, not a test).

Starts `gridsim dash` on a free port with an empty workspace, drives it in
Debian's Chromium with Playwright, and times, from the click on "Run this
option" until the option's card is on the page:

1. the first what-if: the baseline and the option (2 x replicates runs);
2. a second what-if with the baseline already on screen (replicates runs).

    .venv/bin/python benchmarks/dash_whatif.py [--days 28] [--replicates 3] [--screenshots docs/figures]

With --screenshots it also saves the page after each step (the planner's guide uses them), as
small palette PNGs, and the exported experiment as dashboard_options.toml.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from playwright.sync_api import TimeoutError as PlaywrightTimeout
from playwright.sync_api import sync_playwright

ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def shrink(path: Path, width: int = 1100) -> None:
    """Scale a screenshot down to `width` pixels and store it with a 256-colour palette (the maps'
    colour scale survives), small enough to commit."""
    from PIL import Image
    image = Image.open(path).convert("RGB")
    if image.width > width:
        image = image.resize((width, round(image.height * width / image.width)), Image.LANCZOS)
    image.quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(path, optimize=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--days", type=int, default=28)
    ap.add_argument("--replicates", type=int, default=3)
    ap.add_argument("--screenshots", type=Path)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="gridsim-dash-bench-"))
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "gridsim.cli", "dash", "--port", str(port), "--days",
                             str(args.days), "--replicates", str(args.replicates), "--results", str(work / "dash")],
                            cwd=work, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/"
    t0 = time.perf_counter()
    try:
        while True:
            try:
                with urllib.request.urlopen(url, timeout=2):
                    break
            except OSError:
                time.sleep(0.5)
        print(f"server up in {time.perf_counter() - t0:.1f} s")
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=shutil.which("chromium"), args=ARGS)
            page = browser.new_page(viewport={"width": 1500, "height": 1150})
            page.goto(url, timeout=120_000)
            page.wait_for_selector(".run-button", timeout=120_000)
            page.locator(".lever-grid-leaders button", has_text="4").click()
            page.wait_for_function("document.body.innerText.includes('This option: 4 grid leaders per station')")
            if args.screenshots:
                page.screenshot(path=str(args.screenshots / "dash_levers.png"))
            t = time.perf_counter()
            page.click(".run-button")
            page.wait_for_selector(".run-progress", timeout=30_000)
            try:                      # a screenshot with some runs done, if they come within 15 s
                page.wait_for_function("/running: [1-9]/.test(document.body.innerText)", timeout=15_000)
            except PlaywrightTimeout:
                pass
            if args.screenshots:
                page.screenshot(path=str(args.screenshots / "dash_running.png"))
            page.wait_for_function("document.querySelectorAll('.option-card').length == 2", timeout=600_000)
            first = time.perf_counter() - t
            print(f"first what-if (baseline and option, {2 * args.replicates} runs of {args.days} days): {first:.1f} s")
            page.locator(".lever-cover button", has_text="station").click()
            page.wait_for_function("document.body.innerText.includes('cover station')")
            t = time.perf_counter()
            page.click(".run-button")
            page.wait_for_function("document.querySelectorAll('.option-card').length == 3", timeout=600_000)
            second = time.perf_counter() - t
            print(f"second what-if (the option alone, {args.replicates} runs): {second:.1f} s")
            page.wait_for_selector(".run-progress", state="detached", timeout=60_000)
            if args.screenshots:
                page.set_viewport_size({"width": 1900, "height": 1500})     # three cards side by side
                page.wait_for_timeout(1000)
                page.screenshot(path=str(args.screenshots / "dash_options.png"))
                page.click(".export-button")
                page.wait_for_selector("text=[options.baseline]", timeout=30_000)
                exported = page.locator(".export-card pre").filter(has_text="[options.baseline]").first
                (args.screenshots / "dashboard_options.toml").write_text(exported.inner_text().rstrip() + "\n")
                for name in ("dash_levers", "dash_running", "dash_options"):
                    shrink(args.screenshots / f"{name}.png")
            browser.close()
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(30)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
