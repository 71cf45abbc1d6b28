"""Atomic output: every file is written to a temporary sibling and renamed into place.

A run killed at any moment leaves either the previous file or the new one, never half of one.
A set of files that belongs together (a run folder) is committed as a whole: staged in a
hidden ``.staging-<pid>-*`` folder, which is renamed to ``.commit-<pid>-*`` once every file in
it is complete; the files are then renamed into place one by one. A process killed during
those renames leaves the ``.commit-*`` folder behind, and :func:`finish_commits` (called by
the next writer and by every reader) completes the renames, so a reader never sees a mix of
two runs. Temporary names carry the writer's process id, so leftovers of a killed process
can be told from the files of one still running.
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import signal
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd

from bayes_gravity.errors import OutputWriteError

STAGING_PREFIX = ".staging-"
COMMIT_PREFIX = ".commit-"
MANIFEST = ".manifest.json"
# .<name>.<pid>-<random>.tmp (atomic_path), .staging-<pid>-<random>, .commit-<pid>-<random>
_TMP_FILE = re.compile(r"^\..+\.(\d+)-[^.]+\.tmp$")
_TMP_FILE_NAME = re.compile(r"^\.(.+)\.\d+-[^.]+\.tmp$")
BACKUP = ".previous"  # inside a commit folder: the files it replaces, until it is complete
_STAGING_DIR = re.compile(rf"^{re.escape(STAGING_PREFIX)}(\d+)-")


def _file_mode() -> int:
    """Permissions a plain ``open(path, "w")`` would give (mkstemp makes files 0600)."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def _fsync_dir(folder: Path) -> None:
    """Make renames in ``folder`` durable (a crash of the machine, not only of the process)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def describe_os_error(err: OSError) -> str:
    """``potential.csv: No space left on device (ENOSPC)``: the file, the reason, the code."""
    name = Path(str(err.filename)).name if err.filename else ""
    match = _TMP_FILE_NAME.match(name)
    name = match.group(1) if match else name  # the file being written, not its temporary
    code = errno.errorcode.get(err.errno or 0, "")
    reason = f"{err.strerror or err}" + (f" ({code})" if code else "")
    return f"{name}: {reason}" if name else reason


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it over ``path`` on success.

    A failing write (disk full, permission denied, a failing rename) raises
    :class:`~bayes_gravity.errors.OutputWriteError` naming the file; ``path`` is untouched.
    """
    path = Path(path)
    tmp: Path | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(
            prefix=f".{path.name}.{os.getpid()}-", suffix=".tmp", dir=path.parent
        )
        os.close(fd)
        tmp = Path(tmp_name)
        yield tmp
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.chmod(tmp, _file_mode())
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    except OSError as err:
        raise OutputWriteError(
            f"could not write {path}: {describe_os_error(err)}; the earlier file, if any, is "
            "unchanged"
        ) from None
    finally:
        if tmp is not None:
            tmp.unlink(missing_ok=True)


