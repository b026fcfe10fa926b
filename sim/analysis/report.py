"""`gridsim report`: a results folder's figures and a Markdown memo, `RESULTS/_report/`.

The memo states the question (the spec's description and header comment),
the options, a table of KPIs with 95% CIs and paired differences against the
baseline (straight from `compare()`), the cost of each option, which
differences are not distinguishable from zero, and, first and in bold, any
failed or missing runs. It has no timestamps: the same results give the same
file, byte for byte.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path


from . import figures as F
from ..model.kpis import number
from .compare import OPTION, no_interval, show_difference, show_value
from .figures import Results

@dataclass
class MapInput:
    """What the city map needs, built by the caller (the city layer, never a model run)."""
    city: object
    circle_minutes: float
    circle_radius_m: float


def completeness(res: Results, wanted_points: list[int] | None, wanted_replicates: int | None) -> list[str]:
    """Sentences about failed runs, files not counted, runs lacking extra tables, points with fewer
    replicates than asked, and points with none."""
    notes = []
    scan = res.stored.scan if res.stored is not None else None
    if scan is not None and scan.problems:
        notes.append(f"**{len(scan.problems)} stored file(s) are not counted** (unreadable, or not this "
                     "experiment's; rerun `gridsim sweep` with the same arguments to quarantine and redo them):")
        notes += [f"    - `{p.file}`: {p.reason}" for p in scan.problems]
    if scan is not None and scan.missing_extras:
        notes.append(f"**{len(scan.missing_extras)} run(s) lack extra tables** (`_series`, `_quantiles` or "
                     "`_grids`): the backlog, resolution-time and map figures leave them out; rerun "
                     "`gridsim sweep` with the same arguments to redo them:")
        notes += [f"    - `{rid}`: no {', '.join('_' + x for x in lacking)}"
                  for rid, lacking in sorted(scan.missing_extras.items())]
    if res.failed:
        notes.append(f"**{len(res.failed)} run(s) failed** and are missing from every table and figure "
                     "(details in `_failed/`; rerun `gridsim sweep` with the same arguments to retry them):")
        for rid, info in sorted(res.failed.items()):
            err = str(info.get("error", "")).strip().splitlines()
            notes.append(f"    - `{rid}`: {err[0] if err else '(no message)'}")
    counts = res.runs.groupby("point")["replicate"].nunique()
    if wanted_replicates:
        short = [(int(p), int(n)) for p, n in counts.items() if n < wanted_replicates]
        if short:
            notes.append(f"**{len(short)} point(s) have fewer replicates than the {wanted_replicates} the "
                         "experiment asks for**; their intervals are wider and their paired differences use only "
                         "the replicates they share with the baseline:")
            for p, n in short:
                notes.append(f"    - {res.label(p)} (point {p}): {n} of {wanted_replicates}")
    if wanted_points is not None:
        missing = sorted(set(wanted_points) - set(int(p) for p in counts.index))
        if missing:
            notes.append(f"**{len(missing)} point(s) of the experiment have no finished run at all** and are "
                         f"absent from the report: point(s) {', '.join(str(p) for p in missing)}.")
    compared = set(int(p) for p in res.table["point"].unique()) if len(res.table) else set()
    uncompared = [p for p in res.points if p not in compared]
    if uncompared:
        notes.append("**No baseline to pair with** for " + ", ".join(res.label(p) for p in uncompared)
                     + ": they appear in the figures but not in the difference tables.")
    return notes


def _settings(res: Results, p: int) -> str:
    spec = res.manifest.get("spec") or {}
    row = res.runs[res.runs["point"] == p].iloc[0]
    parts = []
    for f in res.factors:
        v = row[f]
        if f == OPTION:
            bundle = (spec.get("options") or {}).get(str(v), {})
            parts += [f"`{k} = {_show(b)}`" for k, b in sorted(bundle.items())] or ["(the base scenario)"]
        else:
            parts.append(f"`{f} = {_show(v)}`")
    return "; ".join(parts) or "(the base scenario)"


def _show(v) -> str:
    if isinstance(v, float):
        return f"{v:g}"
    return str(v)


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def kpi_tables(res: Results) -> list[str]:
    """One Markdown table per KPI, every number from compare()."""
    out = []
    t = res.table
    for kpi in t["kpi"].drop_duplicates():
        out += [f"### {F.kpi_info(kpi).axis_label} (`{kpi}`)", "",
                "| option | n | mean | 95% CI of the mean | difference vs baseline | 95% CI of the difference "
                "| distinguishable from zero? |",
                "|---|---:|---:|---:|---:|---:|---|"]
        stats = res.stats(kpi)
        for _, r in t[t["kpi"] == kpi].sort_values("point", kind="stable").iterrows():
            p = int(r["point"])
            hw = stats.loc[p, "half_width"] if p in stats.index else math.nan
            ci_mean = "-" if math.isnan(hw) else f"± {show_difference(kpi, hw).lstrip('+')}"
            if r["is_baseline"]:
                diff, ci, verdict = "(baseline)", "", ""
            else:
                diff = show_difference(kpi, r["diff"])
                if r["n"] < 2:
                    ci, verdict = "-", no_interval(int(r["n"]), int(r["replicates"]))
                else:
                    ci = f"[{show_difference(kpi, r['ci_low'])}, {show_difference(kpi, r['ci_high'])}]"
                    if r["half_width"] == 0 and r["diff"] == 0:
                        verdict = "no: identical in every replicate"
                    else:
                        verdict = "yes" if r["distinguishable"] else "**no**"
            out.append(f"| {_cell(res.label(p))} | {int(r['n'])} | {show_value(kpi, r['mean'])} | {ci_mean} | {diff} "
                       f"| {ci} | {verdict} |")
        out.append("")
    return out


def cost_section(res: Results) -> list[str]:
    t = res.table
    c = t[t["kpi"] == "cost_yuan_per_year"].sort_values("point", kind="stable")
    if c.empty:
        return ["No cost column in these results.", ""]
    out = ["| option | annual cost (M yuan) | vs baseline (M yuan) | 95% CI (M yuan) |", "|---|---:|---:|---:|"]
    for _, r in c.iterrows():
        m = lambda x: number(x / 1e6)  # noqa: E731
        if r["is_baseline"]:
            out.append(f"| {_cell(res.label(int(r['point'])))} | {m(r['mean'])} | (baseline) | |")
        else:
            ci = "-" if r["n"] < 2 else f"[{m(r['ci_low'])}, {m(r['ci_high'])}]"
            out.append(f"| {_cell(res.label(int(r['point'])))} | {m(r['mean'])} | {m(r['diff'])} | {ci} |")
    out.append("")
    return out


def objective_section(res: Results) -> list[str]:
    """Each option against the experiment's targets: verdict, replicates meeting all, and per target
    the mean with its one-sided confidence bound."""
    j = res.judgement
    o = j.objective
    lines = [f"The experiment's `[objective]`: minimise `{o.minimise}` subject to "
             + ("; ".join(f"`{c.source}`" for c in o.constraints) or "no constraints")
             + f". The rule: {o.rule()} (for `>=` targets the lower bound, for `<=` the upper); an option "
             "*fails* a target when the bound on the other side misses it, and is *undecided* otherwise. "
             "Options are listed cheapest first.", ""]
    head = "| option | n | " + lookup_label(o.minimise) + " | verdict | replicates meeting all | " + \
        " | ".join(f"`{c.source}`: mean [one-sided bound]" for c in o.constraints) + " |"
    lines += [head, "|---|---:|---:|---|---:|" + "---:|" * len(o.constraints)]
    checks = j.checks.set_index(["point", "kpi", "op"])
    for _, r in j.options.iterrows():
        p = int(r["point"])
        cells = []
        for c in o.constraints:
            k = checks.loc[(p, c.kpi, c.op)]
            b = k["lower"] if c.op == ">=" else k["upper"]
            info = F.kpi_info(c.kpi)
            cells.append(f"{info.show(k['mean'])} [{info.show(b)}]: {k['verdict']}")
        tag = " **(the answer)**" if p == j.chosen else (" (the closest)" if p == j.closest else "")
        lines.append(f"| {_cell(res.label(p))}{tag} | {int(r['n'])} | {F.kpi_info(o.minimise).show(r['minimise_mean'])} "
                     f"| {r['verdict']} | {int(r['replicates_meeting'])} of {int(r['n'])} | " + " | ".join(cells) + " |")
    return lines + [""]


def rests_on_section(res: Results) -> list[str]:
    """What the answer rests on: optimise's finalists across the scenario's unconstrained inputs
    (its `<folder>-assumptions/` runs), each with the region where it meets the targets."""
    folder = res.folder.with_name(f"{res.folder.name}-assumptions")
    if not folder.is_dir():
        return []
    from . import store
    from .discovery import across
    stored = store.read(folder)
    spec = stored.manifest.get("spec") or {}
    inputs, given = spec.get("inputs") or [], spec.get("given") or []
    factors, points = res.manifest.get("factors") or [], res.manifest.get("points") or []

    def option(g: dict) -> str:
        p = next((k for k, q in enumerate(points) if all(q.get(f) == g.get(f) for f in factors)), None)
        return res.label(p) if p is not None else "?"

    found = across(stored.runs, given, [i["name"] for i in inputs], res.judgement.objective,
                   {k: option(g) for k, g in enumerate(given)})
    n = len({g.get("assumption_point") for g in given})
    lines = ["**What the answer rests on.** The scenario leaves " + f"{len(inputs)} input(s) free (no data "
             "constrains them): " + "; ".join(f"`{i['name']}` {i['low']:.3g}-{i['high']:.3g}" for i in inputs)
             + f". Across {n} points of them ({spec.get('replicates', '?')} replicates each, judged by the means):", ""]
    return lines + [f"- {f.sentence}" for f in found] + [""]


def lookup_label(kpi: str) -> str:
    return F.kpi_info(kpi).axis_label


def frontier_text(res: Results) -> list[str]:
    if res.judgement is not None:
        j = res.judgement
        meet = [res.label(p) for p in j.meeting()]
        return [("Judged by the experiment's objective, the options that meet every target are, cheapest first: "
                 + ", ".join(meet) + "." if meet else "Judged by the experiment's objective, no option meets "
                 "every target.") + " The frontier figure plots cost against the first target's KPI.", ""]
    if not {"cost_yuan_per_year", "resolution_hours.p90"} <= set(res.runs.columns):
        return []
    pts = res.points
    cost = res.stats("cost_yuan_per_year")["mean"].reindex(pts).to_numpy()
    p90 = res.stats("resolution_hours.p90")["mean"].reindex(pts).to_numpy()
    dom = F.dominated(cost, p90)
    best = res.best_point()
    lines = [f"Lowest mean p90 resolution time: **{res.label(best)}** ({number(p90[pts.index(best)])} h, "
             f"{number(cost[pts.index(best)] / 1e6)} M yuan a year)."]
    keep = [res.label(p) for p, d in zip(pts, dom) if not d]
    drop = [res.label(p) for p, d in zip(pts, dom) if d]
    lines.append("On the cost-service frontier (no other option is both cheaper and faster, by the means): "
                 + ", ".join(keep) + ".")
    if drop:
        lines.append("Dominated (another option is no dearer and no slower, and better on one): "
                     + ", ".join(drop) + ". Check the intervals before ruling these out.")
    return [" ".join(lines), ""]


def not_distinguishable(res: Results) -> list[str]:
    t = res.table[~res.table["is_baseline"]]
    out = []
    for p, block in t.groupby("point", sort=True):
        if (block["n"] < 2).all():
            out.append(f"- {res.label(int(p))}: fewer than 2 paired replicates, no interval for any KPI.")
            continue
        same = [f"`{r['kpi']}`" for _, r in block.iterrows() if r["n"] >= 2 and not r["distinguishable"]]
        out.append(f"- {res.label(int(p))}: " + (", ".join(same) if same else "every KPI differs from the baseline"))
    return out or ["- (no option other than the baseline)"]


def make_figures(res: Results, out: Path, map_input: MapInput | None,
                 map_problem: str = "the city could not be rebuilt", dpi: int = F.DPI) -> dict[str, str]:
    """Draw every figure into `out`; returns {figure name: problem} for those that could not be drawn."""
    problems = {}
    jobs = {
        "differences": lambda stem: F.differences(res, stem, dpi=dpi),
        "kpi_by_option": lambda stem: F.kpi_by_option(res, stem, dpi=dpi),
        "frontier": lambda stem: F.frontier(res, stem, dpi=dpi),
        "time_parts": lambda stem: F.time_parts(res, stem, dpi=dpi),
        "trust_hotline": lambda stem: F.trust_and_hotline(res, stem, dpi=dpi),
        "backlog": lambda stem: F.backlog(res, stem, dpi=dpi),
        "resolution_cdf": lambda stem: F.resolution_cdf(res, stem, dpi=dpi),
    }
    if map_input is not None:
        jobs["city_map"] = lambda stem: F.city_map(res, map_input.city, stem, map_input.circle_minutes,
                                                   map_input.circle_radius_m, dpi=dpi)
    else:
        problems["city_map"] = map_problem
    for name in F.FIGURES:
        if name in jobs:
            try:
                jobs[name](out / name)
            except (FileNotFoundError, KeyError, ValueError) as err:
                problems[name] = str(err)
    return problems


def owned(folder: Path) -> bool:
    """True when `folder` holds only what `write_report` writes (so it may be replaced whole)."""
    names = {"report.md"} | {f"{fig}{suffix}" for fig in F.FIGURES for suffix in (".png", ".svg")}
    return all(p.name in names for p in folder.iterdir())


def write_report(res: Results, out: str | Path, map_input: MapInput | None = None,
                 map_problem: str = "the city could not be rebuilt", dpi: int = F.DPI) -> Path:
    """Write the figures and `report.md` into `out` as one set (replacing an earlier report whole);
    returns the path of report.md. What the report says about the experiment (its header comment,
    its points and replicates) comes from the results' manifest."""
    from ..atomic import write_folder
    out = Path(out)
    write_folder(out, lambda tmp: _write(res, tmp, map_input, map_problem, dpi), owned)
    return out / "report.md"


