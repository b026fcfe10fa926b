"""Scenarios: load a TOML file, apply `KEY=VALUE` overrides, validate, hash.

Errors are `ScenarioError`s whose text is one line naming the source (file or
`--set` argument), the dotted field path and what is wrong.
"""

from __future__ import annotations

import copy
import hashlib
import json
import tomllib
from pathlib import Path
from typing import Any, Iterable

from .fields import ScenarioError, build, to_data
from .schema import (PROPERTY_MODES, ROLES, Scenario, Shift, offered_load,
                     shift_hours_per_week, staff_counts)

__all__ = ["PROPERTY_MODES", "ROLES", "Scenario", "ScenarioError", "Shift", "load",
           "from_data", "with_overrides", "parse_assignment", "scenario_hash", "to_data",
           "offered_load", "shift_hours_per_week", "staff_counts"]


def _from(data: dict, source: str) -> Scenario:
    try:
        return build(Scenario, data)
    except ScenarioError as err:
        raise err.at(source) from None


def _read(path: Path, seen: tuple[Path, ...] = ()) -> dict:
    """The TOML data of a file, with its `extends = "base.toml"` chain merged in."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ScenarioError("", "no such file", str(path)) from None
    except (OSError, UnicodeDecodeError) as err:
        raise ScenarioError("", f"cannot read ({err.__class__.__name__}: {err})", str(path)) from None
    except tomllib.TOMLDecodeError as err:
        raise ScenarioError("", f"TOML syntax error: {err}", str(path)) from None
    data.setdefault("name", path.stem)
    base = data.pop("extends", None)
    if base is None:
        return data
    if not isinstance(base, str):
        raise ScenarioError("extends", f"must be a file name, got {base!r}", str(path))
    base_path = (path.parent / base).resolve()
    if base_path in seen:
        raise ScenarioError("extends", f"{base} extends itself (a cycle)", str(path))
    if not base_path.exists():
        raise ScenarioError("extends", f"no such file {base}", str(path))
    return _merge(_read(base_path, (*seen, path.resolve())), data)


def _merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for key, value in over.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def load(path: str | Path, overrides: Iterable[str] = ()) -> Scenario:
    """Read and validate a scenario file, then apply `KEY=VALUE` overrides."""
    path = Path(path)
    data = _read(path)
    scenario = _from(data, str(path))
    return with_overrides(scenario, overrides) if overrides else scenario


def from_data(data: dict, source: str = "<data>") -> Scenario:
    return _from(copy.deepcopy(data), source)


def parse_assignment(text: str) -> tuple[str, Any]:
    """'a.b=VALUE' -> ('a.b', value); VALUE is read as a TOML value, else as a string."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ScenarioError("", "expected KEY=VALUE with a dotted KEY", f"--set {text}")
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw.strip()
    return key, value


def set_path(data: dict, dotted: str, value: Any) -> None:
    """Set `value` at a dotted path inside nested tables."""
    *parents, leaf = dotted.split(".")
    node = data
    for i, part in enumerate(parents):
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ScenarioError(".".join(parents[: i + 1]), "is not a table")
    node[leaf] = value


def with_overrides(scenario: Scenario, overrides: Iterable[str | tuple[str, Any]]) -> Scenario:
    """A new scenario with all overrides applied together, then validated once.

    Validating once lets overrides that only make sense together (more
    residents and more staff) pass; an error is attributed to the override
    whose path it concerns, or to all of them when it ties fields together.
    """
    data = to_data(scenario)
    applied = []
    for item in overrides:
        key, value = parse_assignment(item) if isinstance(item, str) else item
        label = "--set " + (item if isinstance(item, str) else f"{key}={value!r}")
        try:
            set_path(data, key, value)
        except ScenarioError as err:
            raise err.at(label) from None
        applied.append((key, label))
    if not applied:
        return scenario
    try:
        return build(Scenario, data)
    except ScenarioError as err:
        mine = [label for key, label in applied
                if err.path == key or err.path.startswith((key + ".", key + "[")) or key.startswith(err.path + ".")]
        raise err.at((mine or [label for _, label in applied])[0] if len(mine) == 1 or len(applied) == 1
                     else " ".join(mine or [label for _, label in applied])) from None


def scenario_hash(scenario: Scenario) -> str:
    """A stable content hash: same inputs, same hash, on any machine."""
    text = json.dumps(to_data(scenario), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]
