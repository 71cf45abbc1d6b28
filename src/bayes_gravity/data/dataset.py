"""Loading and validating a dataset folder (``trade.csv``, ``indicators.csv``, ``pairs.csv``).

The format is the same for any reporter, partners and years; nothing here assumes a region.
Every check collects its problems and the loader raises one :class:`DataError` listing all of
them (file, column, offending rows or keys, what to do). Zero trade is valid data.
"""

from __future__ import annotations

import csv
import hashlib
import io
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from warnings import catch_warnings, simplefilter

import numpy as np
import pandas as pd

from bayes_gravity.data.plausibility import check_dataset, window_warnings
from bayes_gravity.errors import DataError

SHIPPED_DATA = Path(__file__).resolve().parents[3] / "data" / "china_central_asia"

TRADE_COLUMNS = ["reporter", "partner", "year", "flow", "value_usd"]
INDICATOR_COLUMNS = ["iso3", "year", "indicator", "value"]
PAIR_COLUMNS = ["reporter", "partner", "dist_km", "contig"]
FLOWS = ("export", "import")
YEAR_RANGE = (1900, 2100)
# Codes the World Bank uses for economies that ISO 3166 does not list.
EXTRA_ISO3 = {"XKX": "Kosovo", "CHI": "Channel Islands"}
MAX_LISTED = 8


@cache
def known_iso3() -> frozenset[str]:
    """ISO 3166-1 alpha-3 codes (from pycountry) plus the World Bank's extra economies."""
    import pycountry

    return frozenset({c.alpha_3 for c in pycountry.countries} | set(EXTRA_ISO3))


@dataclass(frozen=True)
class Dataset:
    """A validated dataset: tidy tables with typed columns and a content hash."""

    path: Path
    trade: pd.DataFrame
    indicators: pd.DataFrame
    pairs: pd.DataFrame
    content_hash: str
    warnings: list[str] = field(default_factory=list)
    # the implausible values among the warnings (``--strict-data`` makes them errors)
    implausible: list[str] = field(default_factory=list)

    @property
    def reporters(self) -> list[str]:
        """Reporter ISO3 codes, sorted."""
        return sorted(self.trade["reporter"].unique())

    @property
    def partners(self) -> list[str]:
        """Partner ISO3 codes, sorted."""
        return sorted(self.trade["partner"].unique())

    @property
    def years(self) -> list[int]:
        """Years with trade data, sorted."""
        return sorted(int(y) for y in self.trade["year"].unique())

    def coverage(self) -> pd.DataFrame:
        """Tabulate years with data per indicator x country, e.g. ``"2000-2020 (21)"``."""
        grouped = self.indicators.groupby(["indicator", "iso3"])["year"]
        text = grouped.agg(lambda y: f"{y.min()}-{y.max()} ({y.nunique()})")
        return text.unstack("iso3").fillna("-")


# ---------------------------------------------------------------------------- reading


def _rows(mask: pd.Series, frame: pd.DataFrame, keys: list[str]) -> str:
    """Describe the offending rows: file line numbers and their key values."""
    bad = frame[mask]
    shown = []
    for idx, row in bad.head(MAX_LISTED).iterrows():
        key = ", ".join(f"{k}={row[k]}" for k in keys if k in row.index)
        shown.append(f"line {int(str(idx)) + 2} ({key})")  # +2: header line, 1-based
    more = f" and {len(bad) - MAX_LISTED} more" if len(bad) > MAX_LISTED else ""
    return "; ".join(shown) + more


def _decode(raw: bytes, name: str, problems: list[str]) -> str | None:
    """UTF-8 text (a byte-order mark is dropped); other encodings refused, saying which."""
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        found = "not UTF-8 text"
        if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
            found = "not UTF-8 text: it starts with a UTF-16 byte-order mark"
        else:
            line = raw[: err.start].count(b"\n") + 1
            try:
                text = raw.decode("cp1252").splitlines()[line - 1]
                found = f"not UTF-8 text: line {line} reads as Windows-1252/Latin-1: {text!r}"
            except (UnicodeDecodeError, IndexError):
                pass
        problems.append(
            f"{name}: unreadable bytes at offset {err.start} ({found}); expected UTF-8: save "
            "the file as UTF-8 CSV"
        )
        return None


