"""Fault-injected writes: every file operation of a commit fails in turn.

Three kinds of fault, each injected (monkeypatch) at the 1st, 2nd, ... call of the operation
during one commit of a run folder: disk full (ENOSPC from ``fsync`` of a file), permission
denied (EACCES creating a temporary file or the staging folder) and a rename that fails
(EIO from ``os.replace`` / ``os.rename`` / ``os.link``). Each must raise one
OutputWriteError and leave the previous run byte-identical and loadable, with no leftovers.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import bayes_gravity.io as io_module
from bayes_gravity.cli import main
from bayes_gravity.data.dataset import load_dataset
from bayes_gravity.errors import OutputWriteError
from bayes_gravity.io import write_with
from bayes_gravity.model.gravity_model import GravityModel
from bayes_gravity.model.posterior_file import read_posterior
from bayes_gravity.results.artefacts import TABLES
from bayes_gravity.results.store import write_run
from bayes_gravity.results.tables import RunResult
from conftest import MOCK_FIT, file_snapshot


@pytest.fixture(scope="module")
def previous(small_run, tmp_path_factory) -> Path:
    """A copy of the session's small run: the run a failed commit must leave as it was."""
    folder = tmp_path_factory.mktemp("faults") / "previous"
    shutil.copytree(small_run, folder)
    return folder


@pytest.fixture(scope="module")
def new_run(previous, tmp_path_factory) -> tuple[GravityModel, RunResult]:
    """The run that the faulty commits try to write: the same posterior marked "new".

    Its ``save`` copies a netCDF file written once by the real ``GravityModel.save``, through
    the same atomic write (temporary file, fsync, rename): the operations the faults hit are
    the real ones, only the encoding of the DataTree (3 s each) is not repeated.
    """
    model = GravityModel.load(previous / "posterior.nc", load_dataset())
    model.idata.attrs["version"] = "new"
    saved = tmp_path_factory.mktemp("new_posterior") / "posterior.nc"
    model.save(saved)
    model.save = lambda path: write_with(path, lambda tmp: shutil.copyfile(saved, tmp))  # type: ignore[method-assign]
    tables = {n: pd.read_csv(previous / n).assign(version="new") for n in TABLES}
    diagnostics = json.loads((previous / "diagnostics.json").read_text(encoding="utf-8"))
    return model, RunResult(tables, dict(diagnostics, version="new"))


def _regular(fd: int) -> bool:
    return stat.S_ISREG(os.fstat(fd).st_mode)


class Faults:
    """Wrap file operations in bayes_gravity.io; fail the ``at``-th call of a kind."""

    def __init__(self, kind: str, at: int | None) -> None:
        self.kind, self.at, self.calls = kind, at, 0

    def _tick(self, code: int, filename: str) -> None:
        self.calls += 1
        if self.at is not None and self.calls == self.at + 1:
            raise OSError(code, os.strerror(code), filename)

    def install(self, mp: pytest.MonkeyPatch) -> None:
        real_fsync, real_mkstemp, real_mkdtemp = os.fsync, tempfile.mkstemp, tempfile.mkdtemp
        real_replace, real_rename, real_link = os.replace, os.rename, os.link
        if self.kind == "disk-full":

            def fsync(fd: int) -> None:
                if _regular(fd):
                    self._tick(errno.ENOSPC, os.readlink(f"/proc/self/fd/{fd}"))
                real_fsync(fd)

            mp.setattr(io_module.os, "fsync", fsync)
        elif self.kind == "permission-denied":

            def mkstemp(*args: Any, **kwargs: Any):
                self._tick(errno.EACCES, f"{kwargs.get('prefix', '')}x.tmp")
                return real_mkstemp(*args, **kwargs)

            def mkdtemp(*args: Any, **kwargs: Any):
                self._tick(errno.EACCES, str(kwargs.get("dir", "")))
                return real_mkdtemp(*args, **kwargs)

            mp.setattr(io_module.tempfile, "mkstemp", mkstemp)
            mp.setattr(io_module.tempfile, "mkdtemp", mkdtemp)
        else:

            def wrap(real: Callable[[Any, Any], None]) -> Callable[[Any, Any], None]:
                def failing(src: Any, dst: Any) -> None:
                    self._tick(errno.EIO, str(dst))
                    real(src, dst)

                return failing

            mp.setattr(io_module.os, "replace", wrap(real_replace))
            mp.setattr(io_module.os, "rename", wrap(real_rename))
            mp.setattr(io_module.os, "link", wrap(real_link))


