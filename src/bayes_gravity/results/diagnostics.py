"""The diagnostics gate: every check with its value, threshold and a pass/fail verdict.

Checks (thresholds from :class:`~bayes_gravity.config.DiagnosticsSpec`): max R-hat, min bulk
and tail ESS over every reported quantity, divergent transitions, min E-BFMI over chains,
transitions that hit the maximum tree depth (reported, not gated), and PSIS-LOO Pareto k.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import xarray as xr

from bayes_gravity.config import DiagnosticsSpec
from bayes_gravity.model.approximate import gate_not_applicable, is_approximate
from bayes_gravity.model.gravity_model import GravityModel
from bayes_gravity.results.draws import reported_vars

log = logging.getLogger(__name__)


def _extreme(ds: xr.Dataset, how: str) -> tuple[float, str]:
    """Max or min over every variable and element, and which variable holds it."""
    best_value, best_name = (-np.inf if how == "max" else np.inf), ""
    for name, da in ds.data_vars.items():
        values = np.asarray(da.values, dtype=float)
        if values.size == 0 or np.all(np.isnan(values)):
            continue
        value = float(np.nanmax(values) if how == "max" else np.nanmin(values))
        if (how == "max" and value > best_value) or (how == "min" and value < best_value):
            best_value, best_name = value, str(name)
    return best_value, best_name


def _stat(sample_stats: xr.Dataset, *names: str) -> xr.DataArray | None:
    for name in names:
        if name in sample_stats:
            return sample_stats[name]
    return None


def run_checks(
    idata: Any,
    spec: DiagnosticsSpec,
    var_names: list[str],
    obs_labels: list[str] | None = None,
) -> dict[str, Any]:
    """Compute the gate on a fitted DataTree; ``var_names`` are the reported quantities.

    ``passed`` covers the sampler checks (R-hat, ESS, divergences, E-BFMI): they say whether
    the posterior was computed correctly. Pareto k gets its own verdict (``loo_reliable``)
    and names the observations above the threshold: a high k marks an influential
    observation (e.g. a structural break), which makes PSIS-LOO unreliable for model
    comparison but does not mean the sampler failed.
    """
    import arviz_stats as az

    checks: dict[str, dict[str, Any]] = {}
    rhat, rhat_var = _extreme(az.rhat(idata, var_names=var_names), "max")
    checks["r_hat"] = {
        "value": rhat,
        "worst": rhat_var,
        "threshold": spec.rhat_max,
        "rule": "max <=",
        "passed": bool(rhat <= spec.rhat_max),
    }
    for method, bound in (("bulk", spec.ess_bulk_min), ("tail", spec.ess_tail_min)):
        ess, ess_var = _extreme(az.ess(idata, var_names=var_names, method=method), "min")
        checks[f"ess_{method}"] = {
            "value": ess,
            "worst": ess_var,
            "threshold": bound,
            "rule": "min >=",
            "passed": bool(ess >= bound),
        }
    stats = idata["sample_stats"].to_dataset()
    diverging = _stat(stats, "diverging")
    n_div = int(diverging.sum()) if diverging is not None else 0
    checks["divergences"] = {
        "value": n_div,
        "threshold": spec.divergences_max,
        "rule": "count <=",
        "passed": n_div <= spec.divergences_max,
    }
    try:
        bfmi = np.asarray(az.bfmi(idata)["energy"], dtype=float)
        ebfmi = float(np.nanmin(bfmi))
    except (KeyError, ValueError, TypeError) as err:  # energy not recorded by this sampler
        log.warning("E-BFMI not available: %s", err)
        ebfmi = float("nan")
    checks["e_bfmi"] = {
        "value": ebfmi,
        "threshold": spec.ebfmi_min,
        "rule": "min >=",
        "passed": bool(ebfmi >= spec.ebfmi_min),
    }
    saturated = _stat(stats, "reached_max_treedepth", "maxdepth_reached")
    share = float(saturated.mean()) if saturated is not None else float("nan")
    checks["tree_depth_saturation"] = {
        "value": share,
        "threshold": None,
        "rule": "share of draws (reported, not gated)",
        "passed": True,
    }
    if "log_likelihood" in idata.children:
        loo = az.loo(idata)
        pareto_k = np.asarray(loo.pareto_k, dtype=float)
        k_max = float(np.nanmax(pareto_k)) if np.isfinite(pareto_k).any() else float("nan")
        above = np.flatnonzero(pareto_k >= spec.pareto_k_max)
        checks["pareto_k"] = {
            "value": k_max,
            "n_above": int(above.size),
            "observations_above": [
                obs_labels[i] if obs_labels is not None else int(i) for i in above
            ],
            "threshold": spec.pareto_k_max,
            "rule": "max <",
            "passed": bool(k_max < spec.pareto_k_max),
            "gates": False,
            "elpd_loo": float(loo.elpd),
            "elpd_loo_se": float(loo.se),
        }
    gating = [c["passed"] for c in checks.values() if c.get("gates", True)]
    loo_ok = checks.get("pareto_k", {}).get("passed", True)
    return {"passed": all(gating), "loo_reliable": bool(loo_ok), "checks": checks}


def format_verdict(report: dict[str, Any]) -> str:
    """Multi-line text of the gate, loud when it fails."""
    if report.get("approximate"):
        return f"!!! DIAGNOSTICS NOT APPLICABLE: {report['note']} !!!"
    lines = []
    for name, check in report["checks"].items():
        mark = "ok  " if check["passed"] else ("FAIL" if check.get("gates", True) else "warn")
        threshold = (
            ""
            if check["threshold"] is None
            else f" (threshold {check['rule']} {check['threshold']})"
        )
        worst = f" [{check['worst']}]" if check.get("worst") else ""
        value = check["value"]
        text = f"{value:.4g}" if isinstance(value, float) else str(value)
        lines.append(f"  {mark} {name:<22} {text}{worst}{threshold}")
    if report["passed"]:
        head = "diagnostics: PASSED (sampler checks)"
    else:
        head = (
            "!!! DIAGNOSTICS FAILED: the posterior may be wrong; do not report these tiers or "
            "rankings without refitting (more tuning, higher target_accept) !!!"
        )
    pareto = report["checks"].get("pareto_k")
    if pareto and not pareto["passed"]:
        lines.append(
            f"  note: PSIS-LOO is unreliable for {pareto['n_above']} influential observation(s) "
            f"{pareto['observations_above']}; LOO model comparisons involving them are "
            "approximate (this does not gate the fit)"
        )
    return "\n".join([head, *lines])


def gate(model: GravityModel) -> dict[str, Any]:
    """Run the diagnostics gate; for a cut fit, the worst over imputations and index fit."""
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
