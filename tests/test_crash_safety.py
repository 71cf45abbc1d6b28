"""Crash safety: a run folder is replaced as a whole or not at all, damaged files are refused.

- A writer SIGKILLed at random moments while committing runs (real timing, real files) leaves
  the folder either as it was or as one complete new run, once the next reader has looked.
- A ``fit`` killed (SIGKILL) or interrupted (SIGINT, Ctrl-C) leaves the previous run
  byte-identical and loadable; Ctrl-C exits 130 with a message, no traceback.
- Truncated, random, empty, silently damaged or foreign posterior files are refused.

The fits killed during sampling and writing cost a full model compilation each, so they are
``slow``; the default suite kills a real ``fit`` before it samples.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from bayes_gravity.cli import main
from bayes_gravity.config import MODELS_DIR
from bayes_gravity.data.dataset import load_dataset
from bayes_gravity.errors import ResultsError
from bayes_gravity.io import COMMIT_PREFIX, finish_commits, remove_stale, write_text
from bayes_gravity.model.gravity_model import GravityModel
from bayes_gravity.model.posterior_file import CHECKSUM_ATTR, read_posterior
from conftest import SMALL_FIT

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable


def files(folder: Path) -> dict[str, bytes]:
    """Visible files of a run folder (hidden staging and commit entries excluded)."""
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file() and p.name[0] != "."}


def hidden(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


@pytest.fixture
def previous_run(run_copy: Path) -> Path:
    """A copy of the session's small run: the results a new fit must not damage."""
    return run_copy


def assert_intact(run: Path, small_run: Path) -> None:
    """The previous run is byte-identical and loads; nothing a reader would trip over."""
    assert files(run) == files(small_run), "the previous run's files changed"
    model = GravityModel.load(run / "posterior.nc", load_dataset())
    assert model.inputs is not None and len(model.inputs.trade) == 200
    assert not [h for h in hidden(run) if h.startswith(COMMIT_PREFIX)]


# ---------------------------------------------------------------------------- damaged files


