"""Shared fixtures: copies of the shipped dataset with one thing broken, World Bank bulk files.

Every broken-input case lives in ``BAD_CASES`` so the loader tests (``test_data.py``) and the
CLI tests (``test_cli_validate.py``) run the same cases through both front doors.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pytest

from bayes_gravity.data import SHIPPED_DATA

Tables = dict[str, pd.DataFrame]
Edit = Callable[[Tables], None]
MakeDataset = Callable[..., Path]

TRADE_TEXT = (SHIPPED_DATA / "trade.csv").read_text(encoding="utf-8")
TRADE_LINES = TRADE_TEXT.splitlines()
HEADERS = {
    name: (SHIPPED_DATA / name).read_text(encoding="utf-8").splitlines()[0]
    for name in ("trade.csv", "indicators.csv", "pairs.csv")
}
N_INDICATOR_ROWS = len((SHIPPED_DATA / "indicators.csv").read_text().splitlines()) - 1


def read_strings(path: Path) -> pd.DataFrame:
    """Read a CSV exactly as written: every cell a string, nothing turned into NaN."""
    return pd.read_csv(path, dtype=str, keep_default_na=False)


class _LazyTables(dict):
    """Tables read on first access, so an edit only rewrites the files it touched."""

    def __init__(self, folder: Path) -> None:
        super().__init__()
        self.folder = folder

    def __missing__(self, name: str) -> pd.DataFrame:
        self[name] = read_strings(self.folder / name)
        return self[name]


def copy_dataset(
    folder: Path, edit: Edit | None = None, raw: Mapping[str, bytes] | None = None
) -> Path:
    """Copy the shipped dataset to ``folder``, apply ``edit`` to its tables, then ``raw`` bytes.

    ``edit`` receives ``{file name: table of strings}`` (read on first access) and may change
    or replace tables in place; every table it touched is written back (the string round trip
    leaves an unchanged table byte-identical). ``raw`` overwrites whole files with the given
    bytes.
    """
    shutil.copytree(SHIPPED_DATA, folder)
    if edit is not None:
        tables = _LazyTables(folder)
        edit(tables)
        for name, frame in tables.items():
            frame.to_csv(folder / name, index=False)
    for name, content in (raw or {}).items():
        (folder / name).write_bytes(content)
    return folder


@pytest.fixture
def make_dataset(tmp_path: Path) -> MakeDataset:
    """``make_dataset(edit=..., raw=..., name="data")``: an edited copy of the shipped data."""

    def make(
        edit: Edit | None = None, raw: Mapping[str, bytes] | None = None, name: str = "data"
    ) -> Path:
        return copy_dataset(tmp_path / name, edit, raw)

    return make


def file_snapshot(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` (relative path -> bytes), to prove nothing was written."""
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


@pytest.fixture
def snapshot() -> Callable[[Path], dict[str, bytes]]:
    """The :func:`file_snapshot` function."""
    return file_snapshot


# ---------------------------------------------------------------------------- edits


def set_cell(file: str, row: int, column: str, value: str) -> Edit:
    """Set one cell (``row`` is 0-based, i.e. file line ``row + 2``)."""

    def edit(tables: Tables) -> None:
        tables[file].loc[row, column] = value

    return edit


def set_where(file: str, match: dict[str, str], column: str, value: str) -> Edit:
    """Set ``column`` to ``value`` in every row matching all of ``match``."""

    def edit(tables: Tables) -> None:
        frame = tables[file]
        mask = pd.Series(True, index=frame.index)
        for col, wanted in match.items():
            mask &= frame[col] == wanted
        assert mask.any(), f"no row of {file} matches {match}"
        frame.loc[mask, column] = value

    return edit


def drop_column(file: str, column: str) -> Edit:
    def edit(tables: Tables) -> None:
        tables[file] = tables[file].drop(columns=column)

    return edit


def drop_where(file: str, column: str, value: str) -> Edit:
    def edit(tables: Tables) -> None:
        frame = tables[file]
        assert (frame[column] == value).any(), f"no row of {file} has {column}={value}"
        tables[file] = frame[frame[column] != value]

    return edit


def duplicate_row(file: str, row: int) -> Edit:
    """Append a copy of ``row`` at the end of the file."""

    def edit(tables: Tables) -> None:
        frame = tables[file]
        tables[file] = pd.concat([frame, frame.iloc[[row]]], ignore_index=True)

    return edit


def combine(*edits: Edit) -> Edit:
    def edit(tables: Tables) -> None:
        for one in edits:
            one(tables)

    return edit


# ---------------------------------------------------------------------------- bad cases


