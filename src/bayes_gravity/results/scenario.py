"""Scenarios: posterior predictive trade and potential tiers when covariates change.

A scenario TOML (``models/scenarios/*.toml``) names covariate changes and, optionally, a
projection to a future year::

    name = "openness_plus_10pct"
    description = "Trade openness 10 % higher in every partner"
    [[changes]]
    covariate = "openness_partner"
    operation = "multiply"      # add | multiply | set
    value = 1.10
    partners = ["KAZ", "UZB"]   # optional, default every partner
    years = [2015, 2020]        # optional inclusive range, default every row's year
    ramp = false                # phase the change in linearly over `years`
    upper = 100                 # optional bounds after the change (as-published scale)

Scale of ``value``: the covariate **as published** (before the spec's transform), so
``internet_partner`` (IT.NET.USER.ZS, %) ``add 15`` is +15 percentage points (+0.15 on the
share the model uses), ``openness_partner`` ``multiply 1.10`` is a 10 % relative rise of
trade/GDP (not +10 points), ``log_gdp_partner`` ``multiply 1.05`` is GDP +5 %. The CBEC index
has no published scale: its changes are in index sd units and it cannot be multiplied.

Without ``[projection]`` the scenario rows are the fitted trade rows and the baseline is the
fit itself. With ``[projection] to_year = 2030`` the rows are every partner x flow for the
years after the fit up to ``to_year``; the baseline path uses the dataset's values where it has
them, else the last observed value held flat (see
:func:`bayes_gravity.results.predict.covariate_rows`), and the CBEC index follows its own
random walk with drift, per draw. ``growth`` (per year,
compounding from the fit's last year, as-published scale) is applied on top of that baseline.

Potential tiers: the ratio is actual / predicted (:mod:`bayes_gravity.potential`), predicted
being the benchmark (no partner terms) under the scenario. "Actual" is the observed trade for
fitted years and, for projected years, the baseline's predictive trade draw (trade as it
would be without the scenario). A scenario therefore moves the benchmark, not the actual:
better determinants with unchanged trade mean more untapped potential. ``p_tier_change`` is
the share of draws whose tier differs from the same draw's baseline tier.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, model_validator

from bayes_gravity.config import read_toml, validate_as
from bayes_gravity.errors import ConfigError
from bayes_gravity.io import staged_commit, write_csv, write_json
from bayes_gravity.model.gravity_model import GravityModel
from bayes_gravity.potential import TIERS, potential_ratio, tier_codes, tier_probabilities
from bayes_gravity.results.artefacts import SCENARIO_DIR
from bayes_gravity.results.draws import interval
from bayes_gravity.results.predict import KEYS, Predictor, covariate_rows, run_seed

# Every scenario CSV starts with these columns (extras follow: baseline, delta interval, tiers).
COLUMNS = [
    *KEYS,
    "trade_mean",
    "trade_lo",
    "trade_hi",
    "delta_mean",
    "p_reshaping",
    "p_expansion",
    "p_huge",
    "p_tier_change",
]
SEED_OFFSET = 7919  # scenario noise must not reuse the sampler's stream
TRADE_MEAN_DEFINITION = (
    "trade_mean: posterior mean of expected trade given each draw (log likelihoods: "
    "exp(mu + sigma^2/2)); trade_lo/hi: equal-tailed interval of posterior predictive trade "
    "(observation noise included); delta: scenario minus baseline expected trade, per draw"
)
ACTUAL_DEFINITION = (
    "ratio = actual / benchmark under the scenario; actual = observed trade in fitted years, "
    "the baseline's predictive trade draw in projected years"
)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Change(_Strict):
    """One covariate change, on the as-published scale of the covariate."""

    covariate: str
    operation: Literal["add", "multiply", "set"]
    value: float
    partners: list[str] | None = None
    years: tuple[int, int] | None = Field(None, description="inclusive [first, last]")
    ramp: bool = Field(False, description="phase in linearly, full at the last year")
    lower: float | None = None
    upper: float | None = None

    @model_validator(mode="after")
    def _ordered(self) -> Change:
        if self.years is not None and self.years[0] > self.years[1]:
            raise ValueError(f"years {list(self.years)}: first is after last")
        if self.lower is not None and self.upper is not None and self.lower > self.upper:
            raise ValueError(f"lower {self.lower} is above upper {self.upper}")
        return self


class Projection(_Strict):
    """Project every partner forward to ``to_year`` from the fit's last year."""

    to_year: int
    growth: dict[str, float] = Field(
        default_factory=dict,
        description="per-year growth rate per covariate, as-published scale (0.05 = +5 %/yr)",
    )


