"""The results store: the one module that writes and reads a sweep's results folder.

Layout of `results/<experiment>/`:

    _manifest.json                  what the folder holds: the experiment, its spec and hash,
                                    its points, the arguments it was run with, gridsim version
    _lock                           held (flock) by the one process writing here
    runs/p0003-r0001.parquet        one row per finished run: point, replicate, seed,
                                    factor values, every summary KPI (dotted names)
    _series/p0003-r0001.parquet     daily open requests by type, busy places by role
    _quantiles/p0003-r0001.parquet  percentiles 0-100 of residents' resolution hours
    _grids/p0003-r0001.parquet      the per-grid table (load, waits, utilisation)
    _failed/p0003-r0001.json        a run that raised: its error (retried on rerun)
    _quarantine/...                 files that failed the checks below, moved aside with the reason

Every Parquet file carries in its metadata the spec hash, point and replicate
it belongs to, and a checksum of its content (column names and values); the
manifest carries a checksum of the rest of it. Reading checks each file
against its checksum, its name and the manifest; a file that is unreadable
(truncated, corrupt), changed since it was written (a flipped bit that renames
a column or changes a number), foreign (another spec, a name that is not a
run's) or a duplicate is never counted: readers list it as a problem, and a
sweep resuming into the folder quarantines it and runs it again. So are runs
whose extra tables are missing. A corrupt manifest is an error naming it.
Files of format 1 (before checksums) are read as they are. Names starting
with `_` or `.` are skipped by pyarrow's dataset discovery, so
`pandas.read_parquet("results/<experiment>")` still loads the runs in one call.

Every file is written through `gridsim.atomic` (a hidden temporary name, then
a rename), so a writer killed at any moment leaves only whole files. One
writer at a time: `Store.lock()` takes an exclusive `flock` on `_lock`, which
the kernel releases when the process ends, however it ends.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import errno
import hashlib
import json
import math
import os
import re
import shutil
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from .. import __version__
from ..atomic import WriteError, clean_stale, describe, write_file, write_text

MANIFEST = "_manifest.json"
LOCK = "_lock"
RUNS = "runs"
FAILED = "_failed"
QUARANTINE = "_quarantine"
EXTRAS = ("series", "quantiles", "grids")
FORMAT = 2            # 2: content checksums in every file and the manifest
META_KEY = b"gridsim"
ID_COLUMNS = ("point", "replicate", "seed")
RUN_NAME = re.compile(r"p(\d{4,})-r(\d{4,})\.parquet")


class StoreError(ValueError):
    """A results folder that cannot be used as asked; one line naming the folder."""


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


@dataclass(frozen=True)
class Problem:
    """A file that is not counted, and why."""
    file: str           # relative to the results folder
    reason: str

    def __str__(self) -> str:
        return f"{self.file}: {self.reason}"


@dataclass
class Scan:
    """What a results folder holds, checked: the runs that count and everything that does not."""
    runs: dict[str, pd.DataFrame] = field(default_factory=dict)  # run id -> its row (checked)
    problems: list[Problem] = field(default_factory=list)        # files not counted
    missing_extras: dict[str, list[str]] = field(default_factory=dict)   # run id -> extras it lacks


def _identity(spec_hash: str, point: int, replicate: int) -> dict:
    return {"spec_hash": spec_hash, "point": int(point), "replicate": int(replicate)}


def checksum(data) -> str:
    """A digest of a table's column names and values (not its metadata), or of plain JSON data:
    a bit flipped in what a reader gets changes it."""
    if isinstance(data, pa.Table):
        columns = data.replace_schema_metadata(None).to_pydict()
        data = [list(columns), list(columns.values())]
    text = json.dumps(data, sort_keys=True, default=repr, allow_nan=True)
    return hashlib.sha256(text.encode()).hexdigest()


_ARROW_TYPES = {bool: pa.bool_(), int: pa.int64(), float: pa.float64(), str: pa.large_string()}


def _row_table(row: dict) -> pa.Table:
    """A run's row as a one-row table, each column typed from its value as pandas would type it
    (NaN stored as null). Through pandas, a row's 970 KPI columns cost the sweep's parent 35 ms
    a run, most of its writing; this way 4 ms. A value of another type goes through pandas."""
    if not all(type(v) in _ARROW_TYPES for v in row.values()):
        return pa.Table.from_pandas(pd.DataFrame([row]), preserve_index=False)
    return pa.Table.from_arrays([pa.array([v], _ARROW_TYPES[type(v)], from_pandas=True) for v in row.values()],
                                names=list(row))


def _write_parquet(path: Path, df: pd.DataFrame | pa.Table, about: dict, statistics: bool = True) -> None:
    """Write `df` with `about` and its content checksum in the file's metadata, atomically.
    Without `statistics`, no column's minimum and maximum are written (of one row, they are the row)."""
    table = df if isinstance(df, pa.Table) else pa.Table.from_pandas(df, preserve_index=False)
    meta = dict(table.schema.metadata or {})
    meta[META_KEY] = json.dumps({"format": FORMAT, **about, "checksum": checksum(table)}, sort_keys=True,
                                default=str).encode()
    table = table.replace_schema_metadata(meta)
    write_file(path, lambda p: pq.write_table(table, p, write_statistics=statistics))


