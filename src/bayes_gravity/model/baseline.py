"""Bambi baseline: the gravity model with observed covariates only, as a formula model.

Without the latent CBEC index the gravity model is an ordinary linear mixed model on log
trade, which bambi fits from a formula::

    log_trade ~ log_gdp_partner + ... + contig + flow + (1|partner)

It is fitted on exactly the rows the hand-built model uses
(:func:`bayes_gravity.data.panel.build_panel` then
:func:`bayes_gravity.model.gravity_model.model_inputs`) with the same priors
(:func:`gravity.prior_for`), so ``GravityModel(baseline_spec(spec), data)`` and
:func:`fit_bambi_baseline` are one model in
two parameterisations (up to the intercept-prior detail below), and their posteriors must
agree within Monte Carlo error.

Parameterisations and how :func:`bambi_parameters` maps bambi's onto the hand-built names:

- **slopes**: the same in both (bambi's ``log_gdp_partner`` is ``beta_log_gdp_partner``).
  The hand-built model centres covariates; bambi centres them internally too
  (``center_predictors=True``), which moves only the intercept.
- **flow**: bambi codes ``flow`` by treatment with reference ``export``, so its ``flow``
  coefficient (level ``import``) is the import-minus-export contrast. The hand-built model has
  ``flow_effect = (-beta_import / 2, +beta_import / 2)``: the same contrast, ``beta_import``.
- **intercept**: the hand-built ``intercept`` is the log trade at the covariate means, halfway
  between the flows. Bambi reports the intercept at zero covariates and ``flow = export``, so
  the same point is ``Intercept + sum_k mean_k * beta_k + beta_import / 2``. Bambi's intercept
  prior is on the intercept of its centred design, whose flow column is ``1{import} -
  share_import``: ``+-1/2`` when export and import rows are equally many (the shipped data),
  otherwise the prior is shifted by ``beta_import * (share_import - 1/2)``.
- **partner effects**: bambi's ``(1|partner)`` are iid ``Normal(0, sigma_partner)``; the
  hand-built ones sum to zero (``ZeroSumNormal(sigma_partner)``). An iid vector is its
  sum-to-zero part plus a common shift ``mean(u) ~ Normal(0, sigma_partner^2 / P)``, which the
  intercept absorbs; so ``sigma_partner`` means the same in both, and so does each partner's
  intercept ``intercept + partner_effect[p]`` (compared instead of the two separately). The
  one residual difference: bambi's average-partner intercept has prior sd
  ``sqrt(2^2 + sigma_partner^2 / P)`` instead of 2, a negligible change on this scale.
- **residual**: bambi's gaussian ``sigma`` is the log-normal ``sigma``.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from bayes_gravity.config import ModelSpec, PriorSpec
from bayes_gravity.data.dataset import FLOWS, Dataset
from bayes_gravity.data.panel import Panel, build_panel
from bayes_gravity.model.gravity import UNIT, prior_for
from bayes_gravity.model.gravity_model import model_inputs, package_versions

log = logging.getLogger(__name__)

RESPONSE = "log_trade"
# The hand-built model's intercept prior is Normal(mean log trade, 2) (see gravity.add_gravity).
INTERCEPT_SD = 2.0
# Bambi's names for the partner random intercept and its standard deviation.
BAMBI_PARTNER = "1|partner"
BAMBI_PARTNER_SD = "1|partner_sigma"


def baseline_spec(spec: ModelSpec) -> ModelSpec:
    """Return the spec of the hand-built model that equals the bambi baseline.

    The index covariate is removed and the structure reduced to what a formula model holds:
    log-normal likelihood, partner random intercepts (if ``spec`` has them), no partner x flow
    asymmetry, no partner index slopes, no year effects. Priors and data are kept.
    """
    gravity = spec.gravity.model_copy(
        update={
            "covariates": [c for c in spec.gravity.covariates if c.source != "index"],
            "likelihood": "lognormal",
            "partner_flow_effects": False,
            "partner_slopes_index": False,
            "year_effects": False,
        }
    )
    return spec.model_copy(update={"name": f"{spec.name}-baseline", "gravity": gravity})


def bambi_formula(panel: Panel, spec: ModelSpec) -> str:
    """Return the bambi formula of the baseline for ``panel``'s observed covariates."""
    terms = [*panel.observed_covariates, "flow"]
    if spec.gravity.partner_effects:
        terms.append("(1|partner)")
    return f"{RESPONSE} ~ " + " + ".join(terms)


