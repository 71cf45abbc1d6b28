"""Section 6: trade potential ratios and tier probabilities, beside the classic point tiers."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from bayes_gravity.model.gravity import BENCHMARK_DEFINITION
from bayes_gravity.report.figures import (
    TIER_COLOURS,
    figure_uri,
    partner_flow_grid,
    plain_log_axis,
    year_axis,
)
from bayes_gravity.report.inputs import ReportInputs, SavedClassic
from bayes_gravity.report.section import (
    SECTIONS,
    TIER_LABELS,
    Section,
    gate_warning,
    reporter_label,
    shown_partners,
    usd,
)


def potential_section(inp: ReportInputs, classic: SavedClassic) -> Section:
    """Build section 6: potential ratios and tier probabilities beside the classic tiers."""
    import matplotlib.pyplot as plt

    spec = inp.model.spec
    sec = Section("potential", dict(SECTIONS)["potential"])
    sec.warnings.extend(gate_warning(inp))
    pot = inp.tables["potential.csv"]
    rule = spec.potential.describe()
    definition = BENCHMARK_DEFINITION
    sec.intro.append(
        "Trade potential compares actual trade with the trade the gravity model predicts from "
        "the determinants alone. The prediction (benchmark) leaves out the partner's own random "
        "effect, otherwise every ratio would be about 1 by construction. "
        f"Benchmark: {definition}."
    )
    sec.intro.append(
        f"Tier rule (from the spec): {rule}. Each pair gets the posterior probability of each "
        "tier and its most probable tier. The US$ gap is actual minus predicted trade: "
        "negative = trade below what the determinants predict (room to grow)."
    )
    hi, lo = spec.potential.reshaping_at, spec.potential.huge_below
    if spec.potential.ratio == "predicted_over_actual":
        hi, lo = 1 / hi, 1 / lo
    reporter = reporter_label(inp.model)
    pairs = pot[["partner", "flow"]].drop_duplicates()
    partners = shown_partners(inp, sorted(pairs["partner"].unique()), sec)
    fig, axes, cells = partner_flow_grid(partners, row_height=1.9)
    for partner, flow, ax in cells:
        part = pot[(pot["partner"] == partner) & (pot["flow"] == flow)].sort_values("year")
        if part.empty:
            ax.axis("off")
            continue
        ax.fill_between(part["year"], part["ratio_lo"], part["ratio_hi"], color="#c6dbef")
        ax.plot(part["year"], part["ratio_mean"], color="#08306b")
        ax.axhline(hi, color=TIER_COLOURS["reshaping"], ls="--", lw=1)
        ax.axhline(lo, color=TIER_COLOURS["huge"], ls="--", lw=1)
        ax.set_yscale("log")
        ax.set_title(f"{reporter} {flow}s, partner {partner}", fontsize=9)
        ax.tick_params(labelsize=8)
    axes[0, 0].set_ylabel("ratio (log)", fontsize=8)
    year_axis(axes)
    plain_log_axis(axes, subs=(1.0, 3.0))
    fig.tight_layout()
    sec.figure(
        figure_uri(fig),
        f"Potential ratio per year (mean and {spec.ci_prob:.0%} interval) against the tier "
        f"thresholds: green dashed {hi:.3g} (reshaping at or above when the ratio is "
        f"actual/predicted), red dashed {lo:.3g}.",
    )
    latest = pot.loc[pot.groupby(["partner", "flow"])["year"].idxmax()].reset_index(drop=True)
    bars = latest[latest["partner"].isin(partners)]
    labels = [f"{r.partner} {r.flow} {r.year}" for r in bars.itertuples()]
    fig, ax = plt.subplots(figsize=(10, 0.4 * len(bars) + 1.5))
    left = np.zeros(len(bars))
    for tier in ("reshaping", "expansion", "huge"):
        values = bars[f"p_{tier}"].to_numpy(dtype=float)
        ax.barh(labels, values, left=left, color=TIER_COLOURS[tier], label=TIER_LABELS[tier])
        left += values
    ax.set_xlim(0, 1)
    ax.invert_yaxis()
    ax.set_xlabel("posterior probability of each tier (latest year)")
    ax.legend(fontsize=8, ncol=3, loc="lower center", bbox_to_anchor=(0.5, 1.0))
    fig.tight_layout()
    sec.figure(figure_uri(fig), "Tier probabilities per partner and flow in the latest year.")
    cl = classic.potential
    cl_latest = cl.set_index(["partner", "flow", "year"])
    rows = []
    for r in latest.itertuples():
        key: Any = (r.partner, r.flow, r.year)
        classic_cell = (
            f"{cl_latest.loc[key, 'ratio']:.2f} ({cl_latest.loc[key, 'tier']})"
            if key in cl_latest.index
            else "–"
        )
        rows.append(
            {
                "partner": r.partner,
                "flow": r.flow,
                "year": r.year,
                "actual US$": usd(r.actual),
                "predicted US$ (mean)": usd(r.benchmark_mean),
                "ratio mean [interval]": f"{r.ratio_mean:.2f} [{r.ratio_lo:.2f}, {r.ratio_hi:.2f}]",
                "P(reshaping / expansion / huge)": (
                    f"{r.p_reshaping:.2f} / {r.p_expansion:.2f} / {r.p_huge:.2f}"
                ),
                "most probable tier": TIER_LABELS.get(str(r.tier), str(r.tier)),
                # potential.csv holds predicted - actual; shown as actual - predicted
                "gap: actual − predicted US$ [interval]": (
                    f"{usd(r.gap_usd_mean, -1)} [{usd(r.gap_usd_hi, -1)}, {usd(r.gap_usd_lo, -1)}]"
                ),
                "classic ratio (tier)": classic_cell,
            }
        )
    sec.table("Potential in the latest year (all years: potential.csv)", pd.DataFrame(rows))
    sec.notes.append(
        "Gap = actual minus predicted trade (potential.csv stores the opposite sign, predicted "
        "minus actual, in gap_usd_*). Classic ratio: actual / exp(X b) from the random-effects "
        "(or OLS, per the spec) regression on the PCA index, the series' own effect excluded."
    )
    return sec
