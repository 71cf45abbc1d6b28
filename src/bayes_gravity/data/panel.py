"""From a dataset and a spec to the two modelling tables both pipelines share.

- the **indicator panel**: index indicators for every country (reporters and partners) and year,
  transformed (log where skewed), direction-flipped where lower is better, and standardised
  across all country-years so the index is comparable over time. Missing cells stay missing.
- the **trade panel**: one row per reporter-partner-flow-year with the observed covariates;
  rows lacking a covariate are excluded and listed, never filled in.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from bayes_gravity.config import CovariateSpec, IndicatorSpec, ModelSpec
from bayes_gravity.data.dataset import Dataset
from bayes_gravity.errors import ConfigError, DataError

KEYS = ["reporter", "partner", "flow", "year"]


@dataclass(frozen=True)
class Panel:
    """The modelling tables plus a record of everything left out and why."""

    countries: list[str]
    years: list[int]
    indicators: pd.DataFrame  # iso3, year, indicator, value (standardised), dimension
    indicator_specs: list[IndicatorSpec]
    trade: pd.DataFrame  # KEYS + value_usd + observed covariate columns
    observed_covariates: list[str]
    index_covariate: str | None
    exclusions: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    # the rows left out (KEYS + value_usd + reason), for the groups lost whole (drops.py)
    excluded: pd.DataFrame = field(
        default_factory=lambda: pd.DataFrame(columns=[*KEYS, "value_usd", "reason"])
    )

    @property
    def partners(self) -> list[str]:
        """Partner ISO3 codes in the trade panel."""
        return sorted(self.trade["partner"].unique())

    @property
    def reporters(self) -> list[str]:
        """Reporter ISO3 codes in the trade panel."""
        return sorted(self.trade["reporter"].unique())


def _transform(values: pd.Series, transform: str) -> pd.Series:
    if transform == "log":
        return np.log(values.where(values > 0))
    if transform == "log1p":
        return np.log1p(values.where(values > -1))
    if transform == "percent":
        return values / 100.0
    return values


def indicator_panel(
    data: Dataset, spec: ModelSpec, countries: list[str], years: list[int]
) -> tuple[pd.DataFrame, list[IndicatorSpec], list[str]]:
    """Standardised long indicator table for the index; drops indicators with no data."""
    ind = data.indicators
    known = set(ind["indicator"])
    absent = [i.code for i in spec.index.indicators if i.code not in known]
    if absent:
        raise ConfigError(
            "index indicator(s) not in indicators.csv",
            [f"{code}: no such series in {data.path / 'indicators.csv'}" for code in absent],
        )
    window = ind[ind["iso3"].isin(countries) & ind["year"].isin(years)]
    frames, kept, warnings = [], [], []
    for item in spec.index.indicators:
        rows = window[window["indicator"] == item.code].copy()
        rows["value"] = _transform(rows["value"], item.transform)
        rows = rows.dropna(subset=["value"])
        if rows.empty:
            warnings.append(
                f"index indicator {item.code} has no data for {countries} in "
                f"{years[0]}-{years[-1]}; dropped"
            )
            continue
        sd = rows["value"].std(ddof=0)
        if not sd > 0:
            warnings.append(f"index indicator {item.code} is constant in the window; dropped")
            continue
        sign = -1.0 if item.direction == "-" else 1.0
        rows["value"] = sign * (rows["value"] - rows["value"].mean()) / sd
        rows["dimension"] = item.dimension
        frames.append(rows)
        kept.append(item)
    if len(kept) < spec.index.min_indicators:
        raise DataError(
            f"only {len(kept)} index indicator(s) have data; at least "
            f"{spec.index.min_indicators} are needed",
            warnings,
        )
    if not any(k.code == spec.index.anchor for k in kept):
        raise DataError(f"the anchor indicator {spec.index.anchor} has no data", warnings)
    table = pd.concat(frames, ignore_index=True)
    return table.sort_values(["indicator", "iso3", "year"]).reset_index(drop=True), kept, warnings


def _covariate_values(data: Dataset, cov: CovariateSpec, trade: pd.DataFrame) -> pd.Series:
    if cov.source == "pair":
        if cov.column not in data.pairs.columns:
            raise ConfigError(
                f"covariate {cov.name!r}: column {cov.column!r} not in pairs.csv "
                f"(columns: {list(data.pairs.columns)})"
            )
        merged = trade[["reporter", "partner"]].merge(
            data.pairs, on=["reporter", "partner"], how="left"
        )
        values = pd.to_numeric(merged[cov.column], errors="coerce")
    else:
        series = data.indicators[data.indicators["indicator"] == cov.indicator]
        if series.empty:
            raise ConfigError(
                f"covariate {cov.name!r}: indicator {cov.indicator!r} not in indicators.csv"
            )
        lookup = series.set_index(["iso3", "year"])["value"]
        keys = pd.MultiIndex.from_arrays([trade[cov.side], trade["year"]])
        values = pd.Series(lookup.reindex(keys).to_numpy(), index=trade.index)
    return _transform(pd.Series(values.to_numpy(), index=trade.index), cov.transform)


def build_panel(data: Dataset, spec: ModelSpec) -> Panel:
    """Assemble the indicator and trade panels for ``spec`` from ``data``."""
    trade = data.trade
    first = spec.data.first_year if spec.data.first_year is not None else min(data.years)
    last = spec.data.last_year if spec.data.last_year is not None else max(data.years)
    trade = trade[(trade["year"] >= first) & (trade["year"] <= last)]
    if trade.empty:
        raise DataError(f"no trade rows in {first}-{last} in {data.path}")
    years = list(range(int(trade["year"].min()), int(trade["year"].max()) + 1))
    countries = sorted(set(trade["reporter"]) | set(trade["partner"]))
    indicators, kept, warnings = indicator_panel(data, spec, countries, years)

    index_covs = [c for c in spec.gravity.covariates if c.source == "index"]
    if len(index_covs) > 1:
        raise ConfigError("at most one covariate may have source = 'index'")
    observed = [c for c in spec.gravity.covariates if c.source != "index"]
    table = trade[[*KEYS, "value_usd"]].reset_index(drop=True)
    exclusions = []
    missing_any = pd.Series(False, index=table.index)
    reasons = pd.Series("", index=table.index)
    for cov in observed:
        table[cov.name] = _covariate_values(data, cov, table)
        missing = table[cov.name].isna() | ~np.isfinite(table[cov.name])
        if missing.any():
            rows = table[missing]
            listed = ", ".join(f"{r.partner} {r.flow} {r.year}" for r in rows.head(12).itertuples())
            more = f" and {len(rows) - 12} more" if len(rows) > 12 else ""
            exclusions.append(
                f"{len(rows)} trade row(s) without {cov.name} ({cov.indicator or cov.column}, "
                f"{cov.side if cov.source == 'indicator' else 'pair'}): {listed}{more}"
            )
            what = "pairs.csv" if cov.source == "pair" else cov.side
            why = f"no {cov.name} ({cov.indicator or cov.column}, {what})"
            reasons[missing] = reasons[missing].map(lambda r, w=why: f"{r} and {w}" if r else w)
        missing_any |= missing
    excluded = table.loc[missing_any, [*KEYS, "value_usd"]].assign(reason=reasons[missing_any])
    table = table[~missing_any].reset_index(drop=True)
    if table.empty:
        raise DataError("every trade row lacks at least one covariate", exclusions)
    return Panel(
        countries=countries,
        years=years,
        indicators=indicators,
        indicator_specs=kept,
        trade=table,
        observed_covariates=[c.name for c in observed],
        index_covariate=index_covs[0].name if index_covs else None,
        exclusions=exclusions,
        warnings=[*data.warnings, *warnings],
        excluded=excluded.reset_index(drop=True),
    )
