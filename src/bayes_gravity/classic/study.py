"""The study's classic pipeline: PCA index, OLS / random-effects gravity, point tiers.

PCA index -> extended gravity model (pooled OLS and random effects) -> point potential
ratios and tiers. The Bayesian results are read next to these.

Gravity equation (log trade, zeros left out since log(0) is undefined)::

    log(trade) = b0 + sum_k b_k x_k + b_index * pca_index(partner, year) + b_import * import

Random effects are per reporter-partner-flow series (linearmodels ``RandomEffects``). The
benchmark for the potential ratio is ``exp(X b)``: for random effects it excludes the series'
own effect, like the Bayesian benchmark excludes the partner effect; no variance term is added
(the study's convention).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from bayes_gravity.classic.pca_index import PCAIndex, pca_index
from bayes_gravity.config import ModelSpec
from bayes_gravity.data.dataset import Dataset
from bayes_gravity.data.drops import Drop, find_drops
from bayes_gravity.data.panel import KEYS, Panel, build_panel
from bayes_gravity.io import staged_commit, write_csv
from bayes_gravity.potential import classify, potential_ratio


@dataclass(frozen=True)
class ClassicResult:
    """Everything the classic pipeline produces."""

    index: PCAIndex
    coefficients: pd.DataFrame  # term, estimate, std_error, p_value, model
    potential: pd.DataFrame  # partner, flow, year, actual, predicted, ratio, tier
    n_obs: int
    exclusions: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    dropped: list[Drop] = field(default_factory=list)
    # with a [frontier] spec: the ML frontiers (bayes_gravity.classic.frontier)
    frontier_coefficients: pd.DataFrame | None = None
    frontier_efficiency: pd.DataFrame | None = None


def regression_table(
    panel: Panel, index_scores: pd.DataFrame | None
) -> tuple[pd.DataFrame, list[str]]:
    """Trade rows with log trade, the partner's index and a flow dummy; zero trade left out."""
    table = panel.trade.copy()
    terms = list(panel.observed_covariates)
    if panel.index_covariate is not None and index_scores is not None:
        lookup = index_scores.set_index(["iso3", "year"])["score"]
        keys = pd.MultiIndex.from_arrays([table["partner"], table["year"]])
        table[panel.index_covariate] = lookup.reindex(keys).to_numpy()
        terms.insert(0, panel.index_covariate)
    if table["flow"].nunique() > 1:
        table["flow_import"] = (table["flow"] == "import").astype(float)
        terms.append("flow_import")
    table = table[table["value_usd"] > 0].copy()
    table["log_trade"] = np.log(table["value_usd"])
    return table.reset_index(drop=True), terms


def _drop_constant(table: pd.DataFrame, terms: list[str]) -> tuple[list[str], list[str]]:
    kept = [t for t in terms if table[t].nunique() > 1]
    dropped = [t for t in terms if t not in kept]
    notes = [f"covariate {t} is constant in the panel; left out of the regression" for t in dropped]
    return kept, notes


def _coefficients(
    terms: list[str], estimate: pd.Series, std_error: pd.Series, p_value: pd.Series, model: str
) -> pd.DataFrame:
    """Build the coefficients.csv rows of one estimator (intercept first, then ``terms``)."""
    return pd.DataFrame(
        {
            "term": ["intercept", *terms],
            "estimate": estimate.to_numpy(),
            "std_error": std_error.to_numpy(),
            "p_value": p_value.to_numpy(),
            "model": model,
        }
    )


def fit_ols(table: pd.DataFrame, terms: list[str]) -> tuple[pd.DataFrame, np.ndarray]:
    """Pooled OLS with heteroskedasticity-robust (HC1) standard errors."""
    import statsmodels.api as sm

    design = sm.add_constant(table[terms], has_constant="add")
    result = sm.OLS(table["log_trade"], design).fit(cov_type="HC1")
    coefs = _coefficients(terms, result.params, result.bse, result.pvalues, "pooled_ols")
    return coefs, np.asarray(design.to_numpy() @ result.params.to_numpy())