def _open(path: Path) -> tuple[dict, pd.DataFrame]:
    """A file `_write_parquet` wrote: what its metadata says and its table, its checksum checked;
    ValueError saying what is wrong otherwise."""
    try:
        table = pq.read_table(path)
    except (OSError, pa.ArrowException) as err:
        first = (str(err).splitlines() or [""])[0][:120]
        raise ValueError(f"unreadable, truncated or corrupt ({type(err).__name__}: {first})") from None
    meta = table.schema.metadata or {}
    if META_KEY not in meta:
        raise ValueError("not written by gridsim (no gridsim metadata)")
    try:
        about = json.loads(meta[META_KEY])
        if not isinstance(about, dict):
            raise ValueError
    except (ValueError, RecursionError):
        raise ValueError("its gridsim metadata is unreadable") from None
    if about.get("format", 1) != 1 and about.get("checksum") != checksum(table):
        raise ValueError("its content does not match its checksum (changed or damaged since it was written)")
    return about, table.replace_schema_metadata(None).to_pandas()     # exactly what the checksum covers


def _read_each(paths: list[Path]) -> list[tuple[dict, pd.DataFrame] | ValueError]:
    """`_read` of each file (or the ValueError it raised), in order, on two threads: a run file's
    970 KPI columns take pyarrow about 40 ms to decode, outside the GIL, and a sweep's parent reads
    thousands back (1.5x faster than one thread on this 2-core machine)."""
    def one(path: Path) -> tuple[dict, pd.DataFrame] | ValueError:
        try:
            return _read(path)
        except ValueError as err:
            return err
    with ThreadPoolExecutor(2) as pool:
        return list(pool.map(one, paths))


def _read(path: Path) -> tuple[dict, pd.DataFrame]:
    """A run file's identity (spec hash, point, replicate) and its table; ValueError if unreadable."""
    about, table = _open(path)
    try:
        return {"spec_hash": str(about["spec_hash"]), "point": int(about["point"]),
                "replicate": int(about["replicate"])}, table
    except (ValueError, KeyError, TypeError):
        raise ValueError("its run identity is unreadable") from None


