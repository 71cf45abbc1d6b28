"""Same spec, data and seed: byte-identical tables, cold cache or warm, chains in parallel or not.

``small_run`` samples its two chains in parallel threads (``cores = 2``) and compiles the
engine's program into the session's empty cache; ``offline_run`` is the same fit in a fresh
process with ``cores = 1`` that loads that program. Every CSV and ``diagnostics.json`` must
match byte for byte. ``diagnostics.json`` holds no wall time: it judges the draws, which the
seed fixes (the time is in posterior.nc's attributes), so a researcher can diff two runs.
"""

from __future__ import annotations

import json
from importlib import metadata
from pathlib import Path

from bayes_gravity.model.gravity_model import PACKAGES, read_posterior


def test_every_table_and_the_verdict_are_byte_identical(small_run: Path, offline_run) -> None:
    again, _ = offline_run
    names = sorted(p.name for p in small_run.iterdir() if p.suffix in (".csv", ".json"))
    assert "diagnostics.json" in names and "potential.csv" in names, names
    assert names == sorted(p.name for p in again.iterdir() if p.suffix in (".csv", ".json"))
    differ = [n for n in names if (small_run / n).read_bytes() != (again / n).read_bytes()]
    assert differ == [], f"same seed, different bytes in {differ}"


def test_a_cold_and_a_warm_cache_were_compared(small_run: Path, offline_run) -> None:
    """Guard against a vacuous comparison: the first fit compiled, the second loaded."""
    again, _ = offline_run
    first = read_posterior(small_run / "posterior.nc")["posterior"].attrs
    second = read_posterior(again / "posterior.nc")["posterior"].attrs
    assert (first["engine_program"], second["engine_program"]) == ("built", "loaded")


def test_diagnostics_hold_no_wall_time(small_run: Path) -> None:
    text = (small_run / "diagnostics.json").read_text(encoding="utf-8")
    assert "wall" not in text and "seconds" not in text, text


def test_the_two_runs_differ_only_in_parallelism(small_run: Path, offline_run) -> None:
    """Guard against a vacuous comparison: the runs really did use different cores."""
    again, _ = offline_run
    first = json.loads(read_posterior(small_run / "posterior.nc").attrs["sampler"])
    second = json.loads(read_posterior(again / "posterior.nc").attrs["sampler"])
    assert (first["cores"], second["cores"]) == (2, 1)
    assert {k: v for k, v in first.items() if k != "cores"} == {
        k: v for k, v in second.items() if k != "cores"
    }


def test_seed_and_package_versions_are_recorded(small_run: Path) -> None:
    attrs = read_posterior(small_run / "posterior.nc").attrs
    assert attrs["random_seed"] == 7
    assert json.loads(attrs["sampler"])["random_seed"] == 7
    versions = json.loads(attrs["versions"])
    assert versions["python"].count(".") == 2
    for name in PACKAGES:
        assert versions[name] == metadata.version(name), name
    for name in ("pymc", "pytensor", "nutpie", "numpy", "arviz-stats"):
        assert name in versions, f"{name} missing from the recorded versions"
    assert attrs["wall_seconds"] > 0
