"""The request and visit records, declared once (as Ciw's `DataRecord`): field, dtype, default, meaning.

Two kinds of declaration per record. `VISIT` and `REQUEST` are what the
journey reads and writes of each visit and request while the run goes on:
`allocate` makes the model's arrays from them (one per field, its default in
every row), so a field exists, has its type and starts at its default because
it is declared here, and the journey (journey.py) writes those fields by
name. `VISITS` and `REQUESTS` are the columns of the run's output tables
(`metrics.tables`, written as Parquet by `gridsim run --out`): name, type and
meaning; `frame` orders and types a table by them (the Parquet files keep
those types), and docs/ODD.md section 10.1's table of outputs is
`odd_table()` (a test checks it).
"""

from __future__ import annotations

import math
from collections import namedtuple
from typing import NamedTuple

import numpy as np
import pandas as pd

from ..scenario import ROLES
from . import spill
from .routes import CHANNELS

OUTCOMES = ("resolved", "abandoned", "open")
ORIGINS = ("resident", "staff")


class Field(NamedTuple):
    name: str
    dtype: str
    default: float | int | bool
    meaning: str


class Column(NamedTuple):
    name: str
    dtype: str                  # a numpy dtype, or "category" (codes into `categories`)
    meaning: str
    categories: tuple[str, ...] | None = None


NAN, INF = math.nan, math.inf

# Indices (requests, visits, units, households, agents) are int32: 4 bytes a field, not 8, in
# arrays as long as a run's visits and requests (81 MB less of a city-year's records); `allocate` and
# `grown` refuse more rows than int32 counts (2.1 billion, far past a megacity's city-year).
INDEX_LIMIT = int(np.iinfo(np.int32).max)

# ---------------------------------------------------------------- what the journey keeps of each visit
VISIT = (
    Field("request", "int32", -1, "the request the visit is a stage of"),
    Field("stage", "int8", 0, "index in the type's stages; -1: the call to 12345, -2: the receiver's triage"),
    Field("unit", "int32", -1, "the unit that takes it (index over every role's units); -1 until chosen"),
    Field("duration", "float64", NAN, "minutes its handler is occupied, walking included"),
    Field("next", "int32", -1, "the request's next visit (-1: resolved after this one)"),
    Field("option", "int32", -1, "its row of alternative roles where the stage has several (-1: none)"),
    Field("rank", "int8", 0, "its priority's rank in a queue (0 first)"),
    Field("home", "int32", -1, "the household a routine home visit goes to (-1: not one)"),
    Field("resident", "bool", True, "a resident waits for it: their patience and their trust"),
    Field("deadline", "float64", INF, "when nobody will start it any more (-inf: a colleague took it)"),
    Field("queued", "float64", NAN, "minute it reached its stage"),
    Field("start", "float64", NAN, "minute its handler started"),
    Field("agent", "int32", -1, "the handler (Mesa unique_id)"),
    Field("in_line", "int32", -1, "the next visit in the same queue or routine list"),
    Field("overdue_after", "int32", -1, "the next visit in the station's overdue list"),
)