@dataclass(frozen=True)
class BadCase:
    """A broken dataset and the fragments its error message must contain.

    ``expected`` names the file, the column and the offending keys or lines.
    """

    id: str
    expected: tuple[str, ...]
    edit: Edit | None = None
    raw: Mapping[str, bytes] = field(default_factory=dict)

    def build(self, make_dataset: MakeDataset) -> Path:
        return make_dataset(edit=self.edit, raw=self.raw)


BAD_CASES = [
    BadCase(
        "negative-trade-value",
        ("trade.csv", "'value_usd'", "below 0", "line 2", "partner=KAZ", "year=2000", "=-5"),
        set_cell("trade.csv", 0, "value_usd", "-5"),
    ),
    BadCase(
        "non-numeric-trade-value",
        ("trade.csv", "'value_usd'", "non-numeric", "line 4", "year=2002", "=12 million"),
        set_cell("trade.csv", 2, "value_usd", "12 million"),
    ),
    BadCase(
        "infinite-trade-value",
        ("trade.csv", "'value_usd'", "line 2", "value_usd=inf"),
        set_cell("trade.csv", 0, "value_usd", "inf"),
    ),
    BadCase(
        "missing-trade-value",
        ("trade.csv", "'value_usd'", "missing", "line 2"),
        set_cell("trade.csv", 0, "value_usd", ""),
    ),
    BadCase(
        "duplicate-trade-keys",
        ("trade.csv", "duplicate key", "line 7", "line 212", "partner=KAZ", "year=2005"),
        duplicate_row("trade.csv", 5),
    ),
    BadCase(
        "duplicate-indicator-keys",
        (
            "indicators.csv",
            "duplicate key",
            "line 2",
            f"line {N_INDICATOR_ROWS + 2}",
            "iso3=CHN",
            "indicator=BX.GSR.CCIS.CD",
        ),
        duplicate_row("indicators.csv", 0),
    ),
    BadCase(
        "unknown-iso3-trade-reporter",
        ("trade.csv", "'reporter'", "unknown ISO3", "XXX", "line 2"),
        set_cell("trade.csv", 0, "reporter", "XXX"),
    ),
    BadCase(
        "unknown-iso3-trade-partner",
        ("trade.csv", "'partner'", "unknown ISO3", "KZK", "line 3"),
        set_cell("trade.csv", 1, "partner", "KZK"),
    ),
    BadCase(
        "unknown-iso3-indicators",
        ("indicators.csv", "'iso3'", "unknown ISO3", "QQQ", "line 2"),
        set_cell("indicators.csv", 0, "iso3", "QQQ"),
    ),
    BadCase(
        "unknown-iso3-pairs",
        ("pairs.csv", "'partner'", "unknown ISO3", "UZX", "line 6"),
        set_cell("pairs.csv", 4, "partner", "UZX"),
    ),
    BadCase(
        "lower-case-iso3",
        ("trade.csv", "'partner'", "unknown ISO3", "kaz", "line 2"),
        set_cell("trade.csv", 0, "partner", "kaz"),
    ),
    *(
        BadCase(
            f"non-integer-year-{file.split('.')[0]}-{value}",
            (file, "'year'", "non-integer", "line 3", f"year={value}"),
            set_cell(file, 1, "year", value),
        )
        for file in ("trade.csv", "indicators.csv")
        for value in ("2015.5", "abc")
    ),
    BadCase(
        "year-out-of-range",
        ("trade.csv", "'year'", "outside", "line 2", "year=15"),
        set_cell("trade.csv", 0, "year", "15"),
    ),
    *(
        BadCase(
            f"bad-flow-{value}",
            ("trade.csv", "'flow'", f"'{value}'", "line 2", "export", "import"),
            set_cell("trade.csv", 0, "flow", value),
        )
        for value in ("total", "Export", "exports")
    ),
    *(
        BadCase(
            f"missing-column-{file.split('.')[0]}",
            (file, "missing column", f"'{column}'"),
            drop_column(file, column),
        )
        for file, column in (
            ("trade.csv", "value_usd"),
            ("indicators.csv", "value"),
            ("pairs.csv", "dist_km"),
        )
    ),
    *(
        BadCase(f"empty-file-{file.split('.')[0]}", (file, "empty"), raw={file: b""})
        for file in HEADERS
    ),
    *(
        BadCase(
            f"header-only-{file.split('.')[0]}",
            (file, "header only"),
            raw={file: (HEADERS[file] + "\n").encode()},
        )
        for file in HEADERS
    ),
    BadCase(
        "unreadable-bytes-trade",
        ("trade.csv", "unreadable bytes", "offset 0", "UTF-8"),
        raw={"trade.csv": b"\xff\xfe\x00garbage"},
    ),
    BadCase(
        "latin1-bytes-indicators",
        ("indicators.csv", "unreadable bytes", "offset 38", "UTF-8"),
        raw={"indicators.csv": "iso3,year,indicator,value\nCHN,2000,Caf\xe9,1\n".encode("latin-1")},
    ),
    BadCase(
        "extra-field-in-row",
        ("trade.csv", "more fields than the header"),
        raw={
            "trade.csv": "\n".join(
                [TRADE_LINES[0], TRADE_LINES[1] + ",x", *TRADE_LINES[2:]]
            ).encode()
        },
    ),
    BadCase(
        "repeated-column",
        ("trade.csv", "'year'", "more than once"),
        raw={
            "trade.csv": "\n".join(
                [TRADE_LINES[0] + ", year", *(line + ",2000" for line in TRADE_LINES[1:])]
            ).encode()
        },
    ),
    BadCase(
        "partner-missing-from-pairs",
        ("pairs.csv", "trade.csv", "'partner'", "CHN-UZB"),
        drop_where("pairs.csv", "partner", "UZB"),
    ),
    BadCase(
        "non-numeric-indicator-value",
        ("indicators.csv", "'value'", "non-numeric", "line 5", "iso3=CHN", "value=n/a"),
        set_cell("indicators.csv", 3, "value", "n/a"),
    ),
    BadCase(
        "bad-contig",
        ("pairs.csv", "'contig'", "0 or 1", "partner=KAZ"),
        set_cell("pairs.csv", 0, "contig", "yes"),
    ),
    BadCase(
        "negative-distance",
        ("pairs.csv", "'dist_km'", "below 0", "partner=KGZ"),
        set_cell("pairs.csv", 1, "dist_km", "-3"),
    ),
    BadCase(
        "partner-without-positive-trade",
        ("trade.csv", "'value_usd'", "['UZB']", "no positive trade"),
        set_where("trade.csv", {"partner": "UZB"}, "value_usd", "0"),
    ),
]