def _write(res: Results, out: Path, map_input: MapInput | None, map_problem: str, dpi: int) -> None:
    m, spec = res.manifest, res.manifest.get("spec") or {}
    header = m.get("header") or ""
    searched = (m.get("arguments") or {}).get("command") == "optimise"
    wanted_points = list(range(len(m["points"]))) if isinstance(m.get("points"), list) and not searched else None
    wanted_replicates = None if searched else spec.get("replicates")
    problems = make_figures(res, out, map_input, map_problem, dpi)
    name = m.get("experiment", res.folder.name)
    lines = [f"# {name}: report", ""]
    if res.judgement is not None:
        lines += [res.judgement.answer(), ""] + rests_on_section(res)
    notes = completeness(res, wanted_points, wanted_replicates)
    if notes:
        lines += ["> **Warning: incomplete results.**", ">"] + [f"> {n}" for n in notes] + [""]
    lines += ["## The question", "", spec.get("description") or "(the experiment has no description)", ""]
    if header:
        lines += ["From the experiment file:", "", "```", header, "```", ""]
    n_runs = len(res.runs)
    if searched:
        candidates = len(m.get("points") or [])
        skipped = candidates - len(res.points)
        why = (f"{len(res.points)} were run and {skipped} were not (the search skips candidates the scenario "
               "check refuses, a queue that could never keep up, and those below a queueing floor)" if skipped
               else f"all {len(res.points)} were run")
        lines += [f"These runs are `gridsim optimise`'s search of the experiment's {candidates} candidates: {why}, "
                  "each with at least the experiment's replicates and the best few with more (ranking and "
                  "selection), so the options below may have different numbers of replicates.", ""]
    lines += [f"Each option was simulated for {spec.get('days', '?'):g} days (the first "
              f"{spec.get('warmup_days', 0):g} are warm-up and not counted) in {spec.get('replicates', '?')} "
              f"replicates from root seed {spec.get('root_seed', '?')}; {n_runs} runs are finished. "
              "Every option sees the same random arrivals in the same replicate (common random numbers), so "
              "differences against the baseline are paired replicate by replicate and their 95% intervals are "
              "t intervals over the paired differences.", ""]
    base_text = ", ".join(f"`{k} = {_show(v)}`" for k, v in res.baseline.items()) or "(none)"
    lines += ["## The options", "",
              f"Baseline: {base_text} ({res.baseline_note}).", ""]
    varied = set(m.get("factors") or [])           # a [set] value a factor or decision varies is not held
    fixed = {k: v for k, v in (spec.get("set") or {}).items() if k not in varied}
    if fixed:
        lines += ["Held the same for every option (the experiment's `[set]`): "
                  + "; ".join(f"`{k} = {_show(v)}`" for k, v in sorted(fixed.items())) + ".", ""]
    lines += [
              "| option | settings | replicates finished |", "|---|---|---:|"]
    counts = res.runs.groupby("point")["replicate"].nunique()
    for p in res.points:
        tag = " (baseline)" if p == res.baseline_point else ""
        lines.append(f"| {_cell(res.label(p))}{tag} | {_cell(_settings(res, p))} | {int(counts[p])} |")
    if res.judgement is not None:
        lines += ["", "## The targets", ""] + objective_section(res)
    lines += ["", "## Cost of each option", ""] + cost_section(res) + frontier_text(res)
    lines += ["## Differences not distinguishable from zero", "",
              "KPIs whose 95% interval of the paired difference against the baseline covers zero: "
              "with these replicates the option cannot be told apart from the baseline on them.", ""]
    lines += not_distinguishable(res) + [""]
    lines += ["## KPIs with 95% confidence intervals and paired differences against the baseline", "",
              "Mean over replicates, the t interval of that mean, and the paired difference (option minus "
              "baseline) with its 95% interval, as `gridsim compare` computes them. Differences of shares are in "
              "percentage points (pp).", ""]
    lines += kpi_tables(res)
    lines += ["## Figures", ""]
    for fig, title in F.FIGURES.items():
        if fig in problems:
            lines += [f"- {title}: **not drawn** ({problems[fig]}).", ""]
        else:
            lines += [f"### {title}", "", f"![{title}]({fig}.png)", "", f"`{fig}.png`, `{fig}.svg`", ""]
    lines += ["---", "", f"Made by `gridsim report` from the results of `{Path(m.get('spec_file') or '?').name}` "
              f"(spec hash {m.get('spec_hash', '?')}, gridsim {m.get('gridsim_version', '?')}).", ""]
    (out / "report.md").write_text("\n".join(lines))
