"""The Bayesian CBEC development index: a latent factor measured by the indicators.

The Bayesian counterpart of the study's PCA index (:mod:`bayes_gravity.classic.pca_index`):
the same transformed, direction-flipped and standardised indicators
(:func:`bayes_gravity.data.panel.indicator_panel`), but no gap filling: missing cells are
simply not in the likelihood.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd


def add_latent_index(
    indicators: pd.DataFrame,
    countries: list[str],
    years: list[int],
    anchor: str,
    time_prior: str = "random_walk",
) -> Any:
    """Add the latent-factor CBEC index to the current PyMC model; return ``cbec_index``.

    Measurement model, over observed cells only (missing cells are not in the likelihood)::

        z[c, t, j] ~ Normal(indicator_intercept[j] + loading[j] * cbec_index[c, t],
                            sigma_indicator[j])

    Time prior per country: a non-centred random walk with a common drift (``random_walk``) or
    an AR(1) around a country level (``ar1``), so sparse series (LPI every 2-5 years) borrow
    strength from neighbouring years.

    Identification: ``cbec_index`` is the latent process standardised over all country-years
    (mean 0, sd 1: a unit-scale factor, fixing location and scale exactly); the anchor
    indicator's loading is LogNormal and the others HalfNormal (all positive: every indicator
    is coded higher = more developed), which fixes the sign. The noise sd is shared by all
    indicators (probabilistic PCA). The loadings are on the correlation scale of the
    standardised indicators, the Bayesian counterpart of PCA weights.
    """
    import pymc as pm
    import pytensor.tensor as pt

    codes = sorted(indicators["indicator"].unique())
    country_pos = {c: i for i, c in enumerate(countries)}
    year_pos = {y: i for i, y in enumerate(years)}
    code_pos = {c: i for i, c in enumerate(codes)}
    c_idx = indicators["iso3"].map(country_pos).to_numpy()
    t_idx = indicators["year"].map(year_pos).to_numpy()
    j_idx = indicators["indicator"].map(code_pos).to_numpy()
    n_country, n_year = len(countries), len(years)
    model = pm.modelcontext(None)
    model.add_coords({"indicator": codes, "cell": np.arange(len(indicators))})

    level_raw = pm.Normal("index_level_raw", 0.0, 1.0, dims="country")
    innov_raw = pm.Normal("index_innovation_raw", 0.0, 1.0, shape=(n_country, n_year - 1))
    sigma_rw = pm.HalfNormal("sigma_index_step", 0.25)  # relative to the level sd of 1
    if time_prior == "ar1":
        rho = pm.Beta("index_ar1_rho", 8.0, 2.0)
        steps = [level_raw]
        for t in range(n_year - 1):
            steps.append(rho * steps[-1] + sigma_rw * innov_raw[:, t])
        raw = pt.stack(steps, axis=1)
    else:
        drift = pm.Normal("index_drift", 0.0, 0.5)
        increments = drift + sigma_rw * innov_raw
        raw = pt.concatenate(
            [level_raw[:, None], level_raw[:, None] + pt.cumsum(increments, axis=1)], axis=1
        )
    cbec_index = pm.Deterministic(
        "cbec_index", (raw - raw.mean()) / raw.std(), dims=("country", "year")
    )

    anchor_pos = code_pos[anchor]
    others = [i for i in range(len(codes)) if i != anchor_pos]
    # All loadings positive: every indicator is coded "higher = more developed" (direction
    # flips the others). With Normal loadings two chains settled where all loadings but the
    # anchor's flipped sign. The LogNormal keeps the anchor away from 0.
    anchor_loading = pm.LogNormal("loading_anchor", np.log(0.8), 0.2)
    other_loadings = pm.HalfNormal("loading_other", 1.0, shape=len(others))
    loading_vec = pt.zeros(len(codes))
    loading_vec = pt.set_subtensor(loading_vec[anchor_pos], anchor_loading)
    loading_vec = pt.set_subtensor(loading_vec[others], other_loadings)
    loading = pm.Deterministic("loading", loading_vec, dims="indicator")
    intercept = pm.Normal("indicator_intercept", 0.0, 1.0, dims="indicator")
    # Isotropic noise, one sd shared by all indicators: probabilistic PCA (Tipping & Bishop
    # 1999), whose maximum-likelihood solution is PCA itself. Per-indicator sds let the factor
    # glue itself to one series (sigma -> 0, a Heywood case): chains stuck in separate modes
    # with HalfNormal, Gamma and floored priors alike.
    sigma = pm.HalfNormal("sigma_indicator", 1.0)
    mu = intercept[j_idx] + loading[j_idx] * cbec_index[c_idx, t_idx]
    pm.Normal("indicator_obs", mu, sigma, observed=indicators["value"].to_numpy(), dims="cell")
    return cbec_index
