"""One writer per run folder, with two real processes: a holder and a second command.

The holder is a separate Python process holding the folder's lock (as a running command
does); the second command refuses at once naming it, and a holder killed with SIGKILL leaves
a stale lock that the next command detects and clears.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from bayes_gravity.cli import main
from bayes_gravity.errors import FolderLockedError
from bayes_gravity.lock import LOCK_FILE, folder_lock

ROOT = Path(__file__).resolve().parents[1]
HOLDER = """
import sys, time
from bayes_gravity.lock import folder_lock
with folder_lock(sys.argv[1], sys.argv[2]):
    print("locked", flush=True)
    time.sleep(600)
"""


def hold(folder: Path, command: str) -> subprocess.Popen:
    """Start a process that holds ``folder``'s lock as ``command``; return once it does."""
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(folder), command],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "locked"
    return proc


@pytest.fixture
def holder(run_copy: Path) -> Iterator[subprocess.Popen]:
    proc = hold(run_copy, "fit")
    yield proc
    proc.kill()
    proc.wait()


def run(argv: list[str], capsys) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize(
    "argv",
    [
        ["report", "{run}"],
        ["scenario", "models/scenarios/openness_plus_10pct.toml", "--run", "{run}"],
        ["fit", "--out", "{run}"],
        ["classic", "--out", "{run}"],
        ["prior", "--out", "{run}"],
    ],
    ids=lambda a: a[0],
)
def test_second_command_refuses_naming_the_holder(holder, run_copy, snapshot, capsys, argv):
    before = snapshot(run_copy)
    code, _, err = run([a.format(run=run_copy) for a in argv], capsys)
    assert code == 5, err
    assert f"is in use by `fit` (pid {holder.pid}, started " in err and " UTC on " in err
    assert "Traceback" not in err
    assert snapshot(run_copy) == before, "the refused command wrote something"
    assert holder.poll() is None, "the holder must be left alone"


def test_refusal_from_a_fresh_process(holder, run_copy):
    done = subprocess.run(
        [sys.executable, "-m", "bayes_gravity", "report", str(run_copy)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )
    assert done.returncode == 5, done.stderr
    assert f"pid {holder.pid}" in done.stderr and "Traceback" not in done.stderr


def test_stale_lock_of_a_killed_process_is_cleared(tmp_path, capsys):
    out = tmp_path / "classic"
    proc = hold(out, "classic")
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert (out / LOCK_FILE).is_file(), "SIGKILL leaves the lock file behind"
    code, _, err = run(["classic", "--out", str(out)], capsys)
    assert code == 0, err
    assert f"cleared a stale lock on {out} left by `classic` (pid {proc.pid}" in err
    assert (out / "potential.csv").is_file() and not (out / LOCK_FILE).exists()


def test_lock_is_released_on_error_and_reentrant_in_one_process(tmp_path):
    folder = tmp_path / "new"
    with pytest.raises(RuntimeError), folder_lock(folder, "fit"):
        assert (folder / LOCK_FILE).is_file()
        with folder_lock(folder, "crossval") as notes:  # re-entrant: the same process
            assert notes == []
        assert (folder / LOCK_FILE).is_file(), "the inner exit must not release the lock"
        raise RuntimeError("boom")
    assert not folder.exists(), "a folder created only for the lock is removed again"
    with folder_lock(folder, "fit"):
        pass


def test_library_refusal_is_a_folder_locked_error(tmp_path):
    proc = hold(tmp_path, "scenario")
    try:
        with pytest.raises(FolderLockedError, match=r"in use by `scenario`") as info:
            with folder_lock(tmp_path, "report"):
                pass
        assert info.value.exit_code == 5
    finally:
        proc.kill()
        proc.wait()
