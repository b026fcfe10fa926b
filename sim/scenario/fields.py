"""Turn plain TOML data into frozen dataclasses, with one-line errors, and back into TOML text.

Each schema class is a frozen dataclass whose type hints say what a field may
hold and whose `spec(...)` metadata says its bounds. `build(cls, data, path)`
walks the data once, so every error names the dotted path of the field at
fault. Cross-field rules live in each class's `check(path)` method.

A field a scenario may leave to a standard (a city's buildings, from its
households and households per building) is filled by its class's
`derive(path)` before `check`, with `derived`: it then reads like any field,
but `to_data` leaves it out, so the data a scenario is rebuilt from (an
override, the hash, a written file) holds what was stated, and a changed
population re-derives what follows from it.

Every number is bounded here, whatever its field says: an integer must fit in
64 bits (numpy's and the store's integers), a number must not be NaN, and
`parse_toml` turns tomllib's own limits (an integer literal of more than
4,300 digits, nesting too deep) into the same one-line errors. Errors show
a value shortened to one short line. `toml_value`, `toml_key` and
`toml_comment` write TOML that reads back to the same data: the one TOML
writer (the calibrated scenario, the dashboard's export).
"""

from __future__ import annotations

import collections.abc
import dataclasses
import functools
import math
import re
import tomllib
import types
import typing
from typing import Any, Literal, get_args, get_origin, get_type_hints


class ScenarioError(ValueError):
    """A scenario is invalid; `str()` is '<source>: <dotted path>: <what is wrong>'."""

    def __init__(self, path: str, message: str, source: str = ""):
        super().__init__(": ".join(part for part in (source, path, message) if part))
        self.path, self.message, self.source = path, message, source

    def at(self, source: str) -> "ScenarioError":
        """The same error, attributed to a file or a command-line argument."""
        return ScenarioError(self.path, self.message, source)


INT_LIMIT = 2**63          # integers are 64-bit signed: numpy's, Parquet's
SHOWN = 60                 # characters of a value an error shows


def parse_toml(text: str, source: str) -> dict:
    """tomllib.loads, with its limits as ScenarioErrors naming `source`; a syntax error stays a
    `tomllib.TOMLDecodeError` (a file reports it, `--set` falls back to a plain string)."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        raise
    except ValueError as err:        # int(str)'s limit on digits
        raise ScenarioError("", f"a number too long to read ({str(err).split(':')[0]})", source) from None
    except RecursionError:
        raise ScenarioError("", "nested too deeply to read", source) from None


def show(value: Any) -> str:
    """A value as errors quote it: its repr, on one line and at most SHOWN characters."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 64:
        return f"an integer of {len(str(abs(value))) if value.bit_length() < 14_000 else 'over 4,300'} digits"
    try:
        text = repr(value)
    except ValueError:                 # repr of a container holding an integer too long to print
        return f"a {type(value).__name__} holding an integer too long to print"
    return text if len(text) <= SHOWN else text[:SHOWN - 3] + "..."


def spec(default: Any = dataclasses.MISSING, *, ge: float | None = None,
         gt: float | None = None, le: float | None = None, omit_unset: bool = False) -> Any:
    """A dataclass field with numeric bounds checked by `build`.

    `omit_unset`: the field is left out of the plain form (`to_data`, and so of the scenario hash)
    while it holds its default. A field added after scenarios were hashed is declared so, and every
    scenario that does not use it keeps its hash: stored sweeps and the committed references stay
    valid."""
    kwargs = {"metadata": {"ge": ge, "gt": gt, "le": le, "omit_unset": omit_unset}}
    if isinstance(default, (list, dict)):
        kwargs["default_factory"] = lambda: type(default)(default)
    elif default is not dataclasses.MISSING:
        kwargs["default"] = default
    return dataclasses.field(**kwargs)