class Store:
    """A results folder. Writers hold `lock()`; readers call `scan()` and `runs()`."""

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        self.runs_dir = self.folder / RUNS
        self.failed_dir = self.folder / FAILED
        self._manifest: dict | None = None

    # -------------------------------------------------------------- one writer
    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Hold the folder's lock, or raise StoreError naming the process that holds it."""
        try:
            import fcntl
        except ImportError:             # not POSIX: no lock (documented in the README)
            yield
            return
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.folder / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as err:
            raise StoreError(f"{self.folder}: cannot write there ({describe(err)})") from None
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as err:
                if err.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                    raise
                holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
                raise StoreError(f"{self.folder}: another gridsim process (pid {holder}) is writing these "
                                 "results; wait for it to finish or stop it first") from None
            os.ftruncate(fd, 0)
            os.pwrite(fd, str(os.getpid()).encode(), 0)
            yield
        finally:
            os.close(fd)            # releases the lock

    # -------------------------------------------------------------- manifest
    def manifest(self) -> dict | None:
        """The manifest, or None if there is none; StoreError if it is corrupt."""
        path = self.folder / MANIFEST
        if not path.exists():
            return None
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError, RecursionError) as err:
            raise StoreError(f"{path}: corrupt manifest ({type(err).__name__}); move it aside or rerun "
                             "the sweep with --fresh") from None
        if not isinstance(data, dict) or not isinstance(data.get("spec_hash"), str) \
                or not isinstance(data.get("spec"), dict) or not isinstance(data.get("factors"), list):
            raise StoreError(f"{path}: corrupt manifest (spec, spec_hash or factors missing); move it aside or "
                             "rerun the sweep with --fresh")
        if data.get("format", 1) != 1:
            kept = {k: v for k, v in data.items() if k != "checksum"}
            if data.get("checksum") != checksum(kept):
                raise StoreError(f"{path}: corrupt manifest (its content does not match its checksum); move it "
                                 "aside or rerun the sweep with --fresh")
        return data

    def open(self, identity: dict, fresh: bool = False, discard: bool = False) -> Path | None:
        """Make the folder hold the experiment `identity` describes (call while holding `lock()`).

        `identity` has at least `experiment`, `spec` (plain data), `spec_hash`
        and `factors`; it becomes the manifest. A folder holding another spec is
        refused unless `fresh`, which moves the old results aside, or `discard`,
        which deletes them (a back test never reuses runs). Returns where they
        were moved (if they were).
        """
        moved = None
        if discard:
            if self.manifest() is None and any(p.name != LOCK for p in self.folder.iterdir()):
                raise StoreError(f"{self.folder}: holds files that are not gridsim results; give another folder")
            for p in self.folder.iterdir():
                if p.name != LOCK:
                    shutil.rmtree(p) if p.is_dir() and not p.is_symlink() else p.unlink()
        try:
            old = self.manifest()
        except StoreError:
            if not fresh:
                raise
            old = {"spec_hash": None}
        if old is not None and old.get("spec_hash") != identity["spec_hash"] and not fresh:
            changes = _changes(old.get("spec", {}), identity["spec"]) or ["spec hash"]
            shown = "; ".join(changes[:3]) + (f"; and {len(changes) - 3} more" if len(changes) > 3 else "")
            raise StoreError(f"{self.folder}: the experiment changed since these results were started ({shown}); "
                             "rerun with --fresh to start over (old results are moved aside)")
        if fresh and any(p.name != LOCK for p in self.folder.iterdir()):
            stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
            moved = self.folder.with_name(f"{self.folder.name}.old-{stamp}")
            moved.mkdir()
            for p in self.folder.iterdir():
                if p.name != LOCK:          # the lock stays: this process holds it
                    shutil.move(str(p), moved / p.name)
            old = None
        try:
            self.runs_dir.mkdir(parents=True, exist_ok=True)
            for sub in (self.folder, self.runs_dir, *(self.folder / f"_{x}" for x in EXTRAS)):
                clean_stale(sub)          # temporary files of a writer that was killed
            started = (old or {}).get("started") or _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
            manifest = {**identity, "gridsim_version": __version__, "started": started, "format": FORMAT}
            manifest = json.loads(json.dumps(manifest))     # as it reads back (tuples are lists), for its checksum
            manifest["checksum"] = checksum(manifest)
            if manifest != old:     # new, or the same spec recorded by an older gridsim: record it in full
                # JSON with Infinity where a scenario has it (patience_hours = inf): Python reads it back
                write_text(self.folder / MANIFEST, json.dumps(manifest, indent=2, sort_keys=True))
        except OSError as err:
            raise StoreError(f"{self.folder}: cannot write there ({describe(err)})") from None
        self._manifest = None
        return moved

    def _spec(self) -> dict:
        if self._manifest is None:
            m = self.manifest()
            if m is None:
                raise StoreError(f"{self.folder}: not a sweep results folder (no {MANIFEST})")
            self._manifest = m
        return self._manifest

    # -------------------------------------------------------------- checking what is stored
    def scan(self) -> Scan:
        """Every run file checked against its name and the manifest; what counts and what does not."""
        manifest = self._spec()
        spec_hash = manifest["spec_hash"]
        n_points = len(manifest.get("points") or []) or None
        keep = manifest["spec"].get("keep") or []          # `Spec.keep`: those KPIs in each row, and no extras
        scan = Scan()
        if not self.runs_dir.is_dir():
            return scan
        seen: dict[tuple[int, int], str] = {}
        paths = [p for p in sorted(self.runs_dir.iterdir()) if not p.name.startswith(".")]   # ".": a writer at work
        named = [p for p in paths if RUN_NAME.fullmatch(p.name) is not None and p.is_file()]
        read = dict(zip(named, _read_each(named)))
        counted = []
        for path in paths:
            rel = f"{RUNS}/{path.name}"
            m = RUN_NAME.fullmatch(path.name)
            if path not in read:
                scan.problems.append(Problem(rel, "not a run file (run files are named pNNNN-rNNNN.parquet)"))
                continue
            got = read[path]
            if isinstance(got, ValueError):
                scan.problems.append(Problem(rel, str(got)))
                continue
            ident, row = got
            point, rep = int(m.group(1)), int(m.group(2))
            if ident["spec_hash"] != spec_hash:
                scan.problems.append(Problem(rel, f"belongs to another experiment (spec hash {ident['spec_hash']}, "
                                                  f"this folder's is {spec_hash})"))
            elif (ident["point"], ident["replicate"]) != (point, rep):
                scan.problems.append(Problem(rel, f"holds point {ident['point']} replicate {ident['replicate']}, "
                                                  "not the run its name says (a copied or renamed file)"))
            elif n_points is not None and point >= n_points:
                scan.problems.append(Problem(rel, f"point {point} is not one of this experiment's {n_points} points"))
            elif (point, rep) in seen:
                scan.problems.append(Problem(rel, f"a second copy of {seen[(point, rep)]}"))
            elif len(row) != 1 or "point" not in row or "replicate" not in row \
                    or (int(row["point"].iloc[0]), int(row["replicate"].iloc[0])) != (point, rep):
                scan.problems.append(Problem(rel, "its row does not hold the run its metadata names"))
            elif lacking := [k for k in keep if k not in row]:
                scan.problems.append(Problem(rel, f"its row lacks {lacking[0]}, a KPI this experiment keeps "
                                                  "(it was run for other targets)"))
            else:
                rid = run_id(point, rep)
                seen[(point, rep)] = rid
                scan.runs[rid] = row
                counted.append((rid, point, rep))
        extras = () if keep else EXTRAS
        present = [path for rid, _, _ in counted for name in extras if (path := self._extra(name, rid)).is_file()]
        idents = {path: got[0] for path, got in zip(present, _read_each(present)) if not isinstance(got, ValueError)}
        for rid, point, rep in counted:
            own = _identity(spec_hash, point, rep)
            lacking = [name for name in extras if idents.get(self._extra(name, rid)) != own]
            if lacking:
                scan.missing_extras[rid] = lacking
        return scan

    def _extra(self, name: str, rid: str) -> Path:
        return self.folder / f"_{name}" / f"{rid}.parquet"

    def finished(self) -> set[str]:
        """Runs that are stored whole (row and extras); call `quarantine()` first to clear the rest."""
        scan = self.scan()
        return set(scan.runs) - set(scan.missing_extras)

    def quarantine(self) -> list[Problem]:
        """Move every file that does not count (and runs lacking extras) to `_quarantine/` (hold `lock()`)."""
        scan = self.scan()
        moved = list(scan.problems)
        for rid, lacking in scan.missing_extras.items():
            moved.append(Problem(f"{RUNS}/{rid}.parquet", f"its {', '.join('_' + x for x in lacking)} "
                                                            "table is missing or belongs to another run"))
        if not moved:
            return []
        qdir = self.folder / QUARANTINE
        stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        try:
            qdir.mkdir(exist_ok=True)
            for problem in moved:
                src = self.folder / problem.file
                dest = qdir / f"{stamp}-{src.name}"
                os.replace(src, dest)
                write_text(dest.with_name(dest.name + ".why.txt"), problem.reason + "\n")
        except OSError as err:
            raise StoreError(f"{self.folder}: cannot quarantine bad run files ({describe(err)})") from None
        return moved

    # -------------------------------------------------------------- writing runs
    def write_run(self, point: int, replicate: int, row: dict,
                  extras: dict[str, pd.DataFrame] | None = None) -> None:
        """Write a run's extra tables first, its row last: the row marks the run finished."""
        rid = run_id(point, replicate)
        ident = _identity(self._spec()["spec_hash"], point, replicate)
        try:
            for name, table in (extras or {}).items():
                folder = self.folder / f"_{name}"
                folder.mkdir(exist_ok=True)
                _write_parquet(folder / f"{rid}.parquet", table, ident)
            _write_parquet(self.runs_dir / f"{rid}.parquet", _row_table(row), ident, statistics=False)
            (self.failed_dir / f"{rid}.json").unlink(missing_ok=True)
        except WriteError as err:
            raise StoreError(str(err)) from None

    def write_failure(self, rid: str, info: dict) -> None:
        try:
            self.failed_dir.mkdir(parents=True, exist_ok=True)
            write_text(self.failed_dir / f"{rid}.json", json.dumps(info, indent=2))
        except OSError as err:
            raise StoreError(f"{self.failed_dir}: cannot write ({describe(err)})") from None

    # -------------------------------------------------------------- reading
    def failures(self) -> dict[str, dict]:
        if not self.failed_dir.is_dir():
            return {}
        out = {}
        for p in sorted(self.failed_dir.glob("*.json")):
            try:
                out[p.stem] = json.loads(p.read_text())
            except (OSError, ValueError, RecursionError):
                out[p.stem] = {"run": p.stem, "error": "(unreadable failure record)"}
        return out

    def runs(self, scan: Scan | None = None) -> pd.DataFrame:
        """Every run that counts, one row each, sorted by point and replicate."""
        scan = scan or self.scan()
        frames = [row for _, row in sorted(scan.runs.items())]
        if not frames:
            return pd.DataFrame(columns=list(ID_COLUMNS))
        df = pd.concat(frames, ignore_index=True)
        return df.sort_values(["point", "replicate"], kind="stable").reset_index(drop=True)

    def extras(self, name: str, point: int, scan: Scan | None = None) -> list[tuple[int, pd.DataFrame]]:
        """The `name` table (series, quantiles, grids) of each counted run of `point`: (replicate, table)."""
        scan = scan or self.scan()
        out = []
        for rid in sorted(scan.runs):
            p, r = (int(x) for x in RUN_NAME.fullmatch(rid + ".parquet").groups())
            if p == point and name not in scan.missing_extras.get(rid, ()):
                try:
                    out.append((r, _open(self._extra(name, rid))[1]))
                except ValueError as err:         # changed since the scan checked it
                    raise StoreError(f"{self.folder}/_{name}/{rid}.parquet: {err}") from None
        return out


