"""PSIS-LOO model comparison: does the CBEC index improve the gravity model's predictions.

Three models, each scored on the **same** trade observations by the pointwise log density of
log trade (US$ millions), so their expected log predictive densities (ELPD) are comparable:

- ``joint``: the fitted run (latent CBEC index inside the gravity model). Its
  ``log_likelihood`` group holds the trade likelihood only; the index indicators are not
  scored, so the comparison is about trade alone.
- ``gravity_no_index``: the run's spec with the index covariate removed (same likelihood,
  random effects and priors), fitted with the hand-built model.
- ``bambi_baseline``: the bambi formula model of :mod:`bayes_gravity.model.baseline` (log-normal,
  partner random intercepts, no partner x flow gap).

The two extra fits run at ``fit`` time (``fit --no-compare`` skips them); the comparison table
(``comparison.csv``) and the pointwise ELPD and Pareto k of every model
(``comparison_pointwise.csv``) are saved in the run folder, so the report re-renders without
refitting. ``run_stamp`` ties both files to the posterior they were computed with: a later
fit into the same folder makes them stale, and the report ignores stale files.
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bayes_gravity.io import write_csv
from bayes_gravity.model.baseline import build_bambi_baseline
from bayes_gravity.model.gravity import LOG_LIKELIHOODS
from bayes_gravity.model.gravity_model import GravityModel
from bayes_gravity.results.artefacts import COMPARISON as COMPARISON_FILE
from bayes_gravity.results.artefacts import COMPARISON_POINTWISE as POINTWISE_FILE

log = logging.getLogger(__name__)

KEYS = ["partner", "flow", "year"]
# Gravity-only models mix fast; 2 chains x 1000 draws give a stable ELPD at a few seconds each.
COMPARE_DRAWS = 1000
COMPARE_TUNE = 1000
COMPARE_CHAINS = 2
DESCRIPTIONS = {
    "joint": "the fitted model: latent CBEC index inside the hierarchical gravity model",
    "gravity_no_index": "the same gravity model without the CBEC index covariate",
    "bambi_baseline": "bambi formula model: log-normal, observed covariates, partner intercepts",
}


def run_stamp(idata: Any) -> str:
    """Identify one fitted posterior (spec, data, sampler options and wall time)."""
    attrs = idata.attrs
    text = "|".join(
        str(attrs.get(k, "")) for k in ("spec_hash", "data_hash", "sampler", "wall_seconds")
    )
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class ModelScore:
    """One model's fit (posterior and pointwise log likelihood) and its fitting time."""

    name: str
    tree: Any  # DataTree with posterior and log_likelihood groups
    rows: pd.DataFrame  # partner, flow, year of each observation
    seconds: float
    draws: int
    chains: int


def _shape(tree: Any) -> tuple[int, int]:
    """(draws per chain, chains) of a fit."""
    posterior = tree["posterior"]
    return int(posterior.sizes["draw"]), int(posterior.sizes["chain"])


def _score(name: str, fitted: GravityModel) -> ModelScore:
    """Score a fitted :class:`GravityModel` by its trade log-likelihood, with its rows."""
    assert fitted.inputs is not None
    return ModelScore(
        name,
        fitted.idata,
        fitted.inputs.trade[KEYS].reset_index(drop=True),
        float(fitted.wall_seconds or 0.0),
        *_shape(fitted.idata),
    )


def _fit_no_index(model: GravityModel, draws: int, tune: int, chains: int) -> ModelScore:
    spec = model.spec
    gravity = spec.gravity.model_copy(
        update={
            "covariates": [c for c in spec.gravity.covariates if c.source != "index"],
            "partner_slopes_index": False,
        }
    )
    no_index = spec.model_copy(update={"name": f"{spec.name}-no-index", "gravity": gravity})
    other = GravityModel(no_index, model.data)
    other.fit(draws=draws, tune=tune, chains=chains, store_prior=False)  # scored, not reported
    return _score("gravity_no_index", other)


def _fit_bambi(model: GravityModel, draws: int, tune: int, chains: int) -> ModelScore:
    bambi_model, frame, _ = build_bambi_baseline(model.data, model.spec)
    start = time.perf_counter()
    tree = bambi_model.fit(
        draws=draws,
        tune=tune,
        chains=chains,
        random_seed=model.spec.sampler.random_seed,
        progressbar=False,
    )
    bambi_model.compute_log_likelihood(tree)
    seconds = time.perf_counter() - start
    rows = frame[KEYS].astype({"partner": str, "flow": str}).reset_index(drop=True)
    return ModelScore("bambi_baseline", tree, rows, seconds, *_shape(tree))


