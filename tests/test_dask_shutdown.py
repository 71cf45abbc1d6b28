"""Quiet, honest shutdown of the Dask cluster behind ``calibrate``.

One fresh interpreter (worker processes write to its stderr, which is captured whole) runs
three phases on a real LocalCluster of two worker processes, with stand-in fits (the real SBC
fits take minutes; the cluster, its shutdown and a worker's death are what is tested):

1. ``calibrate`` succeeds: its stderr holds none of Dask's info lines, no "Lost all workers",
   no "killed by signal", no traceback.
2. ``calibrate`` whose fit of prior draw 1 kills its worker (SIGKILL, as the OOM killer does):
   exit code 1, one error naming that fit, nothing written.
3. ``map_fits`` itself: the same death raises WorkerDiedError naming the item.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = r"""
import os, signal, sys
from pathlib import Path
from bayes_gravity.validation import calibration
from bayes_gravity.cli import main
from bayes_gravity.errors import WorkerDiedError

out = Path(sys.argv[1])
victim = None

def draw_prior(config, n_sims, seed):
    return [{"sim": i} for i in range(n_sims)]

def fit(config, draw, seed):
    if draw["sim"] == victim:
        os.kill(os.getpid(), signal.SIGKILL)
    return {
        "sim": draw["sim"], "ranks": {"a": draw["sim"] * 30, "b": 99 - draw["sim"] * 30},
        "interval": {}, "min_ess_bulk": 500.0, "divergences": 0, "fit_seconds": 0.1,
        "compile_seconds": 0.0, "worker_pid": os.getpid(),
    }

calibration.draw_prior, calibration.fit_prior_draw = draw_prior, fit
print("PHASE success", flush=True); print("PHASE success", file=sys.stderr, flush=True)
print("CODE", main(["calibrate", "--sims", "4", "--workers", "2", "--out", str(out / "ok")]))
victim = 1
print("PHASE death", flush=True); print("PHASE death", file=sys.stderr, flush=True)
print("CODE", main(["calibrate", "--sims", "3", "--workers", "2", "--out", str(out / "died")]))
print("PHASE library", flush=True); print("PHASE library", file=sys.stderr, flush=True)
try:
    calibration.map_fits(fit, [(None, {"sim": 1}, 7)], None, 1, label=lambda i: f"item {i[1]}")
except WorkerDiedError as err:
    print("RAISED", err)
"""


@pytest.fixture(scope="module")
def phases(tmp_path_factory) -> tuple[dict[str, str], dict[str, str], Path]:
    folder = tmp_path_factory.mktemp("calibrate")
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(folder)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr

    def split(text: str) -> dict[str, str]:
        parts = text.split("PHASE ")[1:]
        return {p.split("\n", 1)[0]: p.split("\n", 1)[1] for p in parts}

    return split(done.stdout), split(done.stderr), folder


def test_successful_calibrate_ends_quietly(phases):
    out, err, folder = phases
    assert "CODE 0" in out["success"], err["success"]
    noise = ("INFO", "Lost all workers", "killed by signal", "Traceback", "distributed.")
    assert not [n for n in noise if n in err["success"]], err["success"]
    assert (folder / "ok" / "sbc.json").is_file()


def test_worker_death_is_an_error_naming_the_fit(phases):
    out, err, folder = phases
    assert "CODE 1" in out["death"], err["death"]
    errors = [line for line in err["death"].splitlines() if line.startswith("error:")]
    assert len(errors) == 1, err["death"]
    assert "a Dask worker died while running the SBC fit of prior draw 1 (seed " in errors[0]
    assert "Traceback" not in err["death"]
    assert not (folder / "died").exists(), "nothing may be written"


def test_map_fits_raises_worker_died_naming_the_item(phases):
    out, _, _ = phases
    assert "RAISED a Dask worker died while running item {'sim': 1}" in out["library"]
