"""Loader, validation and World Bank importer (library side; the CLI is in test_cli_validate)."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bayes_gravity.data.dataset import (
    SHIPPED_DATA,
    import_worldbank,
    load_dataset,
    load_holdout,
    read_worldbank_wide,
)
from bayes_gravity.errors import DataError
from conftest import (
    THREE_PROBLEMS,
    BadCase,
    MakeDataset,
    copy_dataset,
    set_cell,
    unexpected_warnings,
    worldbank_text,
)

PARTNERS = ["KAZ", "KGZ", "TJK", "TKM", "UZB"]

# ---------------------------------------------------------------------------- shipped data


@pytest.fixture(scope="module")
def shipped():
    return load_dataset()


def test_shipped_data_loads_with_expected_shape(shipped):
    assert shipped.path == SHIPPED_DATA
    assert shipped.reporters == ["CHN"]
    assert shipped.partners == PARTNERS
    assert shipped.years == list(range(2000, 2021))
    assert len(shipped.trade) == 210, f"{len(shipped.trade)} China-reported rows, expected 210"
    counts = shipped.trade.groupby(["partner", "flow"]).size()
    assert (counts == 21).all(), f"rows per partner and flow: {counts.to_dict()}"
    assert unexpected_warnings(shipped.warnings) == []
    assert shipped.implausible == shipped.warnings  # the KGZ re-exports (SHIPPED_WARNING)
    assert shipped.trade["year"].dtype.kind == "i"
    assert shipped.trade["value_usd"].dtype.kind == "f"
    assert (shipped.trade["value_usd"] > 0).all()


def test_shipped_pairs_and_indicators(shipped):
    assert list(shipped.pairs["partner"]) == PARTNERS
    contig = dict(zip(shipped.pairs["partner"], shipped.pairs["contig"], strict=True))
    assert contig == {"KAZ": 1, "KGZ": 1, "TJK": 1, "TKM": 0, "UZB": 0}
    assert sorted(shipped.indicators["iso3"].unique()) == ["CHN", *PARTNERS]
    codes = set(shipped.indicators["indicator"])
    assert {"NY.GDP.MKTP.CD", "IT.NET.USER.ZS", "LP.LPI.OVRL.XQ", "BX.GSR.CCIS.CD"} <= codes
    assert not any(code.endswith(".RK") for code in codes), "LPI ranks must not ship"


def test_shipped_lpi_is_dated_by_edition(shipped):
    ind = shipped.indicators
    lpi_years = sorted(ind.loc[ind["indicator"] == "LP.LPI.OVRL.XQ", "year"].unique())
    assert lpi_years == [2007, 2010, 2012, 2014, 2016, 2018, 2023]
    component_years = sorted(ind.loc[ind["indicator"] == "LP.LPI.CUST.XQ", "year"].unique())
    assert component_years == [2010, 2012, 2014, 2016, 2018, 2023]


def test_readme_documents_every_shipped_series(shipped):
    readme = (SHIPPED_DATA.parent / "README.md").read_text(encoding="utf-8")
    undocumented = sorted(c for c in shipped.indicators["indicator"].unique() if c not in readme)
    assert undocumented == [], f"series missing from data/README.md: {undocumented}"


def test_partner_reported_file_is_a_drop_in():
    data = load_dataset(trade_file="trade_partner_reported.csv")
    assert data.reporters == ["CHN"]
    assert data.partners == PARTNERS
    assert len(data.trade) == 208, f"{len(data.trade)} rows, expected 208 (TJK from 2001)"
    assert set(data.trade["reported_by"]) == set(PARTNERS)
    mirrors = data.trade[data.trade["mirror_of_china_report"] == "True"]
    assert set(mirrors["reported_by"]) == {"TKM"}
    assert (mirrors["year"].min(), mirrors["year"].max(), len(mirrors)) == (2004, 2019, 32)
    suspicious = data.trade[data.trade["suspicious"] == "True"]
    assert set(suspicious["reported_by"]) == {"UZB"}
    assert sorted(suspicious["year"].unique()) == [2000, 2001, 2002, 2003]


def test_holdout_is_kept_apart_and_post_dates_the_fit_data(shipped):
    holdout = load_holdout()
    assert holdout is not None
    assert set(holdout["year"]) == {2023, 2024}
    assert max(shipped.years) < holdout["year"].min()
    assert "total" in set(holdout["flow"])


def touch_all(tables):
    for path in SHIPPED_DATA.glob("*.csv"):
        tables[path.name]  # reading a table marks it to be written back


def test_content_hash_is_stable_and_changes_with_a_cell(make_dataset, shipped):
    same = load_dataset(make_dataset(edit=touch_all, name="same"))
    assert same.content_hash == shipped.content_hash, "unedited copy must hash the same"
    edited = load_dataset(make_dataset(edit=set_cell("trade.csv", 0, "value_usd", "598600001")))
    assert edited.content_hash != shipped.content_hash
    assert edited.trade.loc[0, "value_usd"] == 598600001


def test_unedited_copy_is_byte_identical(make_dataset):
    folder = make_dataset(edit=touch_all)
    for path in SHIPPED_DATA.glob("*.csv"):
        assert (folder / path.name).read_bytes() == path.read_bytes(), path.name


def test_missing_folder_is_a_data_error(tmp_path):
    with pytest.raises(DataError, match="not found"):
        load_dataset(tmp_path / "nowhere")


# ---------------------------------------------------------------------------- bad input


def test_bad_input_raises_one_data_error(
    bad_case: BadCase, make_dataset: MakeDataset, tmp_path, snapshot
):
    folder = bad_case.build(make_dataset)
    before = snapshot(tmp_path)
    with pytest.raises(DataError) as info:
        load_dataset(folder)
    message = str(info.value)
    assert info.value.exit_code == 3
    for fragment in bad_case.expected:
        assert fragment in message, f"{fragment!r} missing from:\n{message}"
    assert snapshot(tmp_path) == before, "validation must not write anything"


def test_all_problems_come_back_in_one_error(make_dataset):
    with pytest.raises(DataError) as info:
        load_dataset(make_dataset(edit=THREE_PROBLEMS))
    problems = info.value.problems
    assert len(problems) == 3, problems
    files = [p.split(":")[0] for p in problems]
    assert files == ["trade.csv", "indicators.csv", "pairs.csv"]
    assert "'value_usd'" in problems[0] and "'value'" in problems[1]
    assert "'contig'" in problems[2]
    text = str(info.value)
    assert all(p in text for p in problems), "render() must list every problem"


def test_problems_in_one_file_are_listed_together(make_dataset):
    def edit(tables):
        set_cell("trade.csv", 0, "value_usd", "-1")(tables)
        set_cell("trade.csv", 1, "flow", "both")(tables)
        set_cell("trade.csv", 2, "partner", "ZZZ")(tables)

    with pytest.raises(DataError) as info:
        load_dataset(make_dataset(edit=edit))
    assert len(info.value.problems) == 3, info.value.problems


def test_many_bad_rows_are_summarised(make_dataset):
    with pytest.raises(DataError) as info:
        load_dataset(make_dataset(edit=lambda t: t["trade.csv"].__setitem__("value_usd", "-1")))
    (problem,) = info.value.problems
    assert "and 202 more" in problem, problem  # 210 rows, 8 listed


def test_zero_trade_is_valid_and_warned_about(make_dataset):
    data = load_dataset(make_dataset(edit=set_cell("trade.csv", 0, "value_usd", "0")))
    assert data.trade["value_usd"].min() == 0
    assert len(data.trade) == 210
    (warning,) = unexpected_warnings(data.warnings)
    assert "1 zero" in warning and "trade.csv" in warning, warning


def test_blank_indicator_value_is_dropped_not_an_error(make_dataset, shipped):
    data = load_dataset(make_dataset(edit=set_cell("indicators.csv", 0, "value", "")))
    assert len(data.indicators) == len(shipped.indicators) - 1


def test_whitespace_around_cells_is_ignored(make_dataset, shipped):
    def pad(tables):
        trade = tables["trade.csv"]
        trade["partner"] = " " + trade["partner"] + " "

    data = load_dataset(make_dataset(edit=pad))
    assert data.partners == PARTNERS


def test_problem_names_the_trade_file_in_use(make_dataset):
    folder = make_dataset(
        edit=lambda t: t["trade_partner_reported.csv"].__setitem__("value_usd", "0")
    )
    with pytest.raises(DataError) as info:
        load_dataset(folder, trade_file="trade_partner_reported.csv")
    (problem,) = info.value.problems
    assert problem.startswith("trade_partner_reported.csv:"), problem


# ---------------------------------------------------------------------------- property tests

TRADE_HEADER = (SHIPPED_DATA / "trade.csv").read_text().splitlines()[0]
CELLS = st.one_of(
    st.sampled_from(
        ["CHN", "KAZ", "UZB", "2000", "2015.5", "1e400", "-1", "0", "inf", "nan", "", " ", '"']
    ),
    st.sampled_from(["export", "import", "total", "18446744073709551616", "-9e18", "True"]),
    st.text(max_size=6),
)
ROWS = st.lists(st.lists(CELLS, min_size=0, max_size=11), max_size=6)


@pytest.fixture(scope="module")
def scratch() -> Iterator[Path]:
    # Module-scoped: hypothesis runs many examples per test and rewrites trade.csv each time.
    # A short indicators.csv keeps each example fast; only trade.csv is under test.
    def shorten(tables):
        tables["indicators.csv"] = tables["indicators.csv"].head(12)

    with tempfile.TemporaryDirectory() as tmp:
        yield copy_dataset(Path(tmp) / "data", shorten)


def _load_or_data_error(folder: Path, content: bytes) -> None:
    (folder / "trade.csv").write_bytes(content)
    try:
        load_dataset(folder)
    except DataError as err:
        assert err.problems or err.message, "a DataError must say what is wrong"


PROPERTY = settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(content=st.binary(max_size=300))
def test_random_bytes_only_ever_raise_data_error(scratch, content):
    _load_or_data_error(scratch, content)


@PROPERTY
@given(text=st.text(max_size=300))
def test_random_text_only_ever_raises_data_error(scratch, text):
    _load_or_data_error(scratch, text.encode("utf-8"))


@PROPERTY
@given(rows=ROWS, header=st.sampled_from([TRADE_HEADER, "reporter,partner,year,flow,value_usd"]))
def test_random_rows_under_a_valid_header_only_ever_raise_data_error(scratch, rows, header):
    body = "\n".join(",".join(cells) for cells in rows)
    _load_or_data_error(scratch, f"{header}\n{body}\n".encode())


@PROPERTY
@given(text=st.text(max_size=300))
def test_random_worldbank_file_only_ever_raises_data_error(scratch, text):
    path = scratch.parent / "wb_random.csv"
    path.write_text(text, encoding="utf-8")
    try:
        read_worldbank_wide(path)
    except DataError:
        pass


# ---------------------------------------------------------------------------- World Bank import


def test_read_worldbank_drops_aggregates_and_blanks(wb_file):
    table = read_worldbank_wide(wb_file())
    assert list(table.columns) == ["iso3", "year", "indicator", "value"]
    assert set(table["iso3"]) == {"CHN", "KAZ", "KOR"}, "WLD/EAS are aggregates; TKM is blank"
    assert set(table["indicator"]) == {"IT.NET.USER.ZS"}
    got = {(r.iso3, r.year): r.value for r in table.itertuples()}
    assert got == {
        ("CHN", 2000): 1.78,
        ("CHN", 2020): 70.05,
        ("KAZ", 2019): 81.9,
        ("KAZ", 2020): 85.9,
        ("KOR", 2020): 96.5,
    }
    assert table["year"].dtype.kind == "i"


def test_read_worldbank_without_metadata_lines(wb_file):
    with_meta = read_worldbank_wide(wb_file("a.csv"))
    without = read_worldbank_wide(wb_file("b.csv", metadata=False))
    pd.testing.assert_frame_equal(with_meta, without)


def test_import_filters_countries_and_years(wb_file, tmp_path):
    out = tmp_path / "indicators.csv"
    table = import_worldbank([wb_file()], out, countries=["KAZ", "CHN"], first_year=2019)
    assert set(table["iso3"]) == {"KAZ", "CHN"}
    assert table["year"].min() == 2019
    written = pd.read_csv(out)
    assert len(written) == len(table) == 3


def test_import_two_series_and_load_back_with_trade_and_pairs(wb_file, make_dataset):
    folder = make_dataset()
    gdp_rows = [("Kazakhstan", "KAZ", {2019: "181667000000"}), ("China", "CHN", {2019: "1.4e13"})]
    files = [
        wb_file("net.csv"),
        wb_file("gdp.csv", rows=gdp_rows, indicator=("GDP (current US$)", "NY.GDP.MKTP.CD")),
    ]
    import_worldbank(files, folder / "indicators.csv")
    data = load_dataset(folder)
    ind = data.indicators.set_index(["iso3", "year", "indicator"])["value"]
    assert len(ind) == 7
    assert ind[("KAZ", 2019, "NY.GDP.MKTP.CD")] == pytest.approx(1.81667e11)
    assert ind[("KAZ", 2020, "IT.NET.USER.ZS")] == pytest.approx(85.9)


def test_import_merge_keeps_existing_rows_and_replaces_same_keys(wb_file, tmp_path):
    out = tmp_path / "indicators.csv"
    out.write_text(
        "iso3,year,indicator,value\n"
        "KAZ,2019,IT.NET.USER.ZS,1\n"  # replaced by the import (81.9)
        "KAZ,2018,IT.NET.USER.ZS,2\n"  # same series, other year: kept
        "UZB,2019,SP.POP.TOTL,33580650\n"  # other series: kept
    )
    table = import_worldbank([wb_file()], out, merge=True)
    got = pd.read_csv(out).set_index(["iso3", "year", "indicator"])["value"]
    assert len(got) == len(table) == 7
    assert got[("KAZ", 2019, "IT.NET.USER.ZS")] == pytest.approx(81.9)
    assert got[("KAZ", 2018, "IT.NET.USER.ZS")] == 2
    assert got[("UZB", 2019, "SP.POP.TOTL")] == pytest.approx(33580650, rel=1e-5)
    assert not got.index.duplicated().any()


def test_import_without_merge_replaces_the_file(wb_file, tmp_path):
    out = tmp_path / "indicators.csv"
    out.write_text("iso3,year,indicator,value\nUZB,2019,SP.POP.TOTL,33580650\n")
    import_worldbank([wb_file()], out)
    assert "SP.POP.TOTL" not in out.read_text()


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ("just,some,csv\n1,2,3\n", "no 'Country Name"),
        ("", "no 'Country Name"),
        ('"Country Name","Country Code","Indicator Name","Indicator Code",\n', "no year column"),
        (
            '"Country Name","Indicator Name","Indicator Code","2020",\n"Kazakhstan","x","X","1",\n',
            "missing column 'Country Code'",
        ),
        (
            worldbank_text(rows=[("Kazakhstan", "KAZ", {2019: "5", 2020: "abc"})]),
            "non-numeric values",
        ),
        ('"Country Name","Country Code","Indicator Code","2020"\n"Kaz,KAZ,X,1\n', "not a readable"),
    ],
    ids=["no-header", "empty", "no-years", "no-country-code", "non-numeric", "unbalanced-quote"],
)
def test_bad_worldbank_file_raises_and_writes_nothing(tmp_path, snapshot, content, fragment):
    bad = tmp_path / "bad.csv"
    bad.write_text(content)
    before = snapshot(tmp_path)
    with pytest.raises(DataError) as info:
        import_worldbank([bad], tmp_path / "indicators.csv")
    assert fragment in str(info.value), str(info.value)
    assert "bad.csv" in str(info.value)
    assert snapshot(tmp_path) == before


def test_import_rejects_unknown_country_filter(wb_file, tmp_path):
    with pytest.raises(DataError, match=r"unknown ISO3 code\(s\) \['XYZ'\]"):
        import_worldbank([wb_file()], tmp_path / "out.csv", countries=["KAZ", "XYZ"])
    assert not (tmp_path / "out.csv").exists()


def test_import_refuses_to_write_an_empty_table(wb_file, tmp_path):
    with pytest.raises(DataError, match="nothing to write"):
        import_worldbank([wb_file()], tmp_path / "out.csv", countries=["TKM"])
    assert not (tmp_path / "out.csv").exists()


def test_merge_into_a_bad_file_leaves_it_untouched(wb_file, tmp_path):
    out = tmp_path / "indicators.csv"
    out.write_text("iso3,year,indicator,value\nKAZ,2019.5,X,1\n")
    with pytest.raises(DataError, match="non-integer year"):
        import_worldbank([wb_file()], out, merge=True)
    assert out.read_text() == "iso3,year,indicator,value\nKAZ,2019.5,X,1\n"