class ScenarioSpec(_Strict):
    """A scenario file (``models/scenarios/<name>.toml``)."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    description: str = ""
    changes: list[Change] = Field(default_factory=list)
    projection: Projection | None = None


def parse_scenario(raw: dict[str, object], source: str = "<scenario>") -> ScenarioSpec:
    """Validate a scenario dictionary; raise :class:`ConfigError` listing every problem."""
    return validate_as(ScenarioSpec, raw, source, "scenario")


def load_scenario(path: str | Path) -> ScenarioSpec:
    """Read and validate a scenario TOML file."""
    path = Path(path)
    return parse_scenario(read_toml(path, "scenario"), str(path))


# ---------------------------------------------------------------------------- checks


def _hint(name: str, valid: list[str]) -> str:
    close = difflib.get_close_matches(name, valid, n=1)
    return f"did you mean {close[0]!r}? valid: {valid}" if close else f"valid: {valid}"


def check_scenario(scenario: ScenarioSpec, predictor: Predictor) -> None:
    """Check a scenario against the fit: covariates, partners, years; all problems at once."""
    spec = predictor.spec
    covs = {c.name: c for c in spec.gravity.covariates}
    names = list(covs)
    first, last = predictor.years[0], predictor.years[-1]
    problems = []
    proj = scenario.projection
    if proj is not None and proj.to_year < first:
        problems.append(f"projection.to_year {proj.to_year} is before the data start in {first}")
    elif proj is not None and proj.to_year <= last:
        problems.append(
            f"projection.to_year {proj.to_year} is not after the fit's last year {last}; "
            "leave [projection] out to change fitted years"
        )
    row_years = (last + 1, proj.to_year) if proj is not None else (first, last)
    for i, change in enumerate(scenario.changes):
        where = f"changes[{i}]"
        if change.covariate not in covs:
            problems.append(
                f"{where}.covariate: unknown {change.covariate!r}; {_hint(change.covariate, names)}"
            )
        elif covs[change.covariate].source == "index" and change.operation == "multiply":
            problems.append(
                f"{where}: {change.covariate} is standardised (mean 0, sd 1), a multiple has "
                "no meaning; use add (index sd units) or set"
            )
        for partner in change.partners or []:
            if partner not in predictor.partners:
                hint = _hint(partner, predictor.partners)
                problems.append(f"{where}.partners: unknown partner {partner!r}; {hint}")
        if change.years is not None:
            lo, hi = change.years
            if lo < first:
                problems.append(f"{where}.years: {lo} is before the data start in {first}")
            elif hi < row_years[0] or lo > row_years[1]:
                problems.append(
                    f"{where}.years {list(change.years)} select no scenario row "
                    f"(rows cover {row_years[0]}-{row_years[1]})"
                )
    for name in proj.growth if proj is not None else {}:
        if name not in covs:
            problems.append(f"projection.growth: unknown covariate {name!r}; {_hint(name, names)}")
        elif covs[name].source != "indicator":
            problems.append(
                f"projection.growth.{name}: only indicator covariates grow ({name} is "
                f"source {covs[name].source!r}); use a change with add and ramp = true"
            )
    if problems:
        raise ConfigError(f"scenario {scenario.name!r} does not fit this run", problems)


# ---------------------------------------------------------------------------- applying


def _to_published(values: np.ndarray, transform: str) -> np.ndarray:
    if transform == "log":
        return np.exp(values)
    if transform == "percent":
        return values * 100.0
    return values


def _from_published(values: np.ndarray, transform: str) -> np.ndarray:
    if transform == "log":
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.log(values)
    if transform == "percent":
        return values / 100.0
    return values


def _weights(change: Change, years: np.ndarray, window: tuple[int, int]) -> np.ndarray:
    """Share of the change in force per row: 1 in its years, 0 outside, a ramp if asked."""
    lo, hi = change.years if change.years is not None else window
    inside = (years >= lo) & (years <= hi)
    if not change.ramp:
        return inside.astype(float)
    return np.where(inside, (years - (lo - 1)) / (hi - (lo - 1)), 0.0)


def _apply(
    base: np.ndarray, change: Change, weight: np.ndarray, published: bool, transform: str
) -> np.ndarray:
    """Apply one change (as-published scale) to values with a weight per row (last axis)."""
    x = _to_published(base, transform) if published else base
    if change.operation == "add":
        new = x + change.value * weight
    elif change.operation == "multiply":
        new = x * (1.0 + (change.value - 1.0) * weight)
    else:
        new = x + (change.value - x) * weight
    lower = -np.inf if change.lower is None else change.lower
    upper = np.inf if change.upper is None else change.upper
    new = np.where(weight > 0, np.clip(new, lower, upper), x)
    return _from_published(new, transform) if published else new


def scenario_inputs(
    scenario: ScenarioSpec, predictor: Predictor, rows: pd.DataFrame, index: np.ndarray | None
) -> tuple[pd.DataFrame, np.ndarray | None]:
    """Return the scenario's covariate rows and index draws (sample, row)."""
    covs = {c.name: c for c in predictor.spec.gravity.covariates}
    out = rows.copy()
    new_index = None if index is None else index.copy()
    years = rows["year"].to_numpy(dtype=int)
    last = predictor.years[-1]
    proj = scenario.projection
    window = (last + 1, proj.to_year) if proj is not None else (predictor.years[0], last)
    if proj is not None:
        for name, rate in proj.growth.items():
            cov = covs[name]
            factor = (1.0 + rate) ** np.maximum(years - last, 0)
            published = _to_published(out[name].to_numpy(dtype=float), cov.transform) * factor
            out[name] = _from_published(published, cov.transform)
    for change in scenario.changes:
        cov = covs[change.covariate]
        weight = _weights(change, years, window)
        if change.partners is not None:
            weight = weight * rows["partner"].isin(change.partners).to_numpy()
        if cov.source == "index":
            if new_index is not None:
                new_index = _apply(new_index, change, weight[None, :], False, "none")
            continue
        values = out[change.covariate].to_numpy(dtype=float)
        out[change.covariate] = _apply(values, change, weight, True, cov.transform)
    return out, new_index


