"""Trade efficiency from a stochastic-frontier fit: TE, untapped potential, tiers and ranks.

Per posterior draw and trade row: ``TE = exp(-u)``, the frontier ``actual / TE = actual *
exp(u)`` (the stochastic frontier ``exp(frontier + v)``, noise included, so it is at or above
actual trade in every draw) and the untapped potential ``frontier - actual``. Tables:

- ``efficiency.csv``: reporter, partner, flow, year, actual, te_mean, te_lo, te_hi,
  frontier_usd_mean, untapped_usd_mean, untapped_usd_lo, untapped_usd_hi, p_low, p_medium,
  p_high, tier, tier_rule;
- ``efficiency_rank.csv``: rank of TE among the partners of each flow and year, per draw
  (1 = most efficient): rank_mean and P(rank = k) for every k;
- ``frontier_vs_ratio.csv``: the frontier tiers beside the mean model's ratio tiers.

And the check SFA users run first: the skewness of the mean model's residuals (Waldman 1982).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from bayes_gravity.config import FrontierSpec, ModelSpec
from bayes_gravity.potential import TE_TIERS, te_tier_codes
from bayes_gravity.results import artefacts

EFFICIENCY_FILE = artefacts.EFFICIENCY
RANK_FILE = artefacts.EFFICIENCY_RANK
COMPARISON_FILE = artefacts.FRONTIER_VS_RATIO
# How a frontier tier reads next to a ratio tier of the mean model: trade close to its
# frontier ~ trade at or above the mean benchmark, and so on.
SAME_READING = {"high": "reshaping", "medium": "expansion", "low": "huge"}


def _interval(values: np.ndarray, ci_prob: float) -> tuple[np.ndarray, np.ndarray]:
    tail = (1 - ci_prob) / 2
    return np.quantile(values, tail, axis=0), np.quantile(values, 1 - tail, axis=0)


def efficiency_table(
    trade: pd.DataFrame, u: np.ndarray, spec: FrontierSpec, ci_prob: float
) -> pd.DataFrame:
    """Summaries per trade row from draws of ``u`` of shape (sample, row)."""
    actual = trade["value_usd"].to_numpy(dtype=float)
    te = np.exp(-u)
    frontier = actual[None, :] * np.exp(u)
    untapped = frontier - actual[None, :]
    te_lo, te_hi = _interval(te, ci_prob)
    un_lo, un_hi = _interval(untapped, ci_prob)
    codes = te_tier_codes(te, spec)
    probs = np.stack([(codes == k).mean(axis=0) for k in range(len(TE_TIERS))], axis=-1)
    table = trade[["reporter", "partner", "flow", "year"]].copy()
    table["actual"] = actual
    table["te_mean"] = te.mean(axis=0)
    table["te_lo"], table["te_hi"] = te_lo, te_hi
    table["frontier_usd_mean"] = frontier.mean(axis=0)
    table["untapped_usd_mean"] = untapped.mean(axis=0)
    table["untapped_usd_lo"], table["untapped_usd_hi"] = un_lo, un_hi
    for k, name in enumerate(TE_TIERS):
        table[f"p_{name}"] = probs[:, k]
    table["tier"] = np.asarray(TE_TIERS, dtype=object)[probs.argmax(axis=1)]
    table["tier_rule"] = spec.describe()
    order = table.sort_values(["partner", "flow", "year"]).index
    return table.loc[order].reset_index(drop=True)


def rank_table(trade: pd.DataFrame, u: np.ndarray, partners: list[str]) -> pd.DataFrame:
    """P(rank) of TE among the partners with a row in each flow and year (1 = highest TE)."""
    rows = []
    keys = trade[["partner", "flow", "year"]].reset_index(drop=True)
    n = len(partners)
    for (flow, year), group in keys.groupby(["flow", "year"], sort=True):
        assert isinstance(year, int | np.integer)
        idx = group.index.to_numpy()
        # rank 1 = smallest u = highest TE; ties have probability zero for continuous draws
        ranks = np.argsort(np.argsort(u[:, idx], axis=1), axis=1) + 1
        for j, i in enumerate(idx):
            row: dict[str, Any] = {
                "partner": keys.loc[i, "partner"],
                "flow": flow,
                "year": int(year),
                "n_ranked": len(idx),
                "rank_mean": float(ranks[:, j].mean()),
            }
            for k in range(1, n + 1):
                row[f"p_rank{k}"] = float((ranks[:, j] == k).mean())
            rows.append(row)
    table = pd.DataFrame(rows)
    return table.sort_values(["partner", "flow", "year"]).reset_index(drop=True)


def tier_comparison(efficiency: pd.DataFrame, potential: pd.DataFrame) -> pd.DataFrame:
    """Set the frontier tiers beside the mean model's ratio tiers, row by row (same pairs)."""
    keys = ["partner", "flow", "year"]
    left = efficiency[[*keys, "te_mean", "te_lo", "te_hi", "tier", "p_low", "p_medium", "p_high"]]
    left = left.rename(columns={"tier": "frontier_tier"})
    right = potential[[*keys, "ratio_mean", "ratio_lo", "ratio_hi", "tier"]]
    right = right.rename(columns={"tier": "ratio_tier"})
    table = left.merge(right, on=keys, how="outer", validate="one_to_one", indicator=True)
    if (table["_merge"] != "both").any():
        missing = table.loc[table["_merge"] != "both", keys].head(5).to_dict("records")
        raise ValueError(f"frontier and mean model were fitted on different rows: {missing}")
    table = table.drop(columns="_merge")
    table["same_reading"] = table["frontier_tier"].map(SAME_READING) == table["ratio_tier"]
    return table.sort_values(keys).reset_index(drop=True)


