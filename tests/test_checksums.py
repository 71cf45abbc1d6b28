"""Same seed, same bytes: the tables of the suite's small real fit match their pinned sha256.

Pinned per platform (operating system, machine, numeric package versions): floating-point
results of the same seed may legitimately differ on another machine or stack, so a platform
without an entry is skipped, naming the command that pins it. A move or refactor must leave
these bytes alone; a change meant to move the numbers re-pins them with
``scripts/pin_checksums.py`` and says why in its commit.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from checksums import fit_args, platform_key, table_checksums
from conftest import SMALL_FIT

PINNED = Path(__file__).resolve().parent / "checksums" / "small_fit.json"


def test_pinned_for_the_fixture_fit() -> None:
    pinned = json.loads(PINNED.read_text(encoding="utf-8"))
    assert pinned["fit_args"] == fit_args() == SMALL_FIT, "pinned for another fit; re-pin"


def test_small_fit_tables_match_their_pinned_checksums(small_run: Path) -> None:
    pinned = json.loads(PINNED.read_text(encoding="utf-8"))["platforms"]
    key = platform_key()
    if key not in pinned:
        pytest.skip(f"no checksums pinned for {key}: run scripts/pin_checksums.py")
    found = table_checksums(small_run)
    assert set(found) == set(pinned[key]), "the fit writes other tables than were pinned"
    changed = sorted(name for name in found if found[name] != pinned[key][name])
    assert not changed, f"same seed, other bytes in {changed}"