# Three different problems in three files: all must come back in one error.
THREE_PROBLEMS = combine(
    set_cell("trade.csv", 0, "value_usd", "-1"),
    set_cell("indicators.csv", 0, "value", "lots"),
    set_cell("pairs.csv", 0, "contig", "2"),
)


@pytest.fixture(params=BAD_CASES, ids=[case.id for case in BAD_CASES])
def bad_case(request: pytest.FixtureRequest) -> BadCase:
    """Each broken-input case in turn."""
    return request.param


# ---------------------------------------------------------------------------- World Bank files

WB_YEARS = list(range(1960, 2025))
WB_ROWS = [
    # (country name, code, {year: value}); aggregates and an all-blank row are in the file too
    ("World", "WLD", {2019: "56.7", 2020: "59.3"}),
    ("East Asia & Pacific", "EAS", {2020: "64.1"}),
    ("Kazakhstan", "KAZ", {2019: "81.9", 2020: "85.9", 2021: ""}),
    ("China", "CHN", {2000: "1.78", 2020: "70.05"}),
    ("Korea, Rep.", "KOR", {2020: "96.5"}),
    ("Turkmenistan", "TKM", {}),
]
WB_INDICATOR = ("Individuals using the Internet (% of population)", "IT.NET.USER.ZS")


def worldbank_text(
    rows: list[tuple[str, str, dict[int, str]]] = WB_ROWS,
    indicator: tuple[str, str] = WB_INDICATOR,
    metadata: bool = True,
) -> str:
    """A file in the World Bank API bulk format (quoted cells, trailing comma, 1960-2024)."""

    def line(cells: list[str]) -> str:
        return ",".join(f'"{c}"' for c in cells) + ","

    head = (
        [
            line(["Data Source", "World Development Indicators"]),
            "",
            line(["Last Updated Date", "2024-12-16"]),
            "",
        ]
        if metadata
        else []
    )
    header = line(["Country Name", "Country Code", "Indicator Name", "Indicator Code"])
    header = header[:-1] + "," + line([str(y) for y in WB_YEARS])
    body = [
        line([name, code, *indicator, *(values.get(y, "") for y in WB_YEARS)])
        for name, code, values in rows
    ]
    return "\n".join([*head, header, *body]) + "\n"


@pytest.fixture
def wb_file(tmp_path: Path) -> Callable[..., Path]:
    """``wb_file(name="wb.csv", **worldbank_text kwargs)``: write a bulk file to ``tmp_path``."""

    def write(name: str = "wb.csv", **kwargs: object) -> Path:
        path = tmp_path / name
        path.write_text(worldbank_text(**kwargs), encoding="utf-8")  # type: ignore[arg-type]
        return path

    return write
