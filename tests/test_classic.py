"""The classic pipeline (PCA index, pooled OLS / random effects, point tiers): every number
recomputed independently on the shipped data, the CLI's tables and summary, another region,
and byte-identical output on a second run."""

from __future__ import annotations

import copy
import re
import tomllib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bayes_gravity.classic.pca_index import fill_gaps, pca_index
from bayes_gravity.classic.study import ClassicResult, run_classic
from bayes_gravity.cli import main
from bayes_gravity.config import DEFAULT_SPEC, load_spec, parse_spec
from bayes_gravity.data.dataset import load_dataset
from bayes_gravity.potential import classify
from conftest import (
    OTHER_PARTNERS,
    OTHER_REPORTER,
    OTHER_YEARS,
    unexpected_warnings,
    write_spec,
)

PARTNERS = ["KAZ", "KGZ", "TJK", "TKM", "UZB"]
RAW_DEFAULT = tomllib.loads(DEFAULT_SPEC.read_text(encoding="utf-8"))
OUTPUT_COLUMNS = {
    "index.csv": ["iso3", "year", "score", "rank"],
    "coefficients.csv": ["term", "estimate", "std_error", "p_value", "model"],
    "potential.csv": [
        "partner",
        "flow",
        "year",
        "actual",
        "predicted",
        "ratio",
        "tier",
        "tier_rule",
    ],
}


@pytest.fixture(scope="module")
def result(shipped, spec) -> ClassicResult:
    return run_classic(shipped, spec)


@pytest.fixture(scope="module")
def design(panel, result) -> pd.DataFrame:
    """The regression data rebuilt by hand: index of the partner, import dummy, log trade."""
    table = panel.trade.copy()
    scores = result.index.scores.set_index(["iso3", "year"])["score"]
    table["cbec_index"] = [scores[(p, y)] for p, y in zip(table.partner, table.year, strict=True)]
    table["flow_import"] = (table["flow"] == "import").astype(float)
    table = table[table["value_usd"] > 0].copy()
    table["log_trade"] = np.log(table["value_usd"])
    return table.sort_values(["partner", "flow", "year"]).reset_index(drop=True)


def terms_of(result: ClassicResult, model: str) -> list[str]:
    coefs = result.coefficients
    return list(coefs.loc[coefs["model"] == model, "term"])


def coef(result: ClassicResult, model: str) -> pd.DataFrame:
    coefs = result.coefficients
    return coefs[coefs["model"] == model].set_index("term")


def run(argv: list[str], capsys) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


# ---------------------------------------------------------------------------- PCA index


def test_fill_gaps_interpolates_within_country_and_keeps_observed(panel):
    filled = fill_gaps(panel.indicators, panel.countries, panel.years)
    assert filled.shape == (len(panel.countries) * len(panel.years), 11)
    assert not filled.isna().any().any()
    years = np.asarray(panel.years)
    for (code, iso3), rows in panel.indicators.groupby(["indicator", "iso3"]):
        expected = np.interp(years, rows["year"], rows["value"])  # flat beyond the ends
        got = filled.loc[iso3, code].to_numpy()
        np.testing.assert_allclose(got, expected, rtol=1e-12, err_msg=f"{iso3} {code}")


def test_pca_eigenvalues_are_those_of_the_correlation_matrix(panel, result):
    filled = fill_gaps(panel.indicators, panel.countries, panel.years)
    eig = np.sort(np.linalg.eigvalsh(np.corrcoef(filled.to_numpy(), rowvar=False)))[::-1]
    np.testing.assert_allclose(result.index.eigenvalues, eig, rtol=1e-8, atol=1e-10)
    assert eig.sum() == pytest.approx(11), f"trace {eig.sum()}, expected 11 indicators"
    kept = int((eig > 1).sum())
    assert result.index.n_components == kept, (
        f"{result.index.n_components} components kept, {kept} eigenvalues exceed 1 ({eig[:4]})"
    )
    assert kept >= 1


