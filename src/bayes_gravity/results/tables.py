"""The tables of one fit: index, loadings, coefficients, potential, holdout, classic.

:func:`summarise` computes every table a run folder holds, and the diagnostics gate, from a
fitted model; :mod:`bayes_gravity.results.store` writes them. The classic pipeline runs here,
on the fit's data and spec, so that the report reads its tables instead of re-running it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from bayes_gravity.classic.pca_index import pca_index
from bayes_gravity.classic.study import ClassicResult, run_classic
from bayes_gravity.errors import DataError
from bayes_gravity.model.gravity import BENCHMARK_DEFINITION, benchmark_level
from bayes_gravity.model.gravity_model import GravityModel
from bayes_gravity.potential import posterior_potential
from bayes_gravity.results import artefacts
from bayes_gravity.results.diagnostics import gate
from bayes_gravity.results.draws import index_posterior, interval, reported_vars, stack_draws
from bayes_gravity.results.holdout import holdout_table

log = logging.getLogger(__name__)
# scalar parameters of the frontier reported in coefficients.csv beside beta_* and sigma*
FRONTIER_SCALARS = ("delta_", "eta", "mu_u")


def rank_summary(
    draws: np.ndarray, countries: list[str], years: list[int], among: list[str]
) -> pd.DataFrame:
    """Posterior rank (1 = highest) among ``among`` per draw: mean rank and P(rank = 1).

    ``draws`` has shape (sample, country, year).
    """
    cols = [countries.index(c) for c in among]
    sub = draws[:, cols, :]
    # rank 1 = largest: argsort of argsort on the negated values, along the country axis
    ranks = (-sub).argsort(axis=1).argsort(axis=1) + 1
    return pd.DataFrame(
        {
            "iso3": np.repeat(among, len(years)),
            "year": np.tile(years, len(among)),
            "rank_mean": ranks.mean(axis=0).ravel(),
            "p_rank1": (ranks == 1).mean(axis=0).ravel(),
        }
    )


def index_table(model: GravityModel) -> pd.DataFrame:
    """Posterior index per country-year with its interval, mean rank and P(rank = 1)."""
    assert model.inputs is not None
    panel = model.inputs.panel
    posterior = index_posterior(model)
    draws = stack_draws(posterior, "cbec_index")  # sample, country, year
    lo, hi = interval(draws, model.spec.ci_prob)
    table = pd.DataFrame(
        {
            "iso3": np.repeat(panel.countries, len(panel.years)),
            "year": np.tile(panel.years, len(panel.countries)),
            "mean": draws.mean(axis=0).ravel(),
            "lo": lo.ravel(),
            "hi": hi.ravel(),
        }
    )
    ranks = rank_summary(draws, panel.countries, panel.years, among=panel.partners)
    return table.merge(ranks, on=["iso3", "year"], how="left")


def loadings_table(model: GravityModel) -> pd.DataFrame:
    """Tabulate loadings per indicator next to the classic PCA weights."""
    assert model.inputs is not None
    panel = model.inputs.panel
    posterior = index_posterior(model)
    draws = stack_draws(posterior, "loading")
    lo, hi = interval(draws, model.spec.ci_prob)
    codes = [str(c) for c in posterior["loading"].coords["indicator"].values]
    dims = {i.code: i.dimension for i in panel.indicator_specs}
    pca = pca_index(
        panel.indicators,
        panel.countries,
        panel.years,
        panel.partners,
        eigenvalue_min=model.spec.classic.eigenvalue_min,
    )
    weights = pca.weights.set_index("indicator")["weight"]
    return pd.DataFrame(
        {
            "indicator": codes,
            "dimension": [dims[c] for c in codes],
            "mean": draws.mean(axis=0),
            "lo": lo,
            "hi": hi,
            "pca_weight": weights.reindex(codes).to_numpy(),
        }
    )


def coefficient_table(model: GravityModel) -> pd.DataFrame:
    """Gravity coefficients and scales with intervals, R-hat and bulk ESS."""
    import arviz_stats as az

    posterior = model.idata["posterior"].to_dataset()
    names = [
        n
        for n in reported_vars(posterior)
        if n.startswith(("beta_", "sigma", "nu", "intercept", "gamma_shape", *FRONTIER_SCALARS))
        and posterior[n].ndim == 2
    ]
    rhat = az.rhat(model.idata, var_names=names)
    ess = az.ess(model.idata, var_names=names, method="bulk")
    rows = []
    for name in names:
        draws = stack_draws(posterior, name)
        lo, hi = interval(draws, model.spec.ci_prob)
        rows.append(
            {
                "term": name.removeprefix("beta_"),
                "mean": draws.mean(),
                "sd": draws.std(ddof=1),
                "lo": lo,
                "hi": hi,
                "r_hat": float(rhat[name]),
                "ess_bulk": float(ess[name]),
            }
        )
    return pd.DataFrame(rows)


def potential_table(model: GravityModel) -> pd.DataFrame:
    """Potential ratio, tier probabilities and US$ gap per partner x flow x year."""
    assert model.inputs is not None
    trade = model.inputs.trade
    posterior = model.idata["posterior"].to_dataset()
    bench = benchmark_level(posterior, model.spec.gravity.likelihood)
    draws = np.asarray(bench.stack(sample=("chain", "draw")).transpose("sample", ...).values)
    summary = posterior_potential(
        trade["value_usd"].to_numpy(), draws, model.spec.potential, model.spec.ci_prob
    )
    table = trade[["partner", "flow", "year"]].copy()
    table["actual"] = trade["value_usd"].to_numpy()
    for key, values in summary.items():
        table[key] = values
    # The tier rule and the benchmark's definition travel with every row of the table.
    table["tier_rule"] = (
        f"{model.spec.potential.describe()}; predicted = benchmark: {BENCHMARK_DEFINITION}"
    )
    return table.sort_values(["partner", "flow", "year"]).reset_index(drop=True)


@dataclass(frozen=True)
class RunResult:
    """Tables and the diagnostics verdict of one fit."""

    tables: dict[str, pd.DataFrame]
    diagnostics: dict[str, Any]
    classic: dict[str, Any] | None = None  # classic.json: the classic pipeline's notes


def classic_tables(result: ClassicResult) -> dict[str, pd.DataFrame]:
    """Name the classic pipeline's tables by their run-folder files."""
    return {
        artefacts.CLASSIC_INDEX: result.index.scores,
        artefacts.CLASSIC_WEIGHTS: result.index.weights,
        artefacts.CLASSIC_COEFFICIENTS: result.coefficients,
        artefacts.CLASSIC_POTENTIAL: result.potential,
    }


