"""The benchmark cases. Each returns a dict of measurements and target verdicts.

- ``startup``: ``--help`` and ``validate`` wall time; whether PyMC/JAX are imported.
- ``default``: ``fit`` of models/default.toml on the shipped data, cold (empty compile
  caches) and warm; then ``report`` and ``scenario`` on that run folder.
- ``baseline``: the gravity-only model through our code (nutpie) and bambi's default fit.
- ``approx``: ``fit --method advi`` against the NUTS run of ``default``.
- ``scale``: the default model on SYNTHETIC data, China with N partners x 21 years x 2 flows.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from common import (
    PY,
    ROOT,
    TIMED_OUT,
    Measured,
    cache_env,
    cli,
    load_average,
    log,
    parse_step_seconds,
    run_measured,
    run_metrics,
    sampler_metrics,
    worker,
)

# Targets of issue 5 (seconds, MB).
TARGET_COLD = 20.0
TARGET_WARM = 10.0
TARGET_STARTUP = 2.0
TARGET_POSTFIT = 5.0
TARGET_SCALE_SECONDS = 600.0
TARGET_SCALE_MB = 4096.0
TARGET_ESS_RATIO = 5.0


def _measure(
    label: str,
    command: list[str],
    env: dict[str, str] | None = None,
    timeout: float | None = None,
) -> Measured:
    log(f"  {label}: {' '.join(command[3:])}")
    result = run_measured(command, env=env, timeout=timeout)
    log(
        f"  {label}: exit {result.returncode}, {result.wall_seconds:.1f} s, "
        f"peak {result.peak_mb:.0f} MB (load {result.load_at_start:.2f} at start)"
    )
    return result


def _summary(m: Measured) -> dict[str, Any]:
    return {
        "wall_seconds": round(m.wall_seconds, 2),
        "peak_mb": round(m.peak_mb, 1),
        "load_at_start": round(m.load_at_start, 2),
        "exit_code": m.returncode,
    }


# ---------------------------------------------------------------------------- startup


def startup(opts: Any, work: Path) -> dict[str, Any]:
    """``--help`` and ``validate``: best of three, and the modules ``validate`` imports."""
    out: dict[str, Any] = {}
    for name, args in (("help", ["--help"]), ("validate", ["validate"])):
        runs = [_measure(name, cli(*args)) for _ in range(3)]
        for r in runs:
            r.check()
        best = min(runs, key=lambda r: r.wall_seconds)
        out[name] = {**_summary(best), "target_seconds": TARGET_STARTUP}
        out[name]["met"] = best.wall_seconds <= TARGET_STARTUP
    probe = (
        "import sys; from bayes_gravity.cli import main; main(['validate']); "
        "heavy = [m for m in ('pymc', 'pytensor', 'jax', 'numba', 'arviz', 'bambi') "
        "if m in sys.modules]; print('HEAVY=' + ','.join(heavy))"
    )
    result = run_measured([PY, "-c", probe])
    heavy = [line for line in result.stdout.splitlines() if line.startswith("HEAVY=")]
    out["heavy_imports_in_validate"] = heavy[0].removeprefix("HEAVY=") if heavy else "?"
    return out


# ---------------------------------------------------------------------------- default


def default(opts: Any, work: Path) -> dict[str, Any]:
    """Default fit cold (fresh caches) then warm, and the post-fit commands on its run."""
    caches = work / "caches"
    env = cache_env(caches)
    args = ["fit", "--draws", str(opts.draws), "--chains", "4"]
    if opts.tune is not None:
        args += ["--tune", str(opts.tune)]
    if not opts.compare:
        args.append("--no-compare")
    out: dict[str, Any] = {"command": "python -m bayes_gravity " + " ".join(args)}
    for label in ("cold", "warm"):
        run_dir = work / f"default_{label}"
        m = _measure(f"fit ({label} caches)", cli(*args, "--out", str(run_dir)), env)
        m.check()
        row = {**_summary(m), **parse_step_seconds(m.stdout), **run_metrics(run_dir)}
        row["min_ess_per_wall_second"] = row["min_ess_bulk"] / m.wall_seconds
        target = TARGET_COLD if label == "cold" else TARGET_WARM
        row["target_seconds"] = target
        row["met"] = bool(m.wall_seconds <= target and row["gate_passed"])
        out[label] = row
    out["run_dir"] = str(work / "default_warm")
    out["postfit"] = _postfit(work / "default_warm", env)
    return out


def _postfit(run_dir: Path, env: dict[str, str]) -> dict[str, Any]:
    """Time ``report`` and ``scenario`` on a finished run (target: 5 s each)."""
    out: dict[str, Any] = {}
    scenarios = sorted((ROOT / "models" / "scenarios").glob("*.toml"))
    commands = [("report", ["report", str(run_dir)])]
    if scenarios:
        commands.append(
            ("scenario", ["scenario", str(scenarios[0]), "--run", str(run_dir), "--no-report"])
        )
    for name, args in commands:
        m = _measure(name, cli(*args), env)
        out[name] = {**_summary(m), "target_seconds": TARGET_POSTFIT}
        out[name]["met"] = m.returncode == 0 and m.wall_seconds <= TARGET_POSTFIT
        if m.returncode:
            out[name]["error"] = m.stderr.strip().splitlines()[-1:] or ["?"]
    return out


# ---------------------------------------------------------------------------- baseline


def baseline(opts: Any, work: Path) -> dict[str, Any]:
    """Gravity-only model: ours (nutpie) vs bambi's default fit, same data, same run."""
    import xarray as xr

    env = cache_env(work / "caches")
    tune_steps = opts.tune if opts.tune is not None else 1000  # bambi's default
    draws, tune, chains = str(opts.draws), str(tune_steps), "4"
    out: dict[str, Any] = {"draws": opts.draws, "tune": tune_steps, "chains": 4}
    trees = {}
    for task in ("gravity-ours", "gravity-bambi"):
        path = work / f"{task}.nc"
        # a short run first, so both are measured with their compiled code cached
        _measure(f"{task} (warm-up)", worker(task, str(path), "10", "10", chains), env).check()
        m = _measure(task, worker(task, str(path), draws, tune, chains), env)
        m.check()
        inner = json.loads(m.stdout.strip().splitlines()[-1])
        tree = xr.open_datatree(path, engine="h5netcdf").load()
        trees[task] = tree
        row = {**_summary(m), **sampler_metrics(tree), **inner}
        row["min_ess_per_wall_second"] = row["min_ess_bulk"] / m.wall_seconds
        out[task] = row
    ours, theirs = out["gravity-ours"], out["gravity-bambi"]
    out["ess_per_second_ratio"] = (
        ours["min_ess_per_wall_second"] / theirs["min_ess_per_wall_second"]
    )
    out["agreement"] = _agreement(trees["gravity-ours"], trees["gravity-bambi"])
    out["target_ratio"] = TARGET_ESS_RATIO
    out["met"] = bool(
        out["ess_per_second_ratio"] >= TARGET_ESS_RATIO and out["agreement"]["same_posterior"]
    )
    return out