def _check_layout(text: str, name: str, required: list[str], problems: list[str]) -> bool:
    """Refuse another delimiter and rows with more or fewer fields than the header."""
    rows = [(n, row) for n, row in enumerate(csv.reader(io.StringIO(text)), start=1) if row]
    header = rows[0][1]
    if len(header) == 1:
        for sep, label in ((";", "';'"), ("\t", "tabs"), ("|", "'|'")):
            if header[0].count(sep) >= len(required) - 1:
                problems.append(
                    f"{name}: columns separated by {label} (header {header[0]!r}); expected "
                    f"comma-separated columns {required}: save the file as comma-separated CSV"
                )
                return False
    short = [(n, len(row)) for n, row in rows[1:] if len(row) < len(header)]
    long = [(n, len(row)) for n, row in rows[1:] if len(row) > len(header)]
    for kind, bad in (("fewer", short), ("more", long)):
        if bad:
            listed = ", ".join(f"line {n} ({k} fields)" for n, k in bad[:MAX_LISTED])
            more = f" and {len(bad) - MAX_LISTED} more" if len(bad) > MAX_LISTED else ""
            problems.append(
                f"{name}: row(s) with {kind} fields than the header ({len(header)}: "
                f"{', '.join(header)}) at {listed}{more}; every row needs one value per column "
                "(leave a cell empty, but keep its comma)"
            )
    return not (short or long)


def read_table(path: Path, required: list[str], problems: list[str]) -> pd.DataFrame | None:
    """Read a CSV as strings; record unreadable, empty or header-only files and missing columns.

    Only comma-separated UTF-8 text is read; another encoding or delimiter, and rows with a
    different number of fields than the header, are refused with what was found.
    """
    name = path.name
    if path.is_dir():
        problems.append(f"{path}: is a folder; expected the CSV file {name}")
        return None
    if not path.is_file():
        problems.append(f"{path}: file not found; every dataset folder needs {name}")
        return None
    text = _decode(path.read_bytes(), name, problems)
    if text is None:
        return None
    if not text.strip():
        problems.append(f"{name}: file is empty; expected a header row with {required}")
        return None
    try:
        layout_ok = _check_layout(text, name, required, problems)
    except csv.Error as err:
        problems.append(f"{name}: not a readable CSV ({err}); check the quoting")
        return None
    if not layout_ok:
        return None
    try:
        # index_col=False: a row with more fields than the header must not silently turn the
        # first column into the index; pandas warns instead, and the warning is a problem here.
        with catch_warnings():
            simplefilter("error", pd.errors.ParserWarning)
            frame = pd.read_csv(
                io.StringIO(text), dtype=str, keep_default_na=False, index_col=False
            )
    except (pd.errors.ParserError, pd.errors.ParserWarning, ValueError) as err:
        problems.append(
            f"{name}: not a readable CSV ({str(err).strip()}); check quoting, delimiters and "
            "that no row has more fields than the header"
        )
        return None
    frame.columns = [c.strip() for c in frame.columns]
    repeated = sorted(set(frame.columns[frame.columns.duplicated()]))
    if repeated:
        problems.append(f"{name}: column(s) {repeated} appear more than once in the header")
        return None
    missing = [c for c in required if c not in frame.columns]
    if missing:
        problems.append(
            f"{name}: missing column(s) {missing}; found {list(frame.columns)}, "
            f"expected at least {required}"
        )
        return None
    if frame.empty:
        problems.append(f"{name}: header only, no data rows")
        return None
    return frame.apply(lambda col: col.str.strip())


def _check_iso3(frame: pd.DataFrame, cols: list[str], name: str, problems: list[str]) -> None:
    codes = known_iso3()
    for col in cols:
        bad = ~frame[col].isin(codes)
        if bad.any():
            values = sorted(frame.loc[bad, col].unique())[:MAX_LISTED]
            problems.append(
                f"{name}: column '{col}': unknown ISO3 code(s) {values} at "
                f"{_rows(bad, frame, [col])}; use ISO 3166-1 alpha-3 codes (e.g. KAZ)"
            )


def _check_year(frame: pd.DataFrame, name: str, keys: list[str], problems: list[str]) -> None:
    year = pd.to_numeric(frame["year"], errors="coerce")
    not_int = year.isna() | (year != year.round())
    if not_int.any():
        problems.append(
            f"{name}: column 'year': non-integer year at {_rows(not_int, frame, keys)}; "
            "years must be whole numbers like 2015"
        )
    lo, hi = YEAR_RANGE
    out = ~not_int & ((year < lo) | (year > hi))
    if out.any():
        problems.append(
            f"{name}: column 'year': year outside {lo}-{hi} at {_rows(out, frame, keys)}"
        )