def test_pca_scores_are_the_variance_weighted_composite(panel, result):
    filled = fill_gaps(panel.indicators, panel.countries, panel.years)
    x = filled.to_numpy()
    z = (x - x.mean(axis=0)) / x.std(axis=0)
    eig, vec = np.linalg.eigh(np.corrcoef(x, rowvar=False))
    order = np.argsort(eig)[::-1]
    eig, vec = eig[order], vec[:, order]
    k = int((eig > 1).sum())
    loadings = vec[:, :k] * np.where(vec[:, :k].sum(axis=0) < 0, -1.0, 1.0)
    shares = eig[:k] / eig[:k].sum()
    expected = (z @ loadings) @ shares
    scores = result.index.scores
    assert list(zip(scores.iso3, scores.year, strict=True)) == list(filled.index)
    np.testing.assert_allclose(scores["score"], expected, rtol=1e-8, atol=1e-10)
    weights = result.index.weights.set_index("indicator")["weight"]
    np.testing.assert_allclose(weights[filled.columns], loadings @ shares, rtol=1e-8)
    assert weights.sum() > 0, "components are oriented so that loadings sum to > 0"
    # observed cells only: the rest were filled
    grid = len(panel.countries) * len(panel.years) * 11
    assert result.index.filled_cells == grid - len(panel.indicators)


def test_ranks_among_partners_each_year(result):
    scores = result.index.scores
    assert scores.loc[scores["iso3"] == "CHN", "rank"].isna().all(), "the reporter has no rank"
    partners = scores[scores["iso3"] != "CHN"]
    assert partners["rank"].notna().all()
    for year, rows in partners.groupby("year"):
        assert sorted(rows["rank"]) == [1, 2, 3, 4, 5], f"{year}: ranks {sorted(rows['rank'])}"
        ordered = rows.sort_values("rank")["score"].to_numpy()
        assert (np.diff(ordered) <= 0).all(), f"{year}: rank 1 must have the highest score"


def test_indicator_missing_for_a_country_is_left_out_of_the_pca(panel, shipped, spec):
    reduced = panel.indicators[
        ~((panel.indicators["indicator"] == "SE.TER.ENRR") & (panel.indicators["iso3"] == "TKM"))
    ]
    index = pca_index(reduced, panel.countries, panel.years, PARTNERS, eigenvalue_min=1.0)
    assert "SE.TER.ENRR" not in set(index.weights["indicator"])
    assert len(index.weights) == 10 and len(index.eigenvalues) == 10
    assert index.eigenvalues.sum() == pytest.approx(10)


def test_eigenvalue_threshold_from_the_spec(panel, result):
    eig = result.index.eigenvalues
    cut = float((eig[0] + eig[1]) / 2)  # between the first two: one component
    index = pca_index(panel.indicators, panel.countries, panel.years, PARTNERS, cut)
    assert index.n_components == 1
    np.testing.assert_allclose(index.weights["weight"].abs().pow(2).sum(), 1.0)


# ---------------------------------------------------------------------------- gravity


def test_regression_terms(result, panel):
    expected = ["intercept", "cbec_index", *panel.observed_covariates, "flow_import"]
    for model in ("pooled_ols", "random_effects"):
        assert terms_of(result, model) == expected, f"{model}: {terms_of(result, model)}"
    assert result.n_obs == 200, f"{result.n_obs} observations, expected 200 (no zero trade)"


def test_pooled_ols_matches_statsmodels_on_the_same_design(result, design):
    import statsmodels.api as sm

    terms = terms_of(result, "pooled_ols")[1:]
    x = sm.add_constant(design[terms])
    fit = sm.OLS(design["log_trade"], x).fit(cov_type="HC1")
    got = coef(result, "pooled_ols")
    np.testing.assert_allclose(got["estimate"], fit.params.to_numpy(), rtol=1e-8)
    np.testing.assert_allclose(got["std_error"], fit.bse.to_numpy(), rtol=1e-8)
    np.testing.assert_allclose(got["p_value"], fit.pvalues.to_numpy(), rtol=1e-6, atol=1e-300)
    # the study's finding: economic size enters positively
    assert got.loc["log_gdp_partner", "estimate"] > 0


def test_random_effects_run_and_differ_from_ols(result, design):
    from linearmodels.panel import RandomEffects

    re = coef(result, "random_effects")
    assert np.isfinite(re[["estimate", "std_error", "p_value"]].to_numpy()).all(), re
    assert (re["std_error"] > 0).all()
    terms = list(re.index[1:])
    entity = design["reporter"] + "-" + design["partner"] + "-" + design["flow"]
    indexed = design.assign(entity=entity).set_index(["entity", "year"])
    exog = indexed[terms].assign(intercept=1.0)[["intercept", *terms]]
    fit = RandomEffects(indexed["log_trade"], exog).fit()
    np.testing.assert_allclose(re["estimate"], fit.params.to_numpy(), rtol=1e-8)
    ols = coef(result, "pooled_ols")
    gap = float(np.abs(re["estimate"] - ols["estimate"]).max())
    assert gap > 1e-3, f"random effects equal pooled OLS to {gap:.2g}: not a GLS fit"


