"""Pin the sha256 of the tables of the test suite's small real fit (tests/test_checksums.py).

Run after a change that is meant to change the numbers (a model change, a new lock file),
and on a new platform to add its entry; say in the commit why the numbers moved::

    .venv/bin/python scripts/pin_checksums.py

It fits the default spec on the shipped data with the `small_run` fixture's arguments (cold
engine cache in a temporary folder), hashes every table the fit writes and stores them under
this platform's key in tests/checksums/small_fit.json, leaving other platforms' entries.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PINNED = REPO / "tests" / "checksums" / "small_fit.json"
sys.path.insert(0, str(REPO / "tests"))


def main() -> int:
    with tempfile.TemporaryDirectory() as scratch:
        os.environ["BAYES_GRAVITY_CACHE_DIR"] = str(Path(scratch) / "cache")
        from bayes_gravity.cli import main as cli
        from checksums import fit_args, platform_key, table_checksums  # tests/checksums

        out = Path(scratch) / "run"
        code = cli(["fit", "--out", str(out), *fit_args()])
        if code != 0:
            print(f"fit exited {code}; nothing pinned", file=sys.stderr)
            return code
        pinned = json.loads(PINNED.read_text(encoding="utf-8")) if PINNED.is_file() else {}
        entries = pinned.get("platforms", {})
        entries[platform_key()] = table_checksums(out)
        pinned = {"fit_args": fit_args(), "platforms": dict(sorted(entries.items()))}
        PINNED.write_text(json.dumps(pinned, indent=2) + "\n", encoding="utf-8")
        print(f"pinned {len(entries[platform_key()])} tables for {platform_key()} in {PINNED}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
