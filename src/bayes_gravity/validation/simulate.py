"""SYNTHETIC datasets drawn from the model's own generative process, with the true values kept.

For parameter-recovery tests, calibration and scale benchmarks: every number written here is
invented by a seeded random generator, and every folder carries ``SYNTHETIC.txt`` and a
``truth.json`` marked ``"synthetic": true``. Nothing here is data about the countries named;
ISO3 codes are real only because the loader checks them.

The process follows :func:`bayes_gravity.model.latent_index.add_latent_index` and
:func:`bayes_gravity.model.gravity.add_gravity` (Student-t likelihood on log trade in US$
millions)::

    raw[c, 0] = level[c],  raw[c, t] = raw[c, t-1] + drift + step_sd * innovation[c, t]
    index     = (raw - mean(raw)) / sd(raw)                     # over all country-years
    w[c,t,j]  = indicator_intercept[j] + loading[j] * index[c,t] + sigma_indicator * e[c,t,j]
    log_trade = intercept + flow_effect[f] + partner_effect[p] + partner_flow_effect[p, f]
                + sum_k beta_k * (x_k - mean_k) + beta_cbec_index * index[p, t]
                + sigma * StudentT(nu)

The written indicator value is ``inverse_transform(a_j + b_j * direction_j * w)``, an affine
map of ``w`` on the spec's transformed scale, so the standardisation in
:func:`bayes_gravity.data.panel.indicator_panel` recovers ``w`` up to that indicator's realised
mean ``m_j`` and sd ``s_j``. The truth on the model's scale is therefore
``loading_j / s_j``, ``(intercept_j - m_j) / s_j`` and ``sigma_indicator / s_j``; the last
differs slightly between indicators (the model has one shared sd), so ``truth.json`` gives
each value and their mean. Gravity covariates that are index indicators (internet users in
the default spec) use the same generated series and are never made missing.
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bayes_gravity.config import DEFAULT_SPEC, ModelSpec, parse_spec
from bayes_gravity.errors import ConfigError
from bayes_gravity.io import atomic_path, write_json, write_text

SYNTHETIC_NOTE = (
    "SYNTHETIC data written by bayes_gravity.validation.simulate (seed {seed}): every number "
    "is invented "
    "from the model's own generative process; the ISO3 codes are real only because the loader "
    "checks them. truth.json holds the values it was drawn from. Not data about any country.\n"
)

# Known true values of the scalar parameters (model names). Partner effects, partner x flow
# gaps, the index path, loadings and indicator intercepts are drawn per dataset.
DEFAULT_TRUTH: dict[str, float] = {
    "intercept": 6.0,  # log US$ millions at the covariate means: ~400 million
    "beta_log_gdp_partner": 0.9,
    "beta_log_gdp_reporter": 0.8,
    "beta_cbec_index": 0.3,
    "beta_internet_partner": 0.5,
    "beta_openness_partner": 0.4,
    "beta_log_dist": -1.0,
    "beta_contig": 0.4,
    "beta_import": -0.3,
    "sigma_partner": 0.5,
    "sigma_partner_flow": 0.4,
    "sigma": 0.2,
    "nu": 8.0,
    "index_drift": 0.15,
    "sigma_index_step": 0.1,
    "sigma_indicator": 0.35,
}
GENERIC_BETA = 0.3  # a covariate DEFAULT_TRUTH does not name


@dataclass(frozen=True)
class SimulatedTruth:
    """The values a synthetic dataset was drawn from, on the model's own scale."""

    path: Path
    seed: int
    reporter: str
    partners: list[str]
    years: list[int]
    params: dict[str, float]  # scalar parameters under their model names
    partner_effect: dict[str, float]
    partner_flow_gap: dict[str, float]
    index: pd.DataFrame  # iso3, year, value (standardised over all country-years, as fitted)
    indicators: pd.DataFrame  # indicator, loading, intercept, sigma (model scale), missing_share
    missing_share: float  # share of index-indicator cells left out
    notes: list[str] = field(default_factory=list)
    # frontier panels: true TE = exp(-u) per trade row (partner, flow, year, u, te)
    efficiency: pd.DataFrame | None = None

    def index_array(self) -> np.ndarray:
        """Return the true index as a (country, year) array, countries sorted like the panel."""
        wide = self.index.pivot(index="iso3", columns="year", values="value")
        return wide.sort_index().to_numpy()

    def to_json(self) -> dict[str, Any]:
        """Return the JSON-ready form written to ``truth.json``."""
        return {
            "synthetic": True,
            "note": SYNTHETIC_NOTE.format(seed=self.seed).strip(),
            "seed": self.seed,
            "reporter": self.reporter,
            "partners": self.partners,
            "years": self.years,
            "params": self.params,
            "partner_effect": self.partner_effect,
            "partner_flow_gap": self.partner_flow_gap,
            "indicators": self.indicators.to_dict(orient="records"),
            "index": self.index.to_dict(orient="records"),
            "missing_share": self.missing_share,
            "notes": self.notes,
            "efficiency": (
                None if self.efficiency is None else self.efficiency.to_dict(orient="records")
            ),
        }


