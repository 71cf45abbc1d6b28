"""Shared fixtures: copies of the shipped dataset with one thing broken, World Bank bulk files.

Every broken-input case lives in ``BAD_CASES`` so the loader tests (``test_data.py``) and the
CLI tests (``test_cli_validate.py``) run the same cases through both front doors.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pytest

from bayes_gravity.data.dataset import SHIPPED_DATA

# The small real fit (`small_run`); --no-compare: the PSIS-LOO comparison refits two models,
# tests/test_report.py runs it tiny. tests/test_checksums.py pins its tables' bytes.
from checksums import SMALL_FIT

# Compiled programs of this test session go to a fresh cache folder (inherited by the
# subprocesses), so the suite starts cold and leaves the user's cache alone; point
# BAYES_GRAVITY_CACHE_DIR at a folder of your own to reuse compiled programs across runs.
os.environ.setdefault("BAYES_GRAVITY_CACHE_DIR", tempfile.mkdtemp(prefix="bayes-gravity-tests-"))

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


# The second corpus (issue 16): values the quantity cannot take, and files not in the
# documented format (another encoding or delimiter, rows with missing fields).
def _kaz_2010(code: str, value: str) -> Edit:
    return set_where(
        "indicators.csv", {"iso3": "KAZ", "year": "2010", "indicator": code}, "value", value
    )


IMPOSSIBLE_CASES = [
    BadCase(
        "zero-distance",
        ("pairs.csv", "'dist_km'", "0 km or less", "line 2", "partner=KAZ", "log"),
        set_cell("pairs.csv", 0, "dist_km", "0"),
    ),
    BadCase(
        "zero-other-distance-column",
        ("pairs.csv", "'distw_km'", "0 km or less", "partner=KGZ"),
        set_cell("pairs.csv", 1, "distw_km", "0"),
    ),
    BadCase(
        "nan-spelled-out-indicator",
        ("indicators.csv", "'value'", "line 5", "value=NaN"),
        set_cell("indicators.csv", 3, "value", "NaN"),
    ),
    BadCase(
        "nan-spelled-out-distance",
        ("pairs.csv", "'dist_km'", "non-numeric, missing or infinite", "dist_km=nan"),
        set_cell("pairs.csv", 2, "dist_km", "nan"),
    ),
    BadCase(
        "minus-infinity-trade",
        ("trade.csv", "'value_usd'", "infinite", "line 3", "value_usd=-inf"),
        set_cell("trade.csv", 1, "value_usd", "-inf"),
    ),
    BadCase(
        "infinite-indicator",
        ("indicators.csv", "'value'", "infinite", "line 2", "value=Infinity"),
        set_cell("indicators.csv", 0, "value", "Infinity"),
    ),
    BadCase(
        "trade-above-world-gdp",
        ("trade.csv", "'value_usd'", "10 times", "line 2", "CHN->KAZ export 2000", "KAZ's GDP"),
        set_cell("trade.csv", 0, "value_usd", "1e14"),
    ),
    BadCase(
        "share-above-100-percent",
        ("indicators.csv", "IT.NET.USER.ZS", "at most 100", "iso3=KAZ", "year=2010", "value=150"),
        _kaz_2010("IT.NET.USER.ZS", "150"),
    ),
    BadCase(
        "negative-share",
        ("indicators.csv", "GB.XPD.RSDV.GD.ZS", "at least 0", "iso3=KAZ", "value=-0.2"),
        _kaz_2010("GB.XPD.RSDV.GD.ZS", "-0.2"),
    ),
    BadCase(
        "zero-gdp",
        ("indicators.csv", "NY.GDP.MKTP.CD", "above 0", "iso3=KAZ", "year=2010", "log"),
        _kaz_2010("NY.GDP.MKTP.CD", "0"),
    ),
    BadCase(
        "lpi-score-out-of-range",
        ("indicators.csv", "LP.LPI.INFR.XQ", "at most 5", "iso3=KAZ", "value=25.4"),
        set_where(
            "indicators.csv",
            {"iso3": "KAZ", "year": "2018", "indicator": "LP.LPI.INFR.XQ"},
            "value",
            "25.4",
        ),
    ),
    BadCase(
        "trade-year-in-the-future",
        ("trade.csv", "'year'", "in the future", "line 2", "partner=KAZ", "year=2090"),
        set_cell("trade.csv", 0, "year", "2090"),
    ),
]

UNREADABLE_CASES = [
    BadCase(
        "utf16-encoded-trade",
        ("trade.csv", "unreadable bytes", "UTF-16 byte-order mark", "expected UTF-8"),
        raw={"trade.csv": TRADE_TEXT.encode("utf-16")},
    ),
    BadCase(
        "windows-1252-indicators",
        ("indicators.csv", "offset 38", "line 2 reads as Windows-1252", "Café", "expected UTF-8"),
        raw={"indicators.csv": "iso3,year,indicator,value\nCHN,2000,Caf\xe9,1\n".encode("cp1252")},
    ),
    BadCase(
        "semicolon-delimiter",
        ("trade.csv", "separated by ';'", "expected comma-separated", "'reporter'"),
        raw={"trade.csv": TRADE_TEXT.replace(",", ";").encode()},
    ),
    BadCase(
        "tab-delimiter",
        ("pairs.csv", "separated by tabs", "expected comma-separated"),
        raw={
            "pairs.csv": (SHIPPED_DATA / "pairs.csv")
            .read_text(encoding="utf-8")
            .replace(",", "\t")
            .encode()
        },
    ),
    BadCase(
        "row-with-missing-fields",
        ("trade.csv", "fewer fields than the header", "line 3 (4 fields)", "line 5 (8 fields)"),
        raw={
            "trade.csv": "\n".join(
                [
                    TRADE_LINES[0],
                    TRADE_LINES[1],
                    ",".join(TRADE_LINES[2].split(",")[:4]),
                    TRADE_LINES[3],
                    ",".join(TRADE_LINES[4].split(",")[:8]),
                    *TRADE_LINES[5:],
                ]
            ).encode()
        },
    ),
]
BAD_CASES += [*IMPOSSIBLE_CASES, *UNREADABLE_CASES]

# The one implausible value of the shipped data, and a real one: China's reported exports to
# Kyrgyzstan in 2008 and 2009 exceed Kyrgyzstan's GDP (re-exports); warned about, not refused.
SHIPPED_WARNING = "line 52 (CHN->KGZ export 2008: 9.21e+09 US$ = 179% of KGZ's GDP)"


def unexpected_warnings(messages: list[str] | str) -> list[str]:
    """The warnings (a list, or stderr's ``warning:`` lines) other than ``SHIPPED_WARNING``."""
    if isinstance(messages, str):
        messages = [line for line in messages.splitlines() if line.strip()]
    return [m for m in messages if SHIPPED_WARNING not in m]


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


# ---------------------------------------------------------------------------- model specs

DEFAULT_SPEC_PATH = Path(__file__).resolve().parents[1] / "models" / "default.toml"
DEFAULT_SPEC_TEXT = DEFAULT_SPEC_PATH.read_text(encoding="utf-8")


def spec_text(
    data_path: Path | None = None, replace: Mapping[str, str] | None = None, append: str = ""
) -> str:
    """``models/default.toml`` with exact text replacements, a ``[data] path`` and extra lines.

    Every ``replace`` key must occur exactly once, so a changed default spec fails loudly here
    instead of silently testing the unchanged spec.
    """
    text = DEFAULT_SPEC_TEXT
    for old, new in (replace or {}).items():
        count = text.count(old)
        assert count == 1, f"{old!r} occurs {count} times in default.toml, expected once"
        text = text.replace(old, new)
    if data_path is not None:
        assert text.count("[data]\n") == 1, "default.toml has no single [data] table"
        text = text.replace("[data]\n", f'[data]\npath = "{data_path.as_posix()}"\n')
    return text + append


def write_spec(path: Path, **kwargs: object) -> Path:
    """Write :func:`spec_text` (same keyword arguments) to ``path``; return ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(spec_text(**kwargs), encoding="utf-8")  # type: ignore[arg-type]
    return path


# ---------------------------------------------------------------------------- another region

OTHER_REPORTER = "DEU"
OTHER_PARTNERS = ("AUT", "CZE", "FRA", "ITA", "POL")
OTHER_YEARS = tuple(range(2006, 2021))
# Rough capital-to-capital distances (km) and contiguity with Germany; ITA is not a neighbour,
# so contig varies across partners.
OTHER_PAIRS = {"AUT": (523, 1), "CZE": (280, 1), "FRA": (878, 1), "ITA": (1184, 0), "POL": (517, 1)}
LPI_YEARS = (2007, 2010, 2012, 2014, 2016, 2018)


def write_other_region_dataset(folder: Path, seed: int = 20240601) -> Path:
    """Write a SYNTHETIC dataset for a reporter outside China / Central Asia to ``folder``.

    A format test only: Germany and five partners, 2006-2020, every number invented from a
    seeded random generator (a latent development trend drives the index indicators; trade
    follows a log-linear gravity equation with noise). Holds every series ``default.toml``
    names (the eleven index indicators, GDP, openness, internet users), LPI series only in LPI
    survey years (so the PCA has gaps to fill), and one missing R&D value.
    """
    import numpy as np  # here, not at the top: this section is appended to a shared file

    rng = np.random.default_rng(seed)
    countries = [OTHER_REPORTER, *OTHER_PARTNERS]
    years = np.asarray(OTHER_YEARS)
    step = np.arange(len(years))
    develop = {
        c: rng.normal(0.0, 0.7) + 0.08 * step + np.cumsum(rng.normal(0.0, 0.03, len(years)))
        for c in countries
    }
    log_gdp = {c: rng.normal(26.5, 1.0) + 0.03 * step for c in countries}

    def sigmoid(x):
        return 1.0 / (1.0 + np.exp(-x))

    def noise(scale: float):
        return rng.normal(0.0, scale, len(years))

    series = {
        "IT.NET.USER.ZS": lambda d: 100 * sigmoid(0.3 + d + noise(0.05)),
        "IT.NET.BBND.P2": lambda d: 45 * sigmoid(d - 0.5 + noise(0.05)),
        "IT.CEL.SETS.P2": lambda d: 80 + 25 * d + noise(3.0),
        "IT.NET.SECR.P6": lambda d: np.exp(5.0 + 1.5 * d + noise(0.2)),
        "IS.AIR.DPRT": lambda d: np.exp(11.0 + 0.4 * d + noise(0.1)),
        "LP.LPI.INFR.XQ": lambda d: np.clip(3.2 + 0.4 * d + noise(0.1), 1, 5),
        "LP.LPI.LOGS.XQ": lambda d: np.clip(3.1 + 0.4 * d + noise(0.1), 1, 5),
        "LP.LPI.TIME.XQ": lambda d: np.clip(3.6 + 0.3 * d + noise(0.1), 1, 5),
        "LP.LPI.CUST.XQ": lambda d: np.clip(3.0 + 0.4 * d + noise(0.1), 1, 5),
        "SE.TER.ENRR": lambda d: 55 + 12 * d + noise(2.0),
        "GB.XPD.RSDV.GD.ZS": lambda d: np.exp(0.4 + 0.3 * d + noise(0.05)),
        "NE.TRD.GNFS.ZS": lambda d: 70 + 10 * d + noise(4.0),
    }
    rows = []
    for code, make in series.items():
        for c in countries:
            values = make(develop[c])
            for year, value in zip(years, values, strict=True):
                if code.startswith("LP.LPI") and year not in LPI_YEARS:
                    continue
                if code == "GB.XPD.RSDV.GD.ZS" and c == "POL" and year == 2012:
                    continue
                rows.append((c, int(year), code, float(value)))
    for c in countries:
        for year, value in zip(years, np.exp(log_gdp[c]), strict=True):
            rows.append((c, int(year), "NY.GDP.MKTP.CD", float(value)))
    indicators = pd.DataFrame(rows, columns=["iso3", "year", "indicator", "value"])

    trade_rows = []
    for p in OTHER_PARTNERS:
        dist, _ = OTHER_PAIRS[p]
        effect = rng.normal(0.0, 0.3)
        for flow, offset in (("export", 0.0), ("import", -0.2)):
            log_value = (
                -15.0
                + 0.9 * log_gdp[p]
                + 0.7 * log_gdp[OTHER_REPORTER]
                - 0.9 * np.log(dist)
                + 0.3 * develop[p]
                + effect
                + offset
                + noise(0.15)
            )
            for year, value in zip(years, np.exp(log_value), strict=True):
                trade_rows.append((OTHER_REPORTER, p, int(year), flow, round(float(value))))
    trade = pd.DataFrame(trade_rows, columns=["reporter", "partner", "year", "flow", "value_usd"])
    pairs = pd.DataFrame(
        [(OTHER_REPORTER, p, d, c) for p, (d, c) in OTHER_PAIRS.items()],
        columns=["reporter", "partner", "dist_km", "contig"],
    )
    folder.mkdir(parents=True, exist_ok=True)
    trade.to_csv(folder / "trade.csv", index=False)
    indicators.to_csv(folder / "indicators.csv", index=False, float_format="%.8g")
    pairs.to_csv(folder / "pairs.csv", index=False)
    (folder / "SYNTHETIC.txt").write_text(
        "Invented numbers from tests/conftest.py (write_other_region_dataset), seed "
        f"{seed}: a file-format test, not data about these countries.\n",
        encoding="utf-8",
    )
    return folder


@pytest.fixture(scope="session")
def other_region_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Folder of a synthetic Germany + 5 partners dataset (read-only: shared by the session)."""
    return write_other_region_dataset(tmp_path_factory.mktemp("other_region") / "data")


# ---------------------------------------------------------------------------- shipped panel
# Shared by test_classic and test_panel; test_data and test_baseline define their own
# ``shipped`` (a different shape), which overrides this one in those modules.


@pytest.fixture(scope="module")
def shipped():
    from bayes_gravity.data.dataset import load_dataset

    return load_dataset()


@pytest.fixture(scope="module")
def spec():
    from bayes_gravity.config import load_spec

    return load_spec()[0]


@pytest.fixture(scope="module")
def panel(shipped, spec):
    from bayes_gravity.data.panel import build_panel

    return build_panel(shipped, spec)


@pytest.fixture(scope="session")
def small_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One small real fit of the default spec on the shipped data, shared by the session.

    Read-only: a test that changes a run folder copies it first (``shutil.copytree``).
    2 chains x 300 draws do not pass the gate; tests use it for plumbing and meaning.
    """
    from bayes_gravity.cli import main

    out = tmp_path_factory.mktemp("small_run")
    code = main(["fit", "--out", str(out), *SMALL_FIT])
    assert code == 0, f"fit exited {code}"
    return out


# ---------------------------------------------------------------------------- offline run
# A fresh interpreter whose sockets refuse to connect: any attempt is printed to stderr (so a
# library that swallows the error is still caught) and fails.
NO_NETWORK = """
import socket, sys

def _refuse(*args, **kwargs):
    print("NETWORK ACCESS ATTEMPTED", args[:2], file=sys.stderr, flush=True)
    raise OSError("network access is disabled in this test")

class _LocalOnly(socket.socket):
    def __init__(self, family=-1, type=-1, proto=-1, fileno=None):
        if fileno is None and family in (-1, socket.AF_INET, socket.AF_INET6):
            _refuse(family, type)
        super().__init__(family, type, proto, fileno)

socket.socket = _LocalOnly
socket.create_connection = socket.getaddrinfo = socket.gethostbyname = _refuse
from bayes_gravity.cli import main
sys.exit(main(sys.argv[1:]))
"""


def run_offline(*argv: str, timeout: float = 1200) -> subprocess.CompletedProcess:
    """``python -m bayes_gravity ARGV`` in a fresh interpreter with the network disabled."""
    return subprocess.run(
        [sys.executable, "-c", NO_NETWORK, *argv],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=Path(__file__).resolve().parents[1],
    )


@pytest.fixture(scope="session")
def offline_run(
    tmp_path_factory: pytest.TempPathFactory, small_run: Path
) -> tuple[Path, subprocess.CompletedProcess]:
    """The ``small_run`` fit again, in a fresh process without network, chains one at a time.

    Same spec, data and seed as ``small_run`` but ``cores = 1`` (``small_run`` samples its two
    chains in parallel threads), on the compiled program ``small_run`` left in the session's
    cache (``small_run`` built it from a cold cache): the tables must come out byte-identical
    (test_reproducibility.py), and nothing may touch the network (test_no_network.py).
    """
    folder = tmp_path_factory.mktemp("offline_run")
    spec = write_spec(folder / "serial.toml", replace={"chains = 4": "chains = 4\ncores = 1"})
    done = run_offline("fit", str(spec), "--out", str(folder / "run"), *SMALL_FIT)
    assert done.returncode == 0, f"offline fit exited {done.returncode}:\n{done.stderr}"
    return folder / "run", done


@pytest.fixture
def run_copy(small_run: Path, tmp_path: Path) -> Path:
    """A private copy of the session's small run, for tests that write into a run folder."""
    run = tmp_path / "run"
    shutil.copytree(small_run, run)
    return run


# ---------------------------------------------------------------------------- mock sampler
# PyMC's mock_sample in place of pm.sample (and of the nutpie route): prior-like draws in a
# second, for pipeline tests that need a posterior's shape, not its values. The engine route
# (nuts_sampler = "blackjax") is not mocked: such tests pass ``--nuts-sampler pymc``.
MOCK_FIT = [
    *("--draws", "20", "--chains", "2", "--nuts-sampler", "pymc"),
    *("--no-compare", "--no-report"),
]


def _zeros(size: tuple[int, int]):
    import numpy as np

    return np.zeros(size, dtype=bool)


def _energy(size: tuple[int, int]):
    import numpy as np

    return np.random.default_rng(0).normal(size=size)


@pytest.fixture
def mock_pymc_sample():
    from functools import partial

    import pymc as pm
    from pymc.testing import mock_sample

    from bayes_gravity.model import nutpie_sampler

    original, original_nutpie = pm.sample, nutpie_sampler.sample
    pm.sample = partial(
        mock_sample,
        sample_stats={"diverging": _zeros, "energy": _energy, "reached_max_treedepth": _zeros},
    )
    # the nutpie route bypasses pm.sample (see bayes_gravity.model.nutpie_sampler)
    nutpie_sampler.sample = lambda model, **options: pm.sample(**options)
    yield
    pm.sample, nutpie_sampler.sample = original, original_nutpie


@pytest.fixture
def mock_fit(mock_pymc_sample):
    """The mock sampler, with PyTensor compiling in its fast mode: a mock fit in seconds."""
    import pytensor

    with pytensor.config.change_flags(mode="FAST_COMPILE"):
        yield
