"""Scenarios: load a TOML file, apply `KEY=VALUE` overrides, validate, hash.

Errors are `ScenarioError`s whose text is one line naming the source (file or
`--set` argument), the dotted field path and what is wrong.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
import tomllib
from pathlib import Path
from typing import Any, Iterable

from . import citymap
from .fields import ScenarioError, build, parse_toml, show, to_data
from .schema import (PROPERTY_MODES, ROLES, Scenario, Shift, offered_load,
                     shift_hours_per_week, split_counts, staff_counts)

__all__ = ["PROPERTY_MODES", "ROLES", "Scenario", "ScenarioError", "Shift", "load", "bundled_scenario",
           "resolve_scenario", "from_data", "with_overrides", "get_path", "set_path", "parse_assignment", "scenario_hash", "to_data",
           "offered_load", "shift_hours_per_week", "split_counts", "staff_counts"]


def bundled_scenario(name: str) -> Path | None:
    """A scenario shipped with gridsim, by file name with or without `.toml` (`meihekou_2018`, `mmc`)."""
    from ..data import folder
    stem = Path(name).stem if Path(name).suffix == ".toml" else name
    if not stem or "/" in stem or "\\" in stem:
        return None
    return next(iter(sorted(p for p in folder("scenarios").rglob(f"{stem}.toml") if _is_scenario(p))), None)


def _is_scenario(path: Path) -> bool:
    """Bundled scenario files: everything under scenarios/ except the calibration targets."""
    return path.parent.name != "targets"


def resolve_scenario(text: str | Path) -> Path:
    """A scenario file: a path, or the name of a bundled scenario; ScenarioError if neither exists."""
    path = Path(text)
    if path.exists():
        return path
    found = bundled_scenario(str(text)) if not path.parent.parts else None
    if found is not None:
        return found
    raise ScenarioError("", "no such file or bundled scenario (bundled: "
                            f"{', '.join(bundled_names())})", str(text))


def bundled_names(maps: bool = True) -> list[str]:
    """The bundled scenarios' names; `maps=False` leaves out those drawn on a map (scenarios/maps),
    which need the [geo] extra: a page offers only what the installed gridsim can load."""
    from ..data import folder
    return sorted(p.stem for p in folder("scenarios").rglob("*.toml")
                  if _is_scenario(p) and (maps or p.parent.name != "maps"))


def _from(data: dict, source: str) -> Scenario:
    try:
        return _built(data)
    except ScenarioError as err:
        raise err.at(source) from None


def _built(data: dict) -> Scenario:
    """The scenario of plain data, every field and every rule checked; a map's counts filled in."""
    scenario = build(Scenario, citymap.fill(data))
    _check_uncertain(scenario)
    return scenario


def _check_uncertain(scenario: Scenario) -> None:
    """Every field an [uncertain] input names is a number of the scenario."""
    data = to_data(scenario, derived=True)
    for name, u in scenario.uncertain.items():
        for path in u.scale or (name,):
            try:
                value = get_path(data, path)
            except ScenarioError as err:
                raise ScenarioError(f"uncertain.{name}", f"{path}: {err.message}") from None
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ScenarioError(f"uncertain.{name}", f"{path} is not a number ({value!r})")


def read_toml(path: Path) -> tuple[str, dict]:
    """A TOML file's text and data; any failure to read or parse it is one ScenarioError
    naming the file (scenarios, experiments, targets and sensitivity specs alike)."""
    try:
        text = path.read_text(encoding="utf-8")
        return text, parse_toml(text, str(path))
    except FileNotFoundError:
        raise ScenarioError("", "no such file", str(path)) from None
    except (OSError, UnicodeDecodeError) as err:
        raise ScenarioError("", f"cannot read ({err.__class__.__name__}: {err})", str(path)) from None
    except tomllib.TOMLDecodeError as err:
        raise ScenarioError("", f"TOML syntax error: {err}", str(path)) from None


def _read(path: Path, seen: tuple[Path, ...] = ()) -> dict:
    """The TOML data of a file, with its `extends = "base.toml"` chain merged in."""
    data = read_toml(path)[1]
    data.setdefault("name", path.stem)
    city = data.get("city")
    if isinstance(city, dict) and isinstance(city.get("map"), (str, dict)):
        settings = {"communities": city["map"]} if isinstance(city["map"], str) else city["map"]
        city["map"] = citymap.resolve(settings, path.parent)       # its files lie beside the scenario
    base = data.pop("extends", None)
    if base is None:
        return data
    if not isinstance(base, str):
        raise ScenarioError("extends", f"must be a file name, got {base!r}", str(path))
    base_path = (path.parent / base).resolve()
    if base_path in seen:
        raise ScenarioError("extends", f"{base} extends itself (a cycle)", str(path))
    if not base_path.exists():
        bundled = bundled_scenario(base) if not Path(base).parent.parts else None
        if bundled is None:
            raise ScenarioError("extends", f"no such file {base} (nor a bundled scenario)", str(path))
        base_path = bundled
    return _merge(_read(base_path, (*seen, path.resolve())), data)


def _merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for key, value in over.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def load(path: str | Path, overrides: Iterable = ()) -> Scenario:
    """Read and validate a scenario file, then apply overrides (see `with_overrides`)."""
    path = Path(path)
    data = _read(path)
    scenario = _from(data, str(path))
    return with_overrides(scenario, overrides) if overrides else scenario


