"""Plausibility of a dataset's values, beyond their format.

:mod:`bayes_gravity.data` checks that every cell is readable (a number, a code, a year); this
module checks that the numbers can be what they claim to be. Two grades:

- **impossible** (hard errors, exit code 3): a distance of 0 km or less (the model takes its
  log), a share of a whole above 100 % or below 0, a GDP of 0 or less, an LPI score outside
  1-5, a trade year in the future, a flow more than ``GDP_ERROR_RATIO`` times the partner's or
  the reporter's GDP (a unit error: thousands read as units, or a world total).
- **implausible** (warnings; ``--strict-data`` turns them into errors): a flow above the
  partner's or the reporter's GDP. China's reported exports to Kyrgyzstan in 2008-2009 are
  such a case (re-exports through Kyrgyz bazaars), so this is a warning, not an error.

Each message names the file, the column, the rows (line numbers and keys) and why.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

GDP_CODE = "NY.GDP.MKTP.CD"
GDP_WARN_RATIO = 1.0  # a flow above the whole GDP of either side: implausible, warned
GDP_ERROR_RATIO = 10.0  # an order of magnitude above it: impossible, refused
MAX_LISTED = 8


@dataclass(frozen=True)
class Bounds:
    """The values an indicator can take (inclusive), and what it measures."""

    low: float | None
    high: float | None
    what: str
    low_open: bool = False  # True: the low bound itself is not allowed (a GDP of 0)


# Series whose range is fixed by their definition. Shares of a flow that can exceed the whole
# (trade in % of GDP, gross enrolment, subscriptions per 100 people) are bounded below only.
INDICATOR_BOUNDS: dict[str, Bounds] = {
    GDP_CODE: Bounds(0, None, "GDP in current US$ (the model takes its log)", low_open=True),
    "IT.NET.USER.ZS": Bounds(0, 100, "a share of the population in %"),
    "GB.XPD.RSDV.GD.ZS": Bounds(0, 100, "a share of GDP in %"),
    "SP.URB.TOTL.IN.ZS": Bounds(0, 100, "a share of the population in %"),
    "TX.VAL.TECH.MF.ZS": Bounds(0, 100, "a share of manufactured exports in %"),
    "LP.LPI.OVRL.XQ": Bounds(1, 5, "an LPI score (1-5)"),
    "LP.LPI.INFR.XQ": Bounds(1, 5, "an LPI score (1-5)"),
    "LP.LPI.LOGS.XQ": Bounds(1, 5, "an LPI score (1-5)"),
    "LP.LPI.TIME.XQ": Bounds(1, 5, "an LPI score (1-5)"),
    "LP.LPI.CUST.XQ": Bounds(1, 5, "an LPI score (1-5)"),
    "LP.LPI.ITRN.XQ": Bounds(1, 5, "an LPI score (1-5)"),
    "LP.LPI.TRAC.XQ": Bounds(1, 5, "an LPI score (1-5)"),
    "SE.TER.ENRR": Bounds(0, None, "a gross enrolment ratio in %"),
    "NE.TRD.GNFS.ZS": Bounds(0, None, "trade in % of GDP"),
    "NE.EXP.GNFS.ZS": Bounds(0, None, "exports in % of GDP"),
    "NE.IMP.GNFS.ZS": Bounds(0, None, "imports in % of GDP"),
    "IT.NET.BBND.P2": Bounds(0, None, "subscriptions per 100 people"),
    "IT.CEL.SETS.P2": Bounds(0, None, "subscriptions per 100 people"),
    "IT.NET.SECR.P6": Bounds(0, None, "servers per million people"),
    "IS.AIR.DPRT": Bounds(0, None, "a count of departures"),
}


@dataclass
class Findings:
    """Problems (impossible values) and warnings (implausible ones) of a dataset."""

    errors: list[str]
    warnings: list[str]


def _lines(rows: pd.DataFrame, describe: Callable[[pd.Series], str]) -> str:
    """``line N (keys)`` for the first rows; the frame's index is the 0-based data row."""
    shown = [
        f"line {int(str(idx)) + 2} ({describe(row)})"
        for idx, row in rows.head(MAX_LISTED).iterrows()
    ]
    more = f" and {len(rows) - MAX_LISTED} more" if len(rows) > MAX_LISTED else ""
    return "; ".join(shown) + more


def check_pairs(pairs: pd.DataFrame, name: str, errors: list[str]) -> None:
    """Refuse distances (``dist_km``, every other ``*_km`` column) of 0 km or less."""
    for col in [c for c in pairs.columns if c == "dist_km" or c.endswith("_km")]:
        values = pd.to_numeric(pairs[col], errors="coerce")
        bad = pairs[values <= 0]
        if not bad.empty:

            def describe(r: pd.Series, c: str = col) -> str:
                return f"reporter={r.reporter}, partner={r.partner}, {c}={r[c]}"

            listed = _lines(bad, describe)
            errors.append(
                f"{name}: column '{col}': distance of 0 km or less at {listed}; a distance "
                "between two countries is above 0 (the model takes its log)"
            )


