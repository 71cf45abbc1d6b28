"""Out-of-sample check: 2023 predictive intervals for the press-quoted trade figures."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bayes_gravity.data.dataset import SHIPPED_DATA, load_holdout
from bayes_gravity.results.holdout import COLUMNS, HOLDOUT_FILE, holdout_table, write_holdout
from bayes_gravity.results.store import load_run


@pytest.fixture(scope="module")
def model(small_run: Path):
    return load_run(small_run)


@pytest.fixture(scope="module")
def table(model) -> pd.DataFrame:
    result = holdout_table(model, seed=5)
    assert result is not None
    return result


def test_fit_writes_the_holdout_table(small_run: Path) -> None:
    written = pd.read_csv(small_run / HOLDOUT_FILE)
    assert list(written.columns) == COLUMNS


def test_table_shape_and_columns(table: pd.DataFrame) -> None:
    press = load_holdout(SHIPPED_DATA)
    expected = press[press["year"] == 2023]
    assert list(table.columns) == COLUMNS
    assert len(table) == len(expected) == 15, "five partners x export, import, total"
    assert set(table["flow"]) == {"export", "import", "total"}
    assert (table["year"] == 2023).all()
    merged = table.merge(expected, on=["partner", "flow"])
    np.testing.assert_allclose(merged["actual"], merged["value_usd"])


def test_intervals_are_nested_around_the_median(table: pd.DataFrame) -> None:
    order = ["lo90", "lo50", "pred_median", "hi50", "hi90"]
    values = table[order].to_numpy()
    assert (np.diff(values, axis=1) >= 0).all(), "intervals must nest around the median"
    assert (table["lo90"] > 0).all(), "trade in US$ is positive"
    inside50 = (table["actual"] >= table["lo50"]) & (table["actual"] <= table["hi50"])
    assert (table["in50"] == inside50).all()
    assert (table["in90"] >= table["in50"]).all(), "inside the 50 % interval but not the 90 %"


def test_total_sums_export_and_import(table: pd.DataFrame) -> None:
    means = table.pivot(index="partner", columns="flow", values="pred_mean")
    np.testing.assert_allclose(means["total"], means["export"] + means["import"], rtol=1e-12)
    # a sum of positive draws has a higher median than either part
    medians = table.pivot(index="partner", columns="flow", values="pred_median")
    assert (medians["total"] > medians[["export", "import"]].max(axis=1)).all()


def test_notes_name_carried_forward_covariates_and_derived_figures(table: pd.DataFrame) -> None:
    notes = table.set_index(["partner", "flow"])["note"].fillna("")
    assert "IT.NET.USER.ZS of 2017 carried forward" in notes[("TKM", "export")]
    assert "carried forward" not in notes[("KAZ", "export")], "KAZ has 2023 internet data"
    assert "derived by subtraction" in notes[("UZB", "export")]


def test_same_seed_same_bytes(model, tmp_path: Path) -> None:
    paths = []
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        paths.append(write_holdout(model, tmp_path / name, seed=9))
    assert paths[0] is not None and paths[1] is not None
    assert paths[0].read_bytes() == paths[1].read_bytes()


def test_no_holdout_file_is_skipped(small_run: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    shutil.copytree(SHIPPED_DATA, data)
    (data / "trade_press_2023_2024.csv").unlink()
    model = load_run(small_run, data=data)  # the fitted files are unchanged: same data hash
    assert holdout_table(model) is None
    assert write_holdout(model, tmp_path) is None
    assert not (tmp_path / HOLDOUT_FILE).exists()
