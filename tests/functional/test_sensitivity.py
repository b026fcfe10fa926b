"""Global sensitivity: SALib's Sobol and Morris through gridsim's analysis code."""

import numpy as np
import pytest
from SALib.test_functions import Ishigami

from gridsim.analysis.store import read_table
from gridsim.experiments.sensitivity import (morris_design, morris_indices, sobol_design, sobol_indices)

from ..conftest import ROOT, gridsim

SMALL = ROOT / "tests" / "data" / "small_city.toml"
# Ishigami with a = 7, b = 0.1 on [-pi, pi]^3 (Sobol' and Levitan 1999): analytic indices
S1 = [0.3139, 0.4424, 0.0]
ST = [0.5576, 0.4424, 0.2437]


def test_sobol_indices_of_the_ishigami_function_match_the_analytic_values():
    names = ["x1", "x2", "x3"]
    u = sobol_design(names, 2048, seed=7)
    assert u.shape == (2048 * 5, 3)                        # Saltelli's scheme: N (D + 2) rows
    t = sobol_indices(names, Ishigami.evaluate(-np.pi + 2 * np.pi * u), resamples=200, seed=7)
    assert np.allclose(t["S1"], S1, atol=0.04), t
    assert np.allclose(t["ST"], ST, atol=0.04), t
    # the bootstrap intervals cover the analytic values (with the estimator's own slack)
    assert (np.abs(t["S1"] - S1) <= t["S1_conf"] + 0.01).all() and (np.abs(t["ST"] - ST) <= t["ST_conf"] + 0.01).all()


def test_morris_screens_out_an_input_the_function_ignores():
    names = ["x1", "x2", "x3", "dummy"]
    u = morris_design(names, 30, levels=4, seed=3)
    assert u.shape == (30 * 5, 4)
    t = morris_indices(names, u, Ishigami.evaluate(-np.pi + 2 * np.pi * u[:, :3]), levels=4, seed=3).set_index("input")
    assert t.loc["dummy", "mu_star"] == 0 and t.loc["dummy", "sigma"] == 0
    assert (t.loc[["x1", "x2", "x3"], "mu_star"] > 1).all()


def spec_text(**extra) -> str:
    lines = [f'scenario = "{SMALL}"', 'name = "null"', "days = 14.0", "warmup_days = 7.0", "replicates = 1",
             "root_seed = 5", 'kpis = ["wait_minutes.mean", "cost_yuan_per_year"]',
             "[sobol]", "samples = 4", "seed = 1", "bootstrap = 50", "[morris]", "trajectories = 4", "seed = 2",
             '[inputs."requests.errand.rate_per_household_year"]',
             '[inputs."roles.alliance.cost_yuan_per_year"]', "low = 0.0", "high = 1000000.0",
             'why = "money only: it cannot change who waits how long"']
    text = "\n".join(lines) + "\n"
    for old, new in extra.items():
        text = text.replace(old.replace("__", " "), new)
    return text


def test_an_input_that_changes_nothing_has_total_index_zero(tmp_path):
    path = tmp_path / "null.toml"
    path.write_text(spec_text())
    out = gridsim("sensitivity", path, "--results", tmp_path, "--workers", "2", "--quiet", "--dpi", "40")
    assert out.returncode == 0, out.stderr
    sobol, about = read_table(tmp_path / "sensitivity-null", "sobol")
    assert about["points"] == 4 * 4 and about["runs"] == 16
    wait = sobol[sobol["kpi"] == "wait_minutes.mean"].set_index("input")
    # common random numbers: moving the alliances' budget leaves every wait exactly as it was
    assert abs(wait.loc["roles.alliance.cost_yuan_per_year", "ST"]) < 1e-12
    assert wait.loc["requests.errand.rate_per_household_year", "ST"] > 0.5
    cost = sobol[sobol["kpi"] == "cost_yuan_per_year"].set_index("input")
    assert cost.loc["roles.alliance.cost_yuan_per_year", "ST"] > 0.5          # but it is the cost
    morris, _ = read_table(tmp_path / "sensitivity-null", "morris")
    m = morris[morris["kpi"] == "wait_minutes.mean"].set_index("input")
    assert m.loc["roles.alliance.cost_yuan_per_year", "mu_star"] == 0
    assert m.loc["requests.errand.rate_per_household_year", "mu_star"] > 0
    assert "Sobol indices: mean wait before first contact" in out.stdout and "Morris screening" in out.stdout
    for name in ("sobol_wait_minutes_mean", "morris_cost_yuan_per_year"):
        assert (tmp_path / "sensitivity-null" / "figures" / f"{name}.png").stat().st_size > 1000


@pytest.mark.parametrize("old, new, where", [
    ('kpis = ["wait_minutes.mean"', 'kpis = ["wait"', "kpis[0]: 'wait' is not a KPI"),
    ("[morris]", "[morris]\nlevels = 3", "morris.levels: must be even"),
    ('[inputs."roles.alliance.cost_yuan_per_year"]', '[inputs."roles.alliance.cost"]',
     "inputs.roles.alliance.cost: roles.alliance.cost: no such field"),
    ("samples = 4", "samples = 1", "sobol.samples: must be >= 2"),
])
def test_a_bad_sensitivity_spec_is_one_error_line(tmp_path, old, new, where):
    path = tmp_path / "bad.toml"
    path.write_text(spec_text().replace(old, new, 1))
    out = gridsim("sensitivity", path, "--results", tmp_path)
    assert out.returncode == 2 and out.stderr.startswith(f"error: {path}: ") and where in out.stderr, out.stderr
    assert len(out.stderr.strip().splitlines()) == 1
