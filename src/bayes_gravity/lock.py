"""One writer per output folder: a lock file held by the command writing into it.

Commands that write into a folder (``fit``, ``classic``, ``scenario``, ``report``, ``prior``,
``calibrate``) run inside :func:`folder_lock`. The lock is an ``flock`` on
``FOLDER/.bayes_gravity.lock``, whose content names the holder (command, pid, start time,
host). The operating system releases an ``flock`` when its process dies, however it dies, so
a lock can never outlive its holder; the file a killed holder leaves behind still names it,
which is how a stale lock is told apart and reported as cleared. A second command refuses at
once (:class:`~bayes_gravity.errors.FolderLockedError`, exit code 5) naming the holder.

Within one process the lock is re-entrant: a command that runs another command's steps (a
cross-validation fitting into its own folder, say) takes it once.
"""

from __future__ import annotations

import datetime
import fcntl
import json
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bayes_gravity.errors import FolderLockedError, OutputWriteError
from bayes_gravity.io import describe_os_error

LOCK_FILE = ".bayes_gravity.lock"

# folders this process holds -> nesting depth (re-entrant use)
_HELD: dict[Path, int] = {}


def _describe(holder: dict[str, Any]) -> str:
    return (
        f"`{holder.get('command', '?')}` (pid {holder.get('pid', '?')}, started "
        f"{holder.get('started', '?')} on {holder.get('host', '?')})"
    )


def _read_holder(fd: int) -> dict[str, Any] | None:
    """Return the holder named in the lock file (``None``: empty or unreadable)."""
    os.lseek(fd, 0, os.SEEK_SET)
    raw = b""
    while chunk := os.read(fd, 65536):
        raw += chunk
    try:
        holder = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    return holder if isinstance(holder, dict) else None


def _open_locked(path: Path, command: str) -> tuple[int, dict[str, Any] | None]:
    """Open ``path`` and take its ``flock``; return the fd and what a dead holder left.

    Raises :class:`FolderLockedError` when a live process holds it. The lock file may be
    unlinked by its holder between our ``open`` and our ``flock``; we then hold a lock on a
    file no one else sees, so the inode is checked and the open retried.
    """
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder(fd) or {}
            os.close(fd)
            raise FolderLockedError(
                f"{path.parent} is in use by {_describe(holder)}; a second `{command}` into "
                "the same folder would mix two runs. Wait until it has finished, or write to "
                "another folder (--out)"
            ) from None
        try:
            same = os.fstat(fd).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        if same:
            return fd, _read_holder(fd)
        os.close(fd)


@contextmanager
def folder_lock(folder: str | Path, command: str) -> Iterator[list[str]]:
    """Hold the lock of ``folder`` (created if missing) while the block runs.

    Yields a list of notes (a stale lock cleared), for the command to print. On exit the lock
    file is removed, and so is ``folder`` if this call created it and it is still empty.
    """
    folder = Path(folder).resolve()
    if folder in _HELD:
        _HELD[folder] += 1
        try:
            yield []
        finally:
            _HELD[folder] -= 1
        return
    created = not folder.exists()
    path = folder / LOCK_FILE
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, stale = _open_locked(path, command)
    except OSError as err:
        if created:
            _remove_if_empty(folder)
        raise OutputWriteError(
            f"cannot write into {folder}: taking its lock failed ({describe_os_error(err)})"
        ) from None
    except BaseException:
        if created:
            _remove_if_empty(folder)
        raise
    notes = []
    if stale:
        notes.append(
            f"cleared a stale lock on {folder} left by {_describe(stale)}, which no longer runs"
        )
    me = {
        "command": command,
        "pid": os.getpid(),
        "started": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
        "host": socket.gethostname(),
    }
    try:
        try:  # no fsync: the flock, not the file, is the lock; the content names its holder
            os.ftruncate(fd, 0)
            os.pwrite(fd, (json.dumps(me) + "\n").encode("utf-8"), 0)
        except OSError as err:
            raise OutputWriteError(
                f"cannot write into {folder}: writing its lock failed ({describe_os_error(err)})"
            ) from None
        _HELD[folder] = 1
        yield notes
    finally:
        _HELD.pop(folder, None)
        try:
            path.unlink(missing_ok=True)  # while still holding it: no one can take it between
        finally:
            os.close(fd)
        if created:
            _remove_if_empty(folder)


def _remove_if_empty(folder: Path) -> None:
    try:
        folder.rmdir()
    except OSError:  # not empty (or gone): leave it
        pass