def check_indicators(indicators: pd.DataFrame, name: str, errors: list[str]) -> None:
    """Refuse values of a series with a fixed range (:data:`INDICATOR_BOUNDS`) outside it."""
    values = pd.to_numeric(indicators["value"], errors="coerce")
    for code, bounds in INDICATOR_BOUNDS.items():
        is_code = indicators["indicator"] == code
        if not is_code.any():
            continue
        low = pd.Series(False, index=values.index)
        if bounds.low is not None:
            low = (values <= bounds.low) if bounds.low_open else (values < bounds.low)
        high = values > bounds.high if bounds.high is not None else pd.Series(False, values.index)
        bad = indicators[is_code & (low | high)]
        if bad.empty:
            continue
        lo = (
            ""
            if bounds.low is None
            else f"{'above' if bounds.low_open else 'at least'} {bounds.low:g}"
        )
        hi = "" if bounds.high is None else f"at most {bounds.high:g}"
        allowed = " and ".join(p for p in (lo, hi) if p)
        listed = _lines(bad, lambda r: f"iso3={r.iso3}, year={r.year}, value={r.value}")
        errors.append(
            f"{name}: column 'value': indicator {code} out of range at {listed}; it is "
            f"{bounds.what}, so {allowed}"
        )


def check_trade_years(trade: pd.DataFrame, name: str, errors: list[str]) -> None:
    """Refuse trade years in the future: trade.csv holds observed trade."""
    this_year = datetime.date.today().year
    future = trade[pd.to_numeric(trade["year"], errors="coerce") > this_year]
    if not future.empty:
        listed = _lines(future, lambda r: f"partner={r.partner}, year={r.year}, flow={r.flow}")
        errors.append(
            f"{name}: column 'year': trade in the future (after {this_year}) at {listed}; "
            "trade.csv holds observed trade (projections belong in a scenario)"
        )


def check_trade_against_gdp(
    trade: pd.DataFrame, indicators: pd.DataFrame, name: str, findings: Findings
) -> None:
    """Refuse a flow far above either side's GDP (a unit error); warn above it."""
    gdp = indicators[indicators["indicator"] == GDP_CODE]
    if gdp.empty:
        return
    lookup = gdp.set_index(["iso3", "year"])["value"]
    value = trade["value_usd"].to_numpy(dtype=float)
    ratios = {}
    for side in ("partner", "reporter"):
        keys = pd.MultiIndex.from_arrays([trade[side], trade["year"]])
        level = lookup.reindex(keys).to_numpy(dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratios[side] = np.where(level > 0, value / level, np.nan)
    worst = np.fmax(ratios["partner"], ratios["reporter"])

    def describe(row: pd.Series) -> str:
        i = int(str(row.name))
        side = (
            "partner"
            if np.nan_to_num(ratios["partner"][i]) >= np.nan_to_num(ratios["reporter"][i])
            else "reporter"
        )
        return (
            f"{row.reporter}->{row.partner} {row.flow} {row.year}: {row.value_usd:.3g} US$ = "
            f"{ratios[side][i]:.0%} of {row[side]}'s GDP"
        )

    too_big = trade[worst > GDP_ERROR_RATIO]
    if not too_big.empty:
        findings.errors.append(
            f"{name}: column 'value_usd': trade more than {GDP_ERROR_RATIO:g} times the "
            f"partner's or the reporter's GDP ({GDP_CODE} in indicators.csv) at "
            f"{_lines(too_big, describe)}; value_usd is in US$ (not thousands), one flow of "
            "one pair"
        )
    big = trade[(worst > GDP_WARN_RATIO) & ~(worst > GDP_ERROR_RATIO)]
    if not big.empty:
        findings.warnings.append(
            f"{name}: column 'value_usd': trade above the partner's or the reporter's whole GDP "
            f"at {_lines(big, describe)}; implausible for one bilateral flow (re-exports, or a "
            "unit error?); check the source"
        )


def check_dataset(
    trade: pd.DataFrame, indicators: pd.DataFrame, pairs: pd.DataFrame, trade_file: str
) -> Findings:
    """Every plausibility check of a dataset whose cells passed the format checks.

    The tables are the loader's string tables in file order (0-based index = data row), so the
    line numbers in the messages are the file's.
    """
    trade = trade.assign(
        year=pd.to_numeric(trade["year"]).astype(int),
        value_usd=pd.to_numeric(trade["value_usd"]).astype(float),
    )
    indicators = indicators.assign(
        year=pd.to_numeric(indicators["year"]).astype(int),
        value=pd.to_numeric(indicators["value"], errors="coerce"),  # blank: missing
    )
    findings = Findings(errors=[], warnings=[])
    check_trade_years(trade, trade_file, findings.errors)
    check_trade_against_gdp(trade, indicators, trade_file, findings)
    check_indicators(indicators, "indicators.csv", findings.errors)
    check_pairs(pairs, "pairs.csv", findings.errors)
    return findings


def window_warnings(
    first: int | None, last: int | None, years: list[int], source: str
) -> list[str]:
    """Years of the spec's window (``data.first_year``-``last_year``) without any trade data."""
    if not years:
        return []
    outside = []
    if first is not None and first < years[0]:
        outside.append(f"data.first_year = {first} is before the first trade year {years[0]}")
    if last is not None and last > years[-1]:
        outside.append(f"data.last_year = {last} is after the last trade year {years[-1]}")
    if not outside:
        return []
    return [
        f"{source}: {'; '.join(outside)}: the fit uses {max(first or years[0], years[0])}-"
        f"{min(last or years[-1], years[-1])} only"
    ]