def classic_summary(result: ClassicResult) -> dict[str, Any]:
    """Return what the classic pipeline reports beside its tables (``classic.json``)."""
    return {
        "n_obs": result.n_obs,
        "n_components": result.index.n_components,
        "filled_cells": result.index.filled_cells,
        "eigenvalues": [float(v) for v in result.index.eigenvalues],
        "exclusions": list(result.exclusions),
        "warnings": list(result.warnings),
    }


def fit_mean_model(model: GravityModel, **overrides: Any) -> GravityModel:
    """Fit the mean model beside a frontier fit: the same spec without ``[frontier]``.

    Same data, sampler settings and seed, so on the same engine cache it is the very
    program (and draws) of the mean-model run of that spec.
    """
    spec = model.spec.model_copy(update={"frontier": None, "name": f"{model.spec.name}-mean"})
    mean = GravityModel(spec, model.data)
    mean.fit(store_prior=False, **overrides)
    return mean


def frontier_tables(
    model: GravityModel, mean: GravityModel | None, diagnostics: dict[str, Any]
) -> dict[str, pd.DataFrame]:
    """Efficiency tables of a frontier fit; Waldman's check and the mean fit's verdict.

    ``mean``: the mean model fitted on the same data (the spec without ``[frontier]``); its
    ratio tiers go beside the frontier tiers and its residuals into the skewness check.
    """
    from bayes_gravity.model.frontier import inefficiency_draws
    from bayes_gravity.results import efficiency
    from bayes_gravity.results.diagnostics import format_verdict

    assert model.inputs is not None and model.spec.frontier is not None
    frontier = model.spec.frontier
    trade, panel = model.inputs.trade, model.inputs.panel
    posterior = model.idata["posterior"].to_dataset()
    log_values = np.log(trade["value_usd"].to_numpy(dtype=float) / 1e6)
    u = inefficiency_draws(posterior, frontier, log_values, int(model.spec.sampler.random_seed))
    eff = efficiency.efficiency_table(trade, u, frontier, model.spec.ci_prob)
    tables = {
        efficiency.EFFICIENCY_FILE: eff,
        efficiency.RANK_FILE: efficiency.rank_table(trade, u, panel.partners),
    }
    index_rows = None
    if panel.index_covariate is not None:
        index = stack_draws(index_posterior(model), "cbec_index").mean(axis=0)
        countries = trade["partner"].map({c: i for i, c in enumerate(panel.countries)})
        years = trade["year"].map({y: i for i, y in enumerate(panel.years)})
        index_rows = index[countries.to_numpy(), years.to_numpy()]
    ols = efficiency.ols_residuals(trade, panel.observed_covariates, index_rows, panel.partners)
    residuals = None
    if mean is not None:
        mean_posterior = mean.idata["posterior"].to_dataset()
        residuals = efficiency.mean_model_residuals(mean_posterior, trade, panel.partners)
        potential = potential_table(mean)
        tables[efficiency.COMPARISON_FILE] = efficiency.tier_comparison(eff, potential)
        verdict = gate(mean)
        diagnostics["mean_model"] = {
            "passed": verdict["passed"],
            "summary": format_verdict(verdict).splitlines()[0],
            "ratio_tier_rule": model.spec.potential.describe(),
        }
    diagnostics["frontier_support"] = efficiency.skewness_check(ols, residuals)
    diagnostics["tier_rule"] = frontier.describe()
    return tables