KINDS = ["disk-full", "permission-denied", "failing-rename"]


def linked_copy(src: Path, dst: Path) -> Path:
    """A copy whose files are hard links to ``src``'s: a commit replaces files by rename and
    never writes into one, so the copy behaves as a real one and costs nothing."""
    shutil.copytree(src, dst, copy_function=os.link)
    return dst


def identity(folder: Path) -> dict[str, tuple[int, int]]:
    """Each file's inode and size: the same inode means the very file of the previous run."""
    return {
        str(p.relative_to(folder)): (p.stat().st_ino, p.stat().st_size)
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _count(kind: str, new_run, previous: Path, tmp_path: Path) -> int:
    """How many operations of ``kind`` one commit over ``previous`` makes."""
    folder = linked_copy(previous, tmp_path / "count")
    faults = Faults(kind, None)
    with pytest.MonkeyPatch.context() as mp:
        faults.install(mp)
        write_run(*new_run, folder)
    return faults.calls


@pytest.mark.parametrize("kind", KINDS)
def test_every_operation_of_a_commit_failing_leaves_the_previous_run(
    kind, new_run, previous, tmp_path
):
    n = _count(kind, new_run, previous, tmp_path)
    assert n >= 7, f"{kind}: only {n} operations seen; the injection misses the commit"
    before = identity(previous)
    for at in range(n):
        folder = linked_copy(previous, tmp_path / f"run{at}")
        with pytest.MonkeyPatch.context() as mp:
            Faults(kind, at).install(mp)
            with pytest.raises(OutputWriteError) as info:
                write_run(*new_run, folder)
        message = str(info.value)
        assert f"could not be written into {folder}" in message, message
        assert "previous results there are unchanged" in message
        expected = {"disk-full": "ENOSPC", "permission-denied": "EACCES"}.get(kind, "EIO")
        assert expected in message, message
        assert identity(folder) == before, f"{kind} at operation {at}: folder changed"
        assert [p.name for p in folder.iterdir() if p.name.startswith(".")] == []
        if at < n - 1:  # the same inodes: the very files of the previous run
            shutil.rmtree(folder)
    # the last one read in full: the previous run's bytes, and loadable
    assert file_snapshot(folder) == file_snapshot(previous)
    assert "version" not in read_posterior(folder / "posterior.nc").attrs
    # without a fault the same commit goes through: the faults, not the commit, failed
    clean = linked_copy(previous, tmp_path / "clean")
    write_run(*new_run, clean)
    assert read_posterior(clean / "posterior.nc").attrs["version"] == "new"
    assert set(pd.read_csv(clean / "potential.csv")["version"]) == {"new"}


@pytest.mark.parametrize("kind", KINDS)
def test_classic_cli_reports_one_error_without_traceback(kind, tmp_path, capsys):
    out = tmp_path / "classic"
    assert main(["classic", "--out", str(out)]) == 0
    capsys.readouterr()
    before = file_snapshot(out)
    with pytest.MonkeyPatch.context() as mp:
        Faults(kind, 2).install(mp)
        code = main(["classic", "--out", str(out)])
    _, err = capsys.readouterr()
    assert code == 6, err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "previous results there are unchanged" in errors[0], err
    assert "Traceback" not in err
    assert file_snapshot(out) == before


@pytest.mark.usefixtures("mock_fit")
def test_fit_cli_disk_full_keeps_the_previous_run(previous, tmp_path, capsys):
    """A real (mock-sampled) fit whose posterior.nc hits a full disk."""
    run = tmp_path / "run"
    shutil.copytree(previous, run)
    before = file_snapshot(run)
    with pytest.MonkeyPatch.context() as mp:
        Faults("disk-full", 0).install(mp)  # the first file staged: the posterior
        code = main(["fit", "--out", str(run), *MOCK_FIT])
    _, err = capsys.readouterr()
    assert code == 6, err
    assert "posterior.nc: No space left on device (ENOSPC)" in err, err
    assert "Traceback" not in err
    assert file_snapshot(run) == before
    assert json.loads((run / "diagnostics.json").read_text(encoding="utf-8")) is not None
