"""Posterior draws as arrays: which variables are reported, draws flattened, intervals.

The helpers every results module shares; they take an ArviZ DataTree or Dataset and know
nothing of files.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from bayes_gravity.model.gravity_model import GravityModel

# Sampler-internal coordinates: non-centred offsets and the raw index process, whose global
# shift and scale the likelihood does not see (the index is standardised). Not reported.
INTERNAL = ("_z", "_raw", "_excess", "loading_anchor", "loading_other", "ppml_pointwise")
RAW_SCALE = ("sigma_index_step", "index_drift", "index_ar1_rho")
TABLES = ("index.csv", "loadings.csv", "coefficients.csv", "potential.csv")


def reported_vars(posterior: Any) -> list[str]:
    """Posterior variables that outputs are computed from (the diagnostics gate covers these)."""
    names = [str(n) for n in posterior.data_vars]
    return [n for n in names if not n.endswith(INTERNAL) and n not in RAW_SCALE]


def stack_draws(posterior: Any, name: str) -> np.ndarray:
    """Draws of ``name`` with chain and draw flattened into the first axis (chain-major)."""
    da = posterior[name].stack(sample=("chain", "draw")).transpose("sample", ...)
    return np.asarray(da.values, dtype=float)


def interval(values: np.ndarray, ci_prob: float) -> tuple[np.ndarray, np.ndarray]:
    """Equal-tailed ``ci_prob`` interval over the draw axis (axis 0)."""
    tail = (1 - ci_prob) / 2
    return np.quantile(values, tail, axis=0), np.quantile(values, 1 - tail, axis=0)


def index_posterior(model: GravityModel) -> Any:
    """Return the posterior holding the index: the joint one, or the cut's first stage."""
    group = "index_posterior" if "index_posterior" in model.idata.children else "posterior"
    return model.idata[group].to_dataset()
