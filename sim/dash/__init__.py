"""`gridsim dash`: a what-if dashboard in the browser (Solara), for planners who do not read TOML.

`serve` starts Solara's server on the page in `gridsim.dash.app` as a child
process (`python -m gridsim.dash`), which ends when `gridsim dash` ends,
however it ends; everything the page computes is in `gridsim.dash.levers`.
The address is checked before the server starts (a port in use, a host that
is not an address of this machine: one error line), and the address to open
is printed only once the server answers there. It needs the `[viz]` extra
(`pip install 'gridsim-cities[viz]'`): Solara and its front-end files
(`solara-assets`), served from this machine, so no content delivery network
is needed.
"""

from __future__ import annotations

import errno
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

STARTUP_SECONDS = 120.0         # the server imports Solara and the model first: seconds, not minutes


class DashError(RuntimeError):
    """The dashboard cannot start (Solara missing, the address unusable); one line."""


def command(host: str, port: int) -> list[str]:
    return [sys.executable, "-m", "gridsim.dash", "run", "gridsim.dash.app", "--host", host, "--port", str(port),
            "--production", "--no-open", "--no-check-version", "--log-level", "warning"]


def environment(workspace: Path, workers: int, scenario: str, days: float, replicates: int) -> dict[str, str]:
    env = dict(os.environ)
    env.update({"GRIDSIM_DASH_WORKSPACE": str(Path(workspace).resolve()), "GRIDSIM_DASH_WORKERS": str(workers),
                "GRIDSIM_DASH_SCENARIO": scenario, "GRIDSIM_DASH_DAYS": f"{days:g}",
                "GRIDSIM_DASH_REPLICATES": str(replicates), "GRIDSIM_DASH_PARENT": str(os.getpid()),
                "SOLARA_ASSETS_PROXY": "True",           # front-end files served by this server, from solara-assets
                "SOLARA_TELEMETRY_MIXPANEL_ENABLE": "False"})
    return env


def check_address(host: str, port: int) -> tuple[int, tuple]:
    """Bind the address as the server (uvicorn) will, and let it go: a DashError now for a host that
    is not an address here or a port already in use. Returns where the server can be reached."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except (socket.gaierror, UnicodeError, TypeError, ValueError) as err:      # unknown, or not even a name
            raise DashError(f"--host {host!r}: not an address of this machine ({err})") from None
        except OSError as err:
            if err.errno == errno.EADDRINUSE:
                raise DashError(f"--port {port}: already in use on {host} (another server?); give another "
                                "--port") from None
            raise DashError(f"--host {host} --port {port}: cannot listen there ({err.strerror})") from None
        bound = s.getsockname()
    wildcard = {"0.0.0.0": "127.0.0.1", "::": "::1"}
    return family, (wildcard.get(bound[0], bound[0]), *bound[1:])


def _answers(family: int, address: tuple) -> bool:
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.settimeout(1.0)
        return s.connect_ex(address) == 0


def serve(host: str, port: int, workspace: Path, workers: int, scenario: str, days: float, replicates: int,
          announce=lambda url: None) -> int:
    """Run the dashboard's server until it is stopped (Ctrl-C); returns its exit status. `announce`
    gets the address to open once the server answers there."""
    import importlib.util
    if importlib.util.find_spec("solara") is None or importlib.util.find_spec("solara_assets") is None:
        raise DashError("gridsim dash needs the viz extra: pip install 'gridsim-cities[viz]'")
    family, address = check_address(host, port)
    proc = subprocess.Popen(command(host, port), env=environment(workspace, workers, scenario, days, replicates))
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while not _answers(family, address):
            if proc.poll() is not None:
                raise DashError(f"the dashboard's server stopped (status {proc.returncode}) before it answered "
                                f"on {host}:{port}")
            if time.monotonic() > deadline:
                raise DashError(f"the dashboard's server did not answer on {host}:{port} within "
                                f"{STARTUP_SECONDS:g} s")
            time.sleep(0.2)
        announce(f"http://{host}:{port}/")
        return proc.wait()
    except KeyboardInterrupt:
        return 0
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