def crosstab(comparison: pd.DataFrame) -> pd.DataFrame:
    """Count the rows per (frontier tier, ratio tier)."""
    table = pd.crosstab(comparison["frontier_tier"], comparison["ratio_tier"])
    table = table.reindex(index=list(TE_TIERS), columns=["reshaping", "expansion", "huge"])
    return table.fillna(0).astype(int)


# ---------------------------------------------------------------- Waldman's check


def skewness(residuals: np.ndarray, axis: int = -1) -> np.ndarray:
    """Sample skewness ``m3 / m2^1.5`` (the moment estimator SFA tests use)."""
    centred = residuals - residuals.mean(axis=axis, keepdims=True)
    m2 = (centred**2).mean(axis=axis)
    m3 = (centred**3).mean(axis=axis)
    return np.asarray(m3 / m2**1.5)


def skewness_check(
    ols_residuals: np.ndarray, posterior_residuals: np.ndarray | None = None
) -> dict[str, Any]:
    """Whether the residuals of the mean model are skewed the way a frontier needs.

    A production-type frontier (``v - u``) makes the residuals of a mean regression skewed to
    the **left**. With right-skewed OLS residuals the maximum-likelihood ``sigma_u`` is 0
    (Waldman 1982): the data do not support a frontier, and any inefficiency the Bayesian fit
    reports comes from the prior. ``z = m3 / sqrt(6 m2^3 / n)`` is the moment test of
    Coelli (1995), one-sided: ``p_value_left_skew = P(Z <= z)`` (small: significant left skew).
    """
    from scipy import stats

    res = np.asarray(ols_residuals, dtype=float)
    n = res.size
    skew = float(skewness(res))
    z = skew / np.sqrt(6.0 / n)
    report: dict[str, Any] = {
        "ols_skewness": skew,
        "ols_z": float(z),
        "p_value_left_skew": float(stats.norm.cdf(z)),
        "n": int(n),
    }
    problems = []
    if skew >= 0:
        problems.append(f"the OLS residuals are right-skewed (skewness {skew:+.3f})")
    if posterior_residuals is not None:
        draws = skewness(np.asarray(posterior_residuals, dtype=float), axis=1)
        report["posterior_skewness_mean"] = float(draws.mean())
        report["posterior_p_right_skewed"] = float((draws > 0).mean())
        if report["posterior_p_right_skewed"] >= 0.5:
            problems.append(
                "the mean model's posterior residuals are right-skewed in "
                f"{report['posterior_p_right_skewed']:.0%} of draws (mean skewness "
                f"{report['posterior_skewness_mean']:+.3f})"
                + (
                    f", although the OLS residuals are left-skewed ({skew:+.3f})"
                    if skew < 0
                    else ""
                )
            )
    report["supported"] = not problems
    if not problems:
        report["message"] = (
            f"residuals of the mean model are left-skewed (OLS skewness {skew:+.3f}, z = "
            f"{z:+.2f}): the data carry the one-sided error a frontier needs"
        )
    else:
        report["message"] = (
            "!!! THE DATA DO NOT CLEARLY SUPPORT A FRONTIER: "
            + "; ".join(problems)
            + ". With right-skewed residuals the maximum-likelihood sigma_u is 0 (Waldman "
            "1982): the inefficiency this fit reports is then not backed by the residuals' "
            "skewness; it can come from the prior on sigma_u or from a few outlying rows "
            "read as inefficiency. Read TE and its tiers with that in mind !!!"
        )
    return report


