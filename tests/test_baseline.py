"""The bambi baseline equals the hand-built gravity model without the latent index.

Unit tests (no sampling) check that both models are built from the same rows, formula and
priors; one pair of real fits on the shipped data checks that the two posteriors agree within
Monte Carlo error, and a bambi fit with one prior changed checks that the comparison notices.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from bayes_gravity.config import ModelSpec, PriorSpec, load_spec
from bayes_gravity.data.dataset import load_dataset
from bayes_gravity.data.panel import build_panel
from bayes_gravity.model.baseline import (
    BAMBI_PARTNER,
    INTERCEPT_SD,
    RESPONSE,
    bambi_formula,
    bambi_parameters,
    baseline_spec,
    build_bambi_baseline,
    fit_bambi_baseline,
    gravity_parameters,
)
from bayes_gravity.model.gravity import prior_for
from bayes_gravity.model.gravity_model import GravityModel, model_inputs

COVARIATES = [
    "log_gdp_partner",
    "log_gdp_reporter",
    "internet_partner",
    "openness_partner",
    "log_dist",
    "contig",
]
# Small real fits: 2 chains x 1000 draws after 500 tuning steps, fixed seeds (one per model,
# so the two chains of draws are independent), the spec's target_accept for both.
FIT = {"draws": 1000, "tune": 500, "chains": 2}
SEED_BAMBI, SEED_HAND = 11, 12
# Bound on |difference of posterior means| (and sds), per scalar:
#     Z * sqrt(mcse_bambi^2 + mcse_hand^2) + REL_TOL * posterior sd.
# Two independent MCMC estimates of the same expectation differ by ~ N(0, mcse_a^2 + mcse_b^2)
# (MCMC CLT); Z = 4 makes a false alarm ~6e-5 per scalar (~1e-3 over the 14 scalars x 2
# statistics compared). REL_TOL covers what the sampling error does not: the MCSE itself is
# estimated from ~500-1000 effective draws (~±5-10 %), and the two models differ in one
# negligible way - the hand-built partner effects sum to zero, bambi's are iid, so bambi's
# average-partner intercept has prior N(c, 2^2 + sigma_partner^2 / 5) instead of N(c, 2^2),
# which moves nothing by more than ~1 % of a posterior sd.
Z = 4.0
REL_TOL = 0.05
# Power: the bound must stay below this many posterior sds, so that a wrong prior, coding or
# sign (which moves a posterior by a sizeable fraction of its sd) cannot pass.
MAX_BOUND_SD = 0.5


@pytest.fixture(scope="module")
def shipped() -> tuple[Any, ModelSpec]:
    spec, _ = load_spec()
    return load_dataset(), spec


# ---------------------------------------------------------------------------- unit tests


def test_baseline_spec_drops_the_index_and_the_extra_structure(shipped) -> None:
    _, spec = shipped
    base = baseline_spec(spec)
    assert [c.name for c in base.gravity.covariates] == COVARIATES
    assert base.gravity.likelihood == "lognormal"
    assert base.gravity.partner_effects is spec.gravity.partner_effects
    assert not base.gravity.partner_flow_effects
    assert not base.gravity.partner_slopes_index
    assert not base.gravity.year_effects
    assert base.gravity.priors == spec.gravity.priors
    assert base.index == spec.index and base.data == spec.data and base.sampler == spec.sampler
    assert baseline_spec(base).gravity == base.gravity, "baseline_spec is not idempotent"
    assert any(c.source == "index" for c in spec.gravity.covariates), "input spec was changed"


def test_hand_built_baseline_builds_without_an_index(shipped) -> None:
    data, spec = shipped
    gm = GravityModel(baseline_spec(spec), data)
    model = gm.build()
    assert gm.inputs is not None and gm.inputs.panel.index_covariate is None
    free = {rv.name for rv in model.free_RVs}
    # five partners: non-centred partner levels around the population intercept
    expected = {
        "intercept_population",
        "beta_import",
        *(f"beta_{c}" for c in COVARIATES),
        "sigma_partner",
        "partner_level_z",
        "sigma",
    }
    assert free == expected, f"free variables {sorted(free)}, expected {sorted(expected)}"
    # the reported intercept and partner effects keep the sum-to-zero meaning
    assert {"intercept", "partner_effect"} <= set(model.named_vars)


def test_formula_names_each_observed_covariate(shipped) -> None:
    data, spec = shipped
    panel = build_panel(data, baseline_spec(spec))
    assert bambi_formula(panel, spec) == (
        f"{RESPONSE} ~ " + " + ".join(COVARIATES) + " + flow + (1|partner)"
    )
    no_partner = spec.model_copy(
        update={"gravity": spec.gravity.model_copy(update={"partner_effects": False})}
    )
    assert bambi_formula(panel, no_partner).endswith("+ contig + flow")


def test_bambi_rows_are_the_hand_built_rows(shipped) -> None:
    data, spec = shipped
    base = baseline_spec(spec)
    _, frame, _ = build_bambi_baseline(data, spec)
    rows = model_inputs(build_panel(data, base), base).trade
    keys = ["reporter", "partner", "flow", "year"]
    pd.testing.assert_frame_equal(
        frame[keys].astype(str).reset_index(drop=True),
        rows[keys].astype(str).reset_index(drop=True),
    )
    expected = np.log(rows["value_usd"].to_numpy() / 1e6)
    np.testing.assert_allclose(frame[RESPONSE].to_numpy(), expected, rtol=0, atol=1e-12)
    assert len(frame) == 200, f"{len(frame)} rows, the shipped panel has 200 usable"
    assert list(frame["flow"].cat.categories) == ["export", "import"]


def _args(prior: Any) -> dict[str, float]:
    return {k: float(v) for k, v in prior.args.items()}


def _expected(prior: PriorSpec) -> tuple[str, dict[str, float]]:
    params = {k: v for k, v in prior.model_dump().items() if k != "dist" and v is not None}
    return prior.dist, params


@pytest.mark.parametrize("override", [False, True], ids=["defaults", "override"])
def test_bambi_priors_are_the_hand_built_priors(shipped, override: bool) -> None:
    data, spec = shipped
    if override:  # a [gravity.priors] entry must reach bambi too
        priors = {
            "beta_log_dist": PriorSpec(dist="Normal", mu=-0.3, sigma=0.2),
            "sigma": PriorSpec(dist="Exponential", lam=2.0),
        }
        spec = spec.model_copy(
            update={"gravity": spec.gravity.model_copy(update={"priors": priors})}
        )
    model, frame, _ = build_bambi_baseline(data, spec)
    mu = model.parameters["mu"]
    for name in COVARIATES:
        prior = mu.common_terms[name].prior
        got = (prior.name, _args(prior))
        assert got == _expected(prior_for(f"beta_{name}", spec.gravity)), name
    flow = mu.common_terms["flow"].prior
    assert (flow.name, _args(flow)) == _expected(prior_for("beta_import", spec.gravity))
    sigma = model.marginal_parameters["sigma"].prior
    assert (sigma.name, _args(sigma)) == _expected(prior_for("sigma", spec.gravity))
    partner_sd = mu.group_specific_terms[BAMBI_PARTNER].prior.args["sigma"]
    assert (partner_sd.name, _args(partner_sd)) == _expected(
        prior_for("sigma_partner", spec.gravity)
    )
    intercept = mu.intercept_term.prior
    centre = float(np.log(frame["value_usd"] / 1e6).mean())
    assert intercept.name == "Normal"
    assert _args(intercept) == pytest.approx({"mu": centre, "sigma": INTERCEPT_SD})
    if override:
        assert _args(mu.common_terms["log_dist"].prior) == {"mu": -0.3, "sigma": 0.2}


# ---------------------------------------------------------------------------- real fits


def _agreement(a: Any, b: Any) -> pd.DataFrame:
    """Per scalar and statistic (mean, sd): both estimates, their difference and the bound."""
    import arviz as az

    rows = []
    for stat, reduce in (("mean", "mean"), ("sd", "std")):
        mcse_a, mcse_b = az.mcse(a, method=stat), az.mcse(b, method=stat)
        for name in a.data_vars:
            est_a = getattr(a[name], reduce)(("chain", "draw"))
            est_b = getattr(b[name], reduce)(("chain", "draw"))
            sd = np.sqrt(0.5 * (a[name].var(("chain", "draw")) + b[name].var(("chain", "draw"))))
            bound = Z * np.hypot(mcse_a[name], mcse_b[name]) + REL_TOL * sd
            for idx in np.ndindex(est_a.shape):
                label = name + "".join(
                    f"[{est_a[d].values[i]}]" for d, i in zip(est_a.dims, idx, strict=True)
                )
                rows.append(
                    {
                        "stat": stat,
                        "quantity": label,
                        "bambi": float(est_a.values[idx]),
                        "hand_built": float(est_b.values[idx]),
                        "diff": float(abs(est_a.values[idx] - est_b.values[idx])),
                        "bound": float(bound.values[idx]),
                        "sd": float(sd.values[idx]),
                    }
                )
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def fits(shipped) -> dict[str, Any]:
    data, spec = shipped
    accept = spec.sampler.target_accept
    bambi_tree = fit_bambi_baseline(data, spec, **FIT, random_seed=SEED_BAMBI, target_accept=accept)
    # The hand-built model through its own front door and the spec's sampler (the cached JAX
    # engine): bambi samples with PyMC's NUTS, so agreement also checks one sampler
    # against another.
    hand = GravityModel(baseline_spec(spec), data)
    hand_tree = hand.fit(**FIT, random_seed=SEED_HAND, store_prior=False)
    return {
        "bambi": bambi_parameters(bambi_tree),
        "hand": gravity_parameters(hand_tree, COVARIATES),
        "bambi_tree": bambi_tree,
        "hand_tree": hand_tree,
    }


def test_bambi_and_hand_built_posteriors_agree(fits) -> None:
    a, b = fits["bambi"], fits["hand"]
    names = {*(f"beta_{c}" for c in COVARIATES), "beta_import", "sigma", "sigma_partner"}
    assert names | {"partner_intercept"} == set(a.data_vars) == set(b.data_vars)
    table = _agreement(a, b)
    assert len(table) == 2 * (len(names) + 5), "expected 14 scalars x (mean, sd)"
    weak = table[table["bound"] > MAX_BOUND_SD * table["sd"]]
    assert weak.empty, f"bound too loose to detect a mismatch:\n{weak.to_string()}"
    off = table[table["diff"] >= table["bound"]]
    assert off.empty, f"posteriors differ beyond Monte Carlo error:\n{off.to_string()}"


def test_both_fits_converged(fits) -> None:
    import arviz as az

    for key in ("bambi", "hand"):
        rhat = float(az.rhat(fits[key]).to_array().max())
        ess = float(az.ess(fits[key], method="bulk").to_array().min())
        assert rhat < 1.02, f"{key}: max R-hat {rhat:.3f} >= 1.02"
        assert ess > 150, f"{key}: min bulk ESS {ess:.0f} <= 150 of 2000 draws"


def test_agreement_detects_a_different_prior(shipped, fits) -> None:
    # log distance is constant per partner, so with partner effects its slope rests mostly on
    # its prior: bambi fitted with a different prior on it must be flagged, the rest not.
    data, spec = shipped
    wrong = {"beta_log_dist": PriorSpec(dist="Normal", mu=0.0, sigma=1.0)}
    other = spec.model_copy(update={"gravity": spec.gravity.model_copy(update={"priors": wrong})})
    tree = fit_bambi_baseline(
        data, other, **FIT, random_seed=SEED_BAMBI, target_accept=spec.sampler.target_accept
    )
    table = _agreement(bambi_parameters(tree), fits["hand"])
    row = table[(table["stat"] == "mean") & (table["quantity"] == "beta_log_dist")].iloc[0]
    assert row["diff"] > row["bound"], f"a different prior on beta_log_dist went unnoticed: {row}"
