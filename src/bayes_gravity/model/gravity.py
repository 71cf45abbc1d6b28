"""The hierarchical gravity model: linear predictor, random effects, likelihoods, benchmark.

Linear predictor for trade row i (partner p, flow f, year t)::

    mu_i = intercept + flow_effect[f] + partner_effect[p] + partner_flow_effect[p, f]
           + sum_k beta_k * (x_ik - mean_k) + beta_cbec_index * cbec_index[p, t]
           (+ partner_index_slope[p] * cbec_index[p, t]) (+ year_effect[t])

Covariates are centred, not rescaled, so every ``beta_*`` is directly an elasticity (log-log)
or a semi-elasticity. The **benchmark** ``mu_benchmark`` drops every partner-specific term
(partner effect, partner x flow asymmetry, partner slope): it is what the determinants alone
predict, so the potential ratio is not ~1 by construction.

How it is sampled (hierarchical centring; the model is the one above). Each partner has a
level ``partner_level[p] ~ Normal(partner_mean[p], sigma_partner)``, where ``partner_mean``
holds ``intercept_population``, the partner-level covariates (distance, contiguity: constant
within a partner) and each time-varying covariate's partner mean; the likelihood sees the
level plus the time-varying covariates' deviations from their partner means. The betas are
then regressions of well-identified levels, not a ridge against free partner effects (which
left the sampler crawling at 25 partners and more). Levels are centred when the panel has at
least ``CENTRED_MIN_PARTNERS`` partners and the partner at least ``CENTRED_MIN_ROWS`` rows;
otherwise non-centred (with five partners ``sigma_partner`` is weakly identified and the
centred form diverges where it is small).

Reported quantities keep their meaning: ``partner_effect`` is the level's deviation from its
mean, re-centred to sum to zero across the panel's partners, and ``intercept`` is the
population intercept plus the mean deviation, i.e. the panel's average partner. This is the
sum-to-zero (``ZeroSumNormal``) model of earlier versions up to the intercept's prior
variance (``2^2`` there, ``2^2 + sigma_partner^2 / P`` here). Partner x flow gaps are
sum-to-zero with a hierarchical sd; partner slopes and year effects are non-centred.

Identification (one reporter, few partners): log distance and contiguity are constant per
partner, so with partner effects in they are identified mostly by their priors; a covariate
of the reporter that varies only by year (its GDP) is collinear with year effects, which are
therefore off by default.

Likelihoods (trade in millions of US$):

- ``student_t`` (default) / ``lognormal``: on log trade; zero trade rows are left out and
  listed. Level-scale benchmark: ``exp(mu_benchmark + sigma^2 / 2)`` (the log-normal mean; for
  Student-t the level mean does not exist, so ``sigma`` is read as a normal scale).
- ``gamma``: Gamma on levels with log link, mean ``exp(mu)``. The Gamma has no mass at zero,
  so zero rows are left out here too (and listed).
- ``ppml``: Poisson pseudo-likelihood on levels with mean ``exp(mu)`` (Santos Silva & Tenreyro
  2006), accepts zeros; a quasi-likelihood, so its intervals understate uncertainty when the
  data are over-dispersed.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from bayes_gravity.config import GravitySpec, PriorSpec

UNIT = 1e6  # trade is modelled in millions of US$
BENCHMARK_DEFINITION = (
    "expected trade from the determinants with every partner-specific term excluded; "
    "log likelihoods: exp(mu + sigma^2/2)"
)

# Weakly informative defaults on the elasticity scale; override per name in [gravity.priors].
DEFAULT_PRIORS: dict[str, PriorSpec] = {
    "beta_log_gdp_partner": PriorSpec(dist="Normal", mu=1.0, sigma=0.5),
    "beta_log_gdp_reporter": PriorSpec(dist="Normal", mu=1.0, sigma=0.5),
    "beta_cbec_index": PriorSpec(dist="Normal", mu=0.0, sigma=0.5),
    "beta_internet_partner": PriorSpec(dist="Normal", mu=0.0, sigma=1.0),
    "beta_openness_partner": PriorSpec(dist="Normal", mu=0.0, sigma=1.0),
    "beta_log_dist": PriorSpec(dist="Normal", mu=-1.0, sigma=0.5),
    "beta_contig": PriorSpec(dist="Normal", mu=0.5, sigma=0.5),
    "beta_import": PriorSpec(dist="Normal", mu=0.0, sigma=1.0),
    # Boundary-avoiding (Chung et al. 2013): an sd estimated from a handful of partners;
    # with HalfNormal(1) the centred partner effects hit the funnel at sigma_partner ~ 0.01.
    "sigma_partner": PriorSpec(dist="Gamma", alpha=2.0, beta=3.0),
    "sigma_partner_flow": PriorSpec(dist="HalfNormal", sigma=1.0),
    "sigma_partner_slope": PriorSpec(dist="HalfNormal", sigma=0.5),
    "sigma_year": PriorSpec(dist="HalfNormal", sigma=0.2),
    "sigma": PriorSpec(dist="HalfNormal", sigma=1.0),
    "nu_excess": PriorSpec(dist="Gamma", alpha=2.0, beta=0.1),
}
GENERIC_BETA = PriorSpec(dist="Normal", mu=0.0, sigma=1.0)
LOG_LIKELIHOODS = ("student_t", "lognormal")


def prior_for(name: str, spec: GravitySpec) -> PriorSpec:
    """Return the prior of ``name``: the spec's override, else the documented default."""
    if name in spec.priors:
        return spec.priors[name]
    return DEFAULT_PRIORS.get(
        name, GENERIC_BETA if name.startswith("beta_") else DEFAULT_PRIORS["sigma"]
    )


