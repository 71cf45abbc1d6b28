"""Plausibility at the front door: implausible values warn, ``--strict-data`` refuses them.

The impossible values and unreadable layouts are ``BAD_CASES`` in conftest.py (run through
the loader in test_data.py and through ``validate`` in test_cli_validate.py); this module
covers the warnings, ``--strict-data``, the spec's window and paths of the wrong kind.
"""

from __future__ import annotations

import pytest

from bayes_gravity.cli import main
from bayes_gravity.data.dataset import SHIPPED_DATA, load_dataset
from bayes_gravity.data.plausibility import window_warnings
from bayes_gravity.errors import DataError
from conftest import SHIPPED_WARNING, MakeDataset, set_cell, write_spec

# KAZ's GDP in 2000 is 18.3 bn US$: 20 bn of exports is above it, far below ten times it.
ABOVE_GDP = set_cell("trade.csv", 0, "value_usd", "20000000000")


def run(argv: list[str], capsys) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_flow_above_gdp_is_a_warning_naming_line_and_share(make_dataset: MakeDataset):
    data = load_dataset(make_dataset(edit=ABOVE_GDP))
    (warning,) = data.warnings  # one message for the file, with the shipped KGZ rows
    assert SHIPPED_WARNING in warning
    assert "trade.csv" in warning and "'value_usd'" in warning
    assert "line 2 (CHN->KAZ export 2000" in warning and "of KAZ's GDP" in warning
    assert data.implausible == data.warnings


def test_strict_data_turns_the_warning_into_an_error(make_dataset: MakeDataset):
    with pytest.raises(DataError) as info:
        load_dataset(make_dataset(edit=ABOVE_GDP), strict=True)
    assert info.value.exit_code == 3
    assert any("line 2 (CHN->KAZ" in p and "--strict-data" in p for p in info.value.problems)


def test_shipped_data_strict_refuses_the_kyrgyz_re_exports(capsys):
    code, out, err = run(["validate", "--strict-data"], capsys)
    assert code == 3 and SHIPPED_WARNING in err and "--strict-data" in err
    assert "Traceback" not in err and "no problems found" not in out


def test_validate_warns_and_exits_0_without_strict(make_dataset: MakeDataset, capsys):
    code, out, err = run(["validate", "--data", str(make_dataset(edit=ABOVE_GDP))], capsys)
    assert code == 0 and "warning:" in err and "of KAZ's GDP" in err
    assert "no problems found" in out


@pytest.mark.parametrize("strict", [True, False], ids=["strict-data", "impossible-value"])
def test_fit_refuses_before_sampling_and_writes_nothing(
    make_dataset: MakeDataset, tmp_path, capsys, strict
):
    edit = ABOVE_GDP if strict else set_cell("pairs.csv", 0, "dist_km", "0")
    spec = write_spec(tmp_path / "spec.toml", data_path=make_dataset(edit=edit))
    out = tmp_path / "out"
    code, _, err = run(["fit", str(spec), "--out", str(out), *(["--strict-data"] * strict)], capsys)
    assert code == 3, err
    assert ("--strict-data" in err) == strict and ("0 km or less" in err) != strict
    assert "Traceback" not in err
    assert not out.exists(), "nothing may be written"


def test_spec_years_outside_the_data_are_a_warning_then_an_error(tmp_path, capsys):
    assert window_warnings(1995, 2020, list(range(2000, 2021)), "s.toml") == [
        "s.toml: data.first_year = 1995 is before the first trade year 2000: "
        "the fit uses 2000-2020 only"
    ]
    assert window_warnings(2000, 2020, list(range(2000, 2021)), "s.toml") == []
    data = load_dataset(window=(2000, 2025, "s.toml"))
    assert "s.toml: data.last_year = 2025 is after the last trade year 2020" in data.warnings[-1]
    spec = write_spec(tmp_path / "wide.toml", replace={"first_year = 2000": "first_year = 1995"})
    out = tmp_path / "out"
    code, _, err = run(["classic", str(spec), "--out", str(out)], capsys)
    assert code == 0, err
    assert "warning:" in err and "first_year = 1995 is before the first trade year 2000" in err
    code, _, err = run(["fit", str(spec), "--out", str(tmp_path / "fit"), "--strict-data"], capsys)
    assert code == 3 and "first_year = 1995" in err and SHIPPED_WARNING in err  # listed at once
    assert not (tmp_path / "fit").exists()


def test_trade_file_that_is_a_folder(make_dataset: MakeDataset, capsys):
    folder = make_dataset()
    (folder / "trade.csv").unlink()
    (folder / "trade.csv").mkdir()
    with pytest.raises(DataError, match=r"trade.csv: is a folder; expected the CSV file"):
        load_dataset(folder)
    code, _, err = run(["validate", "--data", str(folder)], capsys)
    assert code == 3 and "is a folder" in err and "Traceback" not in err


def test_data_path_that_is_a_file(capsys):
    with pytest.raises(DataError, match=r"is a file; expected a folder holding trade.csv"):
        load_dataset(SHIPPED_DATA / "trade.csv")
    code, _, err = run(["validate", "--data", str(SHIPPED_DATA / "trade.csv")], capsys)
    assert code == 3 and "is a file" in err


def test_missing_file_names_it(make_dataset: MakeDataset, capsys):
    folder = make_dataset()
    (folder / "pairs.csv").unlink()
    with pytest.raises(DataError, match=r"pairs.csv: file not found; every dataset folder needs"):
        load_dataset(folder)
    code, _, err = run(["validate", "--data", str(folder)], capsys)
    assert code == 3 and "pairs.csv: file not found" in err