def baseline_frame(panel: Panel, spec: ModelSpec) -> pd.DataFrame:
    """Return the rows the hand-built baseline uses, with ``log_trade`` in log millions of US$."""
    trade = model_inputs(panel, baseline_spec(spec)).trade.copy()
    trade[RESPONSE] = np.log(trade["value_usd"].to_numpy() / UNIT)
    # Categories, not strings: bambi treats them as factors either way, and pandas warns on
    # the string dtype when bambi looks for object columns.
    for key in ("reporter", "partner"):
        trade[key] = trade[key].astype("category")
    # export first: the treatment-coded flow coefficient is then import minus export
    trade["flow"] = pd.Categorical(trade["flow"], categories=list(FLOWS))
    return trade


def _prior(spec: PriorSpec, **nested: Any) -> Any:
    import bambi as bmb

    params = {k: v for k, v in spec.model_dump().items() if k != "dist" and v is not None}
    return bmb.Prior(spec.dist, **params, **nested)


def bambi_priors(panel: Panel, spec: ModelSpec, frame: pd.DataFrame) -> dict[str, Any]:
    """Make bambi priors equal to the hand-built model's (defaults and ``[gravity.priors]``)."""
    import bambi as bmb

    gravity = spec.gravity
    priors = {
        name: _prior(prior_for(f"beta_{name}", gravity)) for name in panel.observed_covariates
    }
    priors["flow"] = _prior(prior_for("beta_import", gravity))
    priors["sigma"] = _prior(prior_for("sigma", gravity))
    # Same centre as add_gravity (which floors values at 1 US$ before the log).
    values = frame["value_usd"].to_numpy()
    centre = float(np.log(np.maximum(values, 1.0) / UNIT).mean())
    priors["Intercept"] = bmb.Prior("Normal", mu=centre, sigma=INTERCEPT_SD)
    if gravity.partner_effects:
        sd = _prior(prior_for("sigma_partner", gravity))
        priors[BAMBI_PARTNER] = bmb.Prior("Normal", mu=0.0, sigma=sd)
    return priors


def build_bambi_baseline(data: Dataset, spec: ModelSpec) -> tuple[Any, pd.DataFrame, Panel]:
    """Build the bambi model of the baseline; also return its data frame and panel."""
    import bambi as bmb

    spec = baseline_spec(spec)
    panel = build_panel(data, spec)
    frame = baseline_frame(panel, spec)
    model = bmb.Model(
        bambi_formula(panel, spec),
        frame,
        family="gaussian",
        priors=bambi_priors(panel, spec, frame),
        noncentered=True,  # bambi's default; the parameterisation does not change the posterior
        center_predictors=True,
    )
    return model, frame, panel


