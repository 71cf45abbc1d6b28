"""The modelling panel on the shipped data: countries and years, transformed / flipped /
standardised indicators recomputed by hand, exclusions listed, nothing imputed."""

from __future__ import annotations

import copy
import tomllib
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest

from bayes_gravity.config import DEFAULT_SPEC, ModelSpec, load_spec, parse_spec
from bayes_gravity.data.dataset import load_dataset
from bayes_gravity.data.panel import Panel, build_panel
from bayes_gravity.errors import ConfigError, DataError
from conftest import unexpected_warnings

COUNTRIES = ["CHN", "KAZ", "KGZ", "TJK", "TKM", "UZB"]
YEARS = list(range(2000, 2021))
RAW_DEFAULT = tomllib.loads(DEFAULT_SPEC.read_text(encoding="utf-8"))
# Shipped trade rows whose partner lacks IT.NET.USER.ZS (internet users) that year.
NO_INTERNET = {
    (p, f, y)
    for p, years in (("TJK", (2018, 2019)), ("TKM", (2018, 2019, 2020)))
    for y in years
    for f in ("export", "import")
}


def spec_with(edit: Callable[[dict[str, Any]], object]) -> ModelSpec:
    raw = copy.deepcopy(RAW_DEFAULT)
    edit(raw)
    return parse_spec(raw)


def raw_window(shipped, code: str) -> pd.DataFrame:
    ind = shipped.indicators
    rows = ind[(ind["indicator"] == code) & ind["iso3"].isin(COUNTRIES) & ind["year"].isin(YEARS)]
    return rows.set_index(["iso3", "year"])["value"].sort_index()


def panel_series(panel: Panel, code: str) -> pd.Series:
    rows = panel.indicators[panel.indicators["indicator"] == code]
    return rows.set_index(["iso3", "year"])["value"].sort_index()


# ---------------------------------------------------------------------------- shape


def test_countries_years_and_indicators(panel, spec):
    assert panel.countries == COUNTRIES
    assert panel.years == YEARS
    assert panel.reporters == ["CHN"]
    assert panel.partners == COUNTRIES[1:]
    codes = sorted(panel.indicators["indicator"].unique())
    assert codes == sorted(i.code for i in spec.index.indicators), codes
    assert [i.code for i in panel.indicator_specs] == [i.code for i in spec.index.indicators]
    assert unexpected_warnings(panel.warnings) == [], panel.warnings
    assert panel.index_covariate == "cbec_index"
    assert "cbec_index" not in panel.observed_covariates
    assert set(panel.indicators["iso3"]) <= set(COUNTRIES)
    assert set(panel.indicators["year"]) <= set(YEARS)
    dims = panel.indicators.drop_duplicates("indicator").set_index("indicator")["dimension"]
    assert dims["LP.LPI.CUST.XQ"] == "customs" and dims["SE.TER.ENRR"] == "education_research"


def test_indicators_standardised_over_observed_cells(panel):
    stats = panel.indicators.groupby("indicator")["value"].agg(
        mean="mean", sd=lambda v: v.std(ddof=0), n="size"
    )
    for code, row in stats.iterrows():
        assert abs(row["mean"]) < 1e-9, f"{code}: mean {row['mean']:.3g}, expected 0"
        assert abs(row["sd"] - 1) < 1e-9, f"{code}: sd {row['sd']:.6f}, expected 1"
        assert row["n"] > 5, f"{code}: only {row['n']} observed cells"


@pytest.mark.parametrize("item", load_spec()[0].index.indicators, ids=lambda i: i.code)
def test_indicator_values_recomputed_by_hand(shipped, panel, item):
    raw = raw_window(shipped, item.code)
    if item.transform == "log":
        raw = np.log(raw[raw > 0])
    elif item.transform == "log1p":
        raw = np.log1p(raw[raw > -1])
    expected = (raw - raw.mean()) / raw.std(ddof=0)
    if item.direction == "-":
        expected = -expected
    got = panel_series(panel, item.code)
    assert list(got.index) == list(expected.index), f"{item.code}: different cells"
    np.testing.assert_allclose(got.to_numpy(), expected.to_numpy(), rtol=1e-12, atol=1e-12)


