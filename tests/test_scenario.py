"""Scenarios and the predictor behind them, on the session's small real fit (``small_run``).

The predictor must reproduce the fitted model's own benchmark on the fitted rows; a scenario
that changes nothing must give zero change; a positive covariate change must move trade in
the direction of the coefficient's sign in every draw; bad scenarios and bad run folders fail
with exit code 2, a clear message and nothing written.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bayes_gravity.cli import main
from bayes_gravity.config import MODELS_DIR
from bayes_gravity.errors import ConfigError
from bayes_gravity.model.gravity import UNIT
from bayes_gravity.results.predict import Predictor, covariate_rows
from bayes_gravity.results.scenario import (
    load_scenario,
    parse_scenario,
    run_scenario,
    scenario_inputs,
    write_scenario,
)
from bayes_gravity.results.store import load_run

SHIPPED = sorted((MODELS_DIR / "scenarios").glob("*.toml"))
COLUMNS = [
    "partner",
    "flow",
    "year",
    "trade_mean",
    "trade_lo",
    "trade_hi",
    "delta_mean",
    "p_reshaping",
    "p_expansion",
    "p_huge",
    "p_tier_change",
]


@pytest.fixture(scope="module")
def model(small_run: Path):
    return load_run(small_run)


@pytest.fixture(scope="module")
def predictor(model) -> Predictor:
    return Predictor(model)


def write_toml(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


# ---------------------------------------------------------------------------- the predictor


def test_predictor_reproduces_the_fitted_benchmark(model, predictor: Predictor) -> None:
    trade = model.inputs.trade
    rng = np.random.default_rng(0)
    cube, years = predictor.index_cube(predictor.years[-1], rng)
    index = predictor.index_for_rows(trade, cube, years)
    _, bench = predictor.linear_predictor(trade, index)
    saved = predictor.posterior["mu_benchmark"].stack(sample=("chain", "draw"))
    saved = saved.transpose("sample", ...).values
    assert np.abs(bench - saved).max() < 1e-8, "benchmark differs from the fit's mu_benchmark"


def test_covariate_rows_match_the_panel_in_fitted_years(model) -> None:
    trade = model.inputs.trade
    rows, notes = covariate_rows(model, trade[["partner", "flow", "year"]])
    for name in model.inputs.panel.observed_covariates:
        np.testing.assert_allclose(rows[name], trade[name], rtol=1e-12, err_msg=name)
    assert not any(notes), "fitted rows have every covariate: nothing is carried forward"


def test_index_projection_keeps_fitted_years_and_moves_with_drift(predictor: Predictor) -> None:
    cube, years = predictor.index_cube(2030, np.random.default_rng(1))
    fitted = predictor._index_parameters()["cbec_index"]
    assert years == [*predictor.years, *range(predictor.years[-1] + 1, 2031)]
    np.testing.assert_array_equal(cube[:, :, : len(predictor.years)], fitted)
    # the walk continues: the average step after the fit has the sign of the fitted drift
    step = np.diff(cube[:, :, len(predictor.years) - 1 :], axis=2).mean()
    drift = predictor._index_parameters()["index_drift"].mean()
    assert np.sign(step) == np.sign(drift), f"projected step {step:.3g} vs drift {drift:.3g}"


# ---------------------------------------------------------------------------- meaning


@pytest.mark.parametrize(
    "text",
    [
        'name = "same"\n[[changes]]\ncovariate = "openness_partner"\n'
        'operation = "multiply"\nvalue = 1.0\n',
        'name = "same_future"\n[projection]\nto_year = 2025\n[[changes]]\n'
        'covariate = "internet_partner"\noperation = "add"\nvalue = 0\nramp = true\n',
        'name = "same_index"\n[[changes]]\ncovariate = "cbec_index"\noperation = "add"\n'
        "value = 0.0\n",
    ],
    ids=["multiply-1", "add-0-projected", "index-add-0"],
)
def test_no_change_gives_no_delta_and_no_tier_change(model, text: str) -> None:
    table = run_scenario(parse_scenario(__import__("tomllib").loads(text)), model, seed=3)
    assert np.abs(table["delta_mean"]).max() <= 1e-9 * table["trade_mean"].max()
    assert table["p_tier_change"].max() == 0.0, "a scenario that changes nothing moved a tier"
    np.testing.assert_allclose(table["trade_mean"], table["baseline_mean"], rtol=1e-12)


@pytest.mark.parametrize(
    ("covariate", "operation", "value"),
    [("internet_partner", "add", 10.0), ("openness_partner", "multiply", 1.1)],
)
def test_positive_change_moves_trade_with_the_coefficient_sign(
    model, predictor: Predictor, covariate: str, operation: str, value: float
) -> None:
    scenario = parse_scenario(
        {
            "name": "up",
            "changes": [{"covariate": covariate, "operation": operation, "value": value}],
        }
    )
    trade = model.inputs.trade
    rows = trade[["partner", "flow", "year", *predictor.covariates]].reset_index(drop=True)
    rng = np.random.default_rng(5)
    cube, years = predictor.index_cube(predictor.years[-1], rng)
    index = predictor.index_for_rows(rows, cube, years)
    noise = predictor.noise_factor(len(rows), rng)
    changed_rows, changed_index = scenario_inputs(scenario, predictor, rows, index)
    assert (changed_rows[covariate] > rows[covariate]).all(), "the change is not positive"
    base = predictor.predict(rows, index, noise)
    changed = predictor.predict(changed_rows, changed_index, noise)
    beta = predictor.draws[f"beta_{covariate}"]
    delta = changed.trade - base.trade
    assert ((beta > 0) & (beta < 0)).sum() == 0
    assert (beta > 0).any() or (beta < 0).any()
    wrong = np.sign(delta) != np.sign(beta)[:, None]
    assert not wrong.any(), f"{int(wrong.sum())} draw x row cells move against the coefficient"
    # and by exactly the coefficient times the change on the model's scale
    step = (changed_rows[covariate] - rows[covariate]).to_numpy()
    np.testing.assert_allclose(np.log(changed.trade / base.trade), beta[:, None] * step)


def test_internet_points_are_shares_and_openness_is_relative(model, predictor: Predictor) -> None:
    rows, _ = covariate_rows(
        model, pd.DataFrame({"partner": ["KAZ"], "flow": ["export"], "year": [2020]})
    )
    scenario = parse_scenario(
        {
            "name": "units",
            "changes": [
                {"covariate": "internet_partner", "operation": "add", "value": 15, "upper": 100},
                {"covariate": "openness_partner", "operation": "multiply", "value": 1.1},
            ],
        }
    )
    changed, _ = scenario_inputs(scenario, predictor, rows, None)
    kaz = float(rows["internet_partner"].iloc[0])  # 0.859 in 2020: the cap binds at 1.0
    assert changed["internet_partner"].iloc[0] == pytest.approx(min(kaz + 0.15, 1.0))
    assert changed["openness_partner"].iloc[0] == pytest.approx(
        1.1 * rows["openness_partner"].iloc[0]
    )


# ---------------------------------------------------------------------------- end to end


@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_shipped_scenarios_run_end_to_end(path: Path, run_copy: Path, model, capsys) -> None:
    scenario = load_scenario(path)
    assert main(["scenario", str(path), "--run", str(run_copy), "--no-report"]) == 0
    # the small fit fails the gate: the scenario output must say so, first and last
    out = capsys.readouterr().out
    assert out.count("DIAGNOSTICS FAILED") == 2, out[:500]
    table = pd.read_csv(run_copy / "scenarios" / f"{scenario.name}.csv")
    assert list(table.columns[: len(COLUMNS)]) == COLUMNS
    probs = table[["p_reshaping", "p_expansion", "p_huge"]].sum(axis=1)
    np.testing.assert_allclose(probs, 1.0, atol=1e-5)
    assert (table["trade_lo"] <= table["trade_hi"]).all()
    assert table["p_tier_change"].between(0, 1).all()
    assert (table["delta_mean"] != 0).any(), "a shipped scenario should change something"
    meta = (run_copy / "scenarios" / f"{scenario.name}.json").read_text()
    for fragment in (scenario.name, model.idata.attrs["spec_hash"], "tier_rule"):
        assert fragment in meta, f"{fragment!r} missing from the scenario json"
    if scenario.projection is None:
        assert len(table) == len(model.inputs.trade)
    else:
        n_years = scenario.projection.to_year - model.inputs.panel.years[-1]
        assert len(table) == len(model.inputs.panel.partners) * 2 * n_years
        assert table["year"].min() == model.inputs.panel.years[-1] + 1


def test_same_seed_same_bytes(model, tmp_path: Path) -> None:
    scenario = load_scenario(SHIPPED[0])
    outs = []
    for name, seed in (("a", 11), ("b", 11), ("c", 12)):
        csv_path, _, _ = write_scenario(scenario, model, tmp_path / name, seed=seed)
        outs.append(csv_path.read_bytes())
    assert outs[0] == outs[1], "same seed gave different bytes"
    assert outs[0] != outs[2], "the seed has no effect on the predictive draws"


# ---------------------------------------------------------------------------- errors

GOOD = 'name = "bad"\n[[changes]]\ncovariate = "openness_partner"\noperation = "multiply"\n'

ERRORS = {
    "unknown-key": (
        GOOD + "value = 1.1\noperaton = 'add'\n",
        ["operaton", "did you mean 'operation'"],
    ),
    "wrong-type": (GOOD + "value = 'lots'\n", ["changes.0.value", "lots"]),
    "unknown-covariate": (
        GOOD.replace("openness_partner", "opennes_partner") + "value = 1.1\n",
        ["opennes_partner", "did you mean 'openness_partner'", "internet_partner"],
    ),
    "unknown-partner": (
        GOOD + "value = 1.1\npartners = ['KZZ']\n",
        ["'KZZ'", "did you mean", "UZB"],
    ),
    "year-before-data": (
        GOOD + "value = 1.1\nyears = [1990, 1995]\n",
        ["1990", "before the data start"],
    ),
    "projection-before-data": (
        'name = "bad"\n[projection]\nto_year = 1995\n',
        ["to_year 1995", "before the data start"],
    ),
    "index-multiply": (
        'name = "bad"\n[[changes]]\ncovariate = "cbec_index"\noperation = "multiply"\nvalue = 2\n',
        ["cbec_index", "standardised"],
    ),
}


# Through the command line: a spec error (before the run is read) and a run-dependent one.
CLI_ERRORS = ["unknown-key", "wrong-type", "unknown-covariate"]


@pytest.mark.parametrize("case", CLI_ERRORS)
def test_bad_scenario_fails_cleanly(
    case: str,
    run_copy: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    snapshot: Callable[[Path], dict[str, bytes]],
) -> None:
    text, fragments = ERRORS[case]
    path = write_toml(tmp_path / "bad.toml", text)
    before = snapshot(run_copy)
    assert main(["scenario", str(path), "--run", str(run_copy), "--no-report"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in err, f"{fragment!r} not in:\n{err}"
    assert snapshot(run_copy) == before, "nothing may be written"


@pytest.mark.parametrize("case", [c for c in ERRORS if c not in CLI_ERRORS])
def test_scenario_that_does_not_fit_the_run_is_refused(case: str, model, tmp_path: Path) -> None:
    text, fragments = ERRORS[case]
    scenario = load_scenario(write_toml(tmp_path / "bad.toml", text))
    with pytest.raises(ConfigError) as err:
        write_scenario(scenario, model, tmp_path / "run")
    for fragment in fragments:
        assert fragment in str(err.value), f"{fragment!r} not in:\n{err.value}"
    assert not (tmp_path / "run").exists(), "nothing may be written"


def _set_attr(path: Path, key: str, value: str) -> None:
    """Overwrite one root attribute of a netCDF file in place (arrays untouched)."""
    import h5py

    with h5py.File(path, "r+") as handle:
        handle.attrs[key] = value


@pytest.mark.parametrize(
    ("case", "fragment"),
    [
        ("no-posterior", "no posterior"),
        ("truncated", "not a readable posterior"),
        ("other-data", "different data"),
        ("other-spec", "stored spec hashes"),
    ],
)
def test_bad_run_folder_fails_cleanly(
    case: str,
    fragment: str,
    run_copy: Path,
    capsys: pytest.CaptureFixture[str],
    snapshot: Callable[[Path], dict[str, bytes]],
) -> None:
    posterior = run_copy / "posterior.nc"
    if case == "no-posterior":
        posterior.unlink()
    elif case == "truncated":
        posterior.write_bytes(posterior.read_bytes()[:5000])
    else:
        key = "data_hash" if case == "other-data" else "spec_hash"
        _set_attr(posterior, key, "0123456789abcdef")
    before = snapshot(run_copy)
    assert main(["scenario", str(SHIPPED[0]), "--run", str(run_copy), "--no-report"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and fragment in err, err
    assert snapshot(run_copy) == before, "nothing may be written"


def test_trade_is_in_us_dollars(model) -> None:
    table = run_scenario(load_scenario(SHIPPED[0]), model, seed=1)
    trade = model.inputs.trade
    ratio = table["trade_mean"].median() / trade["value_usd"].median()
    assert 0.2 < ratio < 5, f"scenario trade is off the observed US$ scale by {ratio:.3g}"
    assert table["trade_mean"].min() > UNIT / 100


def test_scenario_rerenders_the_report(run_copy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import bayes_gravity.report.assemble

    calls: list[Path] = []

    def fake_report(run_dir: Path) -> Path:
        calls.append(Path(run_dir))
        return Path(run_dir) / "report.html"

    monkeypatch.setattr(bayes_gravity.report.assemble, "write_report", fake_report)
    assert main(["scenario", str(SHIPPED[0]), "--run", str(run_copy)]) == 0
    assert calls == [run_copy], "the report must be re-rendered once, for this run"