# ---------------------------------------------------------------- what the journey keeps of each request
REQUEST = (
    Field("type", "int8", 0, "index into the scenario's request types"),
    Field("household", "int32", -1, "the household it is about"),
    Field("created", "float64", NAN, "minute the problem arose"),
    Field("own_report", "float64", INF, "minute it comes forward unprompted (inf once the resident chose silence)"),
    Field("reported", "float64", NAN, "minute it reached someone (nan: not yet)"),
    Field("channel", "int8", 0, "how it reached someone (routes.CHANNELS)"),
    Field("way", "int8", 0, "the way into the grid planned for the resident (kept for a repeat)"),
    Field("silent", "bool", False, "the resident first chose to say nothing"),
    Field("lapse", "float64", INF, "a silent problem: when its resident gives up on it"),
    Field("first", "int32", -1, "its first stage's visit"),
    Field("last", "int32", -1, "its last stage's visit (its stages' visits lie between)"),
    Field("hotline", "int32", -1, "the visit of its call to 12345, once made"),
    Field("call_minutes", "float32", NAN, "how long a call to 12345 would take"),
    Field("patience", "float64", INF, "minutes the resident waits for a first handler, at full trust"),
    Field("first_wait", "float64", 0.0, "minutes the first stage expects a resident to wait for its handler"),
    Field("sla", "float64", INF, "minutes from the report within which it should be resolved"),
    Field("repeat_of", "int32", -1, "for a repeat: the request its resident gave up on"),
    Field("a_hotline", "float32", -INF, "12345's utility before trust and a closed office (-inf: not open)"),
    Field("a_silent", "float32", -INF, "silence's utility before trust (-inf: not open)"),
    Field("u_contact", "float32", 0.0, "uniform draw: the grid, 12345 or silence"),
    Field("u_repeat", "float32", 1.0, "uniform draw: does a resident who gave up come back?"),
    Field("e_repeat", "float32", 0.0, "exponential draw: after how long"),
    Field("found_skip", "bool", False, "found at the door: the reception it would have walked in to is skipped"),
    Field("found_unit", "int32", -1, "found at the door: the grid leader's unit that triages it (-1: none)"),
    Field("found_triage", "float32", NAN, "found at the door: that triage's minutes"),
)

# ---------------------------------------------------------------- the run's output tables
# (indices int32 and stages int8, as the records keep them: a city-year's tables 181 MB, not 239 MB
# with int64, and its outputs then no higher than its build: docs/PERFORMANCE.md)
VISITS = (
    Column("request", "int32", "the request (row of the requests table)"),
    Column("stage", "int8", "index in the type's stages; -1: the call to 12345; -2: the receiver's triage "
                             "(grid leader, station head, or the duty leader standing in)"),
    Column("role", "category", "the handler's role", ROLES),
    Column("unit", "int32", "the handler's unit within its role (grid, station, building, community...)"),
    Column("agent", "int32", "the handler (Mesa unique_id; -1: not started)"),
    Column("queued_minute", "float64", "minute it reached its stage"),
    Column("start_minute", "float64", "minute its handler started (nan: not by the horizon)"),
    Column("end_minute", "float64", "minute its handler finished (nan: not by the horizon)"),
    Column("travel_minutes", "float64", "walking or driving there and back (on call: the phone's response)"),
    Column("service_minutes", "float64", "the rest of the handler's time on it"),
)

REQUESTS = (
    Column("type", "category", "the request type (scenario [requests.*])"),
    Column("origin", "category", "who it comes from: a resident, or staff's own routine work", ORIGINS),
    Column("household", "int32", "the household it is about"),
    Column("grid", "int32", "the household's grid"),
    Column("station", "int32", "the household's service station"),
    Column("community", "int32", "the household's community"),
    Column("created_minute", "float64", "minute the problem arose (negative: before the run)"),
    Column("reported_minute", "float64", "minute it reached someone (nan: not by the horizon)"),
    Column("channel", "category", "how it reached someone (nan: it did not)", CHANNELS),
    Column("silent", "bool", "the resident first said nothing"),
    Column("repeat_of", "int32", "the request its resident gave up on and came back with (-1: none)"),
    Column("started_minute", "float64", "minute its first handler started"),
    Column("ended_minute", "float64", "minute it was resolved or abandoned (nan: open at the horizon)"),
    Column("outcome", "category", "resolved, abandoned, or open at the horizon", OUTCOMES),
    Column("visits", "int32", "handler visits it had (the 12345 call not counted)"),
    Column("first_handler", "category", "the role of its first handler", ROLES),
    Column("handled_by", "category", "the role of its last handler", ROLES),
    Column("police110", "bool", "110's patrol handled it"),
    Column("sla_hours", "float64", "its service-level target, hours from the report"),
    Column("wait_target_minutes", "float64", "its type's target for the wait for a first handler (nan: none)"),
)


def record_type(name: str, fields: tuple[Field, ...], module: str = __name__) -> type:
    """A named tuple class of one array per field: what the compiled journey reads as `w.visit`, ...
    (a record's fields side by side, each contiguous: measured faster in the loop than an array
    of records, docs/PERFORMANCE.md). Define it at the top of `module` under `name`: numba's cache
    finds the class there."""
    return namedtuple(name, [f.name for f in fields], module=module)


