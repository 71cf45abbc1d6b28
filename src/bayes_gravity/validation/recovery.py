"""Parameter recovery on SYNTHETIC data: known parameters, the real pipeline, coverage.

Datasets written by :func:`bayes_gravity.validation.simulate.simulate_dataset` with known
parameters go through the real pipeline (files, ``load_dataset``, ``GravityModel.fit``), and
the share of replicates whose 90 % interval holds the truth is reported per parameter, with
the rank correlation of the fitted and the true index within each year
(:func:`run_recovery`). :func:`run_fixed_recovery` holds the parameters at known values in
the SBC structure model of :mod:`bayes_gravity.validation.calibration` and refits one
compiled model per worker. Both run their fits through Dask.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bayes_gravity.validation.calibration import (
    SBC_SCALARS,
    SBCConfig,
    draw_label,
    draw_prior,
    fit_prior_draw,
    map_fits,
)


@dataclass(frozen=True)
class RecoveryConfig:
    """Simulated datasets (known parameters) fitted through the real pipeline."""

    n_partners: int = 5
    first_year: int = 2008
    n_years: int = 12
    missing_share: tuple[float, float] = (0.2, 0.8)
    draws: int = 500
    tune: int = 500
    chains: int = 2
    prob: float = 0.9

    @property
    def years(self) -> list[int]:
        """Years of every simulated dataset."""
        return list(range(self.first_year, self.first_year + self.n_years))


# SBC's scalars without the index dynamics, whose truth is on the generator's raw scale and
# not the model's (see simulate.py), and the anchor, checked with every other loading.
RECOVERY_SCALARS = tuple(
    n for n in SBC_SCALARS if n not in ("loading_anchor", "index_drift", "sigma_index_step")
)


def recover_one(config: RecoveryConfig, rep: int, seed: int) -> dict[str, Any]:
    """Simulate one dataset, fit it with ``GravityModel.fit``, compare with the truth."""
    from scipy import stats

    from bayes_gravity.config import parse_spec
    from bayes_gravity.data.dataset import load_dataset
    from bayes_gravity.model.gravity_model import GravityModel
    from bayes_gravity.validation.simulate import simulate_dataset, simulation_spec

    sampler = {
        "draws": config.draws,
        "tune": config.tune,
        "chains": config.chains,
        "cores": 1,
        "random_seed": seed,
    }
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "data"
        truth = simulate_dataset(
            folder, config.n_partners, config.years, config.missing_share, seed
        )
        spec = parse_spec(simulation_spec(folder, config.years, sampler=sampler))
        model = GravityModel(spec, load_dataset(folder))
        start = time.perf_counter()
        idata = model.fit(store_prior=False)  # recovery reads the posterior only
        seconds = time.perf_counter() - start
    post = idata["posterior"].to_dataset().stack(sample=("chain", "draw"))
    tail = (1.0 - config.prob) / 2
    rows = []

    def check(name: str, draws: np.ndarray, true: float, kind: str) -> None:
        lo, hi = np.quantile(draws, [tail, 1.0 - tail])
        rows.append(
            {
                "rep": rep,
                "parameter": name,
                "kind": kind,
                "truth": float(true),
                "mean": float(draws.mean()),
                "lo": float(lo),
                "hi": float(hi),
                "covered": bool(lo <= true <= hi),
            }
        )

    for name in RECOVERY_SCALARS:
        check(name, np.asarray(post[name].values), truth.params[name], "scalar")
    for item in truth.indicators.itertuples():
        draws = np.asarray(post["loading"].sel(indicator=item.indicator).values)
        check(f"loading[{item.indicator}]", draws, float(item.loading), "loading")  # type: ignore[arg-type]
    for partner, value in truth.partner_effect.items():
        draws = np.asarray(post["partner_effect"].sel(partner=partner).values)
        check(f"partner_effect[{partner}]", draws, value, "partner_effect")
    index_mean = post["cbec_index"].mean("sample")
    true_index = truth.index.set_index(["iso3", "year"])["value"]
    rank_corr = {}
    for year in config.years:
        fitted = index_mean.sel(year=year).to_series()
        true = true_index.xs(year, level="year").reindex(fitted.index)
        rank_corr[year] = float(stats.spearmanr(fitted, true).statistic)
        for country in fitted.index:
            draws = np.asarray(post["cbec_index"].sel(country=country, year=year).values)
            check(f"cbec_index[{country},{year}]", draws, float(true[country]), "index")
    stats_ = idata["sample_stats"]
    return {
        "rep": rep,
        "rows": rows,
        "rank_corr": rank_corr,
        "divergences": int(stats_["diverging"].sum()),
        "fit_seconds": seconds,
        "missing_share": truth.missing_share,
    }


@dataclass
class RecoveryResult:
    """Per-replicate checks and the coverage summary."""

    config: RecoveryConfig
    n_reps: int
    seed: int
    checks: pd.DataFrame  # rep, parameter, kind, truth, mean, lo, hi, covered
    rank_corr: pd.DataFrame  # rep, year, spearman
    fits: pd.DataFrame  # rep, divergences, fit_seconds, missing_share
    wall_seconds: float
    command: str = ""


def run_recovery(
    n_reps: int,
    config: RecoveryConfig | None = None,
    seed: int = 20240601,
    scheduler: str | None = None,
    n_workers: int = 2,
    progress: Callable[[dict[str, Any]], None] | None = None,
    verbose: bool = False,
) -> RecoveryResult:
    """Run ``n_reps`` recovery replicates on a Dask cluster."""
    config = config or RecoveryConfig()
    start = time.perf_counter()
    items = [(config, rep, seed + 7919 * (rep + 1)) for rep in range(n_reps)]
    results = sorted(
        map_fits(
            recover_one,
            items,
            scheduler,
            n_workers,
            progress,
            lambda item: f"the recovery fit of replicate {item[1]} (seed {item[2]})",
            verbose,
        ),
        key=lambda r: r["rep"],
    )
    checks = pd.DataFrame([row for r in results for row in r["rows"]])
    rank_corr = pd.DataFrame(
        [
            {"rep": r["rep"], "year": y, "spearman": v}
            for r in results
            for y, v in r["rank_corr"].items()
        ]
    )
    fits = pd.DataFrame(
        [{k: r[k] for k in ("rep", "divergences", "fit_seconds", "missing_share")} for r in results]
    )
    return RecoveryResult(
        config, n_reps, seed, checks, rank_corr, fits, time.perf_counter() - start
    )


def coverage_table(checks: pd.DataFrame, prob: float) -> pd.DataFrame:
    """Coverage per scalar parameter and pooled per group, with a two-sided binomial p-value."""
    from scipy import stats

    scalar = checks[checks["kind"] == "scalar"].assign(group=lambda d: d["parameter"])
    pooled = checks[checks["kind"] != "scalar"].assign(group=lambda d: d["kind"] + " (pooled)")
    rows = []
    for group, part in pd.concat([scalar, pooled]).groupby("group", sort=False):
        n, k = len(part), int(part["covered"].sum())
        rows.append(
            {
                "parameter": group,
                "n": n,
                "covered": k,
                "coverage": k / n,
                "binom_p": float(stats.binomtest(k, n, prob).pvalue),
                "mean_abs_error": float((part["mean"] - part["truth"]).abs().mean()),
            }
        )
    return pd.DataFrame(rows)


def recovery_summary_line(result: RecoveryResult) -> str:
    """One line: pooled coverage and the index rank correlation."""
    table = coverage_table(result.checks, result.config.prob)
    scal = table[~table["parameter"].str.contains("pooled")]
    return (
        f"recovery: {result.n_reps} replicates, scalar coverage "
        f"{scal['covered'].sum() / scal['n'].sum():.3f} (nominal {result.config.prob}); "
        f"index rank correlation per year: mean {result.rank_corr['spearman'].mean():.3f}, "
        f"min {result.rank_corr['spearman'].min():.3f}"
    )


def plot_coverage(table: pd.DataFrame, n_reps: int, prob: float, path: Path) -> None:
    """Coverage per parameter with the 95 % binomial band around the nominal rate."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from scipy import stats

    from bayes_gravity.io import write_with

    fig, ax = plt.subplots(figsize=(7.5, 0.28 * len(table) + 1.2))
    y = np.arange(len(table))
    lo, hi = stats.binom.ppf([0.025, 0.975], n_reps, prob) / n_reps
    ax.axvspan(lo, hi, color="0.88", label=f"95% band for {n_reps} replicates")
    ax.axvline(prob, color="0.4", lw=0.8)
    ax.plot(table["coverage"], y, "o", color="C0")
    ax.set_yticks(y, table["parameter"], fontsize=7)
    ax.invert_yaxis()
    ax.set_xlim(0, 1.02)
    ax.set_xlabel(f"share of {prob:.0%} intervals holding the truth")
    ax.legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    write_with(path, lambda tmp: fig.savefig(tmp, dpi=110, format="png"))
    plt.close(fig)