def _agreement(a: Any, b: Any) -> dict[str, Any]:
    """Posterior means of the shared parameters: difference in units of the joint MC error."""
    import arviz as az

    pa, pb = a["posterior"].to_dataset(), b["posterior"].to_dataset()
    se_a, se_b = az.mcse(a, method="mean"), az.mcse(b, method="mean")
    worst, worst_name = 0.0, ""
    for name in pa.data_vars:
        diff = np.abs(pa[name].mean(("chain", "draw")) - pb[name].mean(("chain", "draw")))
        z = np.asarray(diff / np.sqrt(se_a[name] ** 2 + se_b[name] ** 2), dtype=float)
        if np.nanmax(z) > worst:
            worst, worst_name = float(np.nanmax(z)), str(name)
    # about 15 quantities compared: |z| < 4 for all of them is expected when they agree
    return {"max_z": worst, "worst": worst_name, "same_posterior": worst < 4.0}


# ---------------------------------------------------------------------------- approx


def approx(opts: Any, work: Path, nuts_run: Path | None = None) -> dict[str, Any]:
    """``fit --method advi`` (and pathfinder when installed) against the NUTS run."""
    import pandas as pd

    env = cache_env(work / "caches")
    if nuts_run is None or not (nuts_run / "coefficients.csv").exists():
        nuts_run = work / "approx_nuts"
        m = _measure(
            "nuts reference",
            cli("fit", "--draws", str(opts.draws), "--no-compare", "--out", str(nuts_run)),
            env,
        )
        m.check()
    nuts_coef = pd.read_csv(nuts_run / "coefficients.csv").set_index("term")
    nuts_index = pd.read_csv(nuts_run / "index.csv")
    out: dict[str, Any] = {"reference": str(nuts_run)}
    for method in ("advi", "pathfinder"):
        run_dir = work / f"approx_{method}"
        if method == "advi":  # measured with its compiled code cached, as the warm NUTS fit
            args = ["--method", method, "--no-compare", "--no-report", "--out", str(run_dir)]
            _measure(f"{method} (warm-up)", cli("fit", *args), env).check()
        m = _measure(
            method,
            cli("fit", "--method", method, "--no-compare", "--out", str(run_dir)),
            env,
        )
        row: dict[str, Any] = _summary(m)
        if m.returncode:
            row["error"] = (m.stderr.strip().splitlines() or ["?"])[-1]
            out[method] = row
            continue
        coef = pd.read_csv(run_dir / "coefficients.csv").set_index("term")
        common = nuts_coef.index.intersection(coef.index)
        z = (coef.loc[common, "mean"] - nuts_coef.loc[common, "mean"]).abs() / nuts_coef.loc[
            common, "sd"
        ]
        sd_ratio = coef.loc[common, "sd"] / nuts_coef.loc[common, "sd"]
        index = pd.read_csv(run_dir / "index.csv")
        idx_err = (index["mean"] - nuts_index["mean"]).abs()
        diagnostics = json.loads((run_dir / "diagnostics.json").read_text())
        row.update(
            {
                "max_mean_error_in_nuts_sd": float(z.max()),
                "worst_term": str(z.idxmax()),
                "median_mean_error_in_nuts_sd": float(z.median()),
                "sd_ratio_min": float(sd_ratio.min()),
                "sd_ratio_median": float(sd_ratio.median()),
                "index_max_abs_error": float(idx_err.max()),
                "labelled_approximate": bool(diagnostics.get("approximate")),
                "fit_seconds_printed": parse_step_seconds(m.stdout).get("fit_seconds_printed"),
            }
        )
        out[method] = row
    return out