def test_potential_is_actual_over_benchmark_without_the_series_effect(result, design):
    pot = result.potential
    assert list(pot.columns) == OUTPUT_COLUMNS["potential.csv"]
    assert len(pot) == result.n_obs
    assert list(pot[["partner", "flow", "year"]].itertuples(index=False, name=None)) == list(
        design[["partner", "flow", "year"]].itertuples(index=False, name=None)
    ), "potential rows must be sorted by partner, flow, year like the design"
    np.testing.assert_allclose(pot["actual"], design["value_usd"])
    re = coef(result, "random_effects")
    terms = list(re.index[1:])
    linear = re.loc["intercept", "estimate"] + design[terms].to_numpy() @ re.loc[terms, "estimate"]
    np.testing.assert_allclose(pot["predicted"], np.exp(linear), rtol=1e-8)
    np.testing.assert_allclose(pot["ratio"], pot["actual"] / pot["predicted"], rtol=1e-12)
    spec = load_spec()[0]
    assert list(pot["tier"]) == list(classify(pot["ratio"], spec.potential))
    assert set(pot["partner"]) == set(PARTNERS)


def test_ols_benchmark_and_inverted_ratio_options(shipped, result, design):
    def edit(raw):
        raw["classic"]["potential_model"] = "ols"
        raw["potential"]["ratio"] = "predicted_over_actual"

    raw = copy.deepcopy(RAW_DEFAULT)
    edit(raw)
    other = run_classic(shipped, parse_spec(raw))
    ols = coef(result, "pooled_ols")
    terms = list(ols.index[1:])
    linear = (
        ols.loc["intercept", "estimate"] + design[terms].to_numpy() @ ols.loc[terms, "estimate"]
    )
    pot = other.potential
    np.testing.assert_allclose(pot["predicted"], np.exp(linear), rtol=1e-8)
    np.testing.assert_allclose(pot["ratio"], pot["predicted"] / pot["actual"], rtol=1e-12)
    # same situation, same tier: compare with actual / predicted under the default convention
    default_tiers = classify(pot["actual"] / pot["predicted"], load_spec()[0].potential)
    assert list(pot["tier"]) == list(default_tiers)


# ---------------------------------------------------------------------------- CLI


def test_cli_classic_writes_tables_and_prints_the_summary(tmp_path, capsys, spec):
    out = tmp_path / "out"
    code, stdout, err = run(["classic", "--out", str(out)], capsys)
    assert code == 0, err
    assert unexpected_warnings(err) == [], f"only the known warning expected: {err!r}"
    tables = {name: pd.read_csv(out / name) for name in OUTPUT_COLUMNS}
    for name, columns in OUTPUT_COLUMNS.items():
        assert list(tables[name].columns) == columns, f"{name}: {list(tables[name].columns)}"
    assert (out / "pca_weights.csv").is_file()
    index = tables["index.csv"]
    assert len(index) == 6 * 21
    assert set(tables["coefficients.csv"]["model"]) == {"pooled_ols", "random_effects"}
    assert set(tables["potential.csv"]["tier"]) <= {"reshaping", "expansion", "huge"}

    assert spec.potential.describe() in stdout, "the tier rule must be printed"
    assert "excluded: 10 trade row(s) without internet_partner" in stdout
    ranking = re.findall(r"^  (\d)\. ([A-Z]{3})  score ", stdout, flags=re.M)
    last = index[index["year"] == 2020].dropna(subset=["rank"]).sort_values("rank")
    assert ranking == [(str(int(r)), c) for r, c in zip(last["rank"], last["iso3"], strict=True)]
    assert sorted(c for _, c in ranking) == PARTNERS
    tiers = re.findall(
        r"^  ([A-Z]{3}) (export|import) +(\d{4})  ratio +([\d.]+)  (reshaping|expansion|huge)$",
        stdout,
        flags=re.M,
    )
    assert sorted({t[0] for t in tiers}) == PARTNERS, f"tier lines: {tiers}"
    assert len(tiers) == 10, f"one line per partner and flow, got {len(tiers)}"
    pot = tables["potential.csv"].set_index(["partner", "flow", "year"])
    for partner, flow, year, ratio, tier in tiers:
        row = pot.loc[(partner, flow, int(year))]
        assert row["tier"] == tier, f"{partner} {flow} {year}: printed {tier}, file {row['tier']}"
        assert float(ratio) == pytest.approx(row["ratio"], abs=0.006)
    # TKM's rows for 2018-2020 lack a covariate, so its latest tier is for 2017
    latest = {(t[0], t[1]): int(t[2]) for t in tiers}
    assert latest[("TKM", "export")] == 2017 and latest[("TJK", "import")] == 2020, latest


