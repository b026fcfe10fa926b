"""Check gridsim.analysis.queueing against textbook closed forms, computed independently."""

import math
from fractions import Fraction

import pytest

from gridsim.analysis.queueing import (
    MMc,
    UnstableQueueError,
    erlang_b,
    erlang_c,
    littles_law_gap,
    servers_for_wait,
    tandem,
)


def closed_form(c, a):
    """Erlang B and C from the textbook sums of a^k/k!, in exact rational arithmetic."""
    a = Fraction(a)
    head = sum(a**k / math.factorial(k) for k in range(c))  # sum_{k<c} a^k/k!
    top = a**c / math.factorial(c)
    tail = top * c / (c - a)
    return float(top / (head + top)), float(tail / (head + tail))


@pytest.mark.parametrize("rho", [0.1, 0.5, 0.9, 0.999])
def test_mm1_wait_probability_is_utilisation(rho):
    assert erlang_c(1, rho) == pytest.approx(rho, rel=1e-12)
    q = MMc(arrival_rate=rho * 2.0, service_rate=2.0, servers=1)
    assert q.p_wait == pytest.approx(rho, rel=1e-12)
    assert q.mean_wait == pytest.approx(rho / (2.0 - rho * 2.0), rel=1e-12)


def test_mm2_unit_rates_by_hand():
    # a = 1, c = 2: B = (1/2)/(1 + 1 + 1/2) = 1/5; C = 2(1/5)/(2 - 4/5) = 1/3.
    q = MMc(arrival_rate=1.0, service_rate=1.0, servers=2)
    assert q.offered_load == 1.0 and q.utilisation == 0.5
    assert erlang_b(2, 1.0) == pytest.approx(0.2, rel=1e-12)
    assert q.p_wait == pytest.approx(1 / 3, rel=1e-12)
    assert q.mean_wait == pytest.approx(1 / 3, rel=1e-12)  # C / (cμ - λ) = (1/3)/1
    assert q.mean_in_queue == pytest.approx(1 / 3, rel=1e-12)
    assert q.mean_response == pytest.approx(4 / 3, rel=1e-12)
    assert q.mean_in_system == pytest.approx(4 / 3, rel=1e-12)


def test_erlang_ten_servers_five_erlangs():
    b, c = closed_form(10, 5)
    assert b == pytest.approx(0.0183846, abs=1e-7)
    assert c == pytest.approx(0.0361054, abs=1e-7)
    assert erlang_b(10, 5.0) == pytest.approx(b, rel=1e-12)
    assert erlang_c(10, 5.0) == pytest.approx(c, rel=1e-12)


def test_call_centre_example():
    # 360 calls/h, 3 min mean handling time -> a = 18 Erlangs, 20 agents.
    q = MMc(arrival_rate=360 / 60, service_rate=1 / 3, servers=20)  # per minute
    _, c = closed_form(20, 18)
    assert q.offered_load == pytest.approx(18.0, rel=1e-12)
    assert q.p_wait == pytest.approx(c, abs=1e-9)
    assert q.mean_wait == pytest.approx(c / (20 / 3 - 6), abs=1e-9)  # minutes
    # Service level: share answered within 20 s = 1 - C exp(-(c - a) t / AHT).
    sl = 1 - c * math.exp(-(20 - 18) * (20 / 60) / 3)
    assert 1 - q.wait_exceeds(20 / 60) == pytest.approx(sl, abs=1e-9)


def test_large_system_is_finite_and_exact():
    b, c = closed_form(500, 480)
    assert 0 < erlang_b(500, 480) < 1 and 0 < erlang_c(500, 480) < 1
    assert erlang_b(500, 480) == pytest.approx(b, rel=1e-9)
    assert erlang_c(500, 480) == pytest.approx(c, rel=1e-9)
    near_one = MMc(arrival_rate=999.99, service_rate=1.0, servers=1000)
    assert 0 < near_one.p_wait < 1 and math.isfinite(near_one.mean_wait)


@pytest.mark.parametrize("q", [0.5, 0.8, 0.9, 0.99])
def test_wait_quantile_inverts_wait_exceeds(q):
    mm = MMc(arrival_rate=9.0, service_rate=1.0, servers=10)  # C ~ 0.67
    t = mm.wait_quantile(q)
    if q <= 1 - mm.p_wait:
        assert t == 0.0
    else:
        assert t > 0 and mm.wait_exceeds(t) == pytest.approx(1 - q, rel=1e-12)
    assert mm.wait_quantile(0.0) == 0.0 and mm.wait_exceeds(0.0) == mm.p_wait


def test_tandem_jackson_network():
    net = tandem(2.0, 1.0, 3, 0.25, 0.5, 2)
    s1, s2 = net.station_1, net.station_2
    assert s2.arrival_rate == pytest.approx(0.5) and s2.utilisation == pytest.approx(0.5)
    assert net.mean_wait == pytest.approx(s1.mean_wait + 0.25 * s2.mean_wait)
    assert net.mean_response == pytest.approx(s1.mean_response + 0.25 * s2.mean_response)
    assert net.mean_in_system == pytest.approx(s1.mean_in_system + s2.mean_in_system)
    # Little's law for the whole network: L = λ x (time per request).
    assert littles_law_gap(net.mean_in_system, 2.0, net.mean_response) < 1e-12
    direct = tandem(2.0, 1.0, 3, 0.0, 0.5, 2)
    assert direct.station_2 is None and direct.mean_wait == s1.mean_wait