def _recovery_method(result: RecoveryResult) -> str:
    cfg: Any = result.config
    fits = result.fits
    timing = (
        f"Median fit {fits['fit_seconds'].median():.1f} s; fits with divergences: "
        f"{int((fits['divergences'] > 0).sum())}."
    )
    if getattr(cfg, "fixed", ()):
        known = ", ".join(
            f"{k} = {v}" if np.ndim(v) == 0 else f"{k} = {list(v)}" for k, v in cfg.fixed
        )
        compile_s = ", ".join(f"{s:.0f} s" for s in fits["compile_seconds"] if s > 0)
        return (
            f"{result.n_reps} replicates on one simulated structure ({cfg.n_partners} partners, "
            f"{cfg.n_years} years, {cfg.n_indicators} index indicators, missing share "
            f"{cfg.missing_share}, structure seed {cfg.structure_seed}). Known values held "
            f"fixed with `pm.do`: {known}. The intercept, partner effects, partner x flow gaps, "
            "index path, indicator intercepts and all observations are drawn from the model "
            "per replicate; each replicate is fitted by the engine (one program for all: "
            f"{compile_s}; {cfg.chains} chains x {cfg.draws} draws, {cfg.tune} tune, "
            f"target_accept {cfg.target_accept}). {timing}"
        )
    return (
        f"{result.n_reps} datasets from `simulate_dataset` ({cfg.n_partners} partners, "
        f"{cfg.n_years} years, missing share {cfg.missing_share}), each written to files and "
        f"fitted with `GravityModel.fit` ({cfg.chains} chains x {cfg.draws} draws, "
        f"{cfg.tune} tune). {timing}"
    )


