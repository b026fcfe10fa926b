"""The results store: one folder per experiment, one Parquet file per finished run.

Layout of `results/<experiment>/`:

    _manifest.json          the spec, its hash, gridsim version, when started
    runs/p0003-r0001.parquet one row per finished run: point, replicate, seed,
                            factor values, every summary KPI (dotted names)
    _series/p0003-r0001.parquet    daily open requests by type, busy places by role
    _quantiles/p0003-r0001.parquet percentiles 0-100 of residents' resolution hours
    _grids/p0003-r0001.parquet     the per-grid table (load, waits, utilisation)
    _failed/p0003-r0001.json a run that raised: its error (retried on rerun)

Names starting with `_` or `.` are skipped by pyarrow's dataset discovery, so
`pandas.read_parquet("results/<experiment>")` loads every finished run in one
call. (A file called `manifest.json` beside the runs would make that call fail:
pyarrow would try to read it as Parquet.) Every file is written to a hidden
temporary name and then renamed (`os.replace`), so a sweep killed at any
moment, even by SIGKILL, leaves only whole files.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import os
import shutil
import tempfile
from pathlib import Path

import pandas as pd

from .. import __version__
from ..scenario import ScenarioError
from .spec import Spec

MANIFEST = "_manifest.json"
RUNS = "runs"
FAILED = "_failed"


def run_id(point: int, replicate: int) -> str:
    return f"p{point:04d}-r{replicate:04d}"


def flatten(summary: dict, prefix: str = "") -> dict:
    """Nested summary -> {dotted name: value}; None -> NaN so every KPI column is numeric."""
    out = {}
    for key, value in summary.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten(value, f"{name}."))
        elif value is None:
            out[name] = math.nan
        elif isinstance(value, (list, tuple)):
            out[name] = json.dumps(value)
        else:
            out[name] = value
    return out


def _atomic_write_bytes(path: Path, write) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, 0o644)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _changes(old: dict, new: dict, prefix: str = "") -> list[str]:
    out = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key, "<absent>"), new.get(key, "<absent>")
        if isinstance(a, dict) and isinstance(b, dict):
            out += _changes(a, b, f"{prefix}{key}.")
        elif a != b:
            out.append(f"{prefix}{key}: {json.dumps(a)} -> {json.dumps(b)}")
    return out


class Store:
    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        self.runs = self.folder / RUNS
        self.failed_dir = self.folder / FAILED

    # -------------------------------------------------------------- manifest
    def manifest(self) -> dict | None:
        path = self.folder / MANIFEST
        if not path.exists():
            return None
        return json.loads(path.read_text())

    def open(self, spec: Spec, fresh: bool = False) -> Path | None:
        """Create the folder or check it belongs to this spec; `fresh` moves old results aside.

        Returns where old results were moved (if they were).
        """
        moved = None
        old = self.manifest()
        if old is not None and old.get("spec_hash") != spec.hash():
            if not fresh:
                changes = _changes(old.get("spec", {}), spec.data()) or ["spec hash"]
                shown = "; ".join(changes[:3]) + (f"; and {len(changes) - 3} more" if len(changes) > 3 else "")
                raise ScenarioError("", f"the experiment changed since these results were started ({shown}); "
                                        "rerun with --fresh to start over (old results are moved aside)",
                                    str(self.folder))
        if fresh and self.folder.exists() and any(self.folder.iterdir()):
            stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
            moved = self.folder.with_name(f"{self.folder.name}.old-{stamp}")
            shutil.move(str(self.folder), moved)
            old = None
        self.runs.mkdir(parents=True, exist_ok=True)
        for stale in self.runs.glob(".*.tmp"):       # left by a sweep killed mid-write
            stale.unlink(missing_ok=True)
        if old is None:
            manifest = {"experiment": spec.name, "spec": spec.data(), "spec_hash": spec.hash(),
                        "spec_file": spec.source, "gridsim_version": __version__,
                        "started": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
                        "factors": [f.path for f in spec.factors]}
            text = json.dumps(manifest, indent=2, sort_keys=True)
            _atomic_write_bytes(self.folder / MANIFEST, lambda p: Path(p).write_text(text))
        return moved

    # -------------------------------------------------------------- runs
    def finished(self) -> set[str]:
        if not self.runs.exists():
            return set()
        return {p.stem for p in self.runs.glob("p*-r*.parquet")}

    def failures(self) -> dict[str, dict]:
        if not self.failed_dir.exists():
            return {}
        return {p.stem: json.loads(p.read_text()) for p in self.failed_dir.glob("*.json")}

    def write_run(self, rid: str, row: dict, extras: dict[str, pd.DataFrame] | None = None) -> None:
        """Write a run's extra tables first, its row last: the row marks the run finished."""
        for name, table in (extras or {}).items():
            folder = self.folder / f"_{name}"
            folder.mkdir(exist_ok=True)
            _atomic_write_bytes(folder / f"{rid}.parquet", lambda p, t=table: t.to_parquet(p, index=False))
        df = pd.DataFrame([row])
        _atomic_write_bytes(self.runs / f"{rid}.parquet", lambda p: df.to_parquet(p, index=False))
        (self.failed_dir / f"{rid}.json").unlink(missing_ok=True)

    def write_failure(self, rid: str, info: dict) -> None:
        self.failed_dir.mkdir(parents=True, exist_ok=True)
        text = json.dumps(info, indent=2)
        _atomic_write_bytes(self.failed_dir / f"{rid}.json", lambda p: Path(p).write_text(text))

    def table(self) -> pd.DataFrame:
        from ..analysis.compare import read_runs
        return read_runs(self.folder)
