"""What the pinned checksums of the small real fit are taken of, and on which platform."""

from __future__ import annotations

import hashlib
import platform
from importlib import metadata
from pathlib import Path

# The `small_run` fixture's fit (tests/conftest.py): the pinned checksums are of its tables.
SMALL_FIT = ["--draws", "300", "--tune", "400", "--chains", "2", "--seed", "7", "--no-compare"]
# What changes the floating-point results of the same seed: the machine and the numeric stack.
NUMERIC = ("numpy", "scipy", "jax", "jaxlib", "blackjax", "pymc", "pytensor", "pandas")


def fit_args() -> list[str]:
    """Return the fit's command-line arguments after ``fit --out DIR``."""
    return list(SMALL_FIT)


def platform_key() -> str:
    """Name the platform: operating system, machine and the numeric packages' versions."""
    versions = ",".join(f"{name}={metadata.version(name)}" for name in NUMERIC)
    return f"{platform.system()}-{platform.machine()}-py{platform.python_version()};{versions}"


def table_checksums(run: Path) -> dict[str, str]:
    """Sha256 of every CSV / JSON table a fit wrote (not posterior.nc or report.html).

    Those two hold the fit's wall time; every number they show is in the tables.
    """
    files = sorted(p for p in run.iterdir() if p.suffix in (".csv", ".json"))
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in files}
