"""Requests: who asks for what, when; drawn up front, vectorised, from named streams.

Every random quantity a request will ever need (arrival, service-time draws
for each stage, escalation and availability draws, reporting delay,
patience) is drawn here, in creation order, from its own stream. Two
scenarios that differ only in staffing therefore see the same requests with
the same draws: common random numbers by construction.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import ndtri

from ..city import City
from ..scenario import PROPERTY_MODES, Scenario
from ..scenario.schema import Profile, Service

STREAMS = ("city", "arrivals", "service", "routing", "behaviour")
FLAT = Profile(hours=(1.0,) * 24, weekdays=(1.0,) * 7)


def stream(seed: int, process: str, *key: int) -> np.random.Generator:
    """The Generator of one stochastic process (and request type), from one seed.

    Streams are children of `SeedSequence(seed)` addressed by process name
    and type index, so adding a request type or changing how many requests
    one type makes leaves every other stream untouched.
    """
    spawn_key = (STREAMS.index(process), *key)
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=spawn_key))


@dataclass(frozen=True)
class Requests:
    """One row per request, in creation order (the request id is the row)."""
    types: tuple[str, ...]
    type: np.ndarray          # index into `types`
    household: np.ndarray
    created: np.ndarray       # minutes
    u_service: np.ndarray     # (n, stages) uniforms for each stage's service time
    u_escalate: np.ndarray    # (n, stages) uniforms for passing the request on
    u_available: np.ndarray   # (n,) uniform: is the building leader there for it?
    e_report: np.ndarray      # (n,) standard exponential: reporting delay
    e_patience: np.ndarray    # (n,) standard exponential: patience

    def __len__(self) -> int:
        return len(self.type)


def household_weights(scenario: Scenario, city: City, name: str) -> np.ndarray:
    """Relative request rate of each household for one request type."""
    rt = scenario.requests[name]
    w = (city.hh_size / scenario.city.household_size) ** rt.size_elasticity
    w = w * np.where(city.hh_elderly, rt.elderly_multiplier, 1.0)
    if rt.property_sensitive:
        modes = scenario.roles.property_manager.modes
        mult = np.array([modes[m].rate_multiplier for m in PROPERTY_MODES])
        w = w * mult[city.compound_mode[city.hh_compound]]
    return w


def hourly_intensity(profile: Profile, hours: int) -> np.ndarray:
    """Relative intensity for each hour from Monday 00:00, mean 1 over a week."""
    h = np.asarray(profile.hours, float)
    d = np.asarray(profile.weekdays, float)
    week = (d[:, None] / d.mean() * h[None, :] / h.mean()).ravel()
    return week[np.arange(hours) % len(week)]


def draw_requests(scenario: Scenario, city: City, seed: int, horizon: float) -> Requests:
    """Non-homogeneous Poisson arrivals for every type, hour by hour, up to `horizon` minutes."""
    hours = int(np.ceil(horizon / 60))
    bin_minutes = np.minimum(60.0, horizon - 60.0 * np.arange(hours))
    stages = max(len(rt.handlers) for rt in scenario.requests.values())
    parts = []
    for t, (name, rt) in enumerate(scenario.requests.items()):
        rng = stream(seed, "arrivals", t)
        w = household_weights(scenario, city, name)
        per_minute = rt.rate_per_household_year * w.sum() / (365 * 1440)
        profile = scenario.profiles.get(rt.profile, FLAT)
        counts = rng.poisson(per_minute * bin_minutes * hourly_intensity(profile, hours))
        n = int(counts.sum())
        routing, behaviour = stream(seed, "routing", t), stream(seed, "behaviour", t)
        parts.append(dict(
            type=np.full(n, t, dtype=np.int64),
            created=np.repeat(60.0 * np.arange(hours), counts) + rng.random(n) * np.repeat(bin_minutes, counts),
            household=rng.choice(len(w), size=n, p=w / w.sum()),
            u_service=stream(seed, "service", t).random((n, stages)),
            u_escalate=routing.random((n, stages)),
            u_available=routing.random(n),
            e_report=behaviour.standard_exponential(n),
            e_patience=behaviour.standard_exponential(n),
        ))
    columns = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    order = np.argsort(columns["created"], kind="stable")
    return Requests(types=tuple(scenario.requests), **{k: v[order] for k, v in columns.items()})


def service_minutes(service: Service, u: np.ndarray) -> np.ndarray:
    """Inverse-CDF service times, so one uniform per stage gives any distribution."""
    if service.dist == "fixed":
        return np.full(len(u), service.mean_minutes)
    if service.dist == "exponential":
        return -service.mean_minutes * np.log1p(-u)
    sigma = np.sqrt(np.log1p(service.cv ** 2))
    mu = np.log(service.mean_minutes) - sigma ** 2 / 2
    return np.exp(mu + sigma * ndtri(u))
