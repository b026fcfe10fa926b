"""Write a run's outputs (`gridsim run --out DIR`): Parquet tables and summary.json, as one set."""

from __future__ import annotations

import json
from pathlib import Path

from ..atomic import write_folder
from .metrics import finite
from .run import RunResult

TABLES = ("requests", "visits", "timeseries", "grids", "census")
FILES = (*(f"{name}.parquet" for name in TABLES), "summary.json")


def owned(folder: Path) -> bool:
    """True when `folder` holds nothing but files `write_run` writes (so it may be replaced)."""
    return all(p.name in FILES for p in folder.iterdir())


def write_run(result: RunResult, out: Path) -> list[Path]:
    """Write every file into a hidden sibling folder, then swap it in for `out` whole.

    `out` then holds this run's files or, if anything fails (a crash, a full
    disk), the previous run's: never a mix. An existing `out` that holds other
    files is refused (`atomic.WriteError`) before anything is written.
    """
    def fill(tmp: Path) -> None:
        for name in TABLES:
            result.tables[name].to_parquet(tmp / f"{name}.parquet", index=False)
        (tmp / "summary.json").write_text(json.dumps(finite(result.summary), indent=1, allow_nan=False))

    out = write_folder(Path(out), fill, owned)
    return [out / name for name in FILES]