def test_same_input_gives_byte_identical_tables(tmp_path, capsys):
    outs = [tmp_path / "a", tmp_path / "b"]
    printed = []
    for out in outs:
        code, stdout, err = run(["classic", "--out", str(out)], capsys)
        assert code == 0, err
        printed.append(stdout.replace(str(out), "OUT"))
    names = sorted(p.name for p in outs[0].iterdir())
    assert names == ["coefficients.csv", "index.csv", "pca_weights.csv", "potential.csv"], names
    assert sorted(p.name for p in outs[1].iterdir()) == names, "no temporary files left over"
    for name in names:
        first, second = ((out / name).read_bytes() for out in outs)
        assert first == second, f"{name} differs between two runs on the same input"
    assert printed[0] == printed[1]


# ---------------------------------------------------------------------------- another region


@pytest.mark.parametrize("how", ["spec-path", "data-option"])
def test_classic_on_another_region(other_region_dataset, tmp_path, capsys, how):
    out = tmp_path / "out"
    if how == "spec-path":
        spec = write_spec(tmp_path / "deu.toml", data_path=other_region_dataset)
        argv = ["classic", str(spec), "--out", str(out)]
    else:
        argv = ["classic", "--data", str(other_region_dataset), "--out", str(out)]
    code, stdout, err = run(argv, capsys)
    assert code == 0, f"exit {code}; stderr:\n{err}"
    index = pd.read_csv(out / "index.csv")
    assert sorted(index["iso3"].unique()) == sorted([OTHER_REPORTER, *OTHER_PARTNERS])
    assert sorted(index["year"].unique()) == list(OTHER_YEARS)
    assert index.loc[index["iso3"] == OTHER_REPORTER, "rank"].isna().all()
    for year, rows in index.dropna(subset=["rank"]).groupby("year"):
        assert sorted(rows["rank"]) == [1, 2, 3, 4, 5], f"{year}: {sorted(rows['rank'])}"
    pot = pd.read_csv(out / "potential.csv")
    assert sorted(pot["partner"].unique()) == sorted(OTHER_PARTNERS)
    assert len(pot) == len(OTHER_PARTNERS) * 2 * len(OTHER_YEARS)
    coefs = pd.read_csv(out / "coefficients.csv")
    assert "contig" in set(coefs["term"]), "contig varies across these partners"
    assert np.isfinite(coefs["estimate"]).all()
    for code_ in ("CHN", "KAZ", "UZB"):
        assert code_ not in stdout, f"{code_} printed for a Germany dataset"
    for partner in OTHER_PARTNERS:
        assert re.search(rf"^  \d\. {partner}  score", stdout, flags=re.M), partner
    assert "ratio r = actual / predicted" in stdout


def test_other_region_dataset_is_deterministic(other_region_dataset, tmp_path):
    from conftest import write_other_region_dataset

    again = write_other_region_dataset(tmp_path / "again")
    for name in ("trade.csv", "indicators.csv", "pairs.csv"):
        assert (again / name).read_bytes() == (other_region_dataset / name).read_bytes(), name
    data = load_dataset(other_region_dataset)
    assert data.reporters == [OTHER_REPORTER] and data.partners == sorted(OTHER_PARTNERS)
    assert data.warnings == []


def test_classic_result_does_not_depend_on_region_names(other_region_dataset):
    data = load_dataset(Path(other_region_dataset))
    spec = load_spec()[0]
    res = run_classic(data, spec)
    assert res.n_obs == len(OTHER_PARTNERS) * 2 * len(OTHER_YEARS)
    assert res.exclusions == [] and res.warnings == [], (res.exclusions, res.warnings)
    # the synthetic trade follows a gravity equation: economic size is recovered with sign
    assert coef(res, "pooled_ols").loc["log_gdp_partner", "estimate"] > 0