def join(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


def _type_name(tp: Any) -> str:
    origin = get_origin(tp)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in get_args(tp))
    if origin in (list, tuple):
        return "a list"
    if origin in (dict, collections.abc.Mapping) or dataclasses.is_dataclass(tp):
        return "a table"
    if tp is Any:
        return "any value"
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_name(a) for a in get_args(tp) if a is not type(None))
    return {int: "an integer", float: "a number", str: "a string", bool: "true or false"}.get(tp, str(tp))


def _bounds(value: float, meta: dict, path: str) -> None:
    if isinstance(value, int) and not -INT_LIMIT <= value < INT_LIMIT:
        raise ScenarioError(path, f"must be an integer of 64 bits (at most {INT_LIMIT - 1:,}), got {show(value)}")
    if math.isnan(value):
        raise ScenarioError(path, "must be a number, got nan")
    if meta.get("ge") is not None and value < meta["ge"]:
        raise ScenarioError(path, f"must be >= {meta['ge']:g}, got {value:g}")
    if meta.get("gt") is not None and value <= meta["gt"]:
        raise ScenarioError(path, f"must be > {meta['gt']:g}, got {value:g}")
    if meta.get("le") is not None and value > meta["le"]:
        raise ScenarioError(path, f"must be <= {meta['le']:g}, got {value:g}")