def write_text(path: str | Path, text: str) -> None:
    """Write ``text`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json(path: str | Path, obj: Any) -> None:
    """Write ``obj`` as indented JSON, atomically."""
    write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


def write_csv(path: str | Path, frame: pd.DataFrame) -> None:
    """Write a table atomically with a fixed float format, so equal numbers give equal bytes."""
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False, float_format="%.6g")


def write_with(path: str | Path, writer: Callable[[Path], None]) -> None:
    """Call ``writer(tmp_path)`` and move the result into place atomically."""
    with atomic_path(path) as tmp:
        writer(tmp)


# ---------------------------------------------------------------------------- folder commits


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def finish_commits(folder: str | Path) -> list[str]:
    """Complete the renames of commits a killed writer left in ``folder``; return file names.

    Idempotent and safe to run while the writer is still renaming: a file already moved is
    skipped.
    """
    folder = Path(folder)
    moved: list[str] = []
    if not folder.is_dir():
        return moved
    pending = sorted(
        (p for p in folder.iterdir() if p.is_dir() and p.name.startswith(COMMIT_PREFIX)),
        key=lambda p: p.stat().st_mtime_ns,
    )
    for commit in pending:
        try:
            manifest = json.loads((commit / MANIFEST).read_text(encoding="utf-8"))
        except FileNotFoundError:
            if not commit.exists():  # the writer finished meanwhile
                continue
            raise
        for name in manifest["remove"]:
            stale = folder / name
            if stale.is_dir():  # e.g. scenarios/ of an earlier posterior
                shutil.rmtree(stale, ignore_errors=True)
            else:
                stale.unlink(missing_ok=True)
        for name in manifest["files"]:
            try:
                os.replace(commit / name, folder / name)
            except FileNotFoundError:
                continue
            moved.append(name)
        _fsync_dir(folder)
        shutil.rmtree(commit, ignore_errors=True)
    return moved


def remove_stale(folder: str | Path) -> list[str]:
    """Delete staging folders and temporary files of writers that no longer run."""
    folder = Path(folder)
    removed: list[str] = []
    if not folder.is_dir():
        return removed
    for entry in folder.iterdir():
        match = _STAGING_DIR.match(entry.name) if entry.is_dir() else _TMP_FILE.match(entry.name)
        if match and not _alive(int(match.group(1))):
            if entry.is_dir():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)
            removed.append(entry.name)
    return removed


@contextmanager
def staged_commit(
    folder: str | Path, order: Callable[[list[str]], list[str]], remove: Iterable[str] = ()
) -> Iterator[Path]:
    """Yield a staging folder inside ``folder``; on success move its files into ``folder``.

    ``order(names)`` gives the order of the renames (the file readers check first goes last);
    ``remove`` names files of an earlier commit that this one does not replace and that must
    go (a stale table of another run would be read as part of this one). On error or
    interrupt the staging folder is deleted and ``folder`` is untouched. Ctrl-C during the
    renames is held until they are done, so the folder is never left half-replaced.

    A write or rename that fails (disk full, permission denied) raises
    :class:`~bayes_gravity.errors.OutputWriteError`, and ``folder`` holds the previous
    results: during staging nothing in it has changed yet; during the final renames the
    files already replaced are put back from the commit's backup (:func:`_apply_commit`).
    """
    folder = Path(folder)
    stage: Path | None = None
    try:
        folder.mkdir(parents=True, exist_ok=True)
        finish_commits(folder)
        remove_stale(folder)
        stage = Path(tempfile.mkdtemp(prefix=f"{STAGING_PREFIX}{os.getpid()}-", dir=folder))
        yield stage
        names = sorted(p.name for p in stage.iterdir() if not p.name.startswith("."))
        manifest = {
            "files": order(names),
            "remove": sorted(set(remove) - set(names)),
        }
        write_json(stage / MANIFEST, manifest)
        _fsync_dir(stage)
        commit = folder / (COMMIT_PREFIX + stage.name.removeprefix(STAGING_PREFIX))
        with hold_sigint(f"the new results were complete and are in {folder}"):
            os.rename(stage, commit)  # the point of no return: the new set is complete
            stage = None
            _apply_commit(folder, commit, manifest)
    except UndoFailedError:
        raise
    except (OSError, OutputWriteError) as err:
        if stage is not None:
            shutil.rmtree(stage, ignore_errors=True)
        detail = err.message if isinstance(err, OutputWriteError) else describe_os_error(err)
        raise OutputWriteError(
            f"the results could not be written into {folder} ({detail}); the previous "
            "results there are unchanged and nothing of this run was kept"
        ) from None
    except BaseException:
        if stage is not None:
            shutil.rmtree(stage, ignore_errors=True)
        raise


def _apply_commit(folder: Path, commit: Path, manifest: dict[str, list[str]]) -> None:
    """Move a complete commit's files into ``folder``; undo every move if one fails.

    Each file it replaces is first hard-linked into ``commit/.previous`` (no moment without
    the file), each file it removes is moved there; an ``OSError`` puts them back and deletes
    the commit, so the folder holds the previous results again. A process killed meanwhile
    leaves the commit, which the next reader completes forward (:func:`finish_commits`).
    """
    backup = commit / BACKUP
    moved: list[str] = []
    removed: list[str] = []
    try:
        backup.mkdir()
        for name in manifest["remove"]:
            if (folder / name).exists():
                os.replace(folder / name, backup / name)
                removed.append(name)
        for name in manifest["files"]:
            if (folder / name).exists():
                os.link(folder / name, backup / name)
            os.replace(commit / name, folder / name)
            moved.append(name)
        _fsync_dir(folder)
    except OSError:
        _roll_back(folder, commit, moved, removed)
        raise
    shutil.rmtree(commit, ignore_errors=True)


def _roll_back(folder: Path, commit: Path, moved: list[str], removed: list[str]) -> None:
    """Put back what :func:`_apply_commit` replaced or removed, then delete the commit."""
    # First make the commit invisible to finish_commits: completing it forward now would mix.
    undo = commit.with_name(STAGING_PREFIX + commit.name.removeprefix(COMMIT_PREFIX))
    try:
        os.rename(commit, undo)
    except OSError as err:
        raise UndoFailedError(
            f"writing into {folder} failed and could not be undone ({describe_os_error(err)}); "
            f"the new results are complete in {commit.name}, which the next command that "
            "reads the folder moves into place"
        ) from None
    backup = undo / BACKUP
    try:
        for name in reversed(moved):
            if (backup / name).exists():
                os.replace(backup / name, folder / name)
            else:  # new in this commit: the previous results did not have it
                (folder / name).unlink(missing_ok=True)
        for name in reversed(removed):
            os.replace(backup / name, folder / name)
    except OSError as err:
        raise UndoFailedError(
            f"writing into {folder} failed, and putting the previous results back failed too "
            f"({describe_os_error(err)}): the folder may hold a mix of two runs; the previous "
            f"files not yet restored are in {undo.name}"
        ) from None
    _fsync_dir(folder)
    shutil.rmtree(undo, ignore_errors=True)


class UndoFailedError(OutputWriteError):
    """A failed commit whose undo failed too: the folder is not as it was (said so)."""


@contextmanager
def hold_sigint(done: str) -> Iterator[None]:
    """Delay Ctrl-C until the block is done, then raise it saying ``done``.

    For a few renames that must not be cut short (a folder half-replaced).
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []
    previous = signal.getsignal(signal.SIGINT)
    signal.signal(signal.SIGINT, lambda signum, frame: received.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous if previous is not None else signal.SIG_DFL)
    if received:
        raise KeyboardInterrupt(done)
