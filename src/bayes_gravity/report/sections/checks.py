"""Section 3: prior vs posterior of the key parameters and the predictive checks."""

from __future__ import annotations

import numpy as np

from bayes_gravity.report.figures import (
    figure_uri,
    partner_flow_grid,
    plain_log_axis,
    thin_draws,
    year_axis,
)
from bayes_gravity.report.inputs import ReportInputs
from bayes_gravity.report.section import SECTIONS, Section, key_vars, reporter_label, shown_partners
from bayes_gravity.results.predict import Predictor


def checks_section(inp: ReportInputs, rng: np.random.Generator) -> Section:
    """Build section 3: prior vs posterior, prior and posterior predictive checks."""
    import matplotlib.pyplot as plt

    sec = Section("checks", dict(SECTIONS)["checks"])
    assert inp.model.inputs is not None
    n_partners = len(inp.model.inputs.panel.partners)
    sec.intro.append(
        "Prior vs posterior: how far the data moved each key coefficient from its prior. A "
        "posterior that looks like its prior is identified by the prior, not the data. Pair "
        "covariates (distance, contiguity) take one value per partner, here "
        f"{n_partners}, and overlap with the partner effects: with few partners they are "
        "expected to stay close to their priors."
    )
    tree = inp.model.idata
    posterior = tree["posterior"].to_dataset()
    keys = key_vars(posterior)
    if "prior" in tree.children:
        prior = tree["prior"].to_dataset()
        shown = [k for k in keys if k in prior.data_vars]
        ncol = 4
        nrow = int(np.ceil(len(shown) / ncol))
        fig, axes = plt.subplots(nrow, ncol, figsize=(12, 2.4 * nrow), squeeze=False)
        for ax, name in zip(axes.ravel(), shown, strict=False):
            post = thin_draws(posterior[name], rng)
            pri = np.asarray(prior[name].values).ravel()
            lo, hi = np.quantile(np.concatenate([post, pri]), [0.005, 0.995])
            bins = np.linspace(lo, hi, 50)
            # one filled outline per histogram, not 50 bar patches: same picture, faster
            ax.hist(pri, bins=bins, density=True, histtype="stepfilled", color="0.7", label="prior")
            ax.hist(
                post,
                bins=bins,
                density=True,
                histtype="stepfilled",
                color="#2166ac",
                alpha=0.7,
                label="posterior",
            )
            ax.set_title(name, fontsize=10)
            ax.set_yticks([])
        for ax in axes.ravel()[len(shown) :]:
            ax.axis("off")
        axes[0, 0].legend(fontsize=8)
        fig.tight_layout()
        sec.figure(figure_uri(fig), "Prior (grey) and posterior (blue) of the key parameters.")
    else:
        sec.warnings.append(
            "This run stores no prior draws (fitted before they were saved): refit to see the "
            "prior vs posterior and prior predictive checks."
        )
    trade = inp.model.inputs.trade.reset_index(drop=True)
    predictor = Predictor(inp.model)
    index = None
    if predictor.index_name is not None:
        cube, years = predictor.index_cube(int(predictor.years[-1]), rng)
        index = predictor.index_for_rows(trade, cube, years)
    noise = predictor.noise_factor(len(trade), rng)
    draws = predictor.predict(trade, index, noise).trade
    quant = np.quantile(draws, [0.05, 0.25, 0.5, 0.75, 0.95], axis=0)
    prior_q = None
    if "prior_predictive" in tree.children:
        pp = tree["prior_predictive"].to_dataset()
        name = "log_trade" if "log_trade" in pp.data_vars else "trade"
        values = np.asarray(pp[name].stack(sample=("chain", "draw")).transpose("sample", ...))
        level = np.exp(values) if name == "log_trade" else values
        prior_q = np.quantile(level * 1e6, [0.05, 0.95], axis=0)
    sec.intro.append(
        "Predictive checks on the trade scale: for every partner and flow, the observed trade "
        "(dots) against the range the fitted model predicts for a new observation in that year "
        "(posterior predictive, dark band 50 %, light band 90 %), and the range the priors "
        "alone allow (prior predictive, dotted lines, 90 %). Observed dots should fall inside "
        "the posterior bands about as often as the band widths say."
    )
    inside = (trade["value_usd"] >= quant[0]) & (trade["value_usd"] <= quant[4])
    inside50 = (trade["value_usd"] >= quant[1]) & (trade["value_usd"] <= quant[3])
    sec.notes.append(
        f"Observed inside the posterior predictive 90 % band: {int(inside.sum())} of "
        f"{len(trade)} ({inside.mean():.0%}); inside the 50 % band: {int(inside50.sum())} "
        f"({inside50.mean():.0%})."
    )
    reporter = reporter_label(inp.model)
    pairs = trade[["partner", "flow"]].drop_duplicates().sort_values(["partner", "flow"])
    partners = shown_partners(inp, sorted(pairs["partner"].unique()), sec)
    fig, axes, cells = partner_flow_grid(partners, row_height=2.0)
    for partner, flow, ax in cells:
        mask = ((trade["partner"] == partner) & (trade["flow"] == flow)).to_numpy()
        if not mask.any():
            ax.axis("off")
            continue
        obs_years = trade.loc[mask, "year"].to_numpy()
        order = np.argsort(obs_years)
        yrs = obs_years[order]
        q = quant[:, mask][:, order] / 1e9
        ax.fill_between(yrs, q[0], q[4], color="#9ecae1", label="90 % predictive")
        ax.fill_between(yrs, q[1], q[3], color="#3182bd", label="50 % predictive")
        if prior_q is not None:
            pq = prior_q[:, mask][:, order] / 1e9
            ax.plot(yrs, pq[0], ":", color="0.4", label="prior 90 %")
            ax.plot(yrs, pq[1], ":", color="0.4")
        ax.plot(
            yrs,
            trade.loc[mask, "value_usd"].to_numpy()[order] / 1e9,
            "o",
            ms=3,
            color="k",
            label="observed",
        )
        ax.set_yscale("log")
        ax.set_title(f"{reporter} {flow}s, partner {partner}", fontsize=9)
        ax.set_ylabel("US$ bn (log)", fontsize=8)
        ax.tick_params(labelsize=8)
        if prior_q is not None:
            lo = max(q[0].min() / 20, pq[0].min())
            hi = min(q[4].max() * 20, pq[1].max())
            ax.set_ylim(lo, hi)
    axes[0, 0].legend(fontsize=7, loc="lower right")
    year_axis(axes)
    plain_log_axis(axes)
    fig.tight_layout()
    sec.figure(
        figure_uri(fig),
        "Posterior predictive bands (blue) and prior predictive 90 % range (dotted; clipped to "
        "20x the posterior range) against observed trade (dots), US$ bn on a log scale.",
    )
    return sec