def _check_numeric(
    frame: pd.DataFrame,
    col: str,
    name: str,
    keys: list[str],
    problems: list[str],
    *,
    allow_blank: bool = False,
    minimum: float | None = None,
    what: str = "",
) -> None:
    values = pd.to_numeric(frame[col], errors="coerce")
    blank = frame[col] == ""
    bad = ~np.isfinite(values) & ~(blank & allow_blank)  # NaN and +-inf
    if bad.any():
        problems.append(
            f"{name}: column '{col}': non-numeric, missing or infinite value at "
            f"{_rows(bad, frame, [*keys, col])}; {what or 'give a number'}"
        )
    if minimum is not None:
        low = values < minimum
        if low.any():
            problems.append(
                f"{name}: column '{col}': value below {minimum:g} at "
                f"{_rows(low, frame, [*keys, col])}; {what or 'check the sign'}"
            )


def _check_duplicates(frame: pd.DataFrame, keys: list[str], name: str, problems: list[str]) -> None:
    dup = frame.duplicated(keys, keep=False)
    if dup.any():
        problems.append(
            f"{name}: duplicate key(s) {keys} at {_rows(dup, frame, keys)}; "
            "keep one row per key (sum or pick a source first)"
        )


def _validate_trade(frame: pd.DataFrame, name: str, problems: list[str]) -> None:
    keys = ["reporter", "partner", "year", "flow"]
    _check_iso3(frame, ["reporter", "partner"], name, problems)
    _check_year(frame, name, keys, problems)
    bad_flow = ~frame["flow"].isin(FLOWS)
    if bad_flow.any():
        values = sorted(frame.loc[bad_flow, "flow"].unique())[:MAX_LISTED]
        problems.append(
            f"{name}: column 'flow': value(s) {values} at {_rows(bad_flow, frame, keys)}; "
            "flow must be 'export' or 'import' (seen from the reporter)"
        )
    _check_numeric(
        frame,
        "value_usd",
        name,
        keys,
        problems,
        minimum=0,
        what="trade values are non-negative US$ (zero is allowed)",
    )
    _check_duplicates(frame, keys, name, problems)


def _validate_indicators(frame: pd.DataFrame, name: str, problems: list[str]) -> None:
    keys = ["iso3", "year", "indicator"]
    _check_iso3(frame, ["iso3"], name, problems)
    _check_year(frame, name, keys, problems)
    empty_code = frame["indicator"] == ""
    if empty_code.any():
        problems.append(
            f"{name}: column 'indicator': empty code at {_rows(empty_code, frame, keys)}"
        )
    _check_numeric(
        frame,
        "value",
        name,
        keys,
        problems,
        allow_blank=True,
        what="indicator values must be numbers (leave the cell blank or drop the row if missing)",
    )
    _check_duplicates(frame, keys, name, problems)


def _validate_pairs(frame: pd.DataFrame, name: str, problems: list[str]) -> None:
    keys = ["reporter", "partner"]
    _check_iso3(frame, keys, name, problems)
    _check_numeric(frame, "dist_km", name, keys, problems, minimum=0, what="distance in km")
    bad_contig = ~frame["contig"].isin(["0", "1"])
    if bad_contig.any():
        problems.append(
            f"{name}: column 'contig': must be 0 or 1 at {_rows(bad_contig, frame, keys)}"
        )
    _check_duplicates(frame, keys, name, problems)


