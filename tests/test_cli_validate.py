"""The ``validate`` and ``data import-wb`` commands: exit codes, messages, nothing written."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from bayes_gravity.cli import main
from conftest import (
    SHIPPED_WARNING,
    THREE_PROBLEMS,
    BadCase,
    MakeDataset,
    set_cell,
    unexpected_warnings,
)

ISO3 = ["CHN", "KAZ", "KGZ", "TJK", "TKM", "UZB"]
HEAVY = ("pymc", "pytensor", "arviz")


def run(argv: list[str], capsys) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def run_subprocess(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args], cwd=cwd, capture_output=True, text=True, timeout=120
    )


# ---------------------------------------------------------------------------- validate


def test_validate_shipped_data_prints_coverage(capsys, tmp_path, monkeypatch, snapshot):
    monkeypatch.chdir(tmp_path)
    code, out, err = run(["validate"], capsys)
    assert code == 0, err
    assert SHIPPED_WARNING in err and "implausible" in err
    assert unexpected_warnings(err) == [], f"only the known warning expected, got {err!r}"
    assert "210 rows" in out and "years 2000-2020" in out
    assert "IT.NET.USER.ZS" in out and "LP.LPI.OVRL.XQ" in out
    coverage_header = next(line for line in out.splitlines() if line.startswith("iso3"))
    assert coverage_header.split()[1:] == ISO3, coverage_header
    assert "no problems found" in out
    assert snapshot(tmp_path) == {}, "validate must not write files"


def test_validate_partner_reported_file(capsys, make_dataset):
    folder = make_dataset()
    code, out, err = run(
        ["validate", "--data", str(folder), "--trade-file", "trade_partner_reported.csv"], capsys
    )
    assert code == 0, err
    assert "208 rows" in out


def test_validate_bad_input_exits_3_naming_the_problem(
    bad_case: BadCase, make_dataset: MakeDataset, capsys, tmp_path, monkeypatch, snapshot
):
    folder = bad_case.build(make_dataset)
    monkeypatch.chdir(tmp_path)
    before = snapshot(tmp_path)
    code, out, err = run(["validate", "--data", str(folder)], capsys)
    assert code == 3, f"exit code {code}, expected 3 (data error); stderr:\n{err}"
    assert err.startswith("error: ")
    for fragment in bad_case.expected:
        assert fragment in err, f"{fragment!r} missing from stderr:\n{err}"
    assert "Traceback" not in err
    assert "no problems found" not in out
    assert snapshot(tmp_path) == before, "validate must not write files"


def test_validate_lists_problems_of_three_files_at_once(make_dataset, capsys):
    code, _, err = run(["validate", "--data", str(make_dataset(edit=THREE_PROBLEMS))], capsys)
    assert code == 3
    bullets = [line for line in err.splitlines() if line.startswith("  - ")]
    assert [b.split(":")[0] for b in bullets] == [
        "  - trade.csv",
        "  - indicators.csv",
        "  - pairs.csv",
    ], err


def test_validate_zero_trade_is_usable_with_a_warning(make_dataset, capsys):
    folder = make_dataset(edit=set_cell("trade.csv", 3, "value_usd", "0"))
    code, out, err = run(["validate", "--data", str(folder)], capsys)
    assert code == 0, err
    assert "warning:" in err and "zero" in err
    assert "no problems found" in out


def test_validate_missing_folder_exits_3(tmp_path, capsys):
    code, _, err = run(["validate", "--data", str(tmp_path / "nowhere")], capsys)
    assert code == 3
    assert "nowhere" in err


def test_fresh_process_no_traceback_and_no_heavy_imports(make_dataset, wb_file, tmp_path):
    # One fresh interpreter (importing pandas is the slow part) runs the light commands on good
    # and bad input: exit codes, clean stderr, nothing written, no PyMC/PyTensor/ArviZ loaded.
    bad_data = make_dataset(edit=set_cell("trade.csv", 0, "value_usd", "-5"))
    bad_wb = wb_file("bad_wb.csv")
    bad_wb.write_text("no,header,here\n")
    runs = [
        ["--help"],
        ["validate"],
        ["validate", "--data", str(bad_data)],
        ["data", "import-wb", str(bad_wb), "--out", "ind.csv"],
    ]
    code = f"""