# ---------------------------------------------------------------------------- running


def baseline_rows(
    scenario: ScenarioSpec, model: GravityModel
) -> tuple[pd.DataFrame, np.ndarray | None, list[str]]:
    """Return the scenario's rows with baseline covariates, observed trade and notes.

    Observed trade exists for fitted rows only (None when projecting); each note names the
    covariates carried forward in that row.
    """
    assert model.inputs is not None
    panel = model.inputs.panel
    if scenario.projection is None:
        trade = model.inputs.trade
        rows = trade[[*KEYS, *panel.observed_covariates]].reset_index(drop=True)
        return rows, trade["value_usd"].to_numpy(dtype=float), [""] * len(rows)
    years = range(panel.years[-1] + 1, scenario.projection.to_year + 1)
    keys = pd.DataFrame(
        [(p, f, y) for p in panel.partners for f in ("export", "import") for y in years],
        columns=KEYS,
    )
    rows, notes = covariate_rows(model, keys)
    return rows, None, notes


def run_scenario(
    scenario: ScenarioSpec, model: GravityModel, seed: int | None = None
) -> pd.DataFrame:
    """Posterior predictive trade and tiers under ``scenario``, next to the baseline.

    Returns one row per partner x flow x year (see the module docstring for definitions).
    """
    predictor = Predictor(model)
    check_scenario(scenario, predictor)
    rng = np.random.default_rng(run_seed(model, SEED_OFFSET) if seed is None else seed)
    rows, actual, notes = baseline_rows(scenario, model)
    index = None
    if predictor.index_name is not None:
        cube, cube_years = predictor.index_cube(int(rows["year"].max()), rng)
        index = predictor.index_for_rows(rows, cube, cube_years)
    noise = predictor.noise_factor(len(rows), rng)
    base = predictor.predict(rows, index, noise)
    changed_rows, changed_index = scenario_inputs(scenario, predictor, rows, index)
    changed = predictor.predict(changed_rows, changed_index, noise)

    potential = model.spec.potential
    held = base.trade if actual is None else np.broadcast_to(actual, base.trade.shape)
    base_ratio = potential_ratio(held, base.benchmark, potential)
    base_codes = tier_codes(base_ratio, potential)
    ratio = potential_ratio(held, changed.benchmark, potential)
    codes = tier_codes(ratio, potential)
    probs = tier_probabilities(ratio, potential, axis=0)
    base_probs = tier_probabilities(base_ratio, potential)
    trade_lo, trade_hi = interval(changed.trade, model.spec.ci_prob)
    delta = changed.level - base.level
    delta_lo, delta_hi = interval(delta, model.spec.ci_prob)
    table = rows[KEYS].copy()
    table["trade_mean"] = changed.level.mean(axis=0)
    table["trade_lo"] = trade_lo
    table["trade_hi"] = trade_hi
    table["delta_mean"] = delta.mean(axis=0)
    table["p_reshaping"] = probs[:, 0]
    table["p_expansion"] = probs[:, 1]
    table["p_huge"] = probs[:, 2]
    table["p_tier_change"] = (codes != base_codes).mean(axis=0)
    table["baseline_mean"] = base.level.mean(axis=0)
    table["delta_lo"] = delta_lo
    table["delta_hi"] = delta_hi
    table["tier"] = np.asarray(TIERS, dtype=object)[probs.argmax(axis=1)]
    table["baseline_tier"] = np.asarray(TIERS, dtype=object)[base_probs.argmax(axis=1)]
    table["actual_basis"] = "observed" if actual is not None else "baseline projection"
    table["note"] = notes
    return table.sort_values(KEYS).reset_index(drop=True)