def _same_rows(scores: list[ModelScore]) -> list[str]:
    """Names of models whose observations differ from the joint model's (order included)."""
    reference = scores[0].rows.astype(str)
    return [s.name for s in scores[1:] if not s.rows.astype(str).equals(reference)]


def compare_models(
    model: GravityModel,
    draws: int = COMPARE_DRAWS,
    tune: int = COMPARE_TUNE,
    chains: int = COMPARE_CHAINS,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Fit the two comparison models and compare all three by PSIS-LOO.

    Returns ``(table, pointwise)``: one row per model (ELPD, its standard error, effective
    number of parameters, difference to the best model and its standard error, stacking
    weight, Pareto k summary, fitting time) and one row per model and observation (pointwise
    ELPD and Pareto k). Raises ``ValueError`` when the likelihood is not on log trade (the
    densities would not be comparable) or the models' observations differ.
    """
    import arviz_stats as azs

    likelihood = model.spec.gravity.likelihood
    if likelihood not in LOG_LIKELIHOODS:
        raise ValueError(
            f"likelihood {likelihood!r} is not on log trade: its density is not comparable "
            "with the log-normal baseline's"
        )
    scores = [
        _score("joint", model),
        _fit_no_index(model, draws, tune, chains),
        _fit_bambi(model, draws, tune, chains),
    ]
    differ = _same_rows(scores)
    if differ:
        raise ValueError(f"model(s) {differ} were fitted on other observations than the run")
    loos = {s.name: azs.loo(s.tree, pointwise=True) for s in scores}
    compared = azs.compare(loos, round_to="none").reset_index(names="model")
    stamp = run_stamp(model.idata)
    k_max = model.spec.diagnostics.pareto_k_max
    by_name = {s.name: s for s in scores}
    rows = []
    pointwise = []
    for record in compared.to_dict("records"):
        name = str(record["model"])
        loo = loos[name]
        k = np.asarray(loo.pareto_k, dtype=float)
        score = by_name[name]
        rows.append(
            {
                "model": name,
                "rank": int(record["rank"]),
                "elpd_loo": float(record["elpd"]),
                "se": float(record["se"]),
                "p_loo": float(record["p"]),
                "elpd_diff": float(record["elpd_diff"]),
                "dse": float(record["dse"]),
                "weight": float(record["weight"]),
                "n_obs": int(k.size),
                "pareto_k_max": float(np.nanmax(k)),
                "n_k_above": int((k >= k_max).sum()),
                "draws": score.draws,
                "chains": score.chains,
                "wall_seconds": score.seconds,
                "description": DESCRIPTIONS[name],
                "run_stamp": stamp,
            }
        )
        part = score.rows.copy()
        part.insert(0, "model", name)
        part["elpd_loo_i"] = np.asarray(loo.elpd_i, dtype=float)
        part["pareto_k"] = k
        part["run_stamp"] = stamp
        pointwise.append(part)
    return pd.DataFrame(rows), pd.concat(pointwise, ignore_index=True)


def write_comparison(table: pd.DataFrame, pointwise: pd.DataFrame, run_dir: Path) -> list[Path]:
    """Write ``comparison_pointwise.csv`` then ``comparison.csv`` (each atomically)."""
    write_csv(run_dir / POINTWISE_FILE, pointwise)
    write_csv(run_dir / COMPARISON_FILE, table)
    return [run_dir / POINTWISE_FILE, run_dir / COMPARISON_FILE]


def read_comparison(run_dir: Path, idata: Any) -> tuple[pd.DataFrame, pd.DataFrame] | None:
    """Read the saved comparison if it belongs to ``idata``'s fit; else None (absent or stale)."""
    table_path, point_path = run_dir / COMPARISON_FILE, run_dir / POINTWISE_FILE
    if not (table_path.is_file() and point_path.is_file()):
        return None
    table = pd.read_csv(table_path, dtype={"run_stamp": str})
    pointwise = pd.read_csv(point_path, dtype={"run_stamp": str})
    stamp = run_stamp(idata)
    if set(table["run_stamp"]) != {stamp} or set(pointwise["run_stamp"]) != {stamp}:
        log.warning("%s belongs to an earlier fit; ignored", table_path)
        return None
    return table, pointwise


__all__ = ["compare_models", "read_comparison", "run_stamp", "write_comparison"]
