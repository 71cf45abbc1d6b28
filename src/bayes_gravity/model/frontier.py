"""The stochastic-frontier gravity model: trade efficiency ``TE = exp(-u)`` with ``u >= 0``.

For trade row i (partner p, flow f, year t), on log trade in millions of US$::

    log trade_i = frontier_i + v_i - u_i

``frontier_i`` is the linear predictor of the mean model (:mod:`bayes_gravity.gravity`):
intercept, flow effect, partner and partner x flow effects, every ``beta * x`` and the joint
latent CBEC index. Partner effects stay in the frontier: a partner's persistent level is
heterogeneity, not inefficiency (Greene's 2005 "true random effects" reading). ``v`` is
symmetric noise (normal, or Student-t), ``u`` one-sided inefficiency:

- ``inefficiency``: half-normal ``N+(0, sigma_u^2)``, exponential with mean ``sigma_u``, or
  truncated normal ``N+(mu_u, sigma_u^2)``;
- ``pattern = "iid"``: one ``u`` per pair-flow-year;
  ``"bc92"`` (Battese & Coelli 1992): ``u_it = exp(-eta (t - T)) u_s`` for pair-flow series s,
  T the panel's last year, ``eta`` common or per partner (``eta + sigma_eta * z_p``);
  ``"bc95"``: determinants scale ``u`` (the scaling property of Wang & Schmidt 2002, the
  "scale of u" form of BC95): ``u_it = exp(sum_k delta_k z_itk) u*_it``, ``z`` the centred
  covariates named in ``determinants`` (the latent index included).

How it is sampled. With normal noise and ``iid`` or ``bc95``, ``u`` is integrated out: the
likelihood is the closed-form density of the composed error ``e = v - u`` (Aigner, Lovell &
Schmidt 1977; Meeusen & van den Broeck 1977; Stevenson 1980), so the sampler sees no latent
``u`` and no funnel at ``sigma_u -> 0``. ``u`` is then drawn per posterior draw from its exact
conditional ``p(u | e, theta)`` (Jondrow et al. 1982), which with the posterior draws of theta
gives draws of the joint posterior (:func:`conditional_u`). With BC92 (one ``u`` per series)
or Student-t noise, ``u`` is latent and sampled with the rest.

What identifies ``sigma_u`` against ``sigma_v``: only the shape of the composed error. ``v`` is
symmetric, ``u`` one-sided, so ``e`` is skewed to the left, and its third moment
(``-sqrt(2/pi)(4/pi - 1) sigma_u^3`` for the half-normal) pins down ``sigma_u``, its variance
then ``sigma_v``. With right-skewed mean-model residuals the likelihood peaks at ``sigma_u = 0``
(Waldman 1982): :func:`bayes_gravity.results.efficiency.skewness_check` says so.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from bayes_gravity.config import FrontierSpec, GravitySpec, PriorSpec

# Weakly informative on the log-trade scale; override by name in [gravity.priors].
FRONTIER_PRIORS: dict[str, PriorSpec] = {
    # Noise sd, boundary-avoiding (median 0.2, 90 % 0.09-0.46): a frontier without noise is
    # ruled out by how trade is recorded (China's and its partners' reports differ by tens of
    # per cent), and near sigma_v = 0 every residual must sit below the frontier, a kink the
    # sampler diverged on (HalfNormal(0.5): 18 divergences in 1200 draws, sigma_v 0.02-0.27).
    "sigma_v": PriorSpec(dist="LogNormal", mu=-1.6094379124341003, sigma=0.5),
    # Inefficiency sd: mass at 0 kept (no frontier is an answer the data may give)
    "sigma_u": PriorSpec(dist="HalfNormal", sigma=1.0),
    # truncated normal location (on the sigma_u scale: mu_u / sigma_u is what the data see)
    "mu_u": PriorSpec(dist="Normal", mu=0.0, sigma=0.5),
    # BC92 decay per year: eta = 0.05 changes u by a factor exp(-1) over 20 years
    "eta": PriorSpec(dist="Normal", mu=0.0, sigma=0.05),
    "sigma_eta": PriorSpec(dist="HalfNormal", sigma=0.02),
    "nu_excess": PriorSpec(dist="Gamma", alpha=2.0, beta=0.1),
}
DELTA_PRIOR = PriorSpec(dist="Normal", mu=0.0, sigma=0.5)  # per determinant, log-scale effect
OBSERVED = "log_trade"


def frontier_prior(name: str, gravity: GravitySpec) -> PriorSpec:
    """Return a frontier parameter's prior: the spec's override, else the documented default."""
    if name in gravity.priors:
        return gravity.priors[name]
    if name.startswith("delta_"):
        return DELTA_PRIOR
    return FRONTIER_PRIORS[name]


def marginalised(spec: FrontierSpec) -> bool:
    """Whether ``u`` is integrated out of the likelihood (normal noise, one ``u`` per row)."""
    return spec.noise == "normal" and spec.pattern in ("iid", "bc95")


def series_codes(trade: pd.DataFrame, partners: list[str]) -> tuple[np.ndarray, list[str]]:
    """Series (partner x flow) code of every row, and the series labels ``"KAZ export"``."""
    labels = [f"{p} {f}" for p in partners for f in ("export", "import")]
    codes = trade["partner"].map({p: i for i, p in enumerate(partners)}).to_numpy() * 2 + (
        trade["flow"] == "import"
    ).to_numpy().astype(int)
    return codes, labels


# ---------------------------------------------------------------- composed-error densities


def _log_phi(z: Any) -> Any:
    import pytensor.tensor as pt

    return -0.5 * pt.log(2 * np.pi) - 0.5 * z**2


def _log_Phi(z: Any) -> Any:
    """Log of the standard normal cdf, stable in both tails and with finite gradients.

    Each branch sees its input clamped to its own side of -1, so the branch not taken has a
    finite value and zero gradient (PyMC's ``normal_lcdf`` switches on the raw input: the
    branch not taken overflows far in the right tail, its NaN gradient leaks through the
    switch, and warm-up step sizes collapsed to 1e-166).
    """
    import pytensor.tensor as pt

    low = pt.minimum(z, -1.0)
    high = pt.maximum(z, -1.0)
    left_tail = pt.log(pt.erfcx(-low / np.sqrt(2.0)) / 2.0) - low**2 / 2.0
    body = pt.log1p(-pt.erfc(high / np.sqrt(2.0)) / 2.0)
    return pt.switch(pt.lt(z, -1.0), left_tail, body)


def composed_logp(kind: str) -> Any:
    """Log density of ``e = v - u`` (``v ~ N(0, sigma_v^2)``) for the inefficiency ``kind``."""
    import pytensor.tensor as pt

    def logp(value: Any, mu: Any, sigma_v: Any, sigma_u: Any, mu_u: Any) -> Any:
        e = value - mu
        if kind == "exponential":
            return (
                -pt.log(sigma_u)
                + _log_Phi(-e / sigma_v - sigma_v / sigma_u)
                + e / sigma_u
                + sigma_v**2 / (2 * sigma_u**2)
            )
        s2 = sigma_v**2 + sigma_u**2
        s = pt.sqrt(s2)
        location = mu_u if kind == "truncated_normal" else 0.0
        mu_star = (location * sigma_v**2 - e * sigma_u**2) / s2
        sigma_star = sigma_u * sigma_v / s
        return (
            -pt.log(s)
            + _log_phi((e + location) / s)
            + _log_Phi(mu_star / sigma_star)
            - _log_Phi(location / sigma_u)
        )

    return logp


def draw_u(
    kind: str,
    sigma_u: np.ndarray,
    mu_u: np.ndarray | float,
    rng: np.random.Generator,
    size: Any = None,
) -> np.ndarray:
    """Draws of ``u`` from its distribution (for the simulator and prior predictive draws)."""
    from scipy import stats

    sigma_u = np.asarray(sigma_u, dtype=float)
    size = sigma_u.shape if size is None else size
    if kind == "half_normal":
        return np.abs(rng.normal(0.0, 1.0, size)) * sigma_u
    if kind == "exponential":
        return rng.exponential(1.0, size) * sigma_u
    loc = np.asarray(mu_u, dtype=float)
    return np.asarray(
        stats.truncnorm.rvs(-loc / sigma_u, np.inf, loc, sigma_u, size=size, random_state=rng)
    )


def _random(kind: str) -> Any:
    def random(
        mu: Any, sigma_v: Any, sigma_u: Any, mu_u: Any, rng: np.random.Generator, size: Any
    ) -> np.ndarray:
        shape = size if size is not None else np.broadcast_shapes(np.shape(mu), np.shape(sigma_u))
        u = draw_u(kind, np.broadcast_to(sigma_u, shape), np.broadcast_to(mu_u, shape), rng, shape)
        return np.asarray(mu + rng.normal(0.0, 1.0, shape) * sigma_v - u)

    return random


def conditional_u(
    kind: str,
    e: np.ndarray,
    sigma_v: np.ndarray,
    sigma_u: np.ndarray,
    mu_u: np.ndarray | float,
    rng: np.random.Generator,
) -> np.ndarray:
    """Draw ``u`` from ``p(u | e = v - u)`` (Jondrow et al. 1982), one draw per element.

    Half-normal and truncated normal: ``N+(mu*, sigma*^2)`` with ``mu* = (mu_u sigma_v^2 - e
    sigma_u^2) / s^2``, ``sigma* = sigma_u sigma_v / s``, ``s^2 = sigma_v^2 + sigma_u^2``.
    Exponential (mean ``sigma_u``): ``N+(-e - sigma_v^2 / sigma_u, sigma_v^2)``.
    """
    from scipy import stats

    if kind == "exponential":
        mu_star = -e - sigma_v**2 / sigma_u
        sigma_star = np.broadcast_to(sigma_v, np.shape(mu_star))
    else:
        location = mu_u if kind == "truncated_normal" else 0.0
        s2 = sigma_v**2 + sigma_u**2
        mu_star = (location * sigma_v**2 - e * sigma_u**2) / s2
        sigma_star = np.broadcast_to(sigma_u * sigma_v / np.sqrt(s2), np.shape(mu_star))
    return np.asarray(
        stats.truncnorm.rvs(-mu_star / sigma_star, np.inf, mu_star, sigma_star, random_state=rng)
    )


# ---------------------------------------------------------------- the model


def _latent_u(kind: str, scale: Any, location: Any, dims: str) -> Any:
    """Latent ``u >= 0`` of the given kind, non-centred where the kind allows."""
    import pymc as pm

    if kind == "half_normal":
        return scale * pm.HalfNormal("u_raw", 1.0, dims=dims)
    if kind == "exponential":
        return scale * pm.Exponential("u_raw", 1.0, dims=dims)
    return pm.TruncatedNormal("u_latent", mu=location, sigma=scale, lower=0.0, dims=dims)


def add_frontier(
    mu: Any,
    log_values: np.ndarray,
    trade: pd.DataFrame,
    spec: FrontierSpec,
    gravity: GravitySpec,
    partners: list[str],
    years: list[int],
    terms: dict[str, Any],
) -> None:
    """Add the frontier likelihood of log trade, with ``mu`` the frontier, to the model.

    ``terms`` maps covariate names to their centred values per row (the BC95 determinants).
    """
    import pymc as pm
    import pytensor.tensor as pt

    def prior(name: str, **kwargs: Any) -> Any:
        from bayes_gravity.model.gravity import make_prior

        return make_prior(name, frontier_prior(name, gravity), **kwargs)

    model = pm.modelcontext(None)
    frontier = pm.Deterministic("mu_frontier", mu, dims="obs")
    sigma_v = prior("sigma_v")
    sigma_u = prior("sigma_u")
    mu_u = prior("mu_u") if spec.inefficiency == "truncated_normal" else pt.as_tensor(0.0)
    scale: Any = sigma_u
    location: Any = mu_u
    if spec.pattern == "bc95":
        model.add_coords({"determinant": list(spec.determinants)})
        shift = pt.zeros(len(trade))
        for name in spec.determinants:
            shift = shift + prior(f"delta_{name}") * terms[name]
        factor = pt.exp(shift)
        scale = pm.Deterministic("sigma_u_obs", sigma_u * factor, dims="obs")
        location = mu_u * factor
    y = pm.Data("log_trade_observed", log_values, dims="obs")

    if marginalised(spec):
        params = [frontier, sigma_v, scale, location]
        pm.CustomDist(
            OBSERVED,
            *params,
            logp=composed_logp(spec.inefficiency),
            random=_random(spec.inefficiency),
            observed=y,
            dims="obs",
        )
        return

    if spec.pattern == "bc92":
        codes, labels = series_codes(trade, partners)
        model.add_coords({"series": labels})
        series_idx = pm.Data("series_idx", codes, dims="obs")
        u_series = _latent_u(spec.inefficiency, sigma_u, mu_u, "series")
        eta = prior("eta")
        since_last = (trade["year"].to_numpy() - years[-1]).astype(float)
        if spec.eta == "partner":
            sigma_eta = prior("sigma_eta")
            eta_z = pm.Normal("eta_partner_z", 0.0, 1.0, dims="partner")
            eta_p = pm.Deterministic("eta_partner", eta + sigma_eta * eta_z, dims="partner")
            eta_row = eta_p[pm.Data("eta_partner_idx", codes // 2, dims="obs")]
        else:
            eta_row = eta
        u = pm.Deterministic("u", pt.exp(-eta_row * since_last) * u_series[series_idx], dims="obs")
    else:
        u = pm.Deterministic("u", _latent_u(spec.inefficiency, scale, location, "obs"), dims="obs")
    if spec.noise == "student_t":
        nu = pm.Deterministic("nu", 3.0 + prior("nu_excess"))
        pm.StudentT(OBSERVED, nu=nu, mu=frontier - u, sigma=sigma_v, observed=y, dims="obs")
    else:
        pm.Normal(OBSERVED, mu=frontier - u, sigma=sigma_v, observed=y, dims="obs")


def inefficiency_draws(
    posterior: Any, spec: FrontierSpec, log_values: np.ndarray, seed: int
) -> Any:
    """Posterior draws of ``u`` per row, shape (sample, obs), chain-major.

    Latent ``u``: its draws. Integrated-out ``u``: one draw from ``p(u | e, theta)`` per
    posterior draw (seeded, so the same run gives the same bytes).
    """

    def stacked(name: str) -> np.ndarray:
        da = posterior[name].stack(sample=("chain", "draw")).transpose("sample", ...)
        return np.asarray(da.values, dtype=float)

    if not marginalised(spec):
        return stacked("u")
    frontier = stacked("mu_frontier")
    e = log_values[None, :] - frontier
    sigma_v = stacked("sigma_v")[:, None]
    if spec.pattern == "bc95":
        scale = stacked("sigma_u_obs")
        factor = scale / stacked("sigma_u")[:, None]
    else:
        scale, factor = stacked("sigma_u")[:, None], np.ones((1, 1))
    location: np.ndarray | float = 0.0
    if spec.inefficiency == "truncated_normal":
        location = stacked("mu_u")[:, None] * factor
    rng = np.random.default_rng(seed)
    return conditional_u(spec.inefficiency, e, sigma_v, scale, location, rng)