def describe_run(model: GravityModel, run_dir: Path, seed: int) -> dict[str, object]:
    """Describe the run a scenario was computed from."""
    attrs = model.idata.attrs
    return {
        "run_dir": str(run_dir),
        "spec_name": model.spec.name,
        "spec_hash": str(attrs.get("spec_hash")),
        "data_hash": str(attrs.get("data_hash")),
        "seed": seed,
        "draws": int(
            model.idata["posterior"].sizes["chain"] * model.idata["posterior"].sizes["draw"]
        ),
    }


def write_scenario(
    scenario: ScenarioSpec, model: GravityModel, run_dir: Path, seed: int | None = None
) -> tuple[Path, Path, pd.DataFrame]:
    """Compute ``scenario`` and write ``scenarios/<name>.csv`` and ``.json`` in ``run_dir``."""
    used_seed = run_seed(model, SEED_OFFSET) if seed is None else seed
    table = run_scenario(scenario, model, used_seed)
    out = run_dir / SCENARIO_DIR
    csv_path, json_path = out / f"{scenario.name}.csv", out / f"{scenario.name}.json"
    meta = {
        "scenario": scenario.model_dump(mode="json"),
        "description": scenario.description,
        "run": describe_run(model, run_dir, used_seed),
        "tier_rule": model.spec.potential.describe(),
        "ci_prob": model.spec.ci_prob,
        "definitions": {
            "trade": TRADE_MEAN_DEFINITION,
            "potential": ACTUAL_DEFINITION,
            "p_tier_change": "share of draws whose tier differs from the draw's baseline tier",
            "values": "changes on the covariate's as-published scale (before its transform); "
            "CBEC index in index sd units",
            "baseline_projection": "dataset values where present, else the last observed value "
            "held; CBEC index: its random walk with drift continued per draw",
        },
        "rows": len(table),
    }
    # committed as a pair: never a new table beside the description of an older one
    with staged_commit(out, _json_last) as stage:
        write_csv(stage / csv_path.name, table)
        write_json(stage / json_path.name, meta)
    return csv_path, json_path, table


def _json_last(names: list[str]) -> list[str]:
    """Rename order of a scenario's files: its description after its table."""
    return sorted(names, key=lambda name: name.endswith(".json"))