def summarise(model: GravityModel, mean: GravityModel | None = None) -> RunResult:
    """Compute every table and the diagnostics gate from a fitted model.

    A frontier fit gets the efficiency tables instead of ``potential.csv`` and the holdout;
    ``mean`` is the mean model fitted beside it (:func:`frontier_tables`).
    """
    diagnostics = gate(model)
    if model.spec.frontier is not None:
        tables = {"coefficients.csv": coefficient_table(model)}
        tables.update(frontier_tables(model, mean, diagnostics))
        if model.inputs is not None and model.inputs.panel.index_covariate is not None:
            tables["index.csv"] = index_table(model)
            tables["loadings.csv"] = loadings_table(model)
        classic = run_classic(model.data, model.spec)
        tables.update(classic_tables(classic))
        return RunResult(tables=tables, diagnostics=diagnostics, classic=classic_summary(classic))
    # No wall time here: diagnostics.json judges the draws, so the same seed gives the same
    # bytes; the time is in posterior.nc's attributes (wall_seconds) and printed by `fit`.
    diagnostics["tier_rule"] = model.spec.potential.describe()
    # partners, flows and years that lost every row: named, never silently missing
    inputs = model.prepare()
    diagnostics["dropped"] = [d.to_json() for d in inputs.dropped]
    tables = {"coefficients.csv": coefficient_table(model), "potential.csv": potential_table(model)}
    if model.inputs is not None and model.inputs.panel.index_covariate is not None:
        tables["index.csv"] = index_table(model)
        tables["loadings.csv"] = loadings_table(model)
    try:
        holdout = holdout_table(model)  # None: the dataset has no holdout figures
    except DataError as err:  # a covariate gap in the holdout year must not sink the fit
        log.warning("holdout check skipped: %s", err)
        holdout = None
    if holdout is not None:
        tables[artefacts.HOLDOUT] = holdout
    classic = run_classic(model.data, model.spec)
    tables.update(classic_tables(classic))
    return RunResult(tables=tables, diagnostics=diagnostics, classic=classic_summary(classic))