import json, sys
from bayes_gravity.cli import main
codes = [main(argv) for argv in {runs!r}]
heavy = sorted(m for m in sys.modules if m.split(".")[0].split("_")[0] in {HEAVY!r})
print(json.dumps({{"codes": codes, "heavy": heavy}}))
"""
    before = sorted(p.name for p in tmp_path.iterdir())
    result = run_subprocess(["-c", code], tmp_path)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["codes"] == [0, 0, 3, 3], result.stderr
    assert report["heavy"] == [], f"imported: {report['heavy'][:10]}"
    assert "Traceback" not in result.stderr
    assert "trade.csv: column 'value_usd'" in result.stderr and "line 2" in result.stderr
    assert "bad_wb.csv: no 'Country Name" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == before, "nothing may be written"


def test_module_entry_point_help_is_light(tmp_path):
    # -X importtime lists every module the real entry point imports, on stderr.
    result = run_subprocess(["-X", "importtime", "-m", "bayes_gravity", "--help"], tmp_path)
    assert result.returncode == 0, result.stderr
    assert "validate" in result.stdout and "data" in result.stdout
    imported = [line.split("|")[-1].strip() for line in result.stderr.splitlines()]
    assert "bayes_gravity.cli" in imported, "importtime output not understood"
    heavy = [m for m in imported if m.split(".")[0].split("_")[0] in HEAVY]
    assert heavy == [], f"--help imported {heavy[:10]}"


# ---------------------------------------------------------------------------- data import-wb


def test_import_wb_writes_indicators(wb_file, tmp_path, capsys):
    out = tmp_path / "indicators.csv"
    code, stdout, err = run(["data", "import-wb", str(wb_file()), "--out", str(out)], capsys)
    assert code == 0, err
    table = pd.read_csv(out)
    assert set(table["iso3"]) == {"CHN", "KAZ", "KOR"}
    assert "5 values" in stdout and "3 countries" in stdout


def test_import_wb_countries_and_merge(wb_file, tmp_path, capsys):
    out = tmp_path / "indicators.csv"
    out.write_text("iso3,year,indicator,value\nKAZ,2019,IT.NET.USER.ZS,1\nUZB,2019,X.Y,5\n")
    argv = ["data", "import-wb", str(wb_file()), "--out", str(out)]
    code, _, err = run([*argv, "--countries", "KAZ, CHN", "--merge"], capsys)
    assert code == 0, err
    got = pd.read_csv(out).set_index(["iso3", "year", "indicator"])["value"]
    assert sorted(got.index.get_level_values("iso3").unique()) == ["CHN", "KAZ", "UZB"]
    assert got[("KAZ", 2019, "IT.NET.USER.ZS")] == pytest.approx(81.9)
    assert got[("UZB", 2019, "X.Y")] == 5


def test_import_wb_output_validates_with_trade_and_pairs(wb_file, make_dataset, capsys):
    folder = make_dataset()
    out = folder / "indicators.csv"
    code, _, err = run(["data", "import-wb", str(wb_file()), "--out", str(out)], capsys)
    assert code == 0, err
    code, stdout, err = run(["validate", "--data", str(folder)], capsys)
    assert code == 0, err
    assert "indicators: 1" in stdout


@pytest.mark.parametrize(
    ("extra", "content", "fragment"),
    [
        ([], "no,header,here\n1,2,3\n", "no 'Country Name"),
        (["--countries", "KAZ,XYZ"], None, "XYZ"),
        (["--countries", "TKM"], None, "nothing to write"),
    ],
    ids=["no-header", "unknown-country", "nothing-left"],
)
def test_import_wb_bad_input_exits_3_and_writes_nothing(
    wb_file, tmp_path, capsys, snapshot, extra, content, fragment
):
    src = wb_file()
    if content is not None:
        src.write_text(content)
    before = snapshot(tmp_path)
    out = tmp_path / "indicators.csv"
    code, _, err = run(["data", "import-wb", str(src), "--out", str(out), *extra], capsys)
    assert code == 3, err
    assert fragment in err, err
    assert "Traceback" not in err
    assert snapshot(tmp_path) == before, "a failed import must write nothing"
