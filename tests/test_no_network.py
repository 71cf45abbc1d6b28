"""No network at run time: the CLI validates, runs the classic pipeline and fits offline.

In process, pytest-socket blocks every socket (only inside these tests; the rest of the
suite is unaffected). In a fresh interpreter (``offline_run``), the fit also runs with
sockets refusing to connect from the first import on, so import-time access is caught too.
"""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest
from pytest_socket import SocketBlockedError, disable_socket, enable_socket

from bayes_gravity.cli import main
from conftest import NO_NETWORK, run_offline


@pytest.fixture
def no_sockets():
    disable_socket(allow_unix_socket=False)
    yield
    enable_socket()


def test_sockets_really_are_blocked(no_sockets) -> None:
    with pytest.raises(SocketBlockedError):
        socket.socket(socket.AF_INET, socket.SOCK_STREAM)


def test_validate_and_classic_without_sockets(no_sockets, tmp_path: Path, capsys) -> None:
    assert main(["validate"]) == 0
    assert main(["classic", "--out", str(tmp_path / "classic")]) == 0
    assert (tmp_path / "classic").is_dir() and any((tmp_path / "classic").iterdir())
    capsys.readouterr()


def test_sockets_come_back_after_the_test() -> None:
    socket.socket(socket.AF_INET, socket.SOCK_STREAM).close()


def test_fresh_process_validate_and_classic_offline(tmp_path: Path) -> None:
    done = run_offline("validate")
    assert done.returncode == 0, done.stderr
    assert "NETWORK ACCESS" not in done.stderr
    done = run_offline("classic", "--out", str(tmp_path / "classic"))
    assert done.returncode == 0, done.stderr
    assert "NETWORK ACCESS" not in done.stderr


def test_the_guard_catches_a_connection() -> None:
    """The offline wrapper is not vacuous: code that connects fails loudly."""
    guard = NO_NETWORK.split("from bayes_gravity.cli")[0]
    for attempt in (
        "socket.create_connection(('example.org', 80))",
        "socket.socket().connect(('127.0.0.1', 9))",
        "import urllib.request; urllib.request.urlopen('http://example.org', timeout=1)",
    ):
        done = subprocess.run(
            [sys.executable, "-c", guard + attempt], capture_output=True, text=True, timeout=60
        )
        assert done.returncode != 0, attempt
        assert "NETWORK ACCESS ATTEMPTED" in done.stderr, attempt


def test_fit_offline_in_a_fresh_process(offline_run) -> None:
    run, done = offline_run
    assert "NETWORK ACCESS" not in done.stderr, done.stderr
    for name in ("posterior.nc", "potential.csv", "diagnostics.json"):
        assert (run / name).is_file(), name