def _changes(old: dict, new: dict, prefix: str = "") -> list[str]:
    """Human-readable differences between two spec data dicts: `replicates: 3 -> 5`."""
    out = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key, "<absent>"), new.get(key, "<absent>")
        if isinstance(a, dict) and isinstance(b, dict):
            out += _changes(a, b, f"{prefix}{key}.")
        elif a != b:
            out.append(f"{prefix}{key}: {json.dumps(a)} -> {json.dumps(b)}")
    return out


def read_manifest(folder: str | Path) -> dict:
    """The manifest of a results folder; StoreError if there is none or it is corrupt."""
    m = Store(folder).manifest()
    if m is None:
        raise StoreError(f"{folder}: not a sweep results folder (no {MANIFEST})")
    return m


@dataclass
class Stored:
    """A results folder as readers see it: what counts, and every reason something does not."""
    folder: Path
    manifest: dict
    runs: pd.DataFrame
    scan: Scan
    failed: dict[str, dict]

    def incomplete(self) -> list[str]:
        """One line per thing a reader must know: failed runs, files not counted, runs lacking extras."""
        lines = []
        if self.failed:
            lines.append(f"{len(self.failed)} run(s) failed (see {self.folder}/{FAILED}/): "
                         + ", ".join(sorted(self.failed)[:5]) + (" ..." if len(self.failed) > 5 else ""))
        for problem in self.scan.problems:
            lines.append(f"not counted: {problem}")
        if self.scan.missing_extras:
            rids = sorted(self.scan.missing_extras)
            lines.append(f"{len(rids)} run(s) lack their extra tables ({', '.join(rids[:5])}"
                         f"{' ...' if len(rids) > 5 else ''}): figures from those tables leave them out")
        return lines