@pytest.mark.parametrize(
    "args, station",
    [((2.0, 1.0, 3, 0.9, 0.5, 2), "station 2"), ((4.0, 1.0, 3, 0.1, 5.0, 2), "station 1")],
)
def test_tandem_names_unstable_station(args, station):
    with pytest.raises(UnstableQueueError, match=station) as exc:
        tandem(*args)
    assert "\n" not in str(exc.value)


@pytest.mark.parametrize(
    "make",
    [
        lambda: MMc(10.0, 1.5, 6),  # ρ = 1.11
        lambda: MMc(6.0, 1.0, 6),  # ρ = 1 exactly
        lambda: MMc(0.0, 1.0, 2),
        lambda: MMc(1.0, -1.0, 2),
        lambda: MMc(1.0, float("nan"), 2),
        lambda: MMc(1.0, 1.0, 0),
        lambda: MMc(1.0, 1.0, 2.5),
        lambda: erlang_c(3, 3.0),
        lambda: erlang_b(0, 1.0),
        lambda: erlang_b(3, 0.0),
    ],
)
def test_invalid_inputs_raise_one_line_error(make):
    with pytest.raises(UnstableQueueError) as exc:
        make()
    assert isinstance(exc.value, ValueError) and "\n" not in str(exc.value)


def test_unstable_message_says_why():
    with pytest.raises(UnstableQueueError, match=r"utilisation 1\.11111 >= 1") as exc:
        MMc(10.0, 1.5, 6)
    assert "arrival rate 10" in str(exc.value) and "6 servers" in str(exc.value)


def test_erlang_b_allows_overload():
    # A loss system needs no stability: B(1, a) = a / (1 + a) for any a > 0.
    assert erlang_b(1, 3.0) == pytest.approx(0.75)


def test_littles_law_gap():
    assert littles_law_gap(4.0, 2.0, 2.0) == 0.0
    assert littles_law_gap(4.0, 2.0, 2.2) == pytest.approx(0.1)
    assert math.isfinite(littles_law_gap(0.0, 1.0, 1.0))


# ---------------------------------------------------------------- the inverse: servers for a target
def _erlang_c_by_sum(c: int, a: float) -> float:
    """Erlang C from its textbook sum, independently of erlang_b's recursion."""
    top = a ** c / math.factorial(c) * c / (c - a)
    return top / (sum(a ** k / math.factorial(k) for k in range(c)) + top)


def _service_level(c: int, lam: float, mu: float, t: float) -> float:
    return 1 - _erlang_c_by_sum(c, lam / mu) * math.exp(-(c * mu - lam) * t)


@pytest.mark.parametrize("lam, mu, t, p, expected", [
    (13 / 60, 1 / 29, 10.0, 0.8, 9),          # the case: 13 an hour, 29-minute service, 80% within 10 min
    (100 / 30, 1 / 3, 20 / 60, 0.8, 14),      # 100 calls per half hour, 180 s each (10 Erlangs), 80% in 20 s
    (6 / 60, 1 / 30, 0.0, 0.45, 4),           # the mmc scenario: P(no wait) = 1 - 0.5094 at c = 4, the least stable c
])
def test_servers_for_wait_is_the_smallest_c(lam, mu, t, p, expected):
    c = servers_for_wait(lam, mu, within=t, probability=p)
    assert c == expected
    assert _service_level(c, lam, mu, t) >= p
    assert c - 1 <= lam / mu or _service_level(c - 1, lam, mu, t) < p     # one fewer: unstable, or short of it


def test_servers_for_mean_wait_and_both_targets():
    lam, mu = 6 / 60, 1 / 30                  # a = 3 Erlangs
    # mean wait at c = 4 is 15.28 minutes (the mmc scenario), at c = 5 about 2.8
    assert servers_for_wait(lam, mu, mean_wait=16.0) == 4
    assert servers_for_wait(lam, mu, mean_wait=15.0) == 5
    assert servers_for_wait(lam, mu, mean_wait=15.0, within=10.0, probability=0.99) == \
        max(5, servers_for_wait(lam, mu, within=10.0, probability=0.99))


def test_servers_for_wait_mm1_closed_form():
    lam, mu = 0.5, 1.0                        # M/M/1: P(Wq <= t) = 1 - rho exp(-(mu - lam) t)
    assert 1 - 0.5 * math.exp(-0.5 * 2.0) == pytest.approx(1 - MMc(lam, mu, 1).wait_exceeds(2.0))
    assert servers_for_wait(lam, mu, within=2.0, probability=0.8) == 1      # 0.816 >= 0.8
    assert servers_for_wait(lam, mu, within=2.0, probability=0.85) == 2


@pytest.mark.parametrize("kw", [dict(within=10.0), dict(probability=0.8), {}, dict(within=1.0, probability=1.0),
                                dict(within=-1.0, probability=0.5), dict(mean_wait=0.0)])
def test_servers_for_wait_rejects_bad_targets(kw):
    with pytest.raises(ValueError):
        servers_for_wait(0.1, 0.05, **kw)