def convert(tp: Any, value: Any, path: str, meta: dict | None = None) -> Any:
    """Check `value` against the type hint `tp`; return the typed value."""
    meta = meta or {}
    if tp is Any:
        return value
    origin = get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = get_args(tp)
        if value is None and type(None) in args:
            return None
        real = [a for a in args if a is not type(None)]
        if len(real) == 1:                           # `X | None`: X's own error (a bound, say) is the useful one
            return convert(real[0], value, path, meta)
        last: ScenarioError | None = None
        for arg in (a for a in args if a is not type(None)):
            if isinstance(value, dict) and dataclasses.is_dataclass(arg):
                return build(arg, value, path)       # a table: its own errors name the field inside it
            try:
                return convert(arg, value, path, meta)
            except ScenarioError as err:
                last = err
        raise ScenarioError(path, f"must be {_type_name(tp)}, got {show(value)}") from last
    if origin is Literal:
        if value not in get_args(tp):
            raise ScenarioError(path, f"must be {_type_name(tp)}, got {show(value)}")
        return value
    if origin is tuple:
        (item,) = {a for a in get_args(tp) if a is not Ellipsis}
        if not isinstance(value, (list, tuple)):
            raise ScenarioError(path, f"must be a list, got {show(value)}")
        return tuple(convert(item, v, join(path, i), meta) for i, v in enumerate(value))
    if origin in (dict, collections.abc.Mapping):
        _, item = get_args(tp)
        if not isinstance(value, dict):
            raise ScenarioError(path, f"must be a table, got {show(value)}")
        return types.MappingProxyType(
            {str(k): convert(item, v, join(path, k), meta) for k, v in value.items()})
    if dataclasses.is_dataclass(tp):
        return build(tp, value, path)
    if tp is bool:
        if not isinstance(value, bool):
            raise ScenarioError(path, f"must be true or false, got {show(value)}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ScenarioError(path, f"must be an integer, got {show(value)}")
        _bounds(value, meta, path)
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ScenarioError(path, f"must be a number, got {show(value)}")
        if isinstance(value, int) and abs(value) > 1e300:
            raise ScenarioError(path, f"must be a number below 1e300, got {show(value)}")
        _bounds(float(value), meta, path)
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ScenarioError(path, f"must be a string, got {show(value)}")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ScenarioError(path, f"must be text, got {show(value)} (bytes that are not UTF-8)") from None
        return value
    raise TypeError(f"unsupported schema type {tp!r} at {path}")


def argument(tp: Any, value: Any, name: str, **bounds: float) -> Any:
    """A value passed as an argument (the Python API's `days`, `seed`, `replicates`), checked like
    a field: `simulate(days=True)` or `seed=None` is an error, not one day or an unrecorded seed."""
    try:
        return convert(tp, value, name, bounds)
    except ScenarioError as err:
        raise err.at("argument") from None


DERIVED = "_derived"        # the attribute naming the fields an object's standards filled in


def derived(obj: Any, **values: Any) -> Any:
    """`obj` with `values` for fields it left to a standard: set in place while `obj` is under
    construction (its `derive`), else on a new object (a built one may be a shared default)."""
    if not values:
        return obj
    done = getattr(obj, DERIVED, frozenset())
    if isinstance(done, set):              # under construction
        for name, value in values.items():
            object.__setattr__(obj, name, value)
        done.update(values)
        return obj
    new = dataclasses.replace(obj, **values)
    object.__setattr__(new, DERIVED, done | frozenset(values))
    return new


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    """A schema class's resolved type hints: resolving them is most of building a scenario, which
    a sweep's parent does for every point."""
    return get_type_hints(cls)


def build(cls: type, data: Any, path: str = "") -> Any:
    """Build dataclass `cls` from a TOML table, then fill what it derives and run its `check`."""
    if not isinstance(data, dict):
        raise ScenarioError(path, f"must be a table, got {data!r}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ScenarioError(join(path, unknown[0]),
                            f"unknown key (expected one of: {', '.join(fields)})")
    hints = _hints(cls)
    values = {}
    for name, f in fields.items():
        if name in data:
            values[name] = convert(hints[name], data[name], join(path, name), dict(f.metadata))
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise ScenarioError(join(path, name), "missing (required)")
    obj = cls(**values)
    derive = getattr(obj, "derive", None)
    if derive is not None:
        object.__setattr__(obj, DERIVED, set())
        derive(path)
        object.__setattr__(obj, DERIVED, frozenset(getattr(obj, DERIVED)))
    check = getattr(obj, "check", None)
    if check is not None:
        check(path)
    return obj


def to_data(obj: Any, derived: bool = False) -> Any:
    """The plain (JSON-able) form of a built schema object, as stated (derived fields left out), or
    with `derived` every field as the model reads it (to look a value up, never to rebuild from)."""
    if dataclasses.is_dataclass(obj):
        left = () if derived else getattr(obj, DERIVED, None) or ()
        return {f.name: to_data(getattr(obj, f.name), derived) for f in dataclasses.fields(obj)
                if f.name not in left and not (f.metadata.get("omit_unset") and getattr(obj, f.name) == f.default)}
    if isinstance(obj, (dict, types.MappingProxyType)):
        return {k: to_data(v, derived) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_data(v, derived) for v in obj]
    return obj


# ---------------------------------------------------------------- writing TOML
_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
_ESCAPES = {"\\": "\\\\", '"': '\\"', "\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r"}
_CONTROL = re.compile(r'[\x00-\x1f\x7f"\\]')


def _string(text: str) -> str:
    return '"' + _CONTROL.sub(lambda m: _ESCAPES.get(m.group(), f"\\u{ord(m.group()):04x}"), text) + '"'


def toml_key(key: str) -> str:
    """A key as TOML writes it: bare when it can be, else quoted (a dotted path stays one key)."""
    return key if _BARE_KEY.fullmatch(key) else _string(key)


def toml_value(v: Any) -> str:
    """Plain data (what `to_data` gives) as a TOML value that reads back to the same data; a table's
    None (an optional field left at its default) is left out, as TOML has no null."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return repr(v) if math.isfinite(v) else ("nan" if math.isnan(v) else "inf" if v > 0 else "-inf")
    if isinstance(v, str):
        return _string(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    if isinstance(v, (dict, types.MappingProxyType)):
        return "{ " + ", ".join(f"{toml_key(str(k))} = {toml_value(x)}" for k, x in v.items() if x is not None) + " }"
    raise TypeError(f"cannot write {type(v).__name__} as TOML")


def toml_comment(text: str) -> str:
    """A comment line: `# text`, with line breaks and other control characters as spaces."""
    return "# " + re.sub(r"[\x00-\x08\x0a-\x1f\x7f]", " ", text)