def test_log_transform_changes_the_values(shipped, spec):
    # IS.AIR.DPRT (departures) is log-transformed in the spec; without it the values differ.
    plain = spec_with(
        lambda r: (
            r["index"]["indicators"][4].update(transform="none")
            if r["index"]["indicators"][4]["code"] == "IS.AIR.DPRT"
            else pytest.fail("indicator 4 of default.toml is no longer IS.AIR.DPRT")
        )
    )
    logged = panel_series(build_panel(shipped, spec), "IS.AIR.DPRT")
    level = panel_series(build_panel(shipped, plain), "IS.AIR.DPRT")
    raw = raw_window(shipped, "IS.AIR.DPRT")
    np.testing.assert_allclose(
        level.to_numpy(), ((raw - raw.mean()) / raw.std(ddof=0)).to_numpy(), rtol=1e-12
    )
    gap = float(np.abs(logged - level).max())
    assert gap > 0.1, f"log and level standardised values differ by at most {gap:.3g}"
    # the ordering within the series is kept by a monotone transform
    assert (logged.rank() == level.rank()).all()


def test_direction_minus_flips_the_indicator(shipped, panel):
    code = "SE.TER.ENRR"
    flipped_spec = spec_with(
        lambda r: next(i for i in r["index"]["indicators"] if i["code"] == code).update(
            direction="-"
        )
    )
    flipped = build_panel(shipped, flipped_spec)
    plus = panel_series(panel, code)
    minus = panel_series(flipped, code)
    np.testing.assert_allclose(minus.to_numpy(), -plus.to_numpy(), rtol=1e-12)
    assert np.abs(plus).max() > 0.5, "the comparison is trivial if all values are ~0"
    others = panel.indicators[panel.indicators["indicator"] != code].reset_index(drop=True)
    others_flipped = flipped.indicators[flipped.indicators["indicator"] != code]
    pd.testing.assert_frame_equal(others, others_flipped.reset_index(drop=True))


def test_no_imputation_of_indicator_cells(shipped, panel):
    raw = shipped.indicators
    window = raw[
        raw["indicator"].isin(panel.indicators["indicator"].unique())
        & raw["iso3"].isin(COUNTRIES)
        & raw["year"].isin(YEARS)
    ]
    # every transform in the spec is defined on the shipped values, so no cell is lost either
    assert len(panel.indicators) == len(window), (
        f"{len(panel.indicators)} indicator rows, {len(window)} observed cells"
    )
    full_grid = len(COUNTRIES) * len(YEARS) * panel.indicators["indicator"].nunique()
    assert len(panel.indicators) < full_grid, "the shipped data have gaps; none may be filled"
    assert panel.indicators["value"].notna().all()
    keys = ["iso3", "year", "indicator"]
    assert not panel.indicators.duplicated(keys).any()
    merged = panel.indicators[keys].merge(window[keys], how="left", indicator=True)
    assert (merged["_merge"] == "both").all(), "a panel cell has no observed value behind it"


# ---------------------------------------------------------------------------- trade panel


def test_rows_without_a_covariate_are_excluded_and_listed(shipped, panel):
    assert len(shipped.trade) == 210
    assert len(panel.trade) == 200, f"{len(panel.trade)} trade rows, expected 210 - 10"
    kept = set(zip(panel.trade["partner"], panel.trade["flow"], panel.trade["year"], strict=True))
    assert not kept & NO_INTERNET, f"rows kept despite no covariate: {kept & NO_INTERNET}"
    # independently: the rows whose partner has no internet-user value that year
    internet = shipped.indicators[shipped.indicators["indicator"] == "IT.NET.USER.ZS"]
    have = set(zip(internet["iso3"], internet["year"], strict=True))
    lacking = {
        (r.partner, r.flow, r.year)
        for r in shipped.trade.itertuples()
        if (r.partner, r.year) not in have
    }
    assert lacking == NO_INTERNET
    (note,) = panel.exclusions
    assert note.startswith("10 trade row(s) without internet_partner (IT.NET.USER.ZS"), note
    for partner, flow, year in sorted(NO_INTERNET):
        assert f"{partner} {flow} {year}" in note, f"{partner} {flow} {year} not listed: {note}"
    table = panel.trade[[*panel.observed_covariates, "value_usd"]]
    assert np.isfinite(table.to_numpy(dtype=float)).all(), "a kept row has a missing covariate"


def test_covariate_values_follow_their_transform(shipped, panel):
    ind = shipped.indicators
    gdp = ind[ind["indicator"] == "NY.GDP.MKTP.CD"].set_index(["iso3", "year"])["value"]
    net = ind[ind["indicator"] == "IT.NET.USER.ZS"].set_index(["iso3", "year"])["value"]
    for row in panel.trade.sample(25, random_state=0).itertuples():
        assert row.log_gdp_partner == pytest.approx(np.log(gdp[(row.partner, row.year)]))
        assert row.log_gdp_reporter == pytest.approx(np.log(gdp[(row.reporter, row.year)]))
        assert row.internet_partner == pytest.approx(net[(row.partner, row.year)] / 100)
    dist = dict(zip(shipped.pairs["partner"], shipped.pairs["dist_km"], strict=True))
    np.testing.assert_allclose(panel.trade["log_dist"], np.log(panel.trade["partner"].map(dist)))


