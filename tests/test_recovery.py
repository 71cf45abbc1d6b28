"""Statistical validation on SYNTHETIC data: recovery, SBC, OLS agreement, PCA agreement.

The fast tests check the machinery (shared observations, the rank test, the CLI's argument
errors); the slow ones (``make test-slow``) fit models and check the statistics.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from bayes_gravity.cli import main
from bayes_gravity.config import parse_spec
from bayes_gravity.data.dataset import load_dataset
from bayes_gravity.model.gravity_model import GravityModel
from bayes_gravity.validation import calibration, recovery
from bayes_gravity.validation.simulate import simulate_dataset, simulation_spec

# ---------------------------------------------------------------------------- fast


def test_shared_observations_swap_the_constant_for_a_shared_variable(tmp_path: Path) -> None:
    """The indicator observations become a named shared variable feeding the same density.

    (The numbers are checked by the SBC itself: had the data not been swapped per draw, the
    ranks would be far from uniform.)
    """
    from pytensor.compile import SharedVariable
    from pytensor.graph.traversal import ancestors
    from pytensor.tensor.variable import TensorConstant

    config = calibration.SBCConfig()
    gm, shared = calibration.structure_model(config, tmp_path / "structure")
    observed = gm.inputs.panel.indicators["value"].to_numpy()

    def inputs(model):
        return list(ancestors([model.logp()]))

    names = [v.name for v in inputs(shared) if isinstance(v, SharedVariable)]
    assert calibration.INDICATOR_DATA in names and "log_trade_observed" in names
    data = next(v for v in inputs(shared) if v.name == calibration.INDICATOR_DATA)
    np.testing.assert_array_equal(data.get_value(), observed)
    constants = [v for v in inputs(shared) if isinstance(v, TensorConstant)]
    assert not any(np.array_equal(c.data, observed) for c in constants)
    assert any(
        isinstance(v, TensorConstant) and np.array_equal(v.data, observed) for v in inputs(gm.model)
    )
    assert sorted(shared.free_RVs, key=str) and {v.name for v in shared.free_RVs} == {
        v.name for v in gm.model.free_RVs
    }


def test_uniformity_test_accepts_uniform_and_rejects_skewed_ranks() -> None:
    rng = np.random.default_rng(1)
    uniform = pd.DataFrame({"sim": range(200), "a": rng.integers(0, 100, 200)})
    skewed = pd.DataFrame({"sim": range(200), "a": rng.integers(0, 40, 200)})
    assert calibration.uniformity(uniform, 99)["p_value"].iloc[0] > 0.01
    table = calibration.uniformity(skewed, 99)
    assert table["p_value"].iloc[0] < 1e-6 and sum(table["counts"].iloc[0]) == 200


def test_coverage_table_counts_and_pools() -> None:
    checks = pd.DataFrame(
        {
            "rep": [0, 1, 0, 1],
            "parameter": ["sigma", "sigma", "loading[a]", "loading[b]"],
            "kind": ["scalar", "scalar", "loading", "loading"],
            "truth": [1.0, 1.0, 0.5, 0.5],
            "mean": [1.1, 0.7, 0.5, 0.6],
            "lo": [0.9, 0.5, 0.4, 0.55],
            "hi": [1.2, 0.8, 0.6, 0.7],
            "covered": [True, False, True, False],
        }
    )
    table = recovery.coverage_table(checks, 0.9).set_index("parameter")
    assert table.loc["sigma", ["n", "covered"]].tolist() == [2, 1]
    assert table.loc["loading (pooled)", "coverage"] == 0.5


def test_calibrate_rejects_bad_arguments(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["calibrate", "--sims", "-1"]) == 2
    assert "--sims" in capsys.readouterr().err


# ---------------------------------------------------------------------------- slow


def _fit(spec_raw: dict, folder: Path, **overrides: object) -> tuple[GravityModel, object]:
    model = GravityModel(parse_spec(spec_raw), load_dataset(folder))
    return model, model.fit(**overrides)


@pytest.mark.slow
def test_recovery_through_the_files(tmp_path: Path) -> None:
    """One simulated dataset through files, load_dataset and GravityModel.fit."""
    result = recovery.recover_one(recovery.RecoveryConfig(), rep=0, seed=5)
    checks = pd.DataFrame(result["rows"])
    # ~100 checks: 90 % intervals; 0.75 is far in the binomial tail if the fit were off
    assert checks["covered"].mean() >= 0.75, checks[~checks["covered"]]
    assert np.mean(list(result["rank_corr"].values())) >= 0.8


@pytest.mark.slow
def test_recovery_coverage_at_the_nominal_rate() -> None:
    """40 replicates with known values: every scalar's coverage consistent with 90 %."""
    result = recovery.run_fixed_recovery(40)
    table = recovery.coverage_table(result.checks, 0.9)
    assert (table["binom_p"] > 0.001).all(), table
    assert result.rank_corr["spearman"].mean() >= 0.8