def make_prior(name: str, prior: PriorSpec, **kwargs: Any) -> Any:
    """Create the PyMC random variable ``name`` with the given prior."""
    import pymc as pm

    params = {k: v for k, v in prior.model_dump().items() if k != "dist" and v is not None}
    return getattr(pm, prior.dist)(name, **params, **kwargs)


def usable_rows(trade: pd.DataFrame, likelihood: str) -> tuple[pd.DataFrame, list[str]]:
    """Rows the likelihood can use; zero trade is left out of the log and gamma models."""
    if likelihood == "ppml":
        return trade.reset_index(drop=True), []
    zero = trade["value_usd"] <= 0
    notes = []
    if zero.any():
        listed = ", ".join(
            f"{r.partner} {r.flow} {r.year}" for r in trade[zero].head(10).itertuples()
        )
        notes.append(
            f"{int(zero.sum())} zero trade row(s) left out ({likelihood} has no mass at zero; "
            f"use likelihood = 'ppml' to keep them): {listed}"
        )
    return trade[~zero].reset_index(drop=True), notes


# Centred partner levels need a panel that identifies sigma_partner and a partner whose rows
# pin down its level; elsewhere the non-centred form avoids the funnel.
CENTRED_MIN_PARTNERS = 10
CENTRED_MIN_ROWS = 10


def _constant_within(values: pd.Series, groups: np.ndarray) -> bool:
    """Tell whether ``values`` take a single value within every group."""
    frame = pd.DataFrame({"v": values.to_numpy(), "g": groups})
    return bool((frame.groupby("g")["v"].nunique() <= 1).all())


def partner_levels(mean: Any, sigma: Any, n_rows: np.ndarray, partners: list[str]) -> Any:
    """Partner levels ``~ Normal(mean, sigma)``, centred or non-centred partner by partner."""
    import pymc as pm
    import pytensor.tensor as pt

    centred_ok = len(partners) >= CENTRED_MIN_PARTNERS
    centred = np.flatnonzero(centred_ok & (n_rows >= CENTRED_MIN_ROWS))
    sparse = np.setdiff1d(np.arange(len(partners)), centred)
    level = pt.zeros(len(partners))
    model = pm.modelcontext(None)
    if centred.size:
        model.add_coords({"partner_centred": [partners[i] for i in centred]})
        value = pm.Normal("partner_level_centred", mean[centred], sigma, dims="partner_centred")
        level = pt.set_subtensor(level[centred], value)
    if sparse.size:
        model.add_coords({"partner_noncentred": [partners[i] for i in sparse]})
        z = pm.Normal("partner_level_z", 0.0, 1.0, dims="partner_noncentred")
        level = pt.set_subtensor(level[sparse], mean[sparse] + sigma * z)
    return pm.Deterministic("partner_level", level, dims="partner")