def test_year_window_from_the_spec(shipped):
    narrow = spec_with(lambda r: r["data"].update(first_year=2010, last_year=2015))
    small = build_panel(shipped, narrow)
    assert small.years == list(range(2010, 2016))
    assert sorted(small.trade["year"].unique()) == small.years
    assert set(small.indicators["year"]) <= set(small.years)


# ---------------------------------------------------------------------------- spec vs data


def _add_rows(code: str, rows: list[tuple[str, str, str]]):
    def edit(tables: dict[str, pd.DataFrame]) -> None:
        extra = pd.DataFrame(
            [[iso3, year, code, value] for iso3, year, value in rows],
            columns=["iso3", "year", "indicator", "value"],
        )
        tables["indicators.csv"] = pd.concat([tables["indicators.csv"], extra])

    return edit


OUTSIDE = [("KAZ", "1995", "1.5"), ("DEU", "2010", "2.5")]  # before the window / not a country


def _with_extra_indicator(code: str, **changes: object) -> ModelSpec:
    def edit(raw: dict[str, Any]) -> None:
        raw["index"]["indicators"].append({"code": code, "dimension": "internet"})
        raw["index"].update(changes)

    return spec_with(edit)


def test_indicator_without_data_in_the_window_is_dropped_with_a_warning(make_dataset):
    data = load_dataset(make_dataset(edit=_add_rows("XX.NO.DATA", OUTSIDE)))
    result = build_panel(data, _with_extra_indicator("XX.NO.DATA"))
    warned = [w for w in result.warnings if "XX.NO.DATA" in w]
    assert len(warned) == 1 and "dropped" in warned[0], result.warnings
    assert "2000-2020" in warned[0], warned[0]
    assert "XX.NO.DATA" not in set(result.indicators["indicator"])
    assert [i.code for i in result.indicator_specs] == [
        i.code for i in load_spec()[0].index.indicators
    ]


def test_constant_indicator_is_dropped_with_a_warning(make_dataset):
    rows = [(c, str(y), "7") for c in COUNTRIES for y in (2005, 2010)]
    data = load_dataset(make_dataset(edit=_add_rows("XX.CONSTANT", rows)))
    result = build_panel(data, _with_extra_indicator("XX.CONSTANT"))
    assert any("XX.CONSTANT" in w and "constant" in w for w in result.warnings), result.warnings
    assert "XX.CONSTANT" not in set(result.indicators["indicator"])


def test_too_few_indicators_with_data_is_a_data_error(make_dataset):
    data = load_dataset(make_dataset(edit=_add_rows("XX.NO.DATA", OUTSIDE)))

    def two(raw: dict[str, Any]) -> None:
        raw["index"]["indicators"] = [
            {"code": "IT.NET.USER.ZS", "dimension": "internet"},
            {"code": "XX.NO.DATA", "dimension": "internet"},
        ]
        raw["index"]["min_indicators"] = 2

    with pytest.raises(DataError, match=r"only 1 index indicator\(s\) have data; at least 2") as e:
        build_panel(data, spec_with(two))
    assert e.value.exit_code == 3
    assert any("XX.NO.DATA" in p for p in e.value.problems), e.value.problems


def test_anchor_without_data_is_a_data_error(make_dataset):
    data = load_dataset(make_dataset(edit=_add_rows("XX.NO.DATA", OUTSIDE)))
    spec = _with_extra_indicator("XX.NO.DATA", anchor="XX.NO.DATA")
    with pytest.raises(DataError, match=r"anchor indicator XX\.NO\.DATA has no data"):
        build_panel(data, spec)


def test_unknown_series_are_config_errors(shipped):
    unknown_index = _with_extra_indicator("XX.NOT.IN.FILE")
    with pytest.raises(ConfigError, match=r"not in indicators\.csv") as e:
        build_panel(shipped, unknown_index)
    assert e.value.exit_code == 2
    assert any("XX.NOT.IN.FILE" in p for p in e.value.problems), e.value.problems

    def bad_covariate(raw: dict[str, Any]) -> None:
        raw["gravity"]["covariates"][4]["indicator"] = "NE.TRD.XXXX.ZS"

    with pytest.raises(ConfigError, match=r"openness_partner.*NE\.TRD\.XXXX\.ZS") as e:
        build_panel(shipped, spec_with(bad_covariate))
    assert e.value.exit_code == 2

    def bad_column(raw: dict[str, Any]) -> None:
        raw["gravity"]["covariates"][5]["column"] = "distance"

    with pytest.raises(ConfigError, match=r"'distance' not in pairs\.csv"):
        build_panel(shipped, spec_with(bad_column))
