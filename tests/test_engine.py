"""The cached JAX engine (``nuts_sampler = "blackjax"``): correct draws, and caching that
never changes them.

Small PyMC models keep each compile to a few seconds; the real model is covered by the
session's small fit (``test_reproducibility.py``: a cold and a warm run give the same bytes).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from bayes_gravity.model.engine import cache
from bayes_gravity.model.engine import sampler as engine

Y = np.random.default_rng(1).normal(2.0, 1.0, size=50)
OPTIONS = {"draws": 300, "tune": 200, "chains": 2, "cores": 2, "random_seed": 5}


def normal_mean_model(y: np.ndarray = Y):
    import pymc as pm

    with pm.Model() as model:
        x = pm.Data("x", np.zeros_like(y))
        mu = pm.Normal("mu", 0.0, 10.0)
        pm.Normal("y", mu + x, 1.0, observed=y)
    return model


@pytest.fixture
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv(cache.ENV_VAR, str(folder))
    return folder


def run(key: str = "normal-mean", build=normal_mean_model, **extra):
    return engine.sample(build, {"test": key}, **OPTIONS, log_likelihood=("y",), **extra)


def test_samples_a_known_posterior(cache_dir: Path) -> None:
    tree = run()
    draws = tree["posterior"]["mu"]
    assert dict(draws.sizes) == {"chain": 2, "draw": 300}
    # conjugate posterior: mean ~ mean(y), sd ~ 1/sqrt(50)
    assert abs(float(draws.mean()) - Y.mean()) < 0.06
    assert abs(float(draws.std()) - 1 / np.sqrt(50)) < 0.04
    stats = tree["sample_stats"]
    assert {"diverging", "energy", "lp", "n_steps", "tree_depth", "step_size"} <= set(stats)
    assert int(stats["diverging"].sum()) == 0
    loglik = tree["log_likelihood"]["y"]
    assert loglik.shape == (2, 300, 50)
    # the pointwise log-likelihood is the normal density of each observation at the draw
    mu = float(draws.values[0, 0])
    expected = -0.5 * np.log(2 * np.pi) - 0.5 * (Y - mu) ** 2
    assert np.allclose(loglik.values[0, 0], expected)
    assert "observed_data" in tree.children and "constant_data" in tree.children


def test_a_warm_run_loads_the_program_and_draws_the_same(cache_dir: Path) -> None:
    built = run()
    assert built["posterior"].attrs["engine_program"] == "built"
    assert list((cache_dir / "programs").iterdir()), "no program was stored"

    def must_not_build():
        raise AssertionError("the model was built although its program is cached")

    loaded = run(build=must_not_build)
    assert loaded["posterior"].attrs["engine_program"] == "loaded"
    assert np.array_equal(loaded["posterior"]["mu"].values, built["posterior"]["mu"].values)
    other_seed = engine.sample(
        must_not_build,
        {"test": "normal-mean"},
        **{**OPTIONS, "random_seed": 6},
        log_likelihood=("y",),
    )
    assert not np.array_equal(
        other_seed["posterior"]["mu"].values, built["posterior"]["mu"].values
    ), "another seed must give other draws (from the same cached program)"


def test_chains_do_not_depend_on_how_many_run_at_once(cache_dir: Path) -> None:
    parallel = run()
    serial = engine.sample(
        normal_mean_model,
        {"test": "normal-mean"},
        **{**OPTIONS, "cores": 1},
        log_likelihood=("y",),
    )
    assert np.array_equal(parallel["posterior"]["mu"].values, serial["posterior"]["mu"].values)


def test_program_inputs_take_new_values_without_a_rebuild(cache_dir: Path) -> None:
    base = run(data={"x": np.zeros_like(Y)})
    shifted = run(build=lambda: pytest.fail("rebuilt"), data={"x": np.full_like(Y, 1.5)})
    assert shifted["posterior"].attrs["engine_program"] == "loaded"
    # y ~ N(mu + 1.5, 1): the posterior of mu moves down by 1.5
    gap = float(base["posterior"]["mu"].mean() - shifted["posterior"]["mu"].mean())
    assert abs(gap - 1.5) < 0.08, gap


def test_a_damaged_entry_is_rebuilt(cache_dir: Path, caplog: pytest.LogCaptureFixture) -> None:
    first = run()
    (entry,) = (cache_dir / "programs").iterdir()
    (entry / engine.PROGRAM_FILE).write_bytes(b"not a program")
    with caplog.at_level(logging.WARNING):
        again = run()
    assert "unusable" in caplog.text and "rebuilding" in caplog.text
    assert again["posterior"].attrs["engine_program"] == "built"
    assert np.array_equal(again["posterior"]["mu"].values, first["posterior"]["mu"].values)


def test_the_key_follows_the_model_and_the_settings(cache_dir: Path) -> None:
    run()
    run(key="another model")
    engine.sample(
        normal_mean_model,
        {"test": "normal-mean"},
        **{**OPTIONS, "draws": 100},
        log_likelihood=("y",),
    )
    assert len(list((cache_dir / "programs").iterdir())) == 3


def test_unknown_nuts_options_are_a_spec_error(cache_dir: Path) -> None:
    from bayes_gravity.errors import ConfigError

    with pytest.raises(ConfigError, match="metric"):
        run(nuts={"metric": "dense"})
    with pytest.raises(ConfigError, match="step_scale"):
        run(nuts={"step_scale": 0.5})


def test_vectorised_chains_sample_the_same_posterior(cache_dir: Path) -> None:
    """``chain_method = "vectorized"`` (the GPU layout) runs all chains in one call."""
    tree = run(nuts={"chain_method": "vectorized"})
    draws = tree["posterior"]["mu"]
    assert dict(draws.sizes) == {"chain": 2, "draw": 300}
    assert abs(float(draws.mean()) - Y.mean()) < 0.06
    assert not np.array_equal(draws.values[0], draws.values[1]), "chains must differ"


def trap_model():
    """A normal with a narrow minor mode of negligible mass, where every start is placed."""
    import pymc as pm

    with pm.Model() as model:
        components = [pm.Normal.dist(0.0, 0.3), pm.Normal.dist(3.0, 0.02)]
        pm.Mixture("x", w=np.array([1 - 1e-9, 1e-9]), comp_dists=components, initval=3.0)
    return model


def test_pathfinder_starts_no_chain_in_a_minor_mode(cache_dir: Path) -> None:
    options = {**OPTIONS, "chains": 4}

    def chain_means(init: str) -> np.ndarray:
        tree = engine.sample(trap_model, {"test": f"trap-{init}"}, **options, nuts={"init": init})
        return tree["posterior"]["x"].mean("draw").values

    # jittered around the trap, some chain stays in it: the failure Pathfinder prevents
    assert (np.abs(chain_means("jitter") - 3.0) < 0.1).any()
    pathfinder = engine.sample(
        trap_model, {"test": "trap-pathfinder"}, **options, nuts={"init": "pathfinder"}
    )
    assert np.all(np.abs(pathfinder["posterior"]["x"].mean("draw").values) < 0.3)
    assert pathfinder["posterior"].attrs["init"] == "pathfinder"
    assert np.isfinite(pathfinder["posterior"].attrs["init_pareto_k"])


def test_an_unknown_init_is_refused(cache_dir: Path) -> None:
    from bayes_gravity.errors import ConfigError

    with pytest.raises(ConfigError, match=r"sampler\.nuts\.init"):
        run(nuts={"init": "adapt_diag"})
