"""Render bench/results.json as bench/RESULTS.md: machine, one table per case, verdicts."""

from __future__ import annotations

from typing import Any

BUSY = 1.0  # load average per core above which a timing is marked as taken on a busy machine


def _f(value: Any, digits: int = 1) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _met(value: Any) -> str:
    return "**met**" if value else "**not met**"


def _load(row: dict[str, Any], cores: int) -> str:
    load = row.get("load_at_start")
    if load is None:
        return "-"
    mark = " (busy)" if load / max(cores, 1) > BUSY else ""
    return f"{load:.2f}{mark}"


def render(payload: dict[str, Any]) -> str:
    """Return the Markdown text of a results payload."""
    m = payload["machine"]
    cases = payload["cases"]
    cores = int(m["cores_available"])
    lines = [
        "# Benchmark results",
        "",
        "Written by `make bench` / `bench/run_all.py` (do not edit by hand). Every step runs in",
        "a fresh process; wall time includes interpreter start, imports and compilation. Peak",
        "memory is the largest resident set of a single process (GNU time). *Cold*: every cache",
        "starts empty (the engine's folder: exported programs, JAX's compilation cache, prior",
        "draws; PyTensor's and numba's caches); *warm*: reused.",
        "Load = 1-minute load average when the step started; *(busy)* marks load above the",
        "number of cores, where timings are inflated by other work. Where the time goes and",
        "what bounds each target: `bench/PROFILE.md`.",
        "",
        "## Machine",
        "",
        f"- CPU: {m['cpu']}, {cores} cores available, {m['memory_gb']} GB RAM",
        f"- {m['os']}, Python {m['python']}",
        "- " + ", ".join(f"{k} {v}" for k, v in m["versions"].items()),
        "",
    ]
    if "startup" in cases:
        c = cases["startup"]
        lines += [
            f"## Start-up (measured {c['measured_at']}, load {c['load_average_at_start']})",
            "",
            "| command | wall s (best of 3) | target | verdict |",
            "|---|---|---|---|",
        ]
        for name in ("help", "validate"):
            r = c[name]
            lines.append(
                f"| `{name}` | {_f(r['wall_seconds'], 2)} | <= {r['target_seconds']:.0f} s "
                f"| {_met(r['met'])} |"
            )
        lines += [
            "",
            f"Heavy modules imported by `validate`: {c['heavy_imports_in_validate'] or 'none'}.",
            "",
        ]
    if "default" in cases:
        c = cases["default"]
        lines += [
            f"## Default fit on the shipped data (measured {c['measured_at']})",
            "",
            f"`{c['command']}` (the spec's sampler settings).",
            "",
            "| run | wall s | fit s | sampling s | min ESS bulk / tail | min ESS / wall s "
            "| max R-hat | divergences | mean leapfrog steps | peak MB | gate | load | target "
            "| verdict |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for label in ("cold", "warm"):
            r = c[label]
            lines.append(
                f"| {label} | {_f(r['wall_seconds'])} | {_f(r.get('fit_seconds'))} "
                f"| {_f(r.get('sampling_seconds'))} "
                f"| {_f(r['min_ess_bulk'], 0)} / {_f(r['min_ess_tail'], 0)} "
                f"| {_f(r['min_ess_per_wall_second'])} | {_f(r['max_rhat'], 3)} "
                f"| {_f(r.get('divergences'))} | {_f(r.get('mean_leapfrog_steps'), 1)} "
                f"| {_f(r['peak_mb'], 0)} | {'passed' if r['gate_passed'] else 'FAILED'} "
                f"| {_load(r, cores)} | <= {r['target_seconds']:.0f} s | {_met(r['met'])} |"
            )
        same = c.get("cold_equals_warm")
        if same:
            verdict = "byte-identical" if same["identical"] else f"DIFFERENT: {same['differ']}"
            lines += ["", f"Cold and warm tables ({', '.join(same['files'])}): {verdict}."]
        full = c.get("make_run")
        post = c.get("postfit", {})
        lines += [
            "",
            "| warm command | wall s | of which | target | verdict |",
            "|---|---|---|---|---|",
        ]
        if full:
            parts = ", ".join(
                f"{k.removesuffix('_seconds').replace('_printed', '')} {v:.1f} s"
                for k, v in full.items()
                if k.endswith(("_seconds", "_printed")) and k != "wall_seconds"
            )
            lines.append(
                f"| `fit` (comparison and report: `make run`) | {_f(full['wall_seconds'])} "
                f"| {parts} | <= {full['target_seconds']:.0f} s | {_met(full['met'])} |"
            )
        for name, r in post.items():
            err = f" ({r['error'][0]})" if r.get("error") else ""
            lines.append(
                f"| `{name}` | {_f(r['wall_seconds'])} | | <= {r['target_seconds']:.0f} s "
                f"| {_met(r['met'])}{err} |"
            )
        lines.append("")
    if "baseline" in cases:
        c = cases["baseline"]
        j = c["joint"]
        lines += [
            f"## Default joint fit against bambi's gravity-only fit (measured {c['measured_at']})",
            "",
            "Min-ESS per wall second of the whole command: the warm default joint fit (latent "
            "index + gravity, from the default case) against bambi's `bmb.Model(...).fit()` of the "
            f"gravity-only model on the same rows ({c['chains']} chains x {c['draws']} draws, "
            "PyMC's NUTS; with target_accept 0.95 where its default failed to converge). "
            "`gravity-ours` is the same gravity-only model through our engine, for the agreement "
            "check. Each after a short warm-up run (compiled code cached).",
            "",
            "| fit | wall s | sampling s | min ESS bulk / tail | min ESS / wall s | max R-hat "
            "| divergences | target_accept | peak MB | load |",
            "|---|---|---|---|---|---|---|---|---|---|",
            f"| default joint (ours) | {_f(j['wall_seconds'])} | {_f(j.get('sampling_seconds'))} "
            f"| {_f(j['min_ess_bulk'], 0)} / {_f(j['min_ess_tail'], 0)} "
            f"| {_f(j['min_ess_per_wall_second'])} | {_f(j['max_rhat'], 3)} "
            f"| {_f(j.get('divergences'))} | spec | {_f(j['peak_mb'], 0)} | {_load(j, cores)} |",
        ]
        for task in ("gravity-bambi", "gravity-ours"):
            r = c[task]
            lines.append(
                f"| {task} | {_f(r['wall_seconds'])} | {_f(r.get('sampling_seconds'))} "
                f"| {_f(r['min_ess_bulk'], 0)} / {_f(r['min_ess_tail'], 0)} "
                f"| {_f(r['min_ess_per_wall_second'])} | {_f(r['max_rhat'], 3)} "
                f"| {_f(r.get('divergences'))} | {_f(r.get('target_accept'), 2)} "
                f"| {_f(r['peak_mb'], 0)} | {_load(r, cores)} |"
            )
        failed = c["gravity-bambi"].get("default_failed")
        a = c["agreement"]
        lines += [
            "",
            *(
                [
                    f"bambi's default (target_accept 0.8) failed to converge: max R-hat "
                    f"{_f(failed['max_rhat'], 3)}, {failed['divergences']} divergences, "
                    f"min bulk ESS {_f(failed['min_ess_bulk'], 0)}.",
                    "",
                ]
                if failed
                else []
            ),
            f"Ratio of min-ESS per wall second, default joint fit / bambi: "
            f"**{c['ess_per_second_ratio']:.2f}** (target >= {c['target_ratio']:.0f}). "
            f"gravity-ours vs gravity-bambi posterior means: largest difference "
            f"{a['max_z']:.2f} joint MC standard errors ({a['worst']}); same posterior: "
            f"{_f(a['same_posterior'])}. Verdict: {_met(c['met'])}.",
            "",
        ]
    if "real" in cases:
        c = cases["real"]
        lines += [
            f"## Real panels (measured {c['measured_at']})",
            "",
            "The default model (`fit --no-compare --no-report`, warm) on every real panel the "
            "repository ships. Target: the gate passes.",
            "",
            "| panel | spec | partners | wall s | min ESS bulk / tail | max R-hat | divergences "
            "| mean leapfrog steps | peak MB | gate | load |",
            "|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for r in c["runs"]:
            if "error" in r:
                lines.append(f"| {r['panel']} | `{r['spec']}` | | | {r['error']} | | | | | | |")
                continue
            lines.append(
                f"| {r['panel']} | `{r['spec']}` | {r.get('partners')} | {_f(r['wall_seconds'])} "
                f"| {_f(r['min_ess_bulk'], 0)} / {_f(r['min_ess_tail'], 0)} "
                f"| {_f(r['max_rhat'], 3)} | {_f(r.get('divergences'))} "
                f"| {_f(r.get('mean_leapfrog_steps'), 1)} | {_f(r['peak_mb'], 0)} "
                f"| {'passed' if r['gate_passed'] else 'FAILED'} | {_load(r, cores)} |"
            )
        lines.append("")
    if "approx" in cases:
        c = cases["approx"]
        lines += [
            f"## Approximate methods against NUTS (measured {c['measured_at']})",
            "",
            "Error of each coefficient's posterior mean in NUTS posterior sds, the ratio of "
            "posterior sds (approximate / NUTS), and the largest absolute error of the index.",
            "",
            "| method | wall s | max / median mean error (NUTS sd) | worst term | sd ratio min / "
            "median | index max abs error | labelled approximate |",
            "|---|---|---|---|---|---|---|",
        ]
        for method in ("advi", "pathfinder"):
            r = c.get(method)
            if r is None:
                continue
            if "error" in r:
                lines.append(f"| {method} | - | not run: {r['error']} | | | | |")
                continue
            lines.append(
                f"| {method} | {_f(r['wall_seconds'])} "
                f"| {_f(r['max_mean_error_in_nuts_sd'], 2)} / "
                f"{_f(r['median_mean_error_in_nuts_sd'], 2)} | {r['worst_term']} "
                f"| {_f(r['sd_ratio_min'], 2)} / {_f(r['sd_ratio_median'], 2)} "
                f"| {_f(r['index_max_abs_error'], 2)} | {_f(r['labelled_approximate'])} |"
            )
        lines.append("")
    if "scale" in cases:
        c = cases["scale"]
        lines += [
            f"## Scale: SYNTHETIC China panel (measured {c['measured_at']})",
            "",
            f"Default model, years {c['years']}, indicators {c['missing_share']} missing per "
            "country and indicator (`bayes_gravity.validation.simulate`), "
            "`fit --no-compare --no-report`, "
            "the spec's sampler settings, caches empty at the first size. Target: the gate passes "
            "at every size; at 200 partners <= 300 s and <= 4096 MB. A fit still running after "
            f"{_f(c.get('timeout_seconds'))} s is stopped (SIGINT) and listed as unfinished.",
            "",
            "| partners | trade rows | wall s | fit s (build + compile + sample) | sampling s "
            "| min ESS bulk | max R-hat | divergences | mean leapfrog steps | peak MB | gate "
            "| load | verdict |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for r in c["runs"]:
            if "error" in r:
                lines.append(
                    f"| {r['partners']} | {r['trade_rows']} | {_f(r['wall_seconds'])} "
                    f"| {r['error']} | | | | | | {_f(r['peak_mb'], 0)} | | {_load(r, cores)} "
                    "| **not met** |"
                )
                continue
            lines.append(
                f"| {r['partners']} | {r['trade_rows']} | {_f(r['wall_seconds'])} "
                f"| {_f(r.get('fit_seconds'))} | {_f(r.get('sampling_seconds'))} "
                f"| {_f(r['min_ess_bulk'], 0)} "
                f"| {_f(r['max_rhat'], 3)} | {_f(r.get('divergences'))} "
                f"| {_f(r.get('mean_leapfrog_steps'), 1)} | {_f(r['peak_mb'], 0)} "
                f"| {'passed' if r['gate_passed'] else 'FAILED'} | {_load(r, cores)} "
                f"| {_met(r['met'])} |"
            )
        worst = [
            f"{r['partners']} partners: "
            + ", ".join(f"{k} {v}" for k, v in r["failing_checks_worst"].items())
            for r in c["runs"]
            if r.get("failing_checks_worst")
        ]
        if worst:
            lines += ["", "Worst quantity of each failing check: " + "; ".join(worst) + "."]
        if "wall_time_exponent" in c:
            lines += [
                "",
                f"Wall time grows as partners^{c['wall_time_exponent']:.2f} over the measured "
                "range.",
            ]
        lines.append("")
    notes = payload.get("notes")
    if notes:
        lines += ["## Notes", "", notes, ""]
    return "\n".join(lines)