def add_gravity(
    trade: pd.DataFrame,
    covariates: list[str],
    covariate_means: dict[str, float],
    spec: GravitySpec,
    partners: list[str],
    years: list[int],
    cbec_index: Any | None,
    countries: list[str],
    index_name: str | None,
) -> None:
    """Add the gravity model for ``trade`` to the current PyMC model."""
    import pymc as pm
    import pytensor.tensor as pt

    model = pm.modelcontext(None)
    model.add_coords(
        {"obs": np.arange(len(trade)), "partner": partners, "flow": ["export", "import"]}
    )
    partner_idx = pm.Data(
        "partner_idx",
        trade["partner"].map({p: i for i, p in enumerate(partners)}).to_numpy(),
        dims="obs",
    )
    flow_idx = pm.Data(
        "flow_idx", (trade["flow"] == "import").astype("int64").to_numpy(), dims="obs"
    )
    year_idx = pm.Data(
        "year_idx", trade["year"].map({y: i for i, y in enumerate(years)}).to_numpy(), dims="obs"
    )
    log_values = np.log(np.maximum(trade["value_usd"].to_numpy(), 1.0) / UNIT)
    centre = float(log_values.mean())
    # with partner levels, the free intercept is the population's; the reported one is below
    free_name = "intercept_population" if spec.partner_effects else "intercept"
    intercept = pm.Normal(free_name, centre, 2.0)
    beta_import = make_prior("beta_import", prior_for("beta_import", spec))
    flow_effect = pm.Deterministic(
        "flow_effect", pt.stack([-0.5 * beta_import, 0.5 * beta_import]), dims="flow"
    )
    determinants = flow_effect[flow_idx]  # the benchmark without its intercept

    # Covariates constant within every partner (distance, contiguity with one reporter) are
    # partner-level predictors; the others vary within partners (GDP, internet, the index).
    partner_codes = trade["partner"].map({p: i for i, p in enumerate(partners)}).to_numpy()
    partner_level_names = [c for c in covariates if _constant_within(trade[c], partner_codes)]
    n_rows = np.bincount(partner_codes, minlength=len(partners))
    betas = {
        name: make_prior(f"beta_{name}", prior_for(f"beta_{name}", spec)) for name in covariates
    }
    # The benchmark keeps every determinant; the likelihood sees the time-varying ones as
    # deviations from their partner means, whose part moves into the partners' mean below
    # (hierarchical centring: the same model, without the ridge between betas and effects).
    partner_mean = intercept + pt.zeros(len(partners))
    within = pt.zeros(len(trade))
    for name in covariates:
        values = trade[name].to_numpy() - covariate_means[name]
        x = pm.Data(name, values, dims="obs")
        determinants = determinants + betas[name] * x
        by_partner = np.bincount(partner_codes, weights=values, minlength=len(partners))
        means = by_partner / np.maximum(n_rows, 1)
        partner_mean = partner_mean + betas[name] * means
        if name not in partner_level_names:
            within = within + betas[name] * (values - means[partner_codes])

    index_term = None
    if index_name is not None and cbec_index is not None:
        country_idx = pm.Data(
            "index_country_idx",
            trade["partner"].map({c: i for i, c in enumerate(countries)}).to_numpy(),
            dims="obs",
        )
        index_term = cbec_index[country_idx, year_idx]
        beta_index = make_prior(f"beta_{index_name}", prior_for(f"beta_{index_name}", spec))
        determinants = determinants + beta_index * index_term
        # the partner's mean index over its rows (year weights), as for observed covariates
        year_weights = np.zeros((len(partners), len(years)))
        np.add.at(year_weights, (partner_codes, year_idx.get_value()), 1.0)
        year_weights /= np.maximum(n_rows, 1)[:, None]
        partner_country = [countries.index(p) for p in partners]
        index_mean = (pt.as_tensor(year_weights) * cbec_index[partner_country, :]).sum(axis=1)
        partner_mean = partner_mean + beta_index * index_mean
        within = within + beta_index * (index_term - index_mean[partner_idx])

    year_term = 0.0
    if spec.year_effects:
        sigma_year = make_prior("sigma_year", prior_for("sigma_year", spec))
        year_z = pm.Normal("year_z", 0.0, 1.0, dims="year")
        walk = pt.cumsum(year_z)
        year_effect = pm.Deterministic(
            "year_effect", sigma_year * (walk - walk.mean()), dims="year"
        )
        determinants = determinants + year_effect[year_idx]
        year_term = year_effect[year_idx]

    if spec.partner_effects:
        sigma_partner = make_prior("sigma_partner", prior_for("sigma_partner", spec))
        level = partner_levels(partner_mean, sigma_partner, n_rows, partners)
        deviation = level - partner_mean
        # the panel's average partner, as in the sum-to-zero form (see the module docstring)
        mean_deviation = deviation.mean()
        pm.Deterministic("partner_effect", deviation - mean_deviation, dims="partner")
        reported = pm.Deterministic("intercept", intercept + mean_deviation)
        benchmark = reported + determinants
        mu = level[partner_idx] + flow_effect[flow_idx] + within + year_term
    else:
        benchmark = intercept + determinants
        mu = benchmark
    if spec.partner_flow_effects:
        sigma_pf = make_prior("sigma_partner_flow", prior_for("sigma_partner_flow", spec))
        # import-minus-export gap of each partner relative to the average gap, log points
        asymmetry = pm.ZeroSumNormal("partner_flow_gap", sigma=sigma_pf, dims="partner")
        pf_effect = pm.Deterministic(
            "partner_flow_effect",
            pt.stack([-0.5 * asymmetry, 0.5 * asymmetry], axis=1),
            dims=("partner", "flow"),
        )
        mu = mu + pf_effect[partner_idx, flow_idx]
    if spec.partner_slopes_index and index_term is not None:
        sigma_slope = make_prior("sigma_partner_slope", prior_for("sigma_partner_slope", spec))
        slope_z = pm.Normal("partner_slope_z", 0.0, 1.0, dims="partner")
        slope = pm.Deterministic("partner_index_slope", sigma_slope * slope_z, dims="partner")
        mu = mu + slope[partner_idx] * index_term

    pm.Deterministic("mu_benchmark", benchmark, dims="obs")
    values = trade["value_usd"].to_numpy() / UNIT
    if spec.likelihood in LOG_LIKELIHOODS:
        sigma = make_prior("sigma", prior_for("sigma", spec))
        y = pm.Data("log_trade_observed", np.log(values), dims="obs")
        if spec.likelihood == "student_t":
            # nu >= 3: left free it went to ~1.6 (near Cauchy) and chains disagreed.
            nu_excess = make_prior("nu_excess", prior_for("nu_excess", spec))
            nu = pm.Deterministic("nu", 3.0 + nu_excess)
            pm.StudentT("log_trade", nu=nu, mu=mu, sigma=sigma, observed=y, dims="obs")
        else:
            pm.Normal("log_trade", mu=mu, sigma=sigma, observed=y, dims="obs")
    elif spec.likelihood == "gamma":
        shape = make_prior("gamma_shape", PriorSpec(dist="Gamma", alpha=2.0, beta=0.5))
        y = pm.Data("trade_observed", values, dims="obs")
        pm.Gamma("trade", alpha=shape, beta=shape / pt.exp(mu), observed=y, dims="obs")
    else:  # ppml: Poisson pseudo-likelihood, valid for non-integer levels and zeros
        y = pm.Data("trade_observed", values, dims="obs")
        rate = pt.exp(mu)
        pm.Potential("ppml", (y * mu - rate).sum())
        pm.Deterministic("ppml_pointwise", y * mu - rate, dims="obs")


def benchmark_level(posterior: Any, likelihood: str) -> Any:
    """Compute expected trade in US$ from the determinants alone (no partner terms), per draw."""
    mu = posterior["mu_benchmark"]
    if likelihood in LOG_LIKELIHOODS:
        return np.exp(mu + 0.5 * posterior["sigma"] ** 2) * UNIT
    return np.exp(mu) * UNIT
