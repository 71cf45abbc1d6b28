"""A run folder: the saved posterior and the tables read from it.

Layout of ``models/<spec name>/`` (or ``--out``)::

    posterior.nc       ArviZ DataTree (posterior, sample_stats, log_likelihood, observed and
                       constant data); attrs: resolved spec, data hash, versions, seed
    index.csv          iso3, year, mean, lo, hi, rank_mean, p_rank1
    loadings.csv       indicator, dimension, mean, lo, hi, pca_weight
    coefficients.csv   term, mean, sd, lo, hi, r_hat, ess_bulk
    potential.csv      partner, flow, year, actual, ratio_mean, ratio_lo, ratio_hi,
                       benchmark_mean, gap_usd_*, p_reshaping, p_expansion, p_huge, tier,
                       tier_rule
    diagnostics.json   per-check values and an overall "passed"

Files are staged in a hidden folder and committed as a set (:func:`bayes_gravity.io.staged_commit`):
a fit killed at any moment leaves the previous run intact, or (killed during the final renames)
a commit that the next reader or writer completes. Never a mix of two runs, never half a file.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bayes_gravity.cbec_index import pca_index, rank_summary
from bayes_gravity.diagnostics import run_checks
from bayes_gravity.errors import DataError
from bayes_gravity.gravity import BENCHMARK_DEFINITION, benchmark_level
from bayes_gravity.io import finish_commits, staged_commit, write_csv, write_json
from bayes_gravity.model import GravityModel
from bayes_gravity.potential import posterior_potential

# Sampler-internal coordinates: non-centred offsets and the raw index process, whose global
# shift and scale the likelihood does not see (the index is standardised). Not reported.
INTERNAL = ("_z", "_raw", "_excess", "loading_anchor", "loading_other", "ppml_pointwise")
RAW_SCALE = ("sigma_index_step", "index_drift", "index_ar1_rho")
TABLES = ("index.csv", "loadings.csv", "coefficients.csv", "potential.csv")
RUN_FILES = (*TABLES, "posterior.nc", "diagnostics.json")

log = logging.getLogger(__name__)


def reported_vars(posterior: Any) -> list[str]:
    """Posterior variables that outputs are computed from (the diagnostics gate covers these)."""
    names = [str(n) for n in posterior.data_vars]
    return [n for n in names if not n.endswith(INTERNAL) and n not in RAW_SCALE]


def stack_draws(posterior: Any, name: str) -> np.ndarray:
    """Draws of ``name`` with chain and draw flattened into the first axis (chain-major)."""
    da = posterior[name].stack(sample=("chain", "draw")).transpose("sample", ...)
    return np.asarray(da.values, dtype=float)


def interval(values: np.ndarray, ci_prob: float) -> tuple[np.ndarray, np.ndarray]:
    """Equal-tailed ``ci_prob`` interval over the draw axis (axis 0)."""
    tail = (1 - ci_prob) / 2
    return np.quantile(values, tail, axis=0), np.quantile(values, 1 - tail, axis=0)


def index_posterior(model: GravityModel) -> Any:
    """Return the posterior holding the index: the joint one, or the cut's first stage."""
    group = "index_posterior" if "index_posterior" in model.idata.children else "posterior"
    return model.idata[group].to_dataset()


def index_table(model: GravityModel) -> pd.DataFrame:
    """Posterior index per country-year with its interval, mean rank and P(rank = 1)."""
    assert model.inputs is not None
    panel = model.inputs.panel
    posterior = index_posterior(model)
    draws = stack_draws(posterior, "cbec_index")  # sample, country, year
    lo, hi = interval(draws, model.spec.ci_prob)
    table = pd.DataFrame(
        {
            "iso3": np.repeat(panel.countries, len(panel.years)),
            "year": np.tile(panel.years, len(panel.countries)),
            "mean": draws.mean(axis=0).ravel(),
            "lo": lo.ravel(),
            "hi": hi.ravel(),
        }
    )
    ranks = rank_summary(draws, panel.countries, panel.years, among=panel.partners)
    return table.merge(ranks, on=["iso3", "year"], how="left")