def write_recovery(result: RecoveryResult, out_dir: Path) -> list[Path]:
    """Write recovery.json, recovery.md, recovery_checks.csv and recovery_coverage.png."""
    from bayes_gravity.io import write_csv, write_json, write_text

    cfg = result.config
    table = coverage_table(result.checks, cfg.prob)
    corr = result.rank_corr.groupby("year")["spearman"].agg(["mean", "min"]).reset_index()
    summary = {
        "synthetic": True,
        "command": result.command,
        "config": asdict(cfg),
        "n_reps": result.n_reps,
        "seed": result.seed,
        "wall_seconds": result.wall_seconds,
        "fit_seconds_median": float(result.fits["fit_seconds"].median()),
        "fits_with_divergences": int((result.fits["divergences"] > 0).sum()),
        "coverage": table.to_dict(orient="records"),
        "index_rank_correlation_by_year": corr.to_dict(orient="records"),
        "index_rank_correlation_mean": float(result.rank_corr["spearman"].mean()),
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    names = ("recovery.json", "recovery.md", "recovery_checks.csv", "recovery_coverage.png")
    paths = [out_dir / n for n in names]
    write_json(paths[0], summary)
    lines = [
        "# Parameter recovery (SYNTHETIC data)",
        "",
        f"Command: `{result.command}`",
        "",
        _recovery_method(result),
        "",
        f"| parameter | n | covered | coverage ({cfg.prob:.0%} nominal) | binomial p | "
        "mean abs error |",
        "|---|---|---|---|---|---|",
        *(
            f"| {r.parameter} | {r.n} | {r.covered} | {r.coverage:.2f} | {r.binom_p:.3f} | "
            f"{r.mean_abs_error:.3f} |"
            for r in table.itertuples()
        ),
        "",
        "Rank correlation (Spearman) of the posterior-mean index with the true index, per year:",
        "",
        "| year | mean | min |",
        "|---|---|---|",
        *(f"| {r.year} | {r.mean:.3f} | {r.min:.3f} |" for r in corr.itertuples()),
    ]
    write_text(paths[1], "\n".join(lines) + "\n")
    write_csv(paths[2], result.checks)
    plot_coverage(table, result.n_reps, cfg.prob, paths[3])
    return paths


def _kind(name: str) -> str:
    if name.startswith("loading["):
        return "loading"
    if name.startswith("partner_effect["):
        return "partner_effect"
    if name.startswith("cbec_index["):
        return "index"
    return "scalar"


def recovery_config() -> SBCConfig:
    """Default recovery structure (5 partners, 12 years, all 11 indicators) and known values."""
    from bayes_gravity.validation.simulate import DEFAULT_TRUTH

    n_indicators = 11
    names = [n for n in SBC_SCALARS if n.startswith(("beta_", "sigma", "index_"))]
    fixed: list[tuple[str, float | tuple[float, ...]]] = [(n, DEFAULT_TRUTH[n]) for n in names]
    fixed += [
        ("nu_excess", DEFAULT_TRUTH["nu"] - 3.0),
        ("loading_anchor", 0.9),
        ("loading_other", tuple(np.linspace(0.6, 0.9, n_indicators - 1).round(3).tolist())),
    ]
    return SBCConfig(
        n_partners=5,
        first_year=2008,
        n_years=12,
        n_indicators=n_indicators,
        missing_share=(0.2, 0.8),
        structure_seed=202,
        fixed=tuple(fixed),
        full=True,
    )


def run_fixed_recovery(
    n_reps: int,
    config: SBCConfig | None = None,
    seed: int = 20240601,
    scheduler: str | None = None,
    n_workers: int = 2,
    progress: Callable[[dict[str, Any]], None] | None = None,
    verbose: bool = False,
) -> RecoveryResult:
    """Recovery with known parameters, fitted with one compiled model per worker.

    The scalar parameters and loadings are held at :func:`recovery_config`'s values with
    ``pm.do``; the intercept, partner effects, index path, indicator intercepts and the data
    are drawn from the model for each replicate; the same model is refitted to each.
    """
    from scipy import stats

    config = config or recovery_config()
    start = time.perf_counter()
    draws = draw_prior(config, n_reps, seed)
    items = [(config, d, seed + 1 + d["sim"]) for d in draws]
    results = sorted(
        map_fits(
            fit_prior_draw,
            items,
            scheduler,
            n_workers,
            progress,
            draw_label("recovery"),
            verbose,
        ),
        key=lambda r: r["sim"],
    )
    rows, corr = [], []
    for r, d in zip(results, draws, strict=True):
        for name, (mean, lo, hi) in r["interval"].items():
            true = d["truth"][name]
            rows.append(
                {
                    "rep": r["sim"],
                    "parameter": name,
                    "kind": _kind(name),
                    "truth": true,
                    "mean": mean,
                    "lo": lo,
                    "hi": hi,
                    "covered": bool(lo <= true <= hi),
                }
            )
    checks = pd.DataFrame(rows)
    cells = checks[checks["kind"] == "index"].copy()
    cells[["country", "year"]] = cells["parameter"].str.extract(r"\[(\w+),(\d+)\]")
    for (rep, year), part in cells.groupby(["rep", "year"]):
        corr.append(
            {
                "rep": rep,
                "year": int(str(year)),
                "spearman": float(stats.spearmanr(part["mean"], part["truth"]).statistic),
            }
        )
    fits = pd.DataFrame(
        [
            {
                "rep": r["sim"],
                "divergences": r["divergences"],
                "fit_seconds": r["fit_seconds"],
                "compile_seconds": r["compile_seconds"],
                "min_ess_bulk": r["min_ess_bulk"],
            }
            for r in results
        ]
    )
    return RecoveryResult(
        config,  # type: ignore[arg-type]
        n_reps,
        seed,
        checks,
        pd.DataFrame(corr),
        fits,
        time.perf_counter() - start,
    )
