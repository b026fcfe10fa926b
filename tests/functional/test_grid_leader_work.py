"""The grid leader's own work and the clock a city measures: who a resident reaches first, service
levels timed from the report, time on shift and overtime."""

import numpy as np
import pandas as pd

from gridsim.model.model import GridModel
from gridsim.model.outputs import write_run
from gridsim.model import metrics
from gridsim.model.run import simulate
from gridsim.scenario import from_data, to_data, with_overrides


def test_a_message_reaches_the_grid_leader_first_except_an_emergency(week_run):
    req = week_run.tables["requests"]
    req = req[req["created_minute"] >= 0]                # what the summary measures: arising in the run
    started = req["started_minute"].notna() & (req["origin"] == "resident")
    messages = req[started & (req["channel"] == "message")]
    calm = messages[messages["type"] != "safety"]
    assert len(calm) > 1000
    assert (calm["first_handler"] == "grid_leader").mean() >= 0.9
    # safety goes to the police directly, whatever the channel
    assert set(messages.loc[messages["type"] == "safety", "first_handler"]) <= {"police", "police110"}
    shares = week_run.summary["first_handler_share"]["message"]
    assert abs(shares["grid_leader"] - (messages["first_handler"] == "grid_leader").mean()) < 1e-12


def test_a_walk_in_reaches_the_station_head_and_a_hand_on_costs_the_one_handing_on(week_run):
    req, vis = week_run.tables["requests"], week_run.tables["visits"]
    walk_ins = req[req["started_minute"].notna() & (req["channel"] == "walk_in") & (req["type"] != "safety")]
    assert (walk_ins["first_handler"] == "station_head").mean() >= 0.9
    triage = vis[vis["stage"] == -2]                     # the receiver's triage: a visit of its own
    assert set(triage["role"].unique()) <= {"grid_leader", "station_head"}
    done = triage["end_minute"].notna()
    assert (triage.loc[done, "service_minutes"] > 0).all() and (triage["travel_minutes"] == 0).all()
    # property problems a grid leader receives by message are passed on to the property manager
    handed = req.loc[triage.loc[triage["role"] == "grid_leader", "request"].unique()]
    prop = handed[(handed["type"] == "property") & (handed["outcome"] == "resolved")]
    assert len(prop) > 50 and (prop["handled_by"] == "property_manager").mean() > 0.8


def test_without_a_triage_time_the_hand_over_is_free_as_before(meihekou):
    data = to_data(meihekou)
    data["residents"]["reception"] = {}
    free = from_data(data)
    m = GridModel(free, rng=2, days=7)
    m.run()
    visits, requests = metrics.tables(m)
    assert not (visits["stage"] == -2).any()
    assert (requests.loc[requests["channel"] == "message", "first_handler"] != "grid_leader").any()


def test_service_levels_run_from_the_report_as_the_stored_records_say(week_run, tmp_path):
    write_run(week_run, tmp_path / "out")
    req = pd.read_parquet(tmp_path / "out" / "requests.parquet")
    horizon = week_run.summary["days"] * 1440
    for kind, k in week_run.summary["by_type"].items():
        mine = req[(req["type"] == kind) & req["reported_minute"].notna() & (req["created_minute"] >= 0)]
        due = mine[mine["reported_minute"] + mine["sla_hours"] * 60 <= horizon]
        if not len(due):
            continue
        met = (due["outcome"] == "resolved") & (due["ended_minute"] - due["reported_minute"] <= due["sla_hours"] * 60)
        assert k["sla_met_share"] == met.mean(), kind
    care = week_run.summary["by_type"]["care"]
    assert care["sla_met_from_arising_share"] < care["sla_met_share"]     # residents put off asking for care


def test_time_to_know_is_its_own_clock_and_says_who_found_out(week_run):
    s = week_run.summary
    req = week_run.tables["requests"]
    res = req[(req["origin"] == "resident") & req["reported_minute"].notna() & (req["created_minute"] >= 0)]
    hours = (res["reported_minute"] - res["created_minute"]) / 60
    assert abs(s["time_to_know_hours"]["mean"] - hours.mean()) < 1e-9
    by = s["time_to_know_by_channel"]
    assert by["building_leader"] < by["message"]        # a neighbour on the stairs hears sooner
    assert 0 < s["channel_share"]["visit"] < 1 and 0 < s["channel_share"]["building_leader"] < 1


