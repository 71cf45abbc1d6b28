"""Shared pieces of the benchmarks: machine description, measured child processes, metrics.

Every measured step runs in a fresh child process (``python -m bayes_gravity ...`` or
``bench/worker.py``), timed from outside, so the wall time includes interpreter start,
imports and compilation; its peak memory is the child's maximum resident set (``wait4``).
"Cold" runs point the engine's cache folder (``BAYES_GRAVITY_CACHE_DIR``: exported chain
programs, JAX's compilation cache, prior draws) and PyTensor's and numba's caches at an empty
temporary folder; "warm" runs reuse it.
"""

from __future__ import annotations

import os
import platform
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
TIMED_OUT = -999  # return code of a step stopped by its timeout
PACKAGES = (
    "bayes_gravity",
    "pymc",
    "pytensor",
    "jax",
    "jaxlib",
    "blackjax",
    "nutpie",
    "numba",
    "bambi",
    "arviz",
    "numpy",
)


def log(message: str) -> None:
    """Print a progress line with the clock time (flushed: the runs are long)."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def load_average() -> tuple[float, float, float]:
    """Return the 1, 5 and 15 minute load averages (a busy machine makes timings noisy)."""
    return os.getloadavg()


def machine() -> dict[str, Any]:
    """Describe the machine and the package versions."""
    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gb = float("nan")
    try:
        meminfo = Path("/proc/meminfo").read_text()
        match = re.search(r"MemTotal:\s+(\d+) kB", meminfo)
        if match:
            mem_gb = int(match.group(1)) / 1024**2
    except OSError:
        pass
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return {
        "cpu": cpu,
        "cores_available": len(os.sched_getaffinity(0)),
        "memory_gb": round(mem_gb, 1),
        "os": platform.platform(),
        "python": platform.python_version(),
        "versions": versions,
    }


def cache_env(cache_dir: Path | None) -> dict[str, str]:
    """Environment for a child: compile caches in ``cache_dir`` (None: the user's caches)."""
    env = dict(os.environ)
    env["PYTHONUNBUFFERED"] = "1"
    if cache_dir is not None:
        env["BAYES_GRAVITY_CACHE_DIR"] = str(cache_dir)
        flags = env.get("PYTENSOR_FLAGS", "")
        extra = f"base_compiledir={cache_dir / 'pytensor'}"
        env["PYTENSOR_FLAGS"] = f"{flags},{extra}" if flags else extra
        env["NUMBA_CACHE_DIR"] = str(cache_dir / "numba")
    return env


@dataclass
class Measured:
    """One child process: exit code, wall seconds, peak memory, output, load at start."""

    command: list[str]
    returncode: int
    wall_seconds: float
    peak_mb: float
    stdout: str
    stderr: str
    load_at_start: float
    extra: dict[str, Any] = field(default_factory=dict)

    def check(self) -> None:
        """Raise with the child's error output when it failed."""
        if self.returncode != 0:
            tail = "\n".join(self.stderr.splitlines()[-30:])
            raise RuntimeError(f"{' '.join(self.command)} exited {self.returncode}:\n{tail}")


def run_measured(
    command: list[str], env: dict[str, str] | None = None, timeout: float | None = None
) -> Measured:
    """Run ``command`` in a child process; measure wall time and peak resident memory.

    The peak comes from GNU time (see :func:`timed_command`): the largest resident set of
    the child or of any process it waited for (the largest single process, not a sum).
    After ``timeout`` seconds the child is killed (SIGINT first, then SIGKILL) and the
    result has return code ``TIMED_OUT``.
    """
    load = load_average()[0]
    start = time.perf_counter()
    with (
        open(os.devnull, "rb") as stdin,
        subprocess.Popen(
            command,
            stdin=stdin,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            cwd=ROOT,
            text=True,
            start_new_session=True,  # its own process group, for the timeout's signal
        ) as proc,
    ):
        try:
            stdout, stderr = proc.communicate(timeout=timeout)
            code = proc.returncode
        except subprocess.TimeoutExpired:
            # SIGINT to the group (GNU time and the fit): the fit's own clean exit
            os.killpg(proc.pid, signal.SIGINT)
            try:
                stdout, stderr = proc.communicate(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                stdout, stderr = proc.communicate()
            code = TIMED_OUT
        wall = time.perf_counter() - start
    peak = _peak_from_output(stderr)
    noise = ("PEAK_KB=", "Command exited with non-zero status")
    stderr = "\n".join(line for line in stderr.splitlines() if not line.startswith(noise))
    return Measured(command, code, wall, peak, stdout, stderr, load)


def _peak_from_output(stderr: str) -> float:
    """Peak RSS in MB that GNU time printed (``PEAK_KB=...``)."""
    match = re.findall(r"^PEAK_KB=(\d+)$", stderr, flags=re.MULTILINE)
    return int(match[-1]) / 1024 if match else float("nan")


def timed_command(args: list[str]) -> list[str]:
    """Wrap ``args`` in GNU time, which reports the peak resident set of the whole tree."""
    return ["/usr/bin/time", "-f", "PEAK_KB=%M", *args]


def cli(*args: str) -> list[str]:
    """Return the command line of ``python -m bayes_gravity ARGS`` under GNU time."""
    return timed_command([PY, "-m", "bayes_gravity", *args])


def worker(*args: str) -> list[str]:
    """Return the command line of ``bench/worker.py ARGS`` under GNU time."""
    return timed_command([PY, str(ROOT / "bench" / "worker.py"), *args])


# ---------------------------------------------------------------------------- metrics


def sampler_metrics(tree: Any, var_names: list[str] | None = None) -> dict[str, Any]:
    """Min bulk/tail ESS and max R-hat over every element of ``var_names``; sampler stats."""
    import arviz as az

    posterior = tree["posterior"].to_dataset()
    names = var_names or [str(n) for n in posterior.data_vars]
    ess_bulk = az.ess(tree, var_names=names, method="bulk")
    ess_tail = az.ess(tree, var_names=names, method="tail")
    rhat = az.rhat(tree, var_names=names)

    def extreme(ds: Any, fn: Any) -> float:
        values = [np.asarray(ds[n].values, dtype=float).ravel() for n in names]
        flat = np.concatenate(values)
        return float(fn(flat[np.isfinite(flat)])) if np.isfinite(flat).any() else float("nan")

    stats = tree["sample_stats"].to_dataset() if "sample_stats" in tree.children else None
    out: dict[str, Any] = {
        "min_ess_bulk": extreme(ess_bulk, np.min),
        "min_ess_tail": extreme(ess_tail, np.min),
        "max_rhat": extreme(rhat, np.max),
        "n_parameters": int(sum(posterior[n].size // _draws(posterior) for n in names)),
        "sampling_seconds": float(posterior.attrs.get("sampling_time", np.nan)),
    }
    if stats is not None:
        out["divergences"] = int(stats["diverging"].sum()) if "diverging" in stats else None
        for key, name in (("mean_tree_depth", "depth"), ("mean_leapfrog_steps", "n_steps")):
            out[key] = float(stats[name].mean()) if name in stats else None
        if "tree_depth" in stats and out["mean_tree_depth"] is None:
            out["mean_tree_depth"] = float(stats["tree_depth"].mean())
        if "n_steps" not in stats and "tree_depth" in stats:
            out["mean_leapfrog_steps"] = float((2 ** stats["tree_depth"] - 1).mean())
    return out


def _draws(posterior: Any) -> int:
    return int(posterior.sizes["chain"] * posterior.sizes["draw"])


def run_metrics(run_dir: Path) -> dict[str, Any]:
    """Metrics of a run folder written by ``fit``: the gate's variables and verdict."""
    import json

    from bayes_gravity.model.gravity_model import read_posterior
    from bayes_gravity.results.draws import reported_vars

    tree = read_posterior(run_dir / "posterior.nc")
    names = reported_vars(tree["posterior"].to_dataset())
    out = sampler_metrics(tree, names)
    diagnostics = json.loads((run_dir / "diagnostics.json").read_text())
    out["gate_passed"] = bool(diagnostics["passed"])
    out["failing_checks_worst"] = {
        name: check.get("worst")
        for name, check in diagnostics["checks"].items()
        if not check["passed"] and check.get("worst")
    }
    out["fit_seconds"] = float(tree.attrs.get("wall_seconds", np.nan))
    return out


def parse_step_seconds(stdout: str) -> dict[str, float]:
    """Seconds of the steps ``fit`` prints (model comparison, report, sampling)."""
    out = {}
    for key, pattern in (
        ("fit_seconds_printed", r"^wall time ([\d.]+) s"),
        ("comparison_seconds", r"^model comparison .*; ([\d.]+) s$"),
        ("report_seconds", r"^wrote .*report\.html \(.*, ([\d.]+) s\)"),
    ):
        match = re.search(pattern, stdout, flags=re.MULTILINE)
        if match:
            out[key] = float(match.group(1))
    return out
