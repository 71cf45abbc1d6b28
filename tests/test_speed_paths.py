"""The fast paths of issue 5: nutpie through PyTensor's cached numba functions, approximations.

Speed itself is measured by bench/ (never by timed tests); these check correctness.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from bayes_gravity.cli import main
from bayes_gravity.config import load_spec
from bayes_gravity.data.dataset import load_dataset
from bayes_gravity.model import approximate
from bayes_gravity.model.gravity_model import GravityModel
from bayes_gravity.results.diagnostics import format_verdict


def test_cached_nutpie_log_density_equals_pymc() -> None:
    import pymc as pm

    from bayes_gravity.model.nutpie_sampler import compile_model

    with pm.Model() as model:
        mu = pm.Normal("mu", 1.0, 2.0)
        sigma = pm.HalfNormal("sigma", 1.0)
        pm.Normal("y", mu, sigma, observed=np.array([0.3, 1.9, 2.4, -0.5]))
    compiled = compile_model(model)
    x = compiled._make_initial_points(3)
    logp, grad = compiled._make_logp_func()(x)
    point = model.initial_point()
    names = [v.name for v in model.value_vars]
    point.update(dict(zip(names, [x[:1].reshape(()), x[1:].reshape(())], strict=True)))
    expected = model.compile_logp()(point)
    dlogp = model.compile_dlogp()(point)
    assert np.isclose(logp, expected), (logp, expected)
    assert np.allclose(grad, dlogp), (grad, dlogp)


def test_log_density_releases_the_gil_and_has_its_own_cache_key() -> None:
    """Two chains can evaluate the log-density at once; a plain cached build is not reused."""
    import pymc as pm
    from pytensor.link.numba.cache import CACHED_SRC_FUNCTIONS

    from bayes_gravity.model.nutpie_sampler import nogil_numba_mode

    with pm.Model() as model:
        mu = pm.Normal("mu", 0.0, 1.0)
        pm.Normal("y", mu, 1.0, observed=np.array([0.5, 1.5]))
    fn = pm.pytensorf.compile([model.value_vars[0]], model.logp(), mode=nogil_numba_mode())
    jitted = fn.vm.jit_fn
    assert jitted.targetoptions.get("nogil") is True
    assert CACHED_SRC_FUNCTIONS[jitted.py_func].endswith("_nogil")
    assert np.isclose(fn(np.array(0.3)), model.compile_logp()({"mu": np.array(0.3)}))


def test_cached_nutpie_samples_a_known_posterior() -> None:
    import pymc as pm

    from bayes_gravity.model.nutpie_sampler import sample

    y = np.random.default_rng(1).normal(2.0, 1.0, size=50)
    with pm.Model() as model:
        mu = pm.Normal("mu", 0.0, 10.0)
        pm.Normal("y", mu, 1.0, observed=y)
    tree = sample(model, draws=300, tune=300, chains=2, cores=2, random_seed=5)
    draws = tree["posterior"]["mu"]
    assert dict(draws.sizes) == {"chain": 2, "draw": 300}
    # conjugate posterior: mean ~ mean(y), sd ~ 1/sqrt(50)
    assert abs(float(draws.mean()) - y.mean()) < 0.06
    assert abs(float(draws.std()) - 1 / np.sqrt(50)) < 0.04
    assert "observed_data" in tree.children and "sampling_time" in tree["posterior"].attrs
    again = sample(model, draws=300, tune=300, chains=2, cores=2, random_seed=5)
    assert np.array_equal(again["posterior"]["mu"].values, draws.values), "same seed, same draws"


def test_unknown_method_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["fit", "--method", "laplace", "--draws", "10"]) == 2
    assert "--method" in capsys.readouterr().err


def test_advi_fit_is_labelled_approximate(monkeypatch: pytest.MonkeyPatch) -> None:
    from bayes_gravity.results.tables import summarise

    monkeypatch.setattr(approximate, "ADVI_STEPS", 300)  # plumbing, not accuracy
    spec, _ = load_spec()
    model = GravityModel(spec, load_dataset())
    tree = model.fit(method="advi", draws=50, chains=2)
    assert tree.attrs["inference_method"] == "advi" and tree.attrs["approximate"] == 1
    assert tree["posterior"].sizes["draw"] == 100
    result = summarise(model)
    assert result.diagnostics["passed"] is False and result.diagnostics["approximate"] is True
    json.dumps(result.diagnostics)  # diagnostics.json can hold it
    verdict = format_verdict(result.diagnostics)
    assert "NOT APPLICABLE" in verdict and "APPROXIMATE" in verdict