# ---------------------------------------------------------------------------- scale


def scale(opts: Any, work: Path) -> dict[str, Any]:
    """Default model on SYNTHETIC data with 25 / 100 / 200 partners (20-80 % missing)."""
    sys.path.insert(0, str(ROOT / "src"))
    from bayes_gravity.simulate import simulate_dataset, write_simulation_spec

    env = cache_env(work / "caches")
    years = range(2000, 2021)
    out: dict[str, Any] = {
        "years": f"{years[0]}-{years[-1]}",
        "missing_share": "20-80 %",
        "timeout_seconds": opts.scale_timeout,
    }
    rows = []
    for n in opts.partners:
        folder = work / f"sim_{n}"
        simulate_dataset(folder, n, years, (0.2, 0.8), seed=20240601 + n)
        spec = write_simulation_spec(
            work / f"sim_{n}.toml",
            data_path=folder,
            years=years,
            name=f"scale-{n}",
            sampler={"draws": opts.draws, **({"tune": opts.tune} if opts.tune else {})},
        )
        trade_rows = sum(1 for _ in open(folder / "trade.csv")) - 1
        run_dir = work / f"scale_{n}"
        # The fit alone, as the target says; the report is timed on the default run.
        m = _measure(
            f"scale {n} partners",
            cli("fit", str(spec), "--no-compare", "--no-report", "--out", str(run_dir)),
            env,
            timeout=opts.scale_timeout,
        )
        row: dict[str, Any] = {"partners": n, "trade_rows": trade_rows, **_summary(m)}
        if m.returncode == TIMED_OUT:
            row["error"] = f"stopped unfinished after {opts.scale_timeout:.0f} s"
        elif m.returncode:
            row["error"] = (m.stderr.strip().splitlines() or ["?"])[-1]
        else:
            row.update(parse_step_seconds(m.stdout))
            row.update(run_metrics(run_dir))
            row["met"] = bool(
                m.wall_seconds <= TARGET_SCALE_SECONDS
                and m.peak_mb <= TARGET_SCALE_MB
                and row["gate_passed"]
            )
        rows.append(row)
        shutil.rmtree(run_dir, ignore_errors=True)
    out["runs"] = rows
    ok = [r for r in rows if "error" not in r]
    if len(ok) >= 2:
        n = np.log([r["partners"] for r in ok])
        t = np.log([r["wall_seconds"] for r in ok])
        out["wall_time_exponent"] = float(np.polyfit(n, t, 1)[0])
    return out


CASES = {
    "startup": startup,
    "default": default,
    "baseline": baseline,
    "approx": approx,
    "scale": scale,
}


def fresh_workdir() -> Path:
    """Return a temporary folder for one benchmark run (removed by the caller)."""
    return Path(tempfile.mkdtemp(prefix="bayes_gravity_bench_"))


__all__ = ["CASES", "fresh_workdir", "load_average"]
