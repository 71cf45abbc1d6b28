"""The SYNTHETIC-data generator: valid files, same seed same bytes, and the model's own process."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bayes_gravity.config import load_spec, parse_spec
from bayes_gravity.data.dataset import known_iso3, load_dataset
from bayes_gravity.data.panel import build_panel
from bayes_gravity.errors import ConfigError
from bayes_gravity.validation.simulate import (
    simulate_dataset,
    simulation_spec,
    to_toml,
    write_simulation_spec,
)

YEARS = range(2001, 2021)


@pytest.fixture(scope="module")
def simulated(tmp_path_factory: pytest.TempPathFactory):
    """A large simulated panel (40 partners x 20 years) and the panel the model sees."""
    folder = tmp_path_factory.mktemp("sim") / "data"
    truth = simulate_dataset(folder, 40, YEARS, (0.2, 0.8), seed=11)
    spec_path = write_simulation_spec(folder.parent / "spec.toml", folder, YEARS)
    spec, _ = load_spec(spec_path)
    return truth, spec, build_panel(load_dataset(folder), spec)


def test_files_load_and_are_marked_synthetic(simulated) -> None:
    truth, spec, panel = simulated
    folder = truth.path
    assert {p.name for p in folder.iterdir()} >= {
        "trade.csv",
        "indicators.csv",
        "pairs.csv",
        "truth.json",
        "SYNTHETIC.txt",
    }
    saved = json.loads((folder / "truth.json").read_text())
    assert saved["synthetic"] is True and "SYNTHETIC" in saved["note"]
    assert len(truth.partners) == 40 and set(truth.partners) <= known_iso3()
    assert "CHN" not in truth.partners and panel.reporters == ["CHN"]
    assert panel.exclusions == [] and len(panel.trade) == 40 * 2 * len(YEARS)
    assert {i.code for i in panel.indicator_specs} == {i.code for i in spec.index.indicators}
    # missingness per country/indicator in the requested range (covariate series complete)
    cells = panel.indicators.groupby(["indicator", "iso3"]).size() / len(YEARS)
    shares = 1.0 - cells.unstack()
    assert shares.loc["IT.NET.USER.ZS"].max() == 0.0  # a gravity covariate: never missing
    others = shares.drop(index="IT.NET.USER.ZS").to_numpy().ravel()
    assert 0.15 <= np.median(others) <= 0.85 and others.max() <= 0.95
    assert 0.2 <= truth.missing_share <= 0.8


def test_same_seed_same_bytes_other_seed_other_data(tmp_path: Path) -> None:
    a = simulate_dataset(tmp_path / "a", 4, range(2010, 2016), 0.3, seed=5, reporter="DEU")
    b = simulate_dataset(tmp_path / "b", 4, range(2010, 2016), 0.3, seed=5, reporter="DEU")
    c = simulate_dataset(tmp_path / "c", 4, range(2010, 2016), 0.3, seed=6, reporter="DEU")
    for name in ("trade.csv", "indicators.csv", "pairs.csv", "truth.json"):
        assert (a.path / name).read_bytes() == (b.path / name).read_bytes()
    assert (a.path / "trade.csv").read_bytes() != (c.path / "trade.csv").read_bytes()
    assert load_dataset(a.path).reporters == ["DEU"]


def test_trade_follows_the_gravity_equation(simulated) -> None:
    """Residuals of the true linear predictor are Student-t noise with the true scale."""
    truth, _, panel = simulated
    p = truth.params
    trade = panel.trade
    index = truth.index.set_index(["iso3", "year"])["value"]
    mu = p["intercept"] + np.where(trade["flow"] == "import", 0.5, -0.5) * (
        p["beta_import"] + trade["partner"].map(truth.partner_flow_gap)
    )
    mu += trade["partner"].map(truth.partner_effect)
    for name in panel.observed_covariates:
        mu += p[f"beta_{name}"] * (trade[name] - trade[name].mean())
    keys = pd.MultiIndex.from_arrays([trade["partner"], trade["year"]])
    mu += p["beta_cbec_index"] * index.reindex(keys).to_numpy()
    resid = np.log(trade["value_usd"] / 1e6) - mu
    t_sd = p["sigma"] * np.sqrt(p["nu"] / (p["nu"] - 2))
    assert abs(resid.mean()) < 4 * t_sd / np.sqrt(len(resid))
    assert resid.std() == pytest.approx(t_sd, rel=0.12)


def test_indicators_follow_the_factor_model(simulated) -> None:
    """Standardised indicators = model-scale intercept + loading * index + noise (truth.json)."""
    truth, _, panel = simulated
    ind = panel.indicators
    index = truth.index.set_index(["iso3", "year"])["value"]
    true = truth.indicators.set_index("indicator")
    x = index.reindex(pd.MultiIndex.from_arrays([ind["iso3"], ind["year"]])).to_numpy()
    resid = (
        ind["value"].to_numpy()
        - ind["indicator"].map(true["intercept"]).to_numpy()
        - ind["indicator"].map(true["loading"]).to_numpy() * x
    )
    by_code = pd.Series(resid).groupby(ind["indicator"].to_numpy())
    # noise means: zero within 4 standard errors
    assert (by_code.mean().abs() < 4 * by_code.std() / np.sqrt(by_code.size())).all()
    ratio = by_code.std() / true["sigma"]
    assert ratio.between(0.85, 1.15).all(), ratio
    # the true index orders countries as the anchor indicator does, up to noise
    anchor = ind[ind["indicator"] == "IT.NET.USER.ZS"]
    keys = pd.MultiIndex.from_arrays([anchor["iso3"], anchor["year"]])
    assert np.corrcoef(anchor["value"], index.reindex(keys))[0, 1] > 0.85


def test_spec_helper_round_trips_and_subsets(tmp_path: Path) -> None:
    raw = simulation_spec(tmp_path, range(2005, 2012), n_indicators=4, sampler={"draws": 50})
    assert tomllib.loads(to_toml(raw)) == raw
    spec = parse_spec(raw)
    assert len(spec.index.indicators) == 4 and spec.index.anchor in {
        i.code for i in spec.index.indicators
    }
    assert (spec.data.first_year, spec.data.last_year) == (2005, 2011)
    assert spec.sampler.draws == 50 and spec.data.path == str(tmp_path.resolve())
    full = simulation_spec(None, range(2005, 2012))
    default, _ = load_spec()
    assert [c.name for c in parse_spec(full).gravity.covariates] == [
        c.name for c in default.gravity.covariates
    ]


def test_bad_arguments_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="missing_share"):
        simulate_dataset(tmp_path / "x", 3, range(2000, 2005), 1.2, seed=1)
    with pytest.raises(ConfigError, match="consecutive"):
        simulate_dataset(tmp_path / "x", 3, [2000, 2002, 2003], 0.2, seed=1)
    with pytest.raises(ConfigError, match="n_partners"):
        simulate_dataset(tmp_path / "x", 0, range(2000, 2005), 0.2, seed=1)
    assert not (tmp_path / "x").exists()
