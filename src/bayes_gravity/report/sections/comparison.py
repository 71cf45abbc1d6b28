"""Section 7: PSIS-LOO comparison with the gravity models without the index (when saved)."""

from __future__ import annotations

import pandas as pd

from bayes_gravity.report.inputs import ReportInputs
from bayes_gravity.report.section import SECTIONS, Section
from bayes_gravity.results.comparison import read_comparison


def comparison_section(inp: ReportInputs) -> Section:
    """Build section 7 from the saved PSIS-LOO comparison (a note when there is none)."""
    sec = Section("comparison", dict(SECTIONS)["comparison"])
    sec.intro.append(
        "Does the CBEC index help predict trade? Each model's expected log predictive density "
        "(ELPD) is estimated by Pareto-smoothed importance-sampling leave-one-out "
        "cross-validation (PSIS-LOO) over the same trade observations (log trade). Higher is "
        "better; a difference smaller than about twice its standard error (dSE) is not a clear "
        "difference. The weight is the stacking weight of each model's predictions."
    )
    saved = read_comparison(inp.run_dir, inp.model.idata)
    if saved is None:
        sec.notes.append(
            "Not run for this fit (`fit --no-compare`, a likelihood not on log trade, or the "
            "comparison files belong to an earlier fit). Run `fit` without --no-compare."
        )
        return sec
    table, pointwise = saved
    rows = pd.DataFrame(
        {
            "model": table["model"],
            "what it is": table["description"],
            "ELPD (SE)": [f"{r.elpd_loo:.1f} ({r.se:.1f})" for r in table.itertuples()],
            "ELPD difference to best (dSE)": [
                f"{r.elpd_diff:.1f} ({r.dse:.1f})" for r in table.itertuples()
            ],
            "effective parameters p_loo": [f"{v:.1f}" for v in table["p_loo"]],
            "stacking weight": [f"{v:.2f}" for v in table["weight"]],
            "Pareto k max (n ≥ threshold)": [
                f"{r.pareto_k_max:.2f} ({r.n_k_above})" for r in table.itertuples()
            ],
            "draws x chains, fit time": [
                f"{r.draws} x {r.chains}, {r.wall_seconds:.0f} s" for r in table.itertuples()
            ],
        }
    )
    sec.table("PSIS-LOO comparison (best first)", rows)
    best = str(table["model"].iloc[0])
    readings = []
    for name, diff, dse in table[["model", "elpd_diff", "dse"]].iloc[1:].to_numpy().tolist():
        clear = abs(float(diff)) > 2 * float(dse)
        readings.append(
            f"{name} is {abs(float(diff)):.1f} lower (dSE {float(dse):.1f}): "
            + ("clearly worse" if clear else "not clearly different")
        )
    sec.notes.append(f"Reading: {best} predicts best; " + "; ".join(readings) + ".")
    n_obs = sorted(set(table["n_obs"]))
    sec.notes.append(
        f"All models are scored on the same {n_obs[0]} observations (partner x flow x year), "
        "checked row by row when the comparison was computed."
    )
    if (table["n_k_above"] > 0).any():
        sec.warnings.append(
            "Some observations have Pareto k above the threshold: the ELPD of the models "
            "concerned is approximate (influential observations, often structural breaks)."
        )
    worst = pointwise.sort_values("pareto_k", ascending=False).head(5)
    sec.table(
        "Most influential observations (highest Pareto k over all models)",
        worst.assign(
            pareto_k=worst["pareto_k"].map(lambda v: f"{v:.2f}"),
            elpd_loo_i=worst["elpd_loo_i"].map(lambda v: f"{v:.2f}"),
        )[["model", "partner", "flow", "year", "elpd_loo_i", "pareto_k"]],
    )
    return sec