def _damaged(data: bytes) -> dict[str, bytes]:
    mid = len(data) // 2
    return {
        "empty": b"",
        "random-bytes": random.Random(1).randbytes(20_000),
        "text": b"posterior\n",
        "truncated-header": data[:100],
        "truncated-third": data[: len(data) // 3],
        "truncated-last-bytes": data[:-200],
        "zeros-inside-the-draws": data[:mid] + bytes(4096) + data[mid + 4096 :],
        "random-tail": data[:-40_000] + random.Random(2).randbytes(40_000),
    }


DAMAGE = list(_damaged(b"x" * 100_000))


@pytest.mark.parametrize("damage", DAMAGE)
def test_damaged_posterior_is_refused_by_every_reader(small_run, run_copy, capsys, damage):
    data = (small_run / "posterior.nc").read_bytes()
    run = run_copy
    (run / "posterior.nc").write_bytes(_damaged(data)[damage])
    with pytest.raises(ResultsError) as info:
        read_posterior(run / "posterior.nc")
    assert str(run / "posterior.nc") in str(info.value) and "refit" in str(info.value)
    with pytest.raises(ResultsError):
        GravityModel.load(run / "posterior.nc", load_dataset())


def test_checksum_is_written_and_verified(small_run):
    tree = read_posterior(small_run / "posterior.nc")
    assert len(tree.attrs[CHECKSUM_ATTR]) == 64


def test_tampered_spec_attribute_is_refused(small_run, tmp_path):
    tree = read_posterior(small_run / "posterior.nc")
    spec = json.loads(tree.attrs["bayes_gravity_spec"])
    spec["ci_prob"] = 0.5
    tree.attrs["bayes_gravity_spec"] = json.dumps(spec)
    path = tmp_path / "posterior.nc"
    tree.to_netcdf(path, engine="h5netcdf")
    with pytest.raises(ResultsError, match="stored spec hashes to"):
        GravityModel.load(path, load_dataset())
    tree.attrs["bayes_gravity_spec"] = "{not json"
    tree.to_netcdf(path, engine="h5netcdf")
    with pytest.raises(ResultsError, match="stored spec is unreadable"):
        GravityModel.load(path, load_dataset())


def test_foreign_netcdf_is_refused(tmp_path):
    import xarray as xr

    path = tmp_path / "posterior.nc"
    xr.Dataset({"x": ("a", [1.0, 2.0])}).to_netcdf(path, engine="h5netcdf")
    with pytest.raises(ResultsError, match="not a bayes_gravity posterior"):
        read_posterior(path)


# ---------------------------------------------------------------------------- the commit


WRITER = textwrap.dedent(
    """
    import itertools, json, sys
    from pathlib import Path
    import pandas as pd
    from bayes_gravity.data.dataset import load_dataset
    from bayes_gravity.model.gravity_model import GravityModel
    from bayes_gravity.results.store import write_run
    from bayes_gravity.results.tables import RunResult

    source, out = Path(sys.argv[1]), Path(sys.argv[2])
    model = GravityModel.load(source / "posterior.nc", load_dataset())
    tables = {p.name: pd.read_csv(p) for p in sorted(source.glob("*.csv"))}
    diagnostics = json.loads((source / "diagnostics.json").read_text())
    classic = json.loads((source / "classic.json").read_text())  # a whole run, as fit writes
    print("ready", flush=True)
    for k in itertools.count():
        version = f"v{k}"
        model.idata.attrs["version"] = version
        result = RunResult(
            {n: t.assign(version=version) for n, t in tables.items()},
            dict(diagnostics, version=version),
            classic=dict(classic, version=version),
        )
        write_run(model, result, out)
    """
)
TABLE_NAMES = ["index.csv", "loadings.csv", "coefficients.csv", "potential.csv"]


def _version_of(run: Path) -> set[str]:
    import pandas as pd

    versions = {str(pd.read_csv(p)["version"].iloc[0]) for p in run.glob("*.csv")}
    versions.add(json.loads((run / "diagnostics.json").read_text())["version"])
    versions.add(str(read_posterior(run / "posterior.nc").attrs["version"]))
    return versions


def test_writer_killed_at_random_moments_never_leaves_a_mix(small_run, tmp_path):
    """SIGKILL a process that commits run after run into a folder, at random moments.

    Three writers run at once (one folder each), each killed at its own random time; then the
    folder holds the original run or exactly one complete new version.
    """
    rng = random.Random()
    writers = []
    for i in range(3):
        run = tmp_path / f"run{i}"
        shutil.copytree(small_run, run)
        proc = subprocess.Popen(
            [PYTHON, "-c", WRITER, str(small_run), str(run)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        writers.append((run, proc))
    delays = []
    for _, proc in writers:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready", proc.stderr.read()  # type: ignore[union-attr]
        delay = rng.uniform(0.0, 3.0)
        delays.append(delay)
        time.sleep(delay)
        proc.kill()
        proc.wait(timeout=30)
    for (run, _), delay in zip(writers, delays, strict=True):
        # what a reader sees: every visible file complete (each is renamed into place)
        before_recovery = files(run)
        # a commit removes the earlier run's report.html (the writer renders none), so the
        # names are the original ones, or those without the report once a commit has begun
        original = set(files(small_run))
        assert set(before_recovery) in (original, original - {"report.html"}), (
            f"killed after {delay:.2f} s: {sorted(before_recovery)}"
        )
        finish_commits(run)  # what the next reader or writer does first
        remove_stale(run)
        assert hidden(run) == [], f"leftovers after recovery: {hidden(run)}"
        if files(run) == files(small_run):
            continue  # killed before the first commit
        versions = _version_of(run)
        assert len(versions) == 1, f"killed after {delay:.2f} s: a mix of runs {versions}"


def test_commit_cut_short_during_renames_is_completed_by_the_next_reader(
    previous_run, small_run, monkeypatch
):
    """Deterministic version of the unlucky kill: the renames stop after two files."""
    import bayes_gravity.io as io_module

    model = GravityModel.load(previous_run / "posterior.nc", load_dataset())
    model.idata.attrs["version"] = "new"
    real_replace, calls = os.replace, []

    def dying_replace(src, dst):
        if Path(src).parent.name.startswith(COMMIT_PREFIX):
            calls.append(dst)
            if len(calls) > 2:
                raise KeyboardInterrupt  # stands in for the process dying here
        real_replace(src, dst)

    import pandas as pd

    from bayes_gravity.results.store import write_run
    from bayes_gravity.results.tables import RunResult

    tables = {n: pd.read_csv(small_run / n).assign(version="new") for n in TABLE_NAMES}
    diagnostics = dict(json.loads((small_run / "diagnostics.json").read_text()), version="new")
    monkeypatch.setattr(io_module.os, "replace", dying_replace)
    with pytest.raises(KeyboardInterrupt):
        write_run(model, RunResult(tables, diagnostics), previous_run)
    monkeypatch.setattr(io_module.os, "replace", real_replace)
    pending = [h for h in hidden(previous_run) if h.startswith(COMMIT_PREFIX)]
    assert len(pending) == 1, hidden(previous_run)
    # two new tables are in place, the rest still old: a reader must complete the commit
    tree = read_posterior(previous_run / "posterior.nc")
    assert tree.attrs["version"] == "new"
    assert _version_of(previous_run) == {"new"}
    assert hidden(previous_run) == []


def test_stale_staging_of_a_dead_writer_is_removed_and_live_ones_kept(previous_run):
    dead = subprocess.run([PYTHON, "-c", "import os; print(os.getpid())"], capture_output=True)
    pid = int(dead.stdout)
    stale_dir = previous_run / f".staging-{pid}-abc123"
    stale_dir.mkdir()
    (stale_dir / "posterior.nc").write_bytes(b"half")
    stale_tmp = previous_run / f".report.html.{pid}-xyz.tmp"
    stale_tmp.write_bytes(b"half")
    live_dir = previous_run / f".staging-{os.getpid()}-live"
    live_dir.mkdir()
    removed = remove_stale(previous_run)
    assert sorted(removed) == sorted([stale_dir.name, stale_tmp.name])
    assert live_dir.exists()
    live_dir.rmdir()


def test_outputs_get_ordinary_file_permissions(tmp_path):
    umask = os.umask(0o022)
    try:
        write_text(tmp_path / "a.txt", "x")
    finally:
        os.umask(umask)
    assert (tmp_path / "a.txt").stat().st_mode & 0o777 == 0o644


def test_stale_table_of_an_earlier_run_is_removed(previous_run, small_run):
    """A run without index.csv must not leave the earlier run's index.csv beside it."""
    import pandas as pd

    from bayes_gravity.results.store import write_run
    from bayes_gravity.results.tables import RunResult

    model = GravityModel.load(previous_run / "posterior.nc", load_dataset())
    tables = {n: pd.read_csv(small_run / n) for n in ("coefficients.csv", "potential.csv")}
    diagnostics = json.loads((small_run / "diagnostics.json").read_text())
    write_run(model, RunResult(tables, diagnostics), previous_run)
    assert sorted(files(previous_run)) == [
        "coefficients.csv",
        "diagnostics.json",
        "posterior.nc",
        "potential.csv",
    ]


# ---------------------------------------------------------------------------- a real fit


def start_fit(out: Path, *extra: str) -> subprocess.Popen:
    """``python -m bayes_gravity fit --out out`` with the session's small settings."""
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    return subprocess.Popen(
        [PYTHON, "-m", "bayes_gravity", "fit", "--out", str(out), *SMALL_FIT, *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env=env,
    )


def wait_for_first_line(proc: subprocess.Popen, timeout: float = 240) -> str:
    """The first line ``fit`` prints comes once the data are read, before building and compiling."""
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    line = proc.stdout.readline()
    assert line and time.monotonic() < deadline, proc.stderr.read()  # type: ignore[union-attr]
    return line


def sampling(pid: int) -> bool:
    """Whether nutpie's sampler threads (``nutpie-worker-N``) are running in ``pid``."""
    names = []
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            names.append(Path(f"/proc/{pid}/task/{task}/comm").read_text())
        except OSError:
            continue  # the thread ended
    return any(name.startswith("nutpie-worker") for name in names)


def wait_for(condition, proc: subprocess.Popen, timeout: float = 400) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert proc.poll() is None, f"fit ended before the moment: {proc.stderr.read()}"  # type: ignore[union-attr]
        assert time.monotonic() < deadline, "the moment never came"
        time.sleep(0.05)


def test_fit_killed_while_compiling_leaves_previous_run_intact(previous_run, small_run):
    """SIGKILL 0-2 s after the model is built: compiling (or sampling, with a warm cache)."""
    proc = start_fit(previous_run)
    wait_for_first_line(proc)
    time.sleep(random.uniform(0.0, 2.0))
    proc.kill()
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    assert_intact(previous_run, small_run)


def test_ctrl_c_while_compiling_exits_130_and_writes_nothing(previous_run, small_run):
    proc = start_fit(previous_run)
    wait_for_first_line(proc)
    time.sleep(1.0)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert err.strip().endswith("interrupted: nothing was written"), err
    assert "Traceback" not in err
    assert_intact(previous_run, small_run)
    assert hidden(previous_run) == []


@pytest.mark.slow
@pytest.mark.parametrize("moment", ["sampling", "writing"])
def test_fit_killed_while_sampling_or_writing_leaves_previous_run_intact(
    previous_run, small_run, moment
):
    proc = start_fit(previous_run)
    wait_for_first_line(proc)
    if moment == "sampling":
        wait_for(lambda: sampling(proc.pid), proc)
        time.sleep(random.uniform(0.0, 1.0))
    else:  # the staging folder appears once summaries are computed
        wait_for(lambda: any(h.startswith(".staging-") for h in hidden(previous_run)), proc)
        time.sleep(random.uniform(0.0, 0.5))
    proc.kill()
    proc.wait(timeout=30)
    finish_commits(previous_run)  # what the next reader does
    if files(previous_run) != files(small_run):
        # killed during the final renames: the new run is complete, and it is the same fit
        assert moment == "writing"
        assert read_posterior(previous_run / "posterior.nc").attrs["random_seed"] == 7
    assert_intact(previous_run, small_run)
    # the next fit (or any reader) is not disturbed by the leftovers of the killed one
    remove_stale(previous_run)
    assert hidden(previous_run) == []


@pytest.mark.slow
def test_ctrl_c_while_sampling_refuses_the_partial_draws(previous_run, small_run):
    """nutpie catches KeyboardInterrupt and returns the draws so far: they must not be saved."""
    proc = start_fit(previous_run, "--draws", "20000")
    wait_for_first_line(proc)
    wait_for(lambda: sampling(proc.pid), proc)
    time.sleep(1.0)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "interrupted: sampling was interrupted: nothing was written" in err, err
    assert "Traceback" not in err
    assert_intact(previous_run, small_run)
    assert hidden(previous_run) == []


def test_ctrl_c_refuses_partial_draws_from_nutpie_in_process():
    """nutpie itself swallows Ctrl-C; the guard around sampling turns it back into an interrupt."""
    import threading

    import nutpie
    import pymc as pm

    from bayes_gravity.model.gravity_model import refuse_interrupted_sampling

    with pm.Model() as model:
        pm.Normal("x", 0, 1)
    compiled = nutpie.compile_pymc_model(model, backend="numba")
    before = signal.getsignal(signal.SIGINT)
    returned = []
    timer = threading.Timer(1.0, os.kill, (os.getpid(), signal.SIGINT))
    with pytest.raises(KeyboardInterrupt, match="sampling was interrupted"):
        with refuse_interrupted_sampling():
            timer.start()
            trace = nutpie.sample(
                compiled, draws=5_000_000, tune=100, chains=1, seed=1, progress_bar=False
            )
            returned.append(trace["posterior"].sizes["draw"])
    timer.cancel()
    assert returned and returned[0] < 5_000_000, "nutpie should have returned partial draws"
    assert signal.getsignal(signal.SIGINT) is before


def test_main_returns_130_on_interrupt(monkeypatch, capsys):
    import bayes_gravity.data.dataset as data_module

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(data_module, "load_dataset", interrupted)
    assert main(["validate"]) == 130
    assert capsys.readouterr().err == "interrupted: nothing was written\n"


# ---------------------------------------------------------------------------- other readers

READERS = {
    "report": lambda run: ["report", str(run)],
    "scenario": lambda run: [
        "scenario",
        str(MODELS_DIR / "scenarios" / "openness_plus_10pct.toml"),
        "--run",
        str(run),
    ],
}


@pytest.mark.parametrize("damage", ["truncated-third", "random-tail"])
@pytest.mark.parametrize("command", list(READERS))
def test_report_and_scenario_refuse_a_damaged_posterior(run_copy, capsys, command, damage):
    run = run_copy
    data = (run / "posterior.nc").read_bytes()
    (run / "posterior.nc").write_bytes(_damaged(data)[damage])
    before = files(run)
    code = main(READERS[command](run))
    err = capsys.readouterr().err
    assert code == 2, f"{command}: exit {code}\n{err}"
    assert err.startswith("error: ") and "posterior.nc" in err, err
    assert "Traceback" not in err
    assert files(run) == before, f"{command} wrote into a run it refused"


@pytest.mark.parametrize("command", list(READERS))
def test_report_and_scenario_refuse_a_posterior_of_other_data(
    run_copy, capsys, command, make_dataset
):
    from conftest import set_cell

    other = make_dataset(edit=set_cell("trade.csv", 0, "value_usd", "1"))
    run = run_copy
    tree = read_posterior(run / "posterior.nc")
    tree.attrs["data_path"] = str(other)  # the run now points at data it was not fitted on
    (run / "posterior.nc").unlink()
    tree.to_netcdf(run / "posterior.nc", engine="h5netcdf")
    code = main(READERS[command](run))
    err = capsys.readouterr().err
    assert code == 2, f"{command}: exit {code}\n{err}"
    assert "different data" in err, err
    assert "Traceback" not in err
