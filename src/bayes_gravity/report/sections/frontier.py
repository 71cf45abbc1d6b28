"""The report's section for a stochastic-frontier run: efficiency, untapped US$, tiers.

Read from the run folder only: ``efficiency.csv``, ``frontier_vs_ratio.csv`` and the posterior
(the fan charts' quantiles come from the same seeded ``u`` draws the tables were made from).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from bayes_gravity.model.frontier import inefficiency_draws
from bayes_gravity.potential import TE_TIERS
from bayes_gravity.report.figures import figure_uri, partner_flow_grid, plain_log_axis, year_axis
from bayes_gravity.report.inputs import ReportInputs
from bayes_gravity.report.section import (
    Section,
    gate_warning,
    reporter_label,
    shown_partners,
    usd,
)
from bayes_gravity.results.efficiency import COMPARISON_FILE, EFFICIENCY_FILE, crosstab

TE_COLOURS = {"high": "#1b7837", "medium": "#f1a340", "low": "#b2182b"}


def _u_draws(inp: ReportInputs) -> np.ndarray:
    model = inp.model
    assert model.inputs is not None and model.spec.frontier is not None
    trade = model.inputs.trade
    log_values = np.log(trade["value_usd"].to_numpy(dtype=float) / 1e6)
    posterior = model.idata["posterior"].to_dataset()
    seed = int(model.spec.sampler.random_seed)
    return np.asarray(inefficiency_draws(posterior, model.spec.frontier, log_values, seed))


def efficiency_section(inp: ReportInputs, key: str, title: str) -> Section:
    """Fan charts of TE per pair, frontier vs actual, untapped US$, tiers beside the ratio's."""
    import matplotlib.pyplot as plt

    model = inp.model
    spec = model.spec
    frontier = spec.frontier
    assert frontier is not None and model.inputs is not None
    sec = Section(key, title)
    sec.warnings.extend(gate_warning(inp))
    support = inp.diagnostics.get("frontier_support", {})
    if support and not support.get("supported", True):
        sec.warnings.append(str(support["message"]))
    eff = inp.tables[EFFICIENCY_FILE]
    sec.intro.append(
        "The stochastic frontier reads log trade as frontier + v − u: the frontier is the most "
        "a pair could trade given its determinants (the gravity covariates, the partner "
        "effects and the latent CBEC index), v symmetric noise and u ≥ 0 inefficiency. Trade "
        "efficiency TE = exp(−u) = actual / frontier lies in (0, 1]; the untapped potential "
        "is frontier − actual in US$, never negative. Unlike the ratio, TE does not straddle 1."
    )
    sec.intro.append(
        f"Inefficiency: {frontier.inefficiency.replace('_', '-')}, pattern {frontier.pattern}, "
        f"noise {frontier.noise}. Tier rule: {frontier.describe()}."
    )
    if support:
        sec.notes.append(
            "Waldman check: " + str(support.get("message", "")).strip("! ")
            if support.get("supported")
            else "Waldman check failed (see the warning above)."
        )
    u = _u_draws(inp)
    trade = model.inputs.trade.reset_index(drop=True)
    te = np.exp(-u)
    actual = trade["value_usd"].to_numpy(dtype=float)
    reporter = reporter_label(model)
    partners = shown_partners(inp, sorted(trade["partner"].unique()), sec)
    quantiles = (0.05, 0.25, 0.5, 0.75, 0.95)
    te_q = np.quantile(te, quantiles, axis=0)
    front_q = np.quantile(actual[None, :] * np.exp(u), quantiles, axis=0)

    fig, axes, cells = partner_flow_grid(partners, row_height=1.9)
    for partner, flow, ax in cells:
        rows, years = _series(trade, partner, flow)
        if rows.size == 0:
            ax.axis("off")
            continue
        ax.fill_between(years, te_q[0, rows], te_q[4, rows], color="#c6dbef", lw=0)
        ax.fill_between(years, te_q[1, rows], te_q[3, rows], color="#6baed6", lw=0)
        ax.plot(years, te_q[2, rows], color="#08306b", lw=1.2)
        ax.axhline(frontier.high_at, color=TE_COLOURS["high"], ls="--", lw=1)
        ax.axhline(frontier.low_below, color=TE_COLOURS["low"], ls="--", lw=1)
        ax.set_ylim(0, 1.02)
        ax.set_title(f"{reporter} {flow}s, partner {partner}", fontsize=9)
        ax.tick_params(labelsize=8)
    axes[0, 0].set_ylabel("TE", fontsize=8)
    year_axis(axes)
    fig.tight_layout()
    sec.figure(
        figure_uri(fig),
        "Trade efficiency per year: posterior median, 50 % and 90 % bands (fan chart); "
        f"dashed lines: the tier thresholds {frontier.high_at} (green) and "
        f"{frontier.low_below} (red).",
    )
    plt.close(fig)

    fig, axes, cells = partner_flow_grid(partners, row_height=1.9)
    for partner, flow, ax in cells:
        rows, years = _series(trade, partner, flow)
        if rows.size == 0:
            ax.axis("off")
            continue
        ax.fill_between(years, front_q[0, rows] / 1e6, front_q[4, rows] / 1e6, color="#fdd0a2")
        ax.plot(years, front_q[2, rows] / 1e6, color="#d94801", lw=1.2, label="frontier")
        ax.plot(years, actual[rows] / 1e6, color="black", lw=1.0, label="actual")
        ax.set_yscale("log")
        ax.set_title(f"{reporter} {flow}s, partner {partner}", fontsize=9)
        ax.tick_params(labelsize=8)
    axes[0, 0].set_ylabel("US$ million (log)", fontsize=8)
    axes[0, 0].legend(fontsize=7)
    year_axis(axes)
    plain_log_axis(axes, subs=(1.0, 3.0))
    fig.tight_layout()
    sec.figure(
        figure_uri(fig),
        "Frontier (median and 90 % interval) against actual trade, US$ million; the gap "
        "between them is the untapped potential.",
    )
    plt.close(fig)

    latest = eff.loc[eff.groupby(["partner", "flow"])["year"].idxmax()].reset_index(drop=True)
    comparison = inp.tables.get(COMPARISON_FILE)
    ratio_cells: dict[tuple[str, str, int], str] = {}
    if comparison is not None:
        for c in comparison.to_dict("records"):
            cell_key = (str(c["partner"]), str(c["flow"]), int(c["year"]))
            ratio_cells[cell_key] = f"{float(c['ratio_mean']):.2f} ({c['ratio_tier']})"
    rows_out = []
    for r in latest.itertuples():
        ratio_cell = ratio_cells.get((str(r.partner), str(r.flow), int(str(r.year))), "–")
        rows_out.append(
            {
                "partner": r.partner,
                "flow": r.flow,
                "year": r.year,
                "actual US$": usd(r.actual),
                "TE mean [interval]": f"{r.te_mean:.2f} [{r.te_lo:.2f}, {r.te_hi:.2f}]",
                "frontier US$ (mean)": usd(r.frontier_usd_mean),
                "untapped US$ [interval]": (
                    f"{usd(r.untapped_usd_mean)} [{usd(r.untapped_usd_lo)}, "
                    f"{usd(r.untapped_usd_hi)}]"
                ),
                "P(low / medium / high)": f"{r.p_low:.2f} / {r.p_medium:.2f} / {r.p_high:.2f}",
                "frontier tier": str(r.tier),
                "mean-model ratio (tier)": ratio_cell,
            }
        )
    sec.table(
        f"Efficiency in the latest year ({spec.ci_prob:.0%} intervals; all years: "
        f"{EFFICIENCY_FILE})",
        pd.DataFrame(rows_out),
    )
    if comparison is not None:
        counts = crosstab(comparison)
        counts.index = [f"frontier: {t}" for t in TE_TIERS]
        sec.table(
            "Frontier tiers (rows) against the mean model's ratio tiers (columns), all rows",
            counts.reset_index(names="").astype(str),
        )
        mean = inp.diagnostics.get("mean_model", {})
        share = float(comparison["same_reading"].mean())
        sec.notes.append(
            f"The two readings agree (high ~ reshaping, medium ~ expansion, low ~ huge) on "
            f"{share:.0%} of the rows. They answer different questions: the ratio compares "
            "trade with the conditional mean of the average partner (partner effects "
            "excluded), TE with the most this pair could trade (partner effects included). "
            f"Mean model beside this fit: {mean.get('summary', 'not fitted')}."
        )
        if mean and not mean.get("passed", True):
            sec.warnings.append(
                "The mean model fitted beside the frontier FAILED its diagnostics: its ratio "
                "tiers in this comparison may be wrong."
            )
    else:
        sec.notes.append(
            f"{COMPARISON_FILE} is missing: the mean model was not fitted beside this run."
        )
    return sec


def _series(trade: pd.DataFrame, partner: str, flow: str) -> tuple[np.ndarray, np.ndarray]:
    """Row positions of one partner-flow series in year order, and their years."""
    rows = trade.index[(trade["partner"] == partner) & (trade["flow"] == flow)].to_numpy()
    years = trade.loc[rows, "year"].to_numpy()
    order = np.argsort(years)
    return rows[order], years[order]
