"""Turn plain TOML data into frozen dataclasses, with one-line errors.

Each schema class is a frozen dataclass whose type hints say what a field may
hold and whose `spec(...)` metadata says its bounds. `build(cls, data, path)`
walks the data once, so every error names the dotted path of the field at
fault. Cross-field rules live in each class's `check(path)` method.
"""

from __future__ import annotations

import collections.abc
import dataclasses
import math
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


def spec(default: Any = dataclasses.MISSING, *, ge: float | None = None,
         gt: float | None = None, le: float | None = None) -> Any:
    """A dataclass field with numeric bounds checked by `build`."""
    kwargs = {"metadata": {"ge": ge, "gt": gt, "le": le}}
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
        raise ScenarioError(path, f"must be {_type_name(tp)}, got {value!r}") from last
    if origin is Literal:
        if value not in get_args(tp):
            raise ScenarioError(path, f"must be {_type_name(tp)}, got {value!r}")
        return value
    if origin is tuple:
        (item,) = {a for a in get_args(tp) if a is not Ellipsis}
        if not isinstance(value, (list, tuple)):
            raise ScenarioError(path, f"must be a list, got {value!r}")
        return tuple(convert(item, v, join(path, i), meta) for i, v in enumerate(value))
    if origin in (dict, collections.abc.Mapping):
        _, item = get_args(tp)
        if not isinstance(value, dict):
            raise ScenarioError(path, f"must be a table, got {value!r}")
        return types.MappingProxyType(
            {str(k): convert(item, v, join(path, k), meta) for k, v in value.items()})
    if dataclasses.is_dataclass(tp):
        return build(tp, value, path)
    if tp is bool:
        if not isinstance(value, bool):
            raise ScenarioError(path, f"must be true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ScenarioError(path, f"must be an integer, got {value!r}")
        _bounds(value, meta, path)
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ScenarioError(path, f"must be a number, got {value!r}")
        _bounds(float(value), meta, path)
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ScenarioError(path, f"must be a string, got {value!r}")
        return value
    raise TypeError(f"unsupported schema type {tp!r} at {path}")


def build(cls: type, data: Any, path: str = "") -> Any:
    """Build dataclass `cls` from a TOML table, then run its `check`."""
    if not isinstance(data, dict):
        raise ScenarioError(path, f"must be a table, got {data!r}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ScenarioError(join(path, unknown[0]),
                            f"unknown key (expected one of: {', '.join(fields)})")
    hints = get_type_hints(cls)
    values = {}
    for name, f in fields.items():
        if name in data:
            values[name] = convert(hints[name], data[name], join(path, name), dict(f.metadata))
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise ScenarioError(join(path, name), "missing (required)")
    obj = cls(**values)
    check = getattr(obj, "check", None)
    if check is not None:
        check(path)
    return obj


def to_data(obj: Any) -> Any:
    """The plain (JSON-able) form of a built schema object."""
    if dataclasses.is_dataclass(obj):
        return {f.name: to_data(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, (dict, types.MappingProxyType)):
        return {k: to_data(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_data(v) for v in obj]
    return obj
