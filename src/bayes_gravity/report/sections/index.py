"""Section 4: the Bayesian CBEC index, its loadings, and the classic PCA index beside it."""

from __future__ import annotations

import numpy as np
import pandas as pd

from bayes_gravity.report.figures import figure_uri, thin_draws, year_axis
from bayes_gravity.report.inputs import ReportInputs, SavedClassic
from bayes_gravity.report.section import (
    MAX_PARTNER_PANELS,
    SECTIONS,
    Section,
    gate_warning,
    num,
    shown_partners,
)
from bayes_gravity.results.draws import index_posterior


def index_section(inp: ReportInputs, classic: SavedClassic, rng: np.random.Generator) -> Section:
    """Build section 4: the Bayesian index and loadings beside the classic PCA index."""
    import matplotlib.pyplot as plt

    sec = Section("index", dict(SECTIONS)["index"])
    assert inp.model.inputs is not None
    panel = inp.model.inputs.panel
    if panel.index_covariate is None:
        sec.notes.append("This model has no CBEC index covariate.")
        return sec
    sec.warnings.extend(gate_warning(inp))
    sec.intro.append(
        "The CBEC development index is a latent factor: one unobserved development level per "
        "country and year that explains the co-movement of the indicators below (internet, "
        "logistics, customs, education and research), following a random walk over time. It "
        "is standardised (mean 0, sd 1 over all countries and years), so a value of +1 is one "
        "standard deviation above the panel average. Missing indicator values are left out of "
        "the likelihood, not imputed."
    )
    draws = thin_draws(index_posterior(inp.model)["cbec_index"], rng)  # sample, country, year
    countries = list(panel.countries)
    years = np.asarray(panel.years)
    q = np.quantile(draws, [0.05, 0.25, 0.5, 0.75, 0.95], axis=0)
    shown = set(shown_partners(inp, list(panel.partners), sec)) | set(panel.reporters)
    fans = [(c, country) for c, country in enumerate(countries) if country in shown]
    ncol = 3
    nrow = int(np.ceil(len(fans) / ncol))
    fig, axes = plt.subplots(nrow, ncol, figsize=(12, 2.6 * nrow), sharey=True, squeeze=False)
    for ax, (c, country) in zip(axes.ravel(), fans, strict=False):
        ax.fill_between(years, q[0, c], q[4, c], color="#c6dbef", label="90 %")
        ax.fill_between(years, q[1, c], q[3, c], color="#6baed6", label="50 %")
        ax.plot(years, q[2, c], color="#08306b", label="median")
        ax.set_title(country, fontsize=10)
        ax.tick_params(labelsize=8)
        ax.axhline(0, color="0.6", lw=0.5)
    for ax in axes.ravel()[len(fans) :]:
        ax.axis("off")
    axes[0, 0].legend(fontsize=8, loc="upper left")
    axes[0, 0].set_ylabel("index (sd units)", fontsize=8)
    year_axis(axes)
    fig.tight_layout()
    sec.figure(figure_uri(fig), "Posterior index per country: median, 50 % and 90 % bands.")
    # rank probabilities among the partners, latest year
    members = [countries.index(p) for p in panel.partners]
    last = draws[:, members, -1]
    ranks = (-last).argsort(axis=1).argsort(axis=1) + 1  # 1 = highest index
    probs = np.stack([(ranks == r).mean(axis=0) for r in range(1, len(members) + 1)], axis=1)
    if len(members) <= MAX_PARTNER_PANELS:  # a colour per rank: readable for a few partners
        fig, ax = plt.subplots(figsize=(9, 0.5 * len(members) + 1.2))
        left = np.zeros(len(members))
        cmap = plt.get_cmap("viridis", len(members))
        for r in range(len(members)):
            ax.barh(panel.partners, probs[:, r], left=left, color=cmap(r), label=f"rank {r + 1}")
            left += probs[:, r]
        ax.set_xlim(0, 1)
        ax.set_xlabel(f"posterior probability of each rank in {years[-1]} (1 = most developed)")
        ax.legend(fontsize=8, ncol=len(members), loc="lower center", bbox_to_anchor=(0.5, 1.0))
        ax.invert_yaxis()
        fig.tight_layout()
        sec.figure(figure_uri(fig), f"Rank probabilities among the partners in {years[-1]}.")
    first = int(np.argmax(probs[:, 0]))
    sec.notes.append(
        f"Most likely first in {years[-1]}: {panel.partners[first]} with probability "
        f"{probs[first, 0]:.2f}."
    )
    scores = classic.scores
    pca_last = scores[scores["year"] == years[-1]].set_index("iso3")
    table = pd.DataFrame(
        {
            "partner": panel.partners,
            "index median [90 %]": [
                f"{np.median(last[:, i]):+.2f} [{np.quantile(last[:, i], 0.05):+.2f}, "
                f"{np.quantile(last[:, i], 0.95):+.2f}]"
                for i in range(len(members))
            ],
            "P(rank 1)": [f"{p:.2f}" for p in probs[:, 0]],
            "mean rank": [
                f"{(probs[i] * np.arange(1, len(members) + 1)).sum():.1f}"
                for i in range(len(members))
            ],
            "classic PCA rank": [num(pca_last["rank"].get(p, np.nan)) for p in panel.partners],
        }
    )
    sec.table(f"Ranking in {years[-1]}: Bayesian index vs the classic PCA score", table)
    loadings = inp.tables.get("loadings.csv")
    if loadings is not None:
        sec.intro.append(
            "Loadings say how strongly each (standardised) indicator moves with the index; the "
            "classic PCA weights are the study's variance-weighted component scores. Their "
            "scales differ, so compare their order and sign, not their size. The loading of "
            f"the anchor indicator ({inp.model.spec.index.anchor}) is constrained positive, "
            "which fixes the index's direction."
        )
        loadings = loadings.sort_values("mean")
        fig, axes = plt.subplots(1, 2, figsize=(11, 0.35 * len(loadings) + 1.2), sharey=True)
        y = np.arange(len(loadings))
        axes[0].errorbar(
            loadings["mean"],
            y,
            xerr=[loadings["mean"] - loadings["lo"], loadings["hi"] - loadings["mean"]],
            fmt="o",
            color="#2166ac",
        )
        axes[0].set_yticks(
            y, [f"{r.indicator} ({r.dimension})" for r in loadings.itertuples()], fontsize=8
        )
        axes[0].set_title(f"Bayesian loading (mean, {inp.model.spec.ci_prob:.0%})", fontsize=10)
        axes[0].axvline(0, color="0.6", lw=0.5)
        axes[1].barh(y, loadings["pca_weight"].fillna(0.0), color="0.5")
        axes[1].set_title("classic PCA weight", fontsize=10)
        axes[1].axvline(0, color="0.6", lw=0.5)
        fig.tight_layout()
        sec.figure(figure_uri(fig), "Loadings of the latent index next to the classic PCA weights.")
    return sec