def fit_random_effects(table: pd.DataFrame, terms: list[str]) -> tuple[pd.DataFrame, np.ndarray]:
    """Random effects per reporter-partner-flow series (GLS, linearmodels)."""
    from linearmodels.panel import RandomEffects

    entity = table["reporter"] + "-" + table["partner"] + "-" + table["flow"]
    indexed = table.assign(entity=entity).set_index(["entity", "year"])
    design = indexed[terms].assign(intercept=1.0)[["intercept", *terms]]
    result = RandomEffects(indexed["log_trade"], design).fit()
    coefs = _coefficients(terms, result.params, result.std_errors, result.pvalues, "random_effects")
    # Benchmark: the determinants only, the series' own random effect excluded.
    return coefs, np.asarray(design.to_numpy() @ result.params.to_numpy())


def run_classic(data: Dataset, spec: ModelSpec) -> ClassicResult:
    """Run the classic pipeline on ``data`` with the index, covariates and tiers of ``spec``."""
    panel = build_panel(data, spec)
    index = pca_index(
        panel.indicators,
        panel.countries,
        panel.years,
        rank_among=panel.partners,
        eigenvalue_min=spec.classic.eigenvalue_min,
    )
    table, terms = regression_table(panel, index.scores)
    terms, notes = _drop_constant(table, terms)
    zeros = int((panel.trade["value_usd"] <= 0).sum())
    exclusions = list(panel.exclusions)
    if zeros:
        exclusions.append(f"{zeros} zero trade row(s) left out of the log-linear regressions")
    ols, ols_fit = fit_ols(table, terms)
    re, re_fit = fit_random_effects(table, terms)
    linear = re_fit if spec.classic.potential_model == "re" else ols_fit
    predicted = np.exp(linear)
    ratio = potential_ratio(table["value_usd"], predicted, spec.potential)
    potential = pd.DataFrame(
        {
            "partner": table["partner"],
            "flow": table["flow"],
            "year": table["year"],
            "actual": table["value_usd"],
            "predicted": predicted,
            "ratio": ratio,
            "tier": classify(ratio, spec.potential),
            "tier_rule": spec.potential.describe()
            + "; predicted = exp(X b), the series' own effect excluded",
        }
    )
    dropped = sorted(set(panel.indicators["indicator"]) - set(index.weights["indicator"]))
    warnings = [*panel.warnings, *notes]
    if dropped:
        warnings.append(f"indicator(s) {dropped} lack data for some country; left out of the PCA")
    frontier_coefs = frontier_eff = None
    if spec.frontier is not None:
        from bayes_gravity.classic.frontier import classic_frontier

        frontier_coefs, frontier_eff = classic_frontier(table, terms, spec.frontier)
    return ClassicResult(
        frontier_coefficients=frontier_coefs,
        frontier_efficiency=frontier_eff,
        index=index,
        coefficients=pd.concat([ols, re], ignore_index=True),
        potential=potential.sort_values(["partner", "flow", "year"]).reset_index(drop=True),
        n_obs=len(table),
        exclusions=exclusions,
        warnings=warnings,
        dropped=find_drops(
            pd.concat(
                [
                    panel.trade[KEYS].assign(
                        reason=np.where(
                            panel.trade["value_usd"] > 0, "", "zero trade (log-linear regression)"
                        )
                    ),
                    panel.excluded[[*KEYS, "reason"]],
                ],
                ignore_index=True,
            )
        ),
    )


def write_classic(result: ClassicResult, out: Path) -> list[Path]:
    """Write index.csv, coefficients.csv, potential.csv and pca_weights.csv as one set.

    With a frontier: frontier_coefficients.csv and efficiency.csv (the ML frontiers) too.
    """
    files = {
        "index.csv": result.index.scores,
        "coefficients.csv": result.coefficients,
        "potential.csv": result.potential,
        "pca_weights.csv": result.index.weights,
    }
    if result.frontier_coefficients is not None and result.frontier_efficiency is not None:
        files["frontier_coefficients.csv"] = result.frontier_coefficients
        files["efficiency.csv"] = result.frontier_efficiency
    with staged_commit(out, lambda names: names) as stage:  # the files as one set
        for name, frame in files.items():
            write_csv(stage / name, frame)
    return [out / name for name in files]