def from_data(data: dict, source: str = "<data>") -> Scenario:
    return _from(copy.deepcopy(data), source)


def set_label(text: str) -> str:
    """A `--set` argument as errors name it: as typed, shortened to one short line."""
    return f"--set {text if len(text) <= 200 else text[:197] + '...'}"


def parse_assignment(text: str) -> tuple[str, Any]:
    """'a.b=VALUE' -> ('a.b', value); VALUE is read as a TOML value, else as a string."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ScenarioError("", "expected KEY=VALUE with a dotted KEY", set_label(text))
    try:
        value = parse_toml(f"v = {raw}", set_label(text))["v"]
    except tomllib.TOMLDecodeError:
        value = raw.strip()
    return key, value


_PART = re.compile(r"([^\[\]]+)((?:\[\d+\])*)")


def _steps(dotted: str) -> list[str | int]:
    """'requests.wish.stages[1].pass_on' -> ['requests', 'wish', 'stages', 1, 'pass_on']."""
    steps: list[str | int] = []
    for part in dotted.split("."):
        m = _PART.fullmatch(part)
        if m is None:
            raise ScenarioError(dotted, "is not a dotted path (empty part, or a bad [index])")
        steps.append(m.group(1))
        steps += [int(k) for k in re.findall(r"\d+", m.group(2))]
    return steps


def set_path(data: dict, dotted: str, value: Any) -> None:
    """Set `value` at a dotted path inside nested tables; a table merges into the table it replaces
    (`roles.police={per_station=1}` changes per_station and keeps the rest). `[k]` picks the k-th
    item of a list (`requests.wish.stages[0].pass_on`)."""
    *parents, leaf = _steps(dotted)
    node: Any = data
    for i, part in enumerate(parents):
        where = dotted if i == len(parents) - 1 else _join_steps(parents[: i + 1])
        if isinstance(part, int):
            if not isinstance(node, list) or part >= len(node):
                raise ScenarioError(where, f"has no item [{part}]" if isinstance(node, list) else "is not a list")
            node = node[part]
        else:
            if not isinstance(node, dict):
                raise ScenarioError(_join_steps(parents[:i]), "is not a table")
            node = node.setdefault(part, {})
        if not isinstance(node, (dict, list)):
            raise ScenarioError(_join_steps(parents[: i + 1]), "is not a table")
    if isinstance(leaf, int):
        if not isinstance(node, list) or leaf >= len(node):
            raise ScenarioError(dotted, "no such list item")
        old = node[leaf]
    else:
        if not isinstance(node, dict):
            raise ScenarioError(_join_steps(parents), "is not a table")
        old = node.get(leaf)
    node[leaf] = _merge(old, value) if isinstance(value, dict) and isinstance(old, dict) else value


def get_path(data: dict, dotted: str) -> Any:
    """The value at a dotted path (with `[k]` list items) of plain scenario data; ScenarioError if absent."""
    node: Any = data
    for k, step in enumerate(_steps(dotted)):
        ok = (isinstance(node, list) and isinstance(step, int) and step < len(node)) or \
             (isinstance(node, dict) and isinstance(step, str) and step in node)
        if not ok:
            raise ScenarioError(dotted, f"no such field ({_join_steps(_steps(dotted)[:k + 1])})")
        node = node[step]
    return node


def _join_steps(steps: list) -> str:
    return "".join(f"[{s}]" if isinstance(s, int) else (f".{s}" if k else s) for k, s in enumerate(steps))


def with_overrides(scenario: Scenario, overrides: Iterable) -> Scenario:
    """A new scenario with all overrides applied together, then validated once.

    Each override is a `KEY=VALUE` string, a (key, value) pair, or a (key,
    value, label) triple whose label is what errors name (`--days 10`, as the
    user typed it). A table value merges into the table at its path.
    Validating once lets overrides that only make sense together (more
    residents and more staff) pass; an error is attributed to the override
    whose path it concerns, or to all of them when it ties fields together.
    """
    data = to_data(scenario)
    decided = citymap.decided(data)
    applied = []
    for item in overrides:
        if isinstance(item, str):
            key, value = parse_assignment(item)
            label = set_label(item)
        elif len(item) == 3:
            key, value, label = item
        else:
            key, value = item
            label = set_label(f"{key}={show(value)}")
        if key in decided:
            raise ScenarioError(key, f"comes from the map ({scenario.city.map.communities}): change the file, "
                                     "or leave the field to it", label)
        try:
            set_path(data, key, value)
        except ScenarioError as err:
            raise err.at(label) from None
        applied.append((key, label))
    if not applied:
        return scenario
    try:
        return _built(data)
    except ScenarioError as err:
        mine = [label for key, label in applied
                if err.path == key or err.path.startswith((key + ".", key + "[")) or key.startswith(err.path + ".")]
        raise err.at((mine or [label for _, label in applied])[0] if len(mine) == 1 or len(applied) == 1
                     else " ".join(mine or [label for _, label in applied])) from None


def scenario_hash(scenario: Scenario) -> str:
    """A stable content hash: same inputs, same hash, on any machine."""
    data = to_data(scenario)
    if scenario.city.map is not None:
        data["city"]["map"] = citymap.digest(data["city"]["map"])
    text = json.dumps(data, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]
