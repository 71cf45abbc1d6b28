"""Classic maximum-likelihood stochastic frontier: the point-estimate baseline of the frontier.

Two estimators on the classic regression table (PCA index, observed covariates, flow dummy;
no partner effects, as in the SFA gravity literature):

- ``sfa_half_normal``: pooled normal / half-normal frontier (Aigner, Lovell & Schmidt 1977),
  one ``u`` per row;
- ``sfa_bc92``: Battese & Coelli (1992) with a half-normal ``u_s`` per reporter-partner-flow
  series and ``u_st = exp(-eta (t - T)) u_s``, ``T`` the panel's last year (as in the
  Bayesian frontier), the series' likelihood integrated in closed form.

TE per row is Battese & Coelli's (1988) ``E[exp(-u) | e]`` at the estimates. Standard errors
come from the inverse of the numerical Hessian of the log-likelihood at its maximum.

Why not a library: the PyPI candidates checked (``panelsfa`` 0.1.2, ``stochastic-frontier-
analysis`` 1.0.1, ``pysfa`` 0.8) are young single-author releases; none fits BC92 with a
half-normal ``u`` (``panelsfa``'s BC92 always frees the truncated-normal mean, the others have
no time decay), and the two log-likelihoods are a few lines each.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import optimize, stats

from bayes_gravity.config import FrontierSpec

MODELS = ("sfa_half_normal", "sfa_bc92")


@dataclass(frozen=True)
class SFAResult:
    """One ML frontier: coefficients (with scales) and TE per row."""

    coefficients: pd.DataFrame  # term, estimate, std_error, model
    te: np.ndarray
    log_likelihood: float
    converged: bool


def _log_cdf(z: np.ndarray) -> np.ndarray:
    return np.asarray(stats.norm.logcdf(z))


def half_normal_loglik(e: np.ndarray, sigma_v: float, sigma_u: float) -> np.ndarray:
    """Per-row log density of ``e = v - u``, ``v ~ N(0, sigma_v^2)``, ``u ~ N+(0, sigma_u^2)``."""
    s = np.hypot(sigma_v, sigma_u)
    lam = sigma_u / sigma_v
    return np.log(2.0) - np.log(s) + stats.norm.logpdf(e / s) + _log_cdf(-e * lam / s)


def bc92_loglik(
    e: np.ndarray, h: np.ndarray, series: np.ndarray, sigma_v: float, sigma_u: float
) -> np.ndarray:
    """Per-series log density of BC92 with a half-normal ``u_s`` (``h`` the decay per row)."""
    n = int(series.max()) + 1
    t_count = np.bincount(series, minlength=n).astype(float)
    h2 = np.bincount(series, weights=h**2, minlength=n)
    he = np.bincount(series, weights=h * e, minlength=n)
    e2 = np.bincount(series, weights=e**2, minlength=n)
    sv2, su2 = sigma_v**2, sigma_u**2
    a = su2 * h2 + sv2
    mu_star = -su2 * he / a
    sigma_star = np.sqrt(su2 * sv2 / a)
    return np.asarray(
        -0.5 * t_count * np.log(2 * np.pi)
        - 0.5 * (t_count - 1) * np.log(sv2)
        - 0.5 * np.log(a)
        - 0.5 * e2 / sv2
        + 0.5 * (mu_star / sigma_star) ** 2
        + _log_cdf(mu_star / sigma_star)
        + np.log(2.0)
    )


def _te(mu_star: np.ndarray, sigma_star: np.ndarray, h: np.ndarray | float = 1.0) -> np.ndarray:
    """Battese & Coelli (1988): ``E[exp(-h u) | e]`` for ``u | e ~ N+(mu*, sigma*^2)``."""
    z = mu_star / sigma_star
    return np.asarray(
        np.exp(
            _log_cdf(z - h * sigma_star) - _log_cdf(z) - h * mu_star + 0.5 * (h * sigma_star) ** 2
        )
    )


def _hessian(f: object, x: np.ndarray) -> np.ndarray:
    from statsmodels.tools.numdiff import approx_hess3

    return np.asarray(approx_hess3(x, f))


def fit_sfa(
    y: np.ndarray,
    x: np.ndarray,
    names: list[str],
    model: str,
    series: np.ndarray | None = None,
    years_to_last: np.ndarray | None = None,
) -> SFAResult:
    """Maximum-likelihood frontier ``y = x b + v - u`` (``x`` with its intercept column).

    ``model``: ``"sfa_half_normal"`` or ``"sfa_bc92"`` (needs ``series`` codes and
    ``years_to_last``, ``t - T`` per row).
    """
    if model not in MODELS:
        raise ValueError(f"unknown classic frontier {model!r}; choose from {MODELS}")
    k = x.shape[1]
    ols, *_ = np.linalg.lstsq(x, y, rcond=None)
    resid_sd = float(np.std(y - x @ ols))
    # start at OLS with the intercept shifted up by E[u] (the frontier lies above the mean)
    start_u = resid_sd * 0.8
    start = np.concatenate([ols, [np.log(resid_sd * 0.6), np.log(start_u)]])
    start[0] += start_u * np.sqrt(2 / np.pi)
    bc92 = model == "sfa_bc92"
    codes = np.zeros(len(y), dtype=int) if series is None else np.asarray(series)
    to_last = np.zeros(len(y)) if years_to_last is None else np.asarray(years_to_last)
    if bc92:
        if series is None or years_to_last is None:
            raise ValueError("sfa_bc92 needs the series codes and the years to the last year")
        start = np.concatenate([start, [0.0]])

    def negloglik(theta: np.ndarray) -> float:
        beta = theta[:k]
        sigma_v, sigma_u = float(np.exp(theta[k])), float(np.exp(theta[k + 1]))
        e = y - x @ beta
        if bc92:
            h = np.exp(-theta[k + 2] * to_last)
            return -float(bc92_loglik(e, h, codes, sigma_v, sigma_u).sum())
        return -float(half_normal_loglik(e, sigma_v, sigma_u).sum())

    result = optimize.minimize(negloglik, start, method="BFGS", options={"maxiter": 5000})
    theta = result.x
    try:
        cov = np.linalg.inv(_hessian(negloglik, theta))
        se = np.sqrt(np.clip(np.diag(cov), 0, None))
    except np.linalg.LinAlgError:
        se = np.full(len(theta), np.nan)
    beta, sigma_v, sigma_u = theta[:k], float(np.exp(theta[k])), float(np.exp(theta[k + 1]))
    e = y - x @ beta
    terms = [*names, "sigma_v", "sigma_u"]
    estimates = [*beta, sigma_v, sigma_u]
    # delta method for the scales: d exp(t) = exp(t) dt
    errors = [*se[:k], sigma_v * se[k], sigma_u * se[k + 1]]
    if bc92:
        eta = float(theta[k + 2])
        h = np.exp(-eta * to_last)
        n = int(codes.max()) + 1
        h2 = np.bincount(codes, weights=h**2, minlength=n)
        he = np.bincount(codes, weights=h * e, minlength=n)
        a = sigma_u**2 * h2 + sigma_v**2
        mu_star = -(sigma_u**2) * he / a
        sigma_star = np.sqrt(sigma_u**2 * sigma_v**2 / a)
        te = _te(mu_star[codes], sigma_star[codes], h)
        terms.append("eta")
        estimates.append(eta)
        errors.append(se[k + 2])
    else:
        s2 = sigma_v**2 + sigma_u**2
        te = _te(-e * sigma_u**2 / s2, np.full_like(e, sigma_u * sigma_v / np.sqrt(s2)))
    coefficients = pd.DataFrame(
        {"term": terms, "estimate": estimates, "std_error": errors, "model": model}
    )
    return SFAResult(coefficients, te, -float(result.fun), bool(result.success))


def classic_frontier(
    table: pd.DataFrame, terms: list[str], spec: FrontierSpec
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Both ML frontiers on the classic regression table; (coefficients, efficiency) tables.

    ``table`` is :func:`bayes_gravity.classic.regression_table`'s (``log_trade`` in US$).
    """
    from bayes_gravity.potential import TE_TIERS, te_tier_codes

    y = table["log_trade"].to_numpy(dtype=float)
    x = np.column_stack([np.ones(len(table)), table[terms].to_numpy(dtype=float)])
    names = ["intercept", *terms]
    entity = table["reporter"] + "-" + table["partner"] + "-" + table["flow"]
    series = pd.factorize(entity, sort=True)[0]
    to_last = (table["year"] - table["year"].max()).to_numpy(dtype=float)
    coefs, rows = [], []
    for model in MODELS:
        fit = fit_sfa(y, x, names, model, series=series, years_to_last=to_last)
        coefs.append(fit.coefficients.assign(log_likelihood=fit.log_likelihood))
        actual = table["value_usd"].to_numpy(dtype=float)
        rows.append(
            pd.DataFrame(
                {
                    "reporter": table["reporter"],
                    "partner": table["partner"],
                    "flow": table["flow"],
                    "year": table["year"],
                    "actual": actual,
                    "te": fit.te,
                    "frontier_usd": actual / fit.te,
                    "untapped_usd": actual / fit.te - actual,
                    "tier": np.asarray(TE_TIERS, dtype=object)[te_tier_codes(fit.te, spec)],
                    "model": model,
                    "converged": fit.converged,
                }
            )
        )
    efficiency = pd.concat(rows, ignore_index=True)
    efficiency = efficiency.sort_values(["model", "partner", "flow", "year"]).reset_index(drop=True)
    return pd.concat(coefs, ignore_index=True), efficiency
