"""`gridsim dash`: a what-if dashboard in the browser (Solara), for planners who do not read TOML.

`serve` starts Solara's server on the page in `gridsim.dash.app`; everything
the page computes is in `gridsim.dash.levers`. It needs the `[viz]` extra
(`pip install 'gridsim-cities[viz]'`): Solara and its front-end files
(`solara-assets`), served from this machine, so no content delivery network
is needed.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


class DashError(RuntimeError):
    """The dashboard cannot start (Solara missing); one line."""


def command(host: str, port: int) -> list[str]:
    return [sys.executable, "-m", "solara", "run", "gridsim.dash.app", "--host", host, "--port", str(port),
            "--production", "--no-open", "--no-check-version", "--log-level", "warning"]


def environment(workspace: Path, workers: int, scenario: str, days: float, replicates: int) -> dict[str, str]:
    env = dict(os.environ)
    env.update({"GRIDSIM_DASH_WORKSPACE": str(Path(workspace).resolve()), "GRIDSIM_DASH_WORKERS": str(workers),
                "GRIDSIM_DASH_SCENARIO": scenario, "GRIDSIM_DASH_DAYS": f"{days:g}",
                "GRIDSIM_DASH_REPLICATES": str(replicates),
                "SOLARA_ASSETS_PROXY": "True",           # front-end files served by this server, from solara-assets
                "SOLARA_TELEMETRY_MIXPANEL_ENABLE": "False"})
    return env


def serve(host: str, port: int, workspace: Path, workers: int, scenario: str, days: float, replicates: int,
          announce=lambda url: None) -> int:
    """Run the dashboard's server until it is stopped (Ctrl-C); returns its exit status."""
    import importlib.util
    if importlib.util.find_spec("solara") is None or importlib.util.find_spec("solara_assets") is None:
        raise DashError("gridsim dash needs the viz extra: pip install 'gridsim-cities[viz]'")
    announce(f"http://{host}:{port}/")
    proc = subprocess.Popen(command(host, port), env=environment(workspace, workers, scenario, days, replicates))
    try:
        return proc.wait()
    except KeyboardInterrupt:
        proc.terminate()
        proc.wait(10)
        return 0