def allocate(kind: type, fields: tuple[Field, ...], rows: int, room: int, on_file: bool = False, **values) -> tuple:
    """`rows` records with room for `room` in all: each field's given values (for the first rows)
    or its default; on a file if `on_file` (`spill`). The room past `rows` is left untouched (the
    journey writes every field of a record it adds), so it costs address space, not memory."""
    _within_index(kind.__name__, room)
    dtypes = {f.name: f.dtype for f in fields}
    records = kind(**spill.arrays(room, dtypes, on_file))
    written(records, fields, 0, rows, **values)
    return records


def written(records: tuple, fields: tuple[Field, ...], at: int, rows: int, kept: tuple[str, ...] = (),
            **values) -> None:
    """Rows `at` to `at + rows` of `records` given: each field's given values, or its default, but
    the fields `kept` (already written). The values are copied in the order given and each let go
    once copied: values held by the call alone (a window of `GridModel`'s plan) are gone before the
    next is copied."""
    unknown = set(values) - {f.name for f in fields}
    if unknown:
        raise TypeError(f"not fields of {type(records).__name__}: {sorted(unknown)}")
    given = [*values, *kept]
    for name in list(values):
        spill.put(getattr(records, name)[at:at + rows], values.pop(name))
    for f in fields:
        if f.name not in given:
            spill.put(getattr(records, f.name)[at:at + rows], f.default)


def grown(records: tuple, rows: int, room: int) -> tuple:
    """The same records with room for `room`."""
    _within_index(type(records).__name__, room)
    out = spill.arrays(room, {name: old.dtype for name, old in zip(records._fields, records)},
                       spill.on_file(records[0]))
    for name, old in zip(records._fields, records):
        spill.put(out[name][:rows], old[:rows])
    return type(records)(**out)


def _within_index(kind: str, room: int) -> None:
    if room > INDEX_LIMIT:
        raise ValueError(f"{kind}: {room:,} records would not fit their int32 indices (at most {INDEX_LIMIT:,}): "
                         "run the city district by district (--by-district) or over a shorter horizon")


Visits = record_type("Visits", VISIT)
Requests = record_type("Requests", REQUEST)


def room(columns: tuple[Column, ...], rows: int, on_file: bool, categories: dict | None = None) -> dict[str, np.ndarray]:
    """Room for a table of `rows` (`frame`): an array per column, its type the declared one (codes
    for categories, as pandas keeps them), on a file if `on_file` (`spill`); a column's values go
    in with `spill.put` as it is made, so that a city-year's tables are never all in memory."""
    return spill.arrays(rows, {c.name: _codes(len(c.categories or categories[c.name])) if c.dtype == "category"
                               else c.dtype for c in columns}, on_file)


def frame(columns: tuple[Column, ...], values: dict, categories: dict | None = None) -> pd.DataFrame:
    """A table in the declared order and types from its `room`, each column's values put in (codes
    for categories); `categories` the categories of those declared without (the scenario's
    request types)."""
    missing, extra = {c.name for c in columns} - set(values), set(values) - {c.name for c in columns}
    if missing or extra:
        raise KeyError(f"columns not as declared: missing {sorted(missing)}, undeclared {sorted(extra)}")
    return pd.DataFrame({c.name: pd.Categorical.from_codes(values[c.name], list(c.categories or categories[c.name]))
                         if c.dtype == "category" else values[c.name] for c in columns}, copy=False)


def _codes(categories: int) -> type:
    """The integer type pandas keeps a category's codes in (else it would copy them)."""
    return np.int8 if categories < 127 else np.int16 if categories < 32767 else np.int32


def odd_table() -> str:
    """docs/ODD.md's table of outputs (section 10.1): every column of both tables."""
    lines = ["| table | column | type | meaning |", "|---|---|---|---|"]
    for table, columns in (("requests", REQUESTS), ("visits", VISITS)):
        for c in columns:
            kind = "category" if c.dtype == "category" else c.dtype
            lines.append(f"| {table} | `{c.name}` | {kind} | {c.meaning} |")
    return "\n".join(lines)