def loadings_table(model: GravityModel) -> pd.DataFrame:
    """Tabulate loadings per indicator next to the classic PCA weights."""
    assert model.inputs is not None
    panel = model.inputs.panel
    posterior = index_posterior(model)
    draws = stack_draws(posterior, "loading")
    lo, hi = interval(draws, model.spec.ci_prob)
    codes = [str(c) for c in posterior["loading"].coords["indicator"].values]
    dims = {i.code: i.dimension for i in panel.indicator_specs}
    pca = pca_index(
        panel.indicators,
        panel.countries,
        panel.years,
        panel.partners,
        eigenvalue_min=model.spec.classic.eigenvalue_min,
    )
    weights = pca.weights.set_index("indicator")["weight"]
    return pd.DataFrame(
        {
            "indicator": codes,
            "dimension": [dims[c] for c in codes],
            "mean": draws.mean(axis=0),
            "lo": lo,
            "hi": hi,
            "pca_weight": weights.reindex(codes).to_numpy(),
        }
    )


def coefficient_table(model: GravityModel) -> pd.DataFrame:
    """Gravity coefficients and scales with intervals, R-hat and bulk ESS."""
    import arviz_stats as az

    posterior = model.idata["posterior"].to_dataset()
    names = [
        n
        for n in reported_vars(posterior)
        if n.startswith(("beta_", "sigma", "nu", "intercept", "gamma_shape"))
        and posterior[n].ndim == 2
    ]
    rhat = az.rhat(model.idata, var_names=names)
    ess = az.ess(model.idata, var_names=names, method="bulk")
    rows = []
    for name in names:
        draws = stack_draws(posterior, name)
        lo, hi = interval(draws, model.spec.ci_prob)
        rows.append(
            {
                "term": name.removeprefix("beta_"),
                "mean": draws.mean(),
                "sd": draws.std(ddof=1),
                "lo": lo,
                "hi": hi,
                "r_hat": float(rhat[name]),
                "ess_bulk": float(ess[name]),
            }
        )
    return pd.DataFrame(rows)


def potential_table(model: GravityModel) -> pd.DataFrame:
    """Potential ratio, tier probabilities and US$ gap per partner x flow x year."""
    assert model.inputs is not None
    trade = model.inputs.trade
    posterior = model.idata["posterior"].to_dataset()
    bench = benchmark_level(posterior, model.spec.gravity.likelihood)
    draws = np.asarray(bench.stack(sample=("chain", "draw")).transpose("sample", ...).values)
    summary = posterior_potential(
        trade["value_usd"].to_numpy(), draws, model.spec.potential, model.spec.ci_prob
    )
    table = trade[["partner", "flow", "year"]].copy()
    table["actual"] = trade["value_usd"].to_numpy()
    for key, values in summary.items():
        table[key] = values
    # The tier rule and the benchmark's definition travel with every row of the table.
    table["tier_rule"] = (
        f"{model.spec.potential.describe()}; predicted = benchmark: {BENCHMARK_DEFINITION}"
    )
    return table.sort_values(["partner", "flow", "year"]).reset_index(drop=True)


@dataclass(frozen=True)
class RunResult:
    """Tables and the diagnostics verdict of one fit."""

    tables: dict[str, pd.DataFrame]
    diagnostics: dict[str, Any]


def gate(model: GravityModel) -> dict[str, Any]:
    """Run the diagnostics gate; for a cut fit, the worst over imputations and index fit."""
    import xarray as xr

    from bayes_gravity.approximate import gate_not_applicable, is_approximate

    if is_approximate(model.idata):
        return gate_not_applicable(str(model.idata.attrs["inference_method"]))
    assert model.inputs is not None
    spec = model.spec.diagnostics
    labels = [f"{r.partner} {r.flow} {r.year}" for r in model.inputs.trade.itertuples()]
    posterior = model.idata["posterior"].to_dataset()
    n_imp = int(model.idata.attrs.get("cut_imputations", 0))
    if not n_imp:
        return run_checks(model.idata, spec, reported_vars(posterior), obs_labels=labels)
    per = int(model.idata.attrs["cut_chains_per_imputation"])
    reports = []
    for k in range(n_imp):
        chains = slice(k * per, (k + 1) * per)
        part = xr.DataTree.from_dict(
            {
                g: model.idata[g].to_dataset().isel(chain=chains)
                for g in ("posterior", "sample_stats", "log_likelihood")
                if g in model.idata.children
            }
        )
        reports.append(run_checks(part, spec, reported_vars(posterior), obs_labels=labels))
    index_fit = xr.DataTree.from_dict(
        {
            "posterior": model.idata["index_posterior"].to_dataset(),
            "sample_stats": model.idata["index_sample_stats"].to_dataset(),
        }
    )
    index_vars = [v for v in reported_vars(index_fit["posterior"].to_dataset())]
    reports.append(run_checks(index_fit, spec, index_vars))
    worst = reports[0]
    for report in reports[1:]:
        for name, check in report["checks"].items():
            if name not in worst["checks"] or not check["passed"]:
                if name in worst["checks"] and not worst["checks"][name]["passed"]:
                    continue
                worst["checks"][name] = check
    # Pooled draws of the imputations are independent: ESS adds up (the sum of per-imputation
    # minima is a lower bound of the pooled minimum). R-hat stays within-imputation.
    for name in ("ess_bulk", "ess_tail"):
        total = sum(r["checks"][name]["value"] for r in reports[:n_imp])
        index_ess = reports[-1]["checks"][name]["value"]
        value = min(total, index_ess)
        threshold = worst["checks"][name]["threshold"]
        worst["checks"][name] = dict(worst["checks"][name], value=value, passed=value >= threshold)
    for r in reports:
        for name in ("ess_bulk", "ess_tail"):
            r["checks"][name]["passed"] = True  # judged on the pooled sum above
        r["passed"] = all(c["passed"] for c in r["checks"].values() if c.get("gates", True))
    worst["passed"] = all(r["passed"] for r in reports) and all(
        worst["checks"][n]["passed"] for n in ("ess_bulk", "ess_tail")
    )
    worst["loo_reliable"] = all(r["loo_reliable"] for r in reports)
    worst["scope"] = f"worst over {n_imp} cut imputations and the index-only fit"
    return worst


