"""Section 9: the scenarios saved in the run folder."""

from __future__ import annotations

import json

import pandas as pd

from bayes_gravity.report.inputs import ReportInputs
from bayes_gravity.report.section import SECTIONS, TIER_LABELS, Section, gate_warning, usd
from bayes_gravity.results.artefacts import SCENARIO_DIR
from bayes_gravity.results.scenario import COLUMNS as SCENARIO_COLUMNS


def scenarios_section(inp: ReportInputs) -> Section:
    """Build section 9 from the scenarios saved in the run folder."""
    sec = Section("scenarios", dict(SECTIONS)["scenarios"])
    folder = inp.run_dir / SCENARIO_DIR
    files = sorted(folder.glob("*.csv")) if folder.is_dir() else []
    if not files:
        sec.notes.append("No scenarios were run for this fit (`python -m bayes_gravity scenario`).")
        return sec
    sec.warnings.extend(gate_warning(inp))
    sec.intro.append(
        "Posterior predictive trade under each scenario next to the baseline (the same draws "
        "without the change): mean trade with its interval, the change in US$ and the "
        "probability that the pair's potential tier changes. Shown for the last year of each "
        "scenario; every year is in the scenario's CSV."
    )
    for path in files:
        table = pd.read_csv(path)
        meta_path = path.with_suffix(".json")
        description = ""
        if meta_path.is_file():
            try:
                description = str(
                    json.loads(meta_path.read_text(encoding="utf-8")).get("description", "")
                )
            except json.JSONDecodeError:
                description = f"({meta_path.name} unreadable)"
        needed = set(SCENARIO_COLUMNS)
        if not needed <= set(table.columns):
            sec.warnings.append(
                f"{path.name} lacks column(s) {sorted(needed - set(table.columns))}"
            )
            continue
        last = table[table["year"] == table["year"].max()]
        shown = pd.DataFrame(
            {
                "partner": last["partner"],
                "flow": last["flow"],
                "year": last["year"],
                "trade mean [interval]": [
                    f"{usd(r.trade_mean)} [{usd(r.trade_lo)}, {usd(r.trade_hi)}]"
                    for r in last.itertuples()
                ],
                "change vs baseline": last["delta_mean"].map(usd),
                "P(tier change)": last["p_tier_change"].map(lambda v: f"{v:.2f}"),
                "most probable tier (scenario)": last["tier"].map(lambda t: TIER_LABELS.get(t, t))
                if "tier" in last
                else "",
            }
        )
        sec.table(f"Scenario {path.stem}: {description}", shown)
    return sec