@pytest.mark.slow
def test_sbc_ranks_are_uniform() -> None:
    """100 prior draws; chi-square on 10 bins, Bonferroni over the checked quantities."""
    result = calibration.run_sbc(100)
    assert (result.tests["p_value"] > 0.001).all(), result.tests


@pytest.mark.slow
def test_flat_prior_gravity_matches_ols(tmp_path: Path) -> None:
    """No random effects, near-flat priors, log-normal: posterior means = OLS estimates."""
    from bayes_gravity.classic.study import fit_ols, regression_table

    years = range(2004, 2019)
    folder = tmp_path / "data"
    simulate_dataset(folder, 8, years, 0.0, seed=3)
    covariates = [
        c for c in simulation_spec(None, years)["gravity"]["covariates"] if c["source"] != "index"
    ]
    flat = {"dist": "Normal", "mu": 0.0, "sigma": 100.0}
    priors = {f"beta_{c['name']}": flat for c in covariates} | {"beta_import": flat}
    raw = simulation_spec(
        folder,
        years,
        gravity={
            "covariates": covariates,
            "likelihood": "lognormal",
            "partner_effects": False,
            "partner_flow_effects": False,
            "priors": priors,
        },
    )
    model, idata = _fit(raw, folder, draws=1000, tune=1000, chains=2, random_seed=1)
    assert model.inputs is not None
    table, terms = regression_table(model.inputs.panel, None)
    ols = fit_ols(table, terms)[0].set_index("term")
    post = idata["posterior"]
    for term in terms:
        name = "beta_import" if term == "flow_import" else f"beta_{term}"
        draws = post[name].values.ravel()
        assert abs(draws.mean() - ols.loc[term, "estimate"]) < 0.1 * draws.std(), term


@pytest.mark.slow
def test_latent_index_agrees_with_pca_on_complete_data(tmp_path: Path) -> None:
    """Complete indicators: PCA scores and the latent index rank countries alike each year."""
    import pymc as pm

    from bayes_gravity.classic.pca_index import pca_index

    years = range(2006, 2018)
    folder = tmp_path / "data"
    truth = simulate_dataset(folder, 7, years, 0.0, seed=4)
    model = GravityModel(parse_spec(simulation_spec(folder, years)), load_dataset(folder))
    model.build()
    assert model.inputs is not None
    panel = model.inputs.panel
    with model.build_index_model():
        idata = pm.sample(
            draws=500, tune=500, chains=2, random_seed=2, nuts_sampler="nutpie", progressbar=False
        )
    latent = idata["posterior"]["cbec_index"].mean(("chain", "draw")).to_series()
    pca = pca_index(panel.indicators, panel.countries, panel.years, panel.partners)
    scores = pca.scores.set_index(["iso3", "year"])["score"]
    true = truth.index.set_index(["iso3", "year"])["value"]
    with_pca, with_truth = [], []
    for year in years:
        fitted = latent.xs(year, level="year")
        by_pca = scores.xs(year, level="year").reindex(fitted.index)
        by_truth = true.xs(year, level="year").reindex(fitted.index)
        with_pca.append(stats.spearmanr(fitted, by_pca).statistic)
        with_truth.append(stats.spearmanr(fitted, by_truth).statistic)
    # 8 countries per year: one swapped pair costs ~0.05; measured min 0.81, mean 0.97
    assert min(with_pca) >= 0.7 and np.mean(with_pca) >= 0.9, with_pca
    assert min(with_truth) >= 0.7 and np.mean(with_truth) >= 0.9, with_truth
