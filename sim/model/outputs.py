"""Write a run's outputs: Parquet tables and summary.json, each file replaced atomically."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

from .metrics import finite
from .run import RunResult

TABLES = ("requests", "visits", "timeseries", "grids", "census")


def write_run(result: RunResult, out: Path) -> list[Path]:
    """Write every file to a temporary folder inside `out`, then move each into place.

    A crash mid-way leaves the earlier files in `out` untouched and no
    half-written file behind (only the hidden temporary folder).
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".partial-", dir=out))
    try:
        names = []
        for name in TABLES:
            getattr(result, name).to_parquet(tmp / f"{name}.parquet", index=False)
            names.append(f"{name}.parquet")
        (tmp / "summary.json").write_text(json.dumps(finite(result.summary), indent=1, allow_nan=False))
        names.append("summary.json")
        for name in names:
            os.replace(tmp / name, out / name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return [out / n for n in names]
