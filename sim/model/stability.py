"""Stability before the run: is each unit's planned work within what it can do on duty?

A queue whose offered load is at or above its capacity grows for as long as
the run lasts, and its figures say more about the run's length than about
the city. The check counts each unit's planned visits in the horizon (service
and walking, at the handler the stage would choose when the resident comes
forward) against its places x minutes on duty (less places left vacant). It is an estimate: residents
who give up, problems found early and colleagues covering change it a little.
"""

from __future__ import annotations

import numpy as np

from ..scenario import ROLES, ScenarioError
from .units import capacity_minutes

OVERLOADED = 1.0


def planned_work(model, p, hotline: int | None) -> tuple[np.ndarray, np.ndarray]:
    """Each unit's planned minutes of work and visits in the horizon, of the requests of one plan
    (`p`: a routes.Plan, a window of the build's; `hotline`: the 12345 operators' unit, if any).
    Calls to 12345 count with their chance at the residents' initial trust, the office open."""
    H = model.horizon
    units = sum(len(model.layout[role].members) for role in ROLES)
    reported = p.report[p.request] <= H
    used = reported & (p.likely_pool >= 0)
    work = np.bincount(p.likely_pool[used], weights=np.nan_to_num(p.likely_duration[used]),
                       minlength=units)
    visits = np.bincount(p.likely_pool[used], minlength=units)
    if hotline is not None:
        c, distrust = model.spec.residents.channels, 1 - model.spec.residents.initial_trust
        with np.errstate(over="ignore"):         # as `journey.contact_chances`
            e_hot = np.exp(p.a_hotline + c.distrust_hotline * distrust)
            e_sil = np.exp(p.a_silent) * distrust ** c.distrust_silent
        chance = np.where(p.report <= H, e_hot / (1 + e_hot + e_sil), 0.0)
        work[hotline] += float(np.sum(chance * p.call_minutes))
    return work, visits


def planned_load(model, work: np.ndarray, visits: np.ndarray) -> dict[str, np.ndarray]:
    """Per role, each unit's planned work / capacity on duty over the horizon (`planned_work`,
    added up over the build's windows)."""
    H = model.horizon
    out = {}
    for role in ROLES:
        first = model.unit_offset[role]
        units = len(model.layout[role].members)
        if role == "alliance":
            al = model.spec.roles.alliance
            capacity = al.capacity_per_meeting * H / (al.meeting_interval_days * 1440)
            out[role] = visits[first:first + units] / capacity
            continue
        capacity = capacity_minutes(model, role, 0.0, H)
        with np.errstate(divide="ignore", invalid="ignore"):
            out[role] = np.where(capacity > 0, work[first:first + units] / capacity, 0.0)
    return out


def overloaded_units(model, work: np.ndarray, visits: np.ndarray) -> dict[str, list[tuple[int, float]]]:
    """Units at or above capacity, by role: [(unit, load)], worst first. With the scenario's
    `run.refuse_overloaded`, the first such role is refused with a ScenarioError."""
    out = {}
    for role, load in planned_load(model, work, visits).items():
        hot = np.flatnonzero(load >= OVERLOADED)
        if len(hot):
            hot = hot[np.argsort(-load[hot], kind="stable")]
            out[role] = [(int(u), float(load[u])) for u in hot]
    if out and model.spec.run.refuse_overloaded:
        role, units = next(iter(out.items()))
        raise ScenarioError(f"roles.{role}", describe({role: units}).removeprefix(f"{role}: ")
                            + " (run.refuse_overloaded is true)")
    return out


def describe(overloaded: dict[str, list[tuple[int, float]]]) -> str:
    """One line: which roles have units at or above capacity, how many, and the worst load."""
    return "; ".join(f"{role}: {len(units)} unit{'s' * (len(units) > 1)} overloaded (planned work at or above "
                     f"time on duty; the worst {units[0][1]:.2f} times it)" for role, units in overloaded.items())