def test_utilisation_is_time_on_shift_and_the_rest_is_costed_overtime(week_run):
    s = week_run.summary
    assert all(u is None or 0 <= u <= 1 for u in s["utilisation"].values())
    assert s["visit_completion_share"] is None          # in 14 days no visit's next one (a month on) falls due
    assert s["overtime_hours_per_year"]["grid_leader"] > 0
    assert s["overtime_hours_per_year"]["hotline"] == 0              # round the clock: never past a shift
    cost = s["cost_breakdown"]
    assert cost["overtime_grid_leader"] > 0
    # an hour of overtime costs an hour's pay and the premium (Labour Law art. 44: 150%)
    pay = 42000.0 / (40 * 365 / 7)
    assert np.isclose(cost["overtime_grid_leader"], s["overtime_hours_per_year"]["grid_leader"] * pay * 1.5)


def test_a_duty_leader_buys_evening_hours_and_the_planner_sees_their_cost(meihekou):
    """One grid leader at each station out of office hours: residents wait less while the office is
    shut and call 12345 less, for the overtime those hours cost; more grid leaders in office hours do
    not do that."""
    runs = {name: simulate(with_overrides(meihekou, over), seed=3, days=14).summary for name, over in (
        ("office", []), ("desk", ["roles.duty_leader.per_station=1"]),
        ("four", ["roles.grid_leader.min_per_station=4"]))}
    office, desk, four = runs["office"], runs["desk"], runs["four"]
    assert desk["time_hours"]["waiting_off_duty"] < 0.7 * office["time_hours"]["waiting_off_duty"]
    assert four["time_hours"]["waiting_off_duty"] > 0.9 * office["time_hours"]["waiting_off_duty"]
    assert desk["hotline_share"] < office["hotline_share"]
    hours = 100 * (5 * 3.5 + 2 * 8) * 365 / 7                    # 100 desks, 33.5 hours a week
    assert np.isclose(desk["cost_breakdown"]["pay_duty_leader"], hours * 42000 / (40 * 365 / 7) * 1.5)
    assert desk["staff"]["full_time_people"]["duty_leader"] is None    # the station's own grid leaders


def test_the_duty_leader_works_only_its_hours_never_visits_and_leaves_the_rest_for_the_morning(meihekou):
    scenario = with_overrides(meihekou, ["roles.duty_leader.per_station=1"])
    run = simulate(scenario, seed=4, days=14)
    vis, req = run.tables["visits"], run.tables["requests"]
    duty = vis[vis["role"] == "duty_leader"]
    assert len(duty) > 1000 and not (req.loc[duty["request"], "type"] == "visit").any()
    started = duty["start_minute"].dropna().to_numpy()
    model = GridModel(scenario, rng=4, days=14)
    assert (model.duty["duty_leader"].on_duty_before(started + 1e-6)
            - model.duty["duty_leader"].on_duty_before(started) > 0).all()            # every start within a shift
    # what they had not started when a shift ended went to whoever comes on duty first: a weekday
    # evening's to the office in the morning; a Friday's stays for the duty leader's Saturday
    done = duty["start_minute"].notna()
    ends = model.duty["duty_leader"].ends
    queued, start = duty.loc[done, "queued_minute"].to_numpy(), duty.loc[done, "start_minute"].to_numpy()
    crossed = np.searchsorted(ends, queued, "right") < np.searchsorted(ends, start, "left")
    end = ends[np.searchsorted(ends, queued[crossed], "right")]
    assert (model.duty["duty_leader"].next_on(end) < model.duty["grid_leader"].next_on(end)).all()


def test_visit_completion_is_the_cohort_whose_next_visit_fell_due(meihekou):
    """Of the routine visits whose next one fell due within the run, the share made before it: every
    fate known, so at most 1 and the same measure for a short run and a long one."""
    run = simulate(meihekou, seed=5, days=40)
    req = run.tables["requests"]
    visits = req[(req["type"] == "visit") & (req["created_minute"] >= 0)]
    cohort = visits[visits["created_minute"] + visits["sla_hours"] * 60 <= 40 * 1440]
    assert len(cohort) > 1000 and (cohort["outcome"] != "open").all()          # each made or dropped
    assert run.summary["visit_completion_share"] == cohort["started_minute"].notna().mean() <= 1