def _typed_trade(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    out["year"] = pd.to_numeric(out["year"]).astype(int)
    out["value_usd"] = pd.to_numeric(out["value_usd"]).astype(float)
    return out.sort_values(["reporter", "partner", "flow", "year"]).reset_index(drop=True)


def _typed_indicators(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame[INDICATOR_COLUMNS].copy()
    out = out[out["value"] != ""]
    out["year"] = pd.to_numeric(out["year"]).astype(int)
    out["value"] = pd.to_numeric(out["value"]).astype(float)
    return out.sort_values(["indicator", "iso3", "year"]).reset_index(drop=True)


def _typed_pairs(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    for col in out.columns:
        if col not in ("reporter", "partner"):
            converted = pd.to_numeric(out[col], errors="coerce")
            if converted.notna().all():
                out[col] = converted
    out["contig"] = out["contig"].astype(int)
    return out.sort_values(["reporter", "partner"]).reset_index(drop=True)


def _cross_checks(
    trade: pd.DataFrame, pairs: pd.DataFrame, trade_file: str, problems: list[str]
) -> None:
    trade_pairs = set(zip(trade["reporter"], trade["partner"], strict=True))
    known_pairs = set(zip(pairs["reporter"], pairs["partner"], strict=True))
    missing = sorted(trade_pairs - known_pairs)
    if missing:
        listed = ", ".join(f"{r}-{p}" for r, p in missing[:MAX_LISTED])
        problems.append(
            f"pairs.csv: columns 'reporter', 'partner': pair(s) in {trade_file} missing from "
            f"pairs.csv: {listed}; add a row with dist_km and contig for each"
        )
    totals = trade.groupby("partner")["value_usd"].sum()
    no_trade = sorted(totals[totals <= 0].index)
    if no_trade:
        problems.append(
            f"{trade_file}: column 'value_usd': partner(s) {no_trade} have no positive trade in "
            "any year; a potential ratio is undefined for them, drop them from the data"
        )


def _hash_files(paths: list[Path]) -> str:
    digest = hashlib.sha256()
    for path in paths:
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def load_dataset(
    path: str | Path | None = None,
    trade_file: str = "trade.csv",
    strict: bool = False,
    window: tuple[int | None, int | None, str] | None = None,
) -> Dataset:
    """Load and validate a dataset folder.

    Parameters
    ----------
    path
        Folder holding ``trade.csv`` (or ``trade_file``), ``indicators.csv`` and ``pairs.csv``.
        ``None`` means the shipped China-Central Asia dataset.
    trade_file
        Name of the trade table inside the folder (e.g. ``trade_partner_reported.csv``).
    strict
        Implausible values (:mod:`bayes_gravity.data.plausibility`) are errors, not warnings.
    window
        ``(first_year, last_year, source)`` of a spec: years of it without trade data are
        implausible (warned about, errors under ``strict``).

    Raises
    ------
    DataError
        Listing every problem found in any of the files.
    """
    folder = Path(path) if path is not None else SHIPPED_DATA
    if folder.is_file():
        raise DataError(
            f"data folder {folder} is a file; expected a folder holding {trade_file}, "
            "indicators.csv and pairs.csv"
        )
    if not folder.is_dir():
        raise DataError(f"data folder not found: {folder}")
    problems: list[str] = []
    files = {
        "trade": folder / trade_file,
        "indicators": folder / "indicators.csv",
        "pairs": folder / "pairs.csv",
    }
    trade = read_table(files["trade"], TRADE_COLUMNS, problems)
    indicators = read_table(files["indicators"], INDICATOR_COLUMNS, problems)
    pairs = read_table(files["pairs"], PAIR_COLUMNS, problems)
    if trade is not None:
        _validate_trade(trade, trade_file, problems)
    if indicators is not None:
        _validate_indicators(indicators, "indicators.csv", problems)
    if pairs is not None:
        _validate_pairs(pairs, "pairs.csv", problems)
    if problems or trade is None or indicators is None or pairs is None:
        raise DataError(f"the data in {folder} cannot be used:", problems)
    typed_trade, typed_pairs = _typed_trade(trade), _typed_pairs(pairs)
    _cross_checks(typed_trade, typed_pairs, trade_file, problems)
    findings = check_dataset(trade, indicators, pairs, trade_file)
    if window is not None:
        years = sorted(int(y) for y in typed_trade["year"].unique())
        findings.warnings.extend(window_warnings(*window[:2], years, window[2]))
    problems.extend(findings.errors)
    if strict:
        problems.extend(f"{w} (an error under --strict-data)" for w in findings.warnings)
    if problems:
        raise DataError(f"the data in {folder} cannot be used:", problems)
    warnings = list(findings.warnings)
    zeros = int((typed_trade["value_usd"] == 0).sum())
    if zeros:
        warnings.append(
            f"{trade_file}: {zeros} zero trade value(s); log likelihoods leave them out, "
            "level likelihoods (gamma, ppml) use them"
        )
    return Dataset(
        path=folder,
        trade=typed_trade,
        indicators=_typed_indicators(indicators),
        pairs=typed_pairs,
        content_hash=_hash_files(list(files.values())),
        warnings=warnings,
        implausible=list(findings.warnings),
    )


def load_holdout(
    path: str | Path | None = None, name: str = "trade_press_2023_2024.csv"
) -> pd.DataFrame | None:
    """Out-of-sample trade figures kept apart from the fitted data, if the folder has them."""
    folder = Path(path) if path is not None else SHIPPED_DATA
    file = folder / name
    if not file.is_file():
        return None
    problems: list[str] = []
    frame = read_table(file, TRADE_COLUMNS, problems)
    if frame is None or problems:
        raise DataError(f"{file} cannot be used:", problems)
    frame["year"] = pd.to_numeric(frame["year"], errors="coerce")
    frame["value_usd"] = pd.to_numeric(frame["value_usd"], errors="coerce")
    return frame


# ---------------------------------------------------------------------------- World Bank import


def read_worldbank_wide(path: str | Path) -> pd.DataFrame:
    """Read a World Bank bulk CSV (wide years) into the long ``indicators.csv`` format.

    Accepts the API download with its four metadata lines before the header
    (``Country Name, Country Code, Indicator Name, Indicator Code, 1960 ... 2024``).
    Aggregates (regions, income groups) are dropped: only ISO3 economies are kept.
    """
    path = Path(path)
    problems: list[str] = []
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except UnicodeDecodeError as err:
        raise DataError(
            f"{path.name}: unreadable bytes at offset {err.start} (not UTF-8)"
        ) from None
    lines = text.splitlines()
    header_at = next(
        (i for i, line in enumerate(lines) if line.lstrip('"').startswith("Country Name")), None
    )
    if header_at is None:
        raise DataError(
            f"{path.name}: no 'Country Name, Country Code, Indicator Name, Indicator Code, "
            "<years>' header found; is this a World Bank bulk CSV?"
        )
    try:
        wide = pd.read_csv(io.StringIO("\n".join(lines[header_at:])), dtype=str)
    except (pd.errors.ParserError, ValueError) as err:
        raise DataError(f"{path.name}: not a readable CSV ({str(err).strip()})") from None
    wide = wide.loc[:, ~wide.columns.str.startswith("Unnamed")]
    year_cols = [c for c in wide.columns if c.strip().isdigit()]
    for col in ("Country Code", "Indicator Code"):
        if col not in wide.columns:
            problems.append(f"{path.name}: missing column '{col}'")
    if not year_cols:
        problems.append(f"{path.name}: no year columns (1960, 1961, ...)")
    if problems:
        raise DataError(f"{path} cannot be imported:", problems)
    wide = wide[wide["Country Code"].isin(known_iso3())]
    long = wide.melt(
        id_vars=["Country Code", "Indicator Code"],
        value_vars=year_cols,
        var_name="year",
        value_name="value",
    ).rename(columns={"Country Code": "iso3", "Indicator Code": "indicator"})
    long = long[long["value"].notna() & (long["value"].str.strip() != "")]
    values = pd.to_numeric(long["value"], errors="coerce")
    if values.isna().any():
        bad = long[values.isna()].head(MAX_LISTED)
        raise DataError(
            f"{path.name}: non-numeric values",
            [f"{r.iso3} {r.indicator} {r.year}: {r.value!r}" for r in bad.itertuples()],
        )
    long = long.assign(year=long["year"].astype(int), value=values)
    return long[INDICATOR_COLUMNS].sort_values(["indicator", "iso3", "year"]).reset_index(drop=True)


def import_worldbank(
    files: list[Path],
    out: str | Path,
    countries: list[str] | None = None,
    first_year: int | None = None,
    merge: bool = False,
) -> pd.DataFrame:
    """Import World Bank bulk CSVs into ``out`` (an ``indicators.csv``), written atomically.

    With ``merge``, the rows of an existing ``out`` are kept and the imported series replace
    any rows with the same ``iso3, year, indicator``.
    """
    from bayes_gravity.io import write_csv

    frames = [read_worldbank_wide(f) for f in files]
    table = pd.concat(frames, ignore_index=True)
    if countries:
        unknown = sorted(set(countries) - known_iso3())
        if unknown:
            raise DataError(f"--countries: unknown ISO3 code(s) {unknown}")
        table = table[table["iso3"].isin(countries)]
    if first_year is not None:
        table = table[table["year"] >= first_year]
    out = Path(out)
    if merge and out.is_file():
        problems: list[str] = []
        existing = read_table(out, INDICATOR_COLUMNS, problems)
        if existing is None:
            raise DataError(f"{out} cannot be merged into:", problems)
        _validate_indicators(existing, out.name, problems)
        if problems:
            raise DataError(f"{out} cannot be merged into:", problems)
        table = pd.concat([_typed_indicators(existing), table], ignore_index=True)
    if table.empty:
        raise DataError(
            f"{out.name}: nothing to write: no values left (after the --countries/--first-year "
            "filters, if any); nothing was written"
        )
    table = table.drop_duplicates(["iso3", "year", "indicator"], keep="last")
    table = table.sort_values(["indicator", "iso3", "year"]).reset_index(drop=True)
    write_csv(out, table)
    return table