def ols_residuals(
    trade: pd.DataFrame, covariates: list[str], index: np.ndarray | None, partners: list[str]
) -> np.ndarray:
    """OLS residuals of log trade on the covariates, a dummy per pair-flow series, the index.

    The mean model's structure without its shrinkage: one intercept per pair-flow series
    (partner and partner x flow effects), every covariate (``index``: the index per row, at
    its posterior mean).
    """
    from bayes_gravity.model.frontier import series_codes

    y = np.log(trade["value_usd"].to_numpy(dtype=float))
    codes, labels = series_codes(trade, partners)
    dummies = np.eye(len(labels))[codes]
    columns = [dummies[:, dummies.any(axis=0)]]
    for name in covariates:
        columns.append(trade[name].to_numpy(dtype=float)[:, None])
    if index is not None:
        columns.append(np.asarray(index, dtype=float)[:, None])
    x = np.hstack(columns)
    coef, *_ = np.linalg.lstsq(x, y, rcond=None)
    return np.asarray(y - x @ coef)


def mean_model_residuals(posterior: Any, trade: pd.DataFrame, partners: list[str]) -> np.ndarray:
    """Posterior residuals ``log trade - mu`` of the mean model, shape (sample, row).

    ``mu = mu_benchmark + partner_effect[p] + partner_flow_effect[p, f]`` (+ the partner's
    index slope times the index): the benchmark plus the partner terms it leaves out.
    """

    def stacked(name: str) -> np.ndarray:
        da = posterior[name].stack(sample=("chain", "draw")).transpose("sample", ...)
        return np.asarray(da.values, dtype=float)

    p = trade["partner"].map({q: i for i, q in enumerate(partners)}).to_numpy()
    f = (trade["flow"] == "import").to_numpy().astype(int)
    mu = stacked("mu_benchmark")
    if "partner_effect" in posterior:
        mu = mu + stacked("partner_effect")[:, p]
    if "partner_flow_effect" in posterior:
        mu = mu + stacked("partner_flow_effect")[:, p, f]
    if "partner_index_slope" in posterior:
        raise ValueError("posterior residuals with partner index slopes are not implemented")
    y = np.log(trade["value_usd"].to_numpy(dtype=float) / 1e6)
    return np.asarray(y[None, :] - mu)


def frontier_spec_of(spec: ModelSpec) -> FrontierSpec:
    """Return the spec's ``[frontier]`` table (a frontier run must have one)."""
    if spec.frontier is None:
        raise ValueError(f"spec {spec.name!r} has no [frontier] table")
    return spec.frontier