def read(folder: str | Path) -> Stored:
    """Read a results folder through its checks; StoreError if it is not one or holds no counted run."""
    store = Store(folder)
    manifest = read_manifest(folder)
    scan = store.scan()
    runs = store.runs(scan)
    return Stored(Path(folder), manifest, runs, scan, store.failures())


# ---------------------------------------------------------------- tables beside the runs
def write_table(folder: str | Path, name: str, df: pd.DataFrame, about: dict | None = None) -> Path:
    """Write a derived table (a calibration's plausible set, a sensitivity analysis's indices) as
    `<folder>/<name>.parquet`, atomically, with `about` (JSON) in its metadata."""
    path = Path(folder) / f"{name}.parquet"
    try:
        _write_parquet(path, df, {"table": name, **(about or {})})
    except WriteError as err:
        raise StoreError(str(err)) from None
    return path


def read_table(folder: str | Path, name: str) -> tuple[pd.DataFrame, dict]:
    """A table `write_table` wrote, and what its metadata says about it; StoreError if missing or not one."""
    path = Path(folder) / f"{name}.parquet"
    if not path.is_file():
        raise StoreError(f"{path}: no such table (run the command that makes it first)")
    try:
        about, table = _open(path)
    except ValueError as err:
        raise StoreError(f"{path}: {err}") from None
    if about.get("table") != name:
        raise StoreError(f"{path}: holds the table {about.get('table')!r}, not {name!r}")
    return table, about