# ---------------------------------------------------------------------------- specs


def default_spec_dict() -> dict[str, Any]:
    """``models/default.toml`` as a dictionary."""
    return tomllib.loads(DEFAULT_SPEC.read_text(encoding="utf-8"))


def simulation_spec(
    data_path: Path | str | None,
    years: range | list[int],
    *,
    name: str = "simulated",
    n_indicators: int | None = None,
    sampler: dict[str, Any] | None = None,
    gravity: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Return the default spec with ``[data] path`` and years set (as a dictionary).

    Same covariates and indicator names as ``models/default.toml``; ``n_indicators`` keeps
    only the anchor and the first others (a smaller factor model); ``sampler`` and
    ``gravity`` update those tables.
    """
    raw = default_spec_dict()
    raw["name"] = name
    raw["description"] = "SYNTHETIC data from bayes_gravity.validation.simulate; " + raw.get(
        "description", ""
    )
    years = list(years)
    data = dict(raw.get("data", {}))
    if data_path is not None:
        data["path"] = str(Path(data_path).resolve())
    data["first_year"], data["last_year"] = years[0], years[-1]
    raw["data"] = data
    if n_indicators is not None:
        index = dict(raw["index"])
        anchor = index["anchor"]
        items = index["indicators"]
        others = [i for i in items if i["code"] != anchor][: max(n_indicators - 1, 0)]
        index["indicators"] = [i for i in items if i["code"] == anchor or i in others]
        index["min_indicators"] = min(len(index["indicators"]), 3)
        raw["index"] = index
    if sampler:
        raw["sampler"] = {**raw.get("sampler", {}), **sampler}
    if gravity:
        raw["gravity"] = {**raw["gravity"], **gravity}
    parse_spec(raw, "simulation spec")  # fail here, not in the fit
    return raw


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a valid TOML basic string
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"cannot write {type(value).__name__} to TOML")


def _toml_table(table: dict[str, Any], prefix: str) -> list[str]:
    lines = [f"{k} = {_toml_value(v)}" for k, v in table.items() if not _is_table(v)]
    for key, value in table.items():
        if isinstance(value, dict) and value:
            lines += ["", f"[{prefix}{key}]", *_toml_table(value, f"{prefix}{key}.")]
        elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            for item in value:
                lines += ["", f"[[{prefix}{key}]]", *_toml_table(item, f"{prefix}{key}.")]
    return lines


def _is_table(value: Any) -> bool:
    if isinstance(value, dict):
        return bool(value)
    return isinstance(value, list) and bool(value) and all(isinstance(v, dict) for v in value)


def to_toml(raw: dict[str, Any]) -> str:
    """Write a spec dictionary (tables, arrays of tables, scalars) as TOML text."""
    return "\n".join(_toml_table(raw, "")) + "\n"


def write_simulation_spec(
    path: Path | str, data_path: Path | str, years: range | list[int], **kwargs: Any
) -> Path:
    """Write :func:`simulation_spec` as TOML to ``path`` (atomically); return ``path``."""
    raw = simulation_spec(data_path, years, **kwargs)
    text = to_toml(raw)
    assert tomllib.loads(text) == raw, "TOML round trip changed the spec"
    write_text(path, "# SYNTHETIC-data spec written by bayes_gravity.validation.simulate\n" + text)
    return Path(path)


# ---------------------------------------------------------------------------- generator


def pick_partners(n_partners: int, reporter: str, rng: np.random.Generator) -> list[str]:
    """``n_partners`` distinct ISO3 codes (not the reporter), sorted."""
    from bayes_gravity.data.dataset import known_iso3

    pool = sorted(known_iso3() - {reporter})
    if not 1 <= n_partners <= len(pool):
        raise ConfigError(f"n_partners must be between 1 and {len(pool)}, got {n_partners}")
    return sorted(rng.choice(pool, size=n_partners, replace=False).tolist())


def _inverse_transform(t: np.ndarray, transform: str) -> np.ndarray:
    if transform == "log":
        return np.exp(t)
    if transform == "log1p":
        return np.expm1(t)
    if transform == "percent":
        return 100.0 * t
    return t


# Affine map w -> transformed scale (a + b * w) per transform: plausible magnitudes.
_SCALE = {"none": (50.0, 12.0), "log": (3.0, 0.6), "log1p": (2.0, 0.6)}


def _scale_within_bounds(v: np.ndarray, code: str, transform: str) -> tuple[float, float]:
    """Return the affine map ``a + b * v`` for ``code``, inside the range the series can take.

    A series with a fixed range (an LPI score in 1-5, a share in %:
    :data:`bayes_gravity.data.plausibility.INDICATOR_BOUNDS`) would be refused by the loader if
    ``_SCALE`` put it outside. Any affine map (``b > 0``) leaves the truth on the model's
    scale unchanged: the panel standardises every indicator.
    """
    from bayes_gravity.data.plausibility import INDICATOR_BOUNDS

    a, b = _SCALE[transform]
    bounds = INDICATOR_BOUNDS.get(code)
    if bounds is None:
        return a, b

    def on_scale(x: float | None, default: float) -> float:
        if x is None:
            return default
        if transform == "log":
            return float(np.log(x)) if x > 0 else -np.inf
        if transform == "log1p":
            return float(np.log1p(x)) if x > -1 else -np.inf
        return float(x)

    lo, hi = on_scale(bounds.low, -np.inf), on_scale(bounds.high, np.inf)
    v_lo, v_hi = float(v.min()), float(v.max())
    if np.isfinite(lo) and np.isfinite(hi):  # span 5-95 % of the range
        b = 0.9 * (hi - lo) / max(v_hi - v_lo, 1e-12)
        return lo + 0.05 * (hi - lo) - b * v_lo, b
    if np.isfinite(lo) and a + b * v_lo <= lo:
        a = lo - b * v_lo + 0.1 * b
    if np.isfinite(hi) and a + b * v_hi >= hi:
        a = hi - b * v_hi - 0.1 * b
    return a, b


def _index_path(
    n_country: int, n_year: int, drift: float, step_sd: float, rng: np.random.Generator
) -> np.ndarray:
    level = rng.normal(0.0, 1.0, n_country)
    steps = drift + step_sd * rng.normal(0.0, 1.0, (n_country, n_year - 1))
    raw = np.concatenate([level[:, None], level[:, None] + np.cumsum(steps, axis=1)], axis=1)
    return (raw - raw.mean()) / raw.std()  # population sd, like pytensor's std


def _missing_mask(
    n_country: int, years: list[int], share: tuple[float, float], rng: np.random.Generator
) -> tuple[np.ndarray, float]:
    """Observed-cell mask (country, year) of one indicator: late start plus random gaps."""
    n_year = len(years)
    observed = np.ones((n_country, n_year), dtype=bool)
    if share[1] <= 0:
        return observed, 0.0
    if rng.random() < 0.5 and n_year >= 4:  # a series that starts late for every country
        observed[:, : rng.integers(1, n_year // 3 + 1)] = False
    for c in range(n_country):
        target = rng.uniform(*share)
        cells = np.flatnonzero(observed[c])
        n_drop = round(target * n_year) - (n_year - len(cells))
        if n_drop > 0:
            observed[c, rng.choice(cells, size=min(n_drop, len(cells) - 1), replace=False)] = False
    return observed, 1.0 - observed.mean()


def simulate_dataset(
    out_dir: Path | str,
    n_partners: int,
    years: range | list[int],
    missing_share: float | tuple[float, float],
    seed: int,
    *,
    spec: ModelSpec | None = None,
    reporter: str = "CHN",
    partners: list[str] | None = None,
    params: dict[str, float] | None = None,
    frontier: dict[str, Any] | None = None,
) -> SimulatedTruth:
    """Write a SYNTHETIC dataset folder drawn from the model; return the truth.

    With ``frontier`` (``{"inefficiency": "half_normal", "sigma_u": 0.4, "sigma_v": 0.2}``,
    ``mu_u`` for the truncated normal) the panel is a stochastic frontier: log trade =
    frontier + v - u, ``v ~ Normal(0, sigma_v)``, ``u >= 0`` iid per row; the true TE per row
    is in ``efficiency``.

    Parameters
    ----------
    out_dir
        Folder to write ``trade.csv``, ``indicators.csv``, ``pairs.csv``, ``truth.json`` and
        ``SYNTHETIC.txt`` to (created; files written atomically).
    n_partners
        Number of partners (distinct real ISO3 codes drawn with ``seed``, or ``partners``).
    years
        Consecutive years of the panel (at least 3).
    missing_share
        Share of index-indicator cells missing per country and indicator: a number, or a
        ``(low, high)`` range each country-indicator draws its share from (e.g. ``(0.2, 0.8)``).
        Half of the indicators also start late (the first years missing for every country).
        Indicators that are gravity covariates are never missing.
    seed
        Seed of every random draw: same seed, same files.
    spec
        The spec whose indicators and covariates to generate (default: ``models/default.toml``).
    reporter
        ISO3 code of the single reporter.
    partners
        Explicit partner codes instead of drawn ones.
    params
        Overrides of :data:`DEFAULT_TRUTH` (model parameter names).
    """
    if spec is None:
        spec = parse_spec(default_spec_dict(), str(DEFAULT_SPEC))
    years = [int(y) for y in years]
    if len(years) < 3 or years != list(range(years[0], years[-1] + 1)):
        raise ConfigError(f"years must be at least 3 consecutive years, got {years}")
    if isinstance(missing_share, tuple | list):
        lo, hi = float(missing_share[0]), float(missing_share[1])
    else:
        lo = hi = float(missing_share)
    if not 0.0 <= lo <= hi < 1.0:
        raise ConfigError(f"missing_share must lie in [0, 1), got {missing_share}")
    rng = np.random.default_rng(seed)
    truth = {**DEFAULT_TRUTH, **(params or {})}
    if partners is None:
        partners = pick_partners(n_partners, reporter, rng)
    partners = sorted(partners)
    countries = sorted([reporter, *partners])
    n_c, n_t = len(countries), len(years)
    pos = {c: i for i, c in enumerate(countries)}

    index = _index_path(n_c, n_t, truth["index_drift"], truth["sigma_index_step"], rng)

    # Index indicators: the factor model on the transformed scale, then inverse transformed.
    covariate_codes = {str(c.indicator) for c in spec.gravity.covariates if c.source == "indicator"}
    rows: list[tuple[str, int, str, float]] = []
    ind_truth = []
    sigma_ind = truth["sigma_indicator"]
    values_by_code: dict[str, np.ndarray] = {}
    for item in spec.index.indicators:
        loading = float(rng.uniform(0.75, 0.95))
        intercept = float(rng.normal(0.0, 0.3))
        w = intercept + loading * index + sigma_ind * rng.normal(0.0, 1.0, (n_c, n_t))
        sign = -1.0 if item.direction == "-" else 1.0
        a, b = _scale_within_bounds(sign * w, item.code, item.transform)
        raw = _inverse_transform(a + b * sign * w, item.transform)
        if item.code in covariate_codes:
            observed, share_j = np.ones_like(w, dtype=bool), 0.0
        else:
            observed, share_j = _missing_mask(n_c, years, (lo, hi), rng)
        w_obs = w[observed]
        m, s = float(w_obs.mean()), float(w_obs.std())
        ind_truth.append(
            {
                "indicator": item.code,
                "loading": loading / s,
                "intercept": (intercept - m) / s,
                "sigma": sigma_ind / s,
                "missing_share": share_j,
                "generating_loading": loading,
                "generating_intercept": intercept,
            }
        )
        values_by_code[item.code] = raw
        for c, t in zip(*np.nonzero(observed), strict=True):
            rows.append((countries[c], years[t], item.code, float(raw[c, t])))

    # Covariate series that are not index indicators: complete, plausible magnitudes.
    steps = np.arange(n_t)
    for code in sorted(covariate_codes - set(values_by_code)):
        transforms = {c.transform for c in spec.gravity.covariates if c.indicator == code}
        if "log" in transforms:  # a level series such as GDP: log-normal across countries
            level = rng.normal(24.0, 1.2, n_c)
            level[pos[reporter]] = 29.0
            growth = rng.normal(0.06, 0.02, n_c)
            log_v = (
                level[:, None]
                + growth[:, None] * steps
                + np.cumsum(rng.normal(0.0, 0.04, (n_c, n_t)), axis=1)
            )
            series = np.exp(log_v)
        elif "percent" in transforms:
            series = rng.uniform(30.0, 120.0, n_c)[:, None] + np.cumsum(
                rng.normal(0.0, 3.0, (n_c, n_t)), axis=1
            )
        else:
            series = rng.normal(0.0, 1.0, n_c)[:, None] + rng.normal(0.0, 0.2, (n_c, n_t))
        values_by_code[code] = series
        for c in range(n_c):
            for t in range(n_t):
                rows.append((countries[c], years[t], code, float(series[c, t])))
    indicators = pd.DataFrame(rows, columns=["iso3", "year", "indicator", "value"])
    indicators = indicators.sort_values(["indicator", "iso3", "year"]).reset_index(drop=True)

    # Pairs: distance and contiguity (both values present when there are two partners or more).
    pairs = pd.DataFrame(
        {
            "reporter": reporter,
            "partner": partners,
            "dist_km": np.round(np.exp(rng.uniform(np.log(500), np.log(8000), len(partners)))),
        }
    )
    contig = (rng.random(len(partners)) < 0.35).astype(int)
    if len(partners) >= 2 and contig.min() == contig.max():
        contig[rng.integers(len(partners))] = 1 - contig[0]
    pairs["contig"] = contig
    for cov in spec.gravity.covariates:
        if cov.source == "pair" and cov.column not in pairs.columns:
            pairs[cov.column] = (rng.random(len(partners)) < 0.5).astype(int)

    # Gravity: covariates transformed exactly as panel.py does, centred over the rows.
    from bayes_gravity.data.panel import _transform

    grid = pd.MultiIndex.from_product(
        [partners, ["export", "import"], years], names=["partner", "flow", "year"]
    ).to_frame(index=False)
    p_idx = grid["partner"].map(pos).to_numpy()
    t_idx = grid["year"].map({y: i for i, y in enumerate(years)}).to_numpy()
    is_import = (grid["flow"] == "import").to_numpy()
    pair_lookup = pairs.set_index("partner")
    mu = np.full(len(grid), truth["intercept"])
    mu += np.where(is_import, 0.5, -0.5) * truth["beta_import"]
    for cov in spec.gravity.covariates:
        name = f"beta_{cov.name}"
        beta = truth.get(name, GENERIC_BETA)
        truth[name] = beta
        if cov.source == "index":
            mu += beta * index[p_idx, t_idx]
            continue
        if cov.source == "pair":
            x = pair_lookup.loc[grid["partner"], cov.column].to_numpy(dtype=float)
        else:
            side = p_idx if cov.side == "partner" else np.full(len(grid), pos[reporter])
            x = values_by_code[str(cov.indicator)][side, t_idx]
        x = _transform(pd.Series(x), cov.transform).to_numpy()
        mu += beta * (x - x.mean())
    effect = rng.normal(0.0, truth["sigma_partner"], len(partners))
    effect -= effect.mean()  # ZeroSumNormal: centred iid normals
    gap = rng.normal(0.0, truth["sigma_partner_flow"], len(partners))
    gap -= gap.mean()
    part = np.arange(len(partners))[grid["partner"].map({p: i for i, p in enumerate(partners)})]
    if spec.gravity.partner_effects:
        mu += effect[part]
    if spec.gravity.partner_flow_effects:
        mu += np.where(is_import, 0.5, -0.5) * gap[part]
    efficiency = None
    if frontier is None:
        noise = truth["sigma"] * rng.standard_t(truth["nu"], len(grid))
    else:
        from bayes_gravity.model.frontier import draw_u

        kind = str(frontier.get("inefficiency", "half_normal"))
        truth["sigma_v"], truth["sigma_u"] = float(frontier["sigma_v"]), float(frontier["sigma_u"])
        if kind == "truncated_normal":
            truth["mu_u"] = float(frontier["mu_u"])
        u = draw_u(kind, np.full(len(grid), truth["sigma_u"]), truth.get("mu_u", 0.0), rng)
        noise = rng.normal(0.0, truth["sigma_v"], len(grid)) - u
        efficiency = grid[["partner", "flow", "year"]].assign(u=u, te=np.exp(-u))
    trade = grid.assign(reporter=reporter, value_usd=np.exp(mu + noise) * 1e6)
    trade = trade[["reporter", "partner", "year", "flow", "value_usd"]]
    truth["nu_excess"] = truth["nu"] - 3.0

    index_table = pd.DataFrame(
        {
            "iso3": np.repeat(countries, n_t),
            "year": np.tile(years, n_c),
            "value": index.ravel(),
        }
    )
    ind_table = pd.DataFrame(ind_truth)
    anchor = ind_table["indicator"] == spec.index.anchor
    truth["loading_anchor"] = float(ind_table.loc[anchor, "loading"].iloc[0])
    truth["sigma_indicator"] = float(ind_table["sigma"].mean())
    notes = [
        "params.sigma_indicator is the mean over indicators of sigma / s_j (the model has one "
        "shared sd); index_drift and sigma_index_step are on the generator's raw scale, "
        "which the model standardises (not identified by the data)",
    ]
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    # Full precision (no float_format): the fitted covariates equal the generated ones.
    for name, frame in (("trade.csv", trade), ("indicators.csv", indicators), ("pairs.csv", pairs)):
        with atomic_path(out / name) as tmp:
            frame.to_csv(tmp, index=False)
    result = SimulatedTruth(
        path=out,
        seed=seed,
        reporter=reporter,
        partners=partners,
        years=years,
        params={k: float(v) for k, v in truth.items()},
        partner_effect=dict(zip(partners, effect.tolist(), strict=True)),
        partner_flow_gap=dict(zip(partners, gap.tolist(), strict=True)),
        index=index_table,
        indicators=ind_table,
        missing_share=float(ind_table["missing_share"].mean()),
        notes=notes,
        efficiency=efficiency,
    )
    write_json(out / "truth.json", result.to_json())
    write_text(out / "SYNTHETIC.txt", SYNTHETIC_NOTE.format(seed=seed))
    return result


def read_truth(folder: Path | str) -> dict[str, Any]:
    """Read ``truth.json`` of a simulated dataset folder."""
    return json.loads((Path(folder) / "truth.json").read_text(encoding="utf-8"))


__all__ = [
    "DEFAULT_TRUTH",
    "SimulatedTruth",
    "read_truth",
    "simulate_dataset",
    "simulation_spec",
    "to_toml",
    "write_simulation_spec",
]