def summarise(model: GravityModel) -> RunResult:
    """Compute every table and the diagnostics gate from a fitted model."""
    diagnostics = gate(model)
    # No wall time here: diagnostics.json judges the draws, so the same seed gives the same
    # bytes; the time is in posterior.nc's attributes (wall_seconds) and printed by `fit`.
    diagnostics["tier_rule"] = model.spec.potential.describe()
    # partners, flows and years that lost every row: named, never silently missing
    inputs = model.prepare()
    diagnostics["dropped"] = [d.to_json() for d in inputs.dropped]
    tables = {"coefficients.csv": coefficient_table(model), "potential.csv": potential_table(model)}
    if model.inputs is not None and model.inputs.panel.index_covariate is not None:
        tables["index.csv"] = index_table(model)
        tables["loadings.csv"] = loadings_table(model)
    from bayes_gravity.holdout import HOLDOUT_FILE, holdout_table  # imports this module's peers

    try:
        holdout = holdout_table(model)  # None: the dataset has no holdout figures
    except DataError as err:  # a covariate gap in the holdout year must not sink the fit
        log.warning("holdout check skipped: %s", err)
        holdout = None
    if holdout is not None:
        tables[HOLDOUT_FILE] = holdout
    return RunResult(tables=tables, diagnostics=diagnostics)


def _commit_order(names: list[str]) -> list[str]:
    """Tables first, then the posterior, ``diagnostics.json`` last (readers look at it first)."""
    return sorted(names, key=lambda n: (n == "posterior.nc", n == "diagnostics.json", n))


def _files_of_a_run() -> list[str]:
    """Every file a run folder can hold: this module's, and those written beside them."""
    # imported here: these modules import this one
    from bayes_gravity.comparison import COMPARISON_FILE, POINTWISE_FILE
    from bayes_gravity.holdout import HOLDOUT_FILE
    from bayes_gravity.report import REPORT_FILE
    from bayes_gravity.scenario import SCENARIO_DIR

    return [*RUN_FILES, HOLDOUT_FILE, COMPARISON_FILE, POINTWISE_FILE, REPORT_FILE, SCENARIO_DIR]


def write_run(model: GravityModel, result: RunResult, out: Path) -> list[Path]:
    """Write the posterior, the tables and diagnostics.json into ``out`` as one commit.

    Everything of an earlier run in ``out`` that this run does not replace (e.g.
    ``index.csv`` after a spec without the index, its comparison, report and scenarios) is
    removed in the same commit: a file of another posterior must not be read as this one's.
    """
    names = [*result.tables, "posterior.nc", "diagnostics.json"]
    with staged_commit(out, _commit_order, remove=[*_files_of_a_run(), *names]) as stage:
        model.save(stage / "posterior.nc")
        for name, frame in result.tables.items():
            write_csv(stage / name, frame)
        write_json(stage / "diagnostics.json", result.diagnostics)
    return [out / name for name in _commit_order(names)]


def read_diagnostics(run_dir: Path) -> dict[str, Any]:
    """Read the saved diagnostics verdict of a run folder."""
    finish_commits(run_dir)
    return json.loads((run_dir / "diagnostics.json").read_text(encoding="utf-8"))