def fit_bambi_baseline(
    data: Dataset,
    spec: ModelSpec,
    *,
    draws: int | None = None,
    tune: int | None = None,
    chains: int | None = None,
    random_seed: int | None = None,
    nuts_sampler: str | None = None,
    progressbar: bool = False,
    **sample_kwargs: Any,
) -> Any:
    """Fit the baseline through bambi and return its DataTree.

    ``spec`` may be the full spec or :func:`baseline_spec` of it (the index covariate is
    dropped either way). Sampler options default to ``spec.sampler``; ``nuts_sampler=None``
    is bambi's default (PyMC's NUTS). Other ``pm.sample`` options (e.g. ``target_accept``)
    pass through unchanged, so with none given this is bambi's default ``fit()``.

    The attributes record the formula, the covariate means (for :func:`bambi_parameters`),
    the baseline spec's hash, the data hash, versions, seed and wall time.
    """
    sampler = spec.sampler
    options: dict[str, Any] = {
        "draws": draws if draws is not None else sampler.draws,
        "tune": tune if tune is not None else sampler.tune,
        "chains": chains if chains is not None else sampler.chains,
        "random_seed": random_seed if random_seed is not None else sampler.random_seed,
    }
    model, frame, panel = build_bambi_baseline(data, spec)
    means = {name: float(frame[name].mean()) for name in panel.observed_covariates}
    start = time.perf_counter()
    tree = model.fit(
        **options,
        inference_method=nuts_sampler or "pymc",
        progressbar=progressbar,
        **sample_kwargs,
    )
    wall = time.perf_counter() - start
    log.info("bambi baseline: %d rows, %.1f s", len(frame), wall)
    tree.attrs.update(
        {
            "bambi_formula": str(model.formula),
            "covariate_means": json.dumps(means),
            "flow_share_import": float((frame["flow"] == "import").mean()),
            "spec_hash": baseline_spec(spec).content_hash(),
            "data_hash": data.content_hash,
            "versions": json.dumps({**package_versions(), "bambi": _version("bambi")}),
            "random_seed": int(options["random_seed"]),
            "sampler": json.dumps(
                {**options, "nuts_sampler": nuts_sampler or "pymc", **sample_kwargs}, default=str
            ),
            "wall_seconds": wall,
        }
    )
    return tree


def _version(name: str) -> str:
    from importlib import metadata

    return metadata.version(name)


def bambi_parameters(tree: Any) -> Any:
    """Map bambi's posterior onto the hand-built model's names and parameterisation.

    Returns an ``xarray.Dataset`` with ``beta_<covariate>``, ``beta_import``, ``sigma`` and,
    with partner effects, ``sigma_partner`` and ``partner_intercept`` (see
    :func:`gravity_parameters`).
    """
    import xarray as xr

    post = tree["posterior"].to_dataset()
    means = json.loads(tree.attrs["covariate_means"])
    beta_import = post["flow"].sel(flow_dim="import", drop=True)
    out = {f"beta_{name}": post[name] for name in means}
    out["beta_import"] = beta_import
    out["sigma"] = post["sigma"]
    # bambi's Intercept is at zero covariates and flow = export; move it to the covariate
    # means, halfway between the flows, as the hand-built intercept.
    at_means = (
        post["Intercept"] + sum(m * post[name] for name, m in means.items()) + 0.5 * beta_import
    )
    if BAMBI_PARTNER_SD in post:
        out["sigma_partner"] = post[BAMBI_PARTNER_SD]
        effect = post[BAMBI_PARTNER].rename(partner__factor_dim="partner")
        out["partner_intercept"] = at_means + effect
    else:
        out["intercept"] = at_means
    return xr.Dataset(out)


def gravity_parameters(tree: Any, covariates: Sequence[str]) -> Any:
    """Select the hand-built posterior's parameters that :func:`bambi_parameters` returns.

    With partner effects the intercept is compared as ``partner_intercept = intercept +
    partner_effect`` (each partner's log trade at the covariate means, halfway between the
    flows): it is the same quantity whether the partner effects are iid (bambi) or sum to zero
    (hand-built), whereas ``intercept`` alone is the population mean in one and the average
    partner in the other.
    """
    import xarray as xr

    post = tree["posterior"].to_dataset()
    out = {f"beta_{c}": post[f"beta_{c}"] for c in covariates}
    out["beta_import"] = post["beta_import"]
    out["sigma"] = post["sigma"]
    if "partner_effect" in post:
        out["sigma_partner"] = post["sigma_partner"]
        out["partner_intercept"] = post["intercept"] + post["partner_effect"]
    else:
        out["intercept"] = post["intercept"]
    return xr.Dataset(out)
