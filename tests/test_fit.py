"""The Bayesian pipeline: one small real fit shared by the module, plus mock-sampler tests.

The real fit is short (2 chains x 300 draws) so it does not have to pass the diagnostics gate;
these tests check the plumbing and the meaning of the outputs, not convergence (the default
fit's gate is measured by ``make run`` and the slow suite).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bayes_gravity.cli import main
from bayes_gravity.config import load_spec
from bayes_gravity.data.dataset import load_dataset
from bayes_gravity.errors import ResultsError
from bayes_gravity.model.gravity_model import GravityModel, read_posterior
from bayes_gravity.potential import TIERS
from conftest import set_cell, write_spec

PARTNERS = ["KAZ", "KGZ", "TJK", "TKM", "UZB"]


def test_run_folder_has_every_output(small_run: Path) -> None:
    for name in [
        "posterior.nc",
        "index.csv",
        "loadings.csv",
        "coefficients.csv",
        "potential.csv",
        "diagnostics.json",
    ]:
        assert (small_run / name).is_file(), f"{name} missing from {small_run}"
    leftovers = [p.name for p in small_run.iterdir() if p.name.startswith(".")]
    assert leftovers == [], f"staging files left behind: {leftovers}"


def test_index_table_ranks_and_probabilities(small_run: Path) -> None:
    index = pd.read_csv(small_run / "index.csv")
    assert list(index.columns) == ["iso3", "year", "mean", "lo", "hi", "rank_mean", "p_rank1"]
    assert sorted(index["iso3"].unique()) == ["CHN", *PARTNERS]
    assert index["year"].min() == 2000 and index["year"].max() == 2020
    assert (index["lo"] <= index["mean"]).all() and (index["mean"] <= index["hi"]).all()
    partners = index[index["iso3"] != "CHN"]
    # exactly one partner is first in every draw, so P(rank = 1) sums to 1 within a year
    total = partners.groupby("year")["p_rank1"].sum()
    assert np.allclose(total, 1.0), f"P(rank=1) sums per year: {total.to_dict()}"
    mean_rank = partners.groupby("year")["rank_mean"].sum()
    assert np.allclose(mean_rank, 15.0), "mean ranks of 5 partners must sum to 1+2+3+4+5"
    assert index.loc[index["iso3"] == "CHN", "rank_mean"].isna().all()
    # the index is standardised over all country-years
    assert abs(index["mean"].mean()) < 0.05


def test_index_rises_over_time(small_run: Path) -> None:
    index = pd.read_csv(small_run / "index.csv").set_index(["iso3", "year"])["mean"]
    for iso3 in ["CHN", *PARTNERS]:
        assert index[(iso3, 2020)] > index[(iso3, 2000)], f"{iso3} index fell 2000->2020"


def test_loadings_positive_with_pca_weights(small_run: Path) -> None:
    loadings = pd.read_csv(small_run / "loadings.csv")
    assert len(loadings) == 11
    assert (loadings["lo"] > 0).all(), "all loadings are constrained positive"
    assert loadings["pca_weight"].notna().all()


def test_potential_table(small_run: Path) -> None:
    pot = pd.read_csv(small_run / "potential.csv")
    for col in [
        "partner",
        "flow",
        "year",
        "actual",
        "ratio_mean",
        "ratio_lo",
        "ratio_hi",
        "gap_usd_mean",
        "p_reshaping",
        "p_expansion",
        "p_huge",
        "tier",
    ]:
        assert col in pot.columns, f"potential.csv lacks {col}"
    assert len(pot) == 200
    probs = pot[["p_reshaping", "p_expansion", "p_huge"]].to_numpy()
    assert np.allclose(probs.sum(axis=1), 1.0)
    assert (pot["tier"] == np.asarray(TIERS)[probs.argmax(axis=1)]).all()
    assert ((pot["ratio_lo"] <= pot["ratio_mean"]) & (pot["ratio_mean"] <= pot["ratio_hi"])).all()
    # gap = benchmark - actual: positive exactly where the ratio (actual/benchmark) is small
    low = pot["ratio_hi"] < 1
    assert (pot.loc[low, "gap_usd_mean"] > 0).all()


def test_coefficients_and_diagnostics(small_run: Path) -> None:
    coefs = pd.read_csv(small_run / "coefficients.csv").set_index("term")
    assert list(coefs.columns) == ["mean", "sd", "lo", "hi", "r_hat", "ess_bulk"]
    for term in ["log_gdp_partner", "log_gdp_reporter", "cbec_index", "log_dist", "contig"]:
        assert term in coefs.index, f"{term} missing from coefficients.csv"
    assert coefs.loc["log_gdp_partner", "mean"] > 0
    diag = json.loads((small_run / "diagnostics.json").read_text())
    assert isinstance(diag["passed"], bool)
    for check in ["r_hat", "ess_bulk", "ess_tail", "divergences", "e_bfmi", "pareto_k"]:
        assert check in diag["checks"], f"diagnostics.json lacks {check}"
    assert diag["checks"]["ess_bulk"]["threshold"] == 400


def test_posterior_attributes_and_round_trip(small_run: Path) -> None:
    tree = read_posterior(small_run / "posterior.nc")
    attrs = tree.attrs
    spec, _ = load_spec()
    assert attrs["data_hash"] == load_dataset().content_hash
    assert attrs["random_seed"] == 7
    assert "pymc" in json.loads(attrs["versions"])
    for group in ["posterior", "sample_stats", "log_likelihood", "observed_data"]:
        assert group in tree.children, f"posterior.nc lacks group {group}"
    model = GravityModel.load(small_run / "posterior.nc", load_dataset())
    assert model.spec.name == spec.name
    assert model.inputs is not None and len(model.inputs.trade) == 200


def test_load_refuses_other_data_and_spec(small_run: Path, make_dataset) -> None:
    other = make_dataset(edit=set_cell("trade.csv", 0, "value_usd", "1"))
    with pytest.raises(ResultsError, match="different data"):
        GravityModel.load(small_run / "posterior.nc", load_dataset(other))
    spec, _ = load_spec()
    changed = spec.model_copy(update={"ci_prob": 0.8})
    with pytest.raises(ResultsError, match="different spec"):
        GravityModel.load(small_run / "posterior.nc", load_dataset(), spec=changed)


def test_truncated_posterior_is_refused(small_run: Path, tmp_path: Path) -> None:
    broken = tmp_path / "posterior.nc"
    data = (small_run / "posterior.nc").read_bytes()
    broken.write_bytes(data[: len(data) // 3])
    with pytest.raises(ResultsError, match="not a readable posterior"):
        read_posterior(broken)
    with pytest.raises(ResultsError, match="no posterior"):
        read_posterior(tmp_path / "missing.nc")


def test_rerun_keeps_previous_results_when_fit_fails(run_copy: Path) -> None:
    run = run_copy
    before = {p.name: p.read_bytes() for p in run.iterdir()}
    # an invalid option fails before anything is written
    assert main(["fit", "--out", str(run), "--nuts-sampler", "nonsense"]) == 2
    assert {p.name: p.read_bytes() for p in run.iterdir()} == before


# ---------------------------------------------------------------------------- mock sampler


@pytest.mark.parametrize("likelihood", ["student_t", "lognormal", "gamma", "ppml"])
def test_every_likelihood_builds_and_summarises(likelihood: str, mock_pymc_sample) -> None:
    from bayes_gravity.results.tables import summarise

    spec, _ = load_spec()
    spec = spec.model_copy(
        update={"gravity": spec.gravity.model_copy(update={"likelihood": likelihood})}
    )
    model = GravityModel(spec, load_dataset())
    model.fit(draws=20, chains=2)
    result = summarise(model)
    pot = result.tables["potential.csv"]
    assert len(pot) == 200 and pot["ratio_mean"].gt(0).all()
    assert ("pareto_k" in result.diagnostics["checks"]) == (likelihood != "ppml")


def test_level_likelihoods_keep_zero_trade(make_dataset, mock_pymc_sample) -> None:
    folder = make_dataset(edit=set_cell("trade.csv", 5, "value_usd", "0"))
    spec, _ = load_spec()
    for likelihood, rows in [("ppml", 200), ("student_t", 199)]:
        s = spec.model_copy(
            update={"gravity": spec.gravity.model_copy(update={"likelihood": likelihood})}
        )
        model = GravityModel(s, load_dataset(folder))
        model.build()
        assert model.inputs is not None
        assert len(model.inputs.trade) == rows, f"{likelihood}: {len(model.inputs.trade)} rows"
        if rows < 200:
            assert any("zero trade" in note for note in model.inputs.exclusions)


def test_fit_on_another_region(other_region_dataset, tmp_path, mock_pymc_sample) -> None:
    spec_path = write_spec(tmp_path / "other.toml", data_path=other_region_dataset)
    out = tmp_path / "out"
    assert main(["fit", str(spec_path), "--out", str(out), "--draws", "20", "--chains", "2"]) == 0
    pot = pd.read_csv(out / "potential.csv")
    assert "DEU" not in set(pot["partner"]) and len(pot["partner"].unique()) >= 4
    index = pd.read_csv(out / "index.csv")
    assert "DEU" in set(index["iso3"])


def test_failed_report_keeps_the_saved_run(tmp_path, mock_pymc_sample, monkeypatch, capsys) -> None:
    import bayes_gravity.report.assemble

    def broken(run_dir: Path) -> Path:
        raise RuntimeError("renderer broke")

    monkeypatch.setattr(bayes_gravity.report.assemble, "write_report", broken)
    out = tmp_path / "out"
    args = ["fit", "--out", str(out), "--draws", "20", "--chains", "2", "--no-compare"]
    assert main(args) == 1
    err = capsys.readouterr().err
    assert "report.html was not written (RuntimeError: renderer broke)" in err
    assert "Traceback" not in err
    assert read_posterior(out / "posterior.nc") is not None
    assert (out / "potential.csv").is_file() and not (out / "report.html").exists()


def test_refit_without_report_or_comparison_leaves_nothing_of_the_earlier_run(
    tmp_path, mock_pymc_sample
) -> None:
    out = tmp_path / "out"
    (out / "scenarios").mkdir(parents=True)
    earlier = ["report.html", "comparison.csv", "comparison_pointwise.csv", "scenarios/x.csv"]
    for name in earlier:
        (out / name).write_text("of an earlier posterior\n", encoding="utf-8")
    args = ["fit", "--out", str(out), "--draws", "20", "--chains", "2", "--no-compare"]
    assert main([*args, "--no-report"]) == 0
    assert (out / "potential.csv").is_file()
    # none of them may be read as part of this run
    assert not any((out / name).exists() for name in earlier)
    assert not (out / "scenarios").exists()


def test_misspelt_prior_name_is_a_spec_error(tmp_path: Path) -> None:
    spec_path = write_spec(
        tmp_path / "typo.toml",
        append='\n[gravity.priors.beta_log_dst]\ndist = "Normal"\nmu = -1.0\nsigma = 0.3\n',
    )
    out = tmp_path / "out"
    assert main(["fit", str(spec_path), "--out", str(out)]) == 2
    assert not out.exists()
