"""`gridsim validate`: the model against Erlang C, a Jackson tandem and Little's law."""

import json

import pytest

from gridsim import cli
from gridsim.analysis.queueing import UnstableQueueError
from gridsim.experiments import validate as v

from ..conftest import gridsim

# The fast subset uses a 99.9% interval: with fixed seeds it is deterministic anyway,
# and with any other seeds a chance failure stays around one in a thousand per check.
FAST = 0.999




def test_judge_widens_the_interval_by_the_stated_tolerance():
    values = [9.0, 10.0, 11.0]
    m, lo, hi = v.mean_ci(values)
    assert m == 10.0 and lo < 10.0 < hi
    assert hi - m == pytest.approx(4.303 * 1.0 / 3 ** 0.5, rel=1e-3)   # t(0.975, 2 df) * s / sqrt(n)
    edge = hi / (1 - v.TOLERANCE)          # analytic a passes while a <= hi + TOLERANCE * a
    assert v.judge("c", "q", edge * (1 - 1e-9), values).passed
    assert not v.judge("c", "q", edge * (1 + 1e-6), values).passed


def test_unstable_cases_are_refused_before_any_run():
    with pytest.raises(UnstableQueueError, match="unstable"):
        v.MMcCase(arrivals_per_hour=8.0, service_minutes=30.0, servers=4)
    with pytest.raises(UnstableQueueError, match="station 2"):
        v.TandemCase(6.0, 30.0, 4, escalation=0.5, service_minutes_2=120.0, servers_2=1)


def test_fast_subset_matches_queueing_theory():
    cases = [
        v.MMcCase(arrivals_per_hour=1.0, service_minutes=30.0, servers=1, days=120, replications=4),
        v.MMcCase(arrivals_per_hour=6.0, service_minutes=30.0, servers=4, days=60, replications=4),
        v.TandemCase(6.0, 30.0, 4, escalation=0.1, service_minutes_2=120.0, servers_2=2, days=60, replications=4),
    ]
    checks = v.run_cases(cases, seed=11, level=FAST)
    assert len(checks) == 3 + 3 + 2
    bad = [c for c in checks if not c.passed]
    assert not bad, v.format_table(checks, level=FAST)
    wait = checks[3]   # M/M/4 at 0.75: Erlang C gives 15.28 minutes
    assert wait.quantity.startswith("mean wait") and wait.analytic == pytest.approx(15.28, abs=0.01)


def test_littles_law_holds_by_request_type_on_meihekou():
    case = v.LittleCase(days=14.0, warmup_days=7.0, cooldown_days=7.0, replications=3)
    checks = v.run_cases([case], seed=2, level=FAST)
    assert {"errand", "property"} <= {c.name.split()[-1] for c in checks}
    assert all(c.passed for c in checks), v.format_table(checks, level=FAST)


def test_cli_json_shape():
    out = gridsim("validate", "mmc", "--arrivals-per-hour", "4", "--service-minutes", "30", "--servers", "3",
                  "--days", "30", "--replications", "3", "--seed", "1", "--json")
    assert out.returncode in (0, 1), out.stderr
    doc = json.loads(out.stdout)
    assert set(doc) == {"cases", "passed"} and isinstance(doc["passed"], bool)
    assert len(doc["cases"]) == 3
    for case in doc["cases"]:
        assert set(case) == {"name", "quantity", "analytic", "simulated", "ci95", "passed"}
        assert len(case["ci95"]) == 2 and case["ci95"][0] <= case["simulated"] <= case["ci95"][1]
    assert doc["passed"] == all(c["passed"] for c in doc["cases"])
    assert "validate" not in out.stdout.split("{", 1)[0]   # no progress bar on stdout


def test_cli_table_and_exit_1_when_a_check_fails(monkeypatch, capsys):
    failing = [v.Check("M/M/4 rho=0.75", "mean wait (min)", 15.28, 20.0, (19.0, 21.0), False)]
    monkeypatch.setattr(v, "run_cases", lambda cases, seed, progress=None: failing)
    assert cli.main(["validate", "mmc", "--days", "5", "--replications", "2"]) == 1
    out = capsys.readouterr().out
    assert "NO" in out and "FAILED" in out and "mean wait" in out
    assert cli.main(["validate", "mmc", "--json"]) == 1
    assert json.loads(capsys.readouterr().out)["passed"] is False


@pytest.mark.parametrize("args", [
    ["validate", "mmc", "--arrivals-per-hour", "10", "--service-minutes", "30", "--servers", "5"],
    ["validate", "tandem", "--escalation", "0.5", "--service-minutes-2", "120", "--servers-2", "1"],
    ["validate", "mmc", "--replications", "1"],
    ["validate", "--servers", "3"],
])
def test_cli_bad_or_unstable_input_is_one_line_exit_2(args, capsys):
    assert cli.main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:")


@pytest.mark.slow
def test_full_builtin_validation_set_passes():
    checks = v.run_cases(v.builtin_cases(), seed=0)
    assert all(c.passed for c in checks), v.format_table(checks)
