"""Run the engine benchmarks and write bench/RESULTS.md (and bench/results.json).

    .venv/bin/python bench/run_all.py                      # startup, default, baseline, real
    .venv/bin/python bench/run_all.py --case default       # one case (repeatable)
    .venv/bin/python bench/run_all.py --case scale --partners 25 100 200 1000

``make bench`` runs the first line; ``make bench-scale`` the scale case. Every measured
step runs in a fresh process (see common.py). The load average is recorded before each
step: figures taken on a busy machine are marked.
Results of the cases not run are kept from the previous bench/results.json, so single
cases can be rerun; RESULTS.md says when each case was measured.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from cases import CASES, fresh_workdir
from common import ROOT, load_average, log, machine
from report_md import render

DEFAULT_CASES = ["startup", "default", "baseline", "real"]
RESULTS_JSON = ROOT / "bench" / "results.json"
RESULTS_MD = ROOT / "bench" / "RESULTS.md"


def parse(argv: list[str]) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", action="append", choices=list(CASES), help="case(s) to run")
    parser.add_argument(
        "--draws", type=int, default=None, help="draws per chain (default: the spec's)"
    )
    parser.add_argument("--tune", type=int, default=None, help="tuning steps (default: the spec's)")
    parser.add_argument("--partners", type=int, nargs="+", default=[25, 100, 200, 1000])
    parser.add_argument(
        "--scale-timeout",
        type=float,
        default=1800.0,
        help="scale case: stop a fit unfinished after this many seconds (3x the target)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary work folder")
    parser.add_argument("--out", type=Path, default=RESULTS_MD, help="Markdown results file")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the chosen cases; merge into results.json; render RESULTS.md atomically."""
    sys.path.insert(0, str(ROOT / "src"))
    from bayes_gravity.io import write_json, write_text

    opts = parse(sys.argv[1:] if argv is None else argv)
    cases = opts.case or DEFAULT_CASES
    previous: dict[str, Any] = {}
    if RESULTS_JSON.exists():
        previous = json.loads(RESULTS_JSON.read_text(encoding="utf-8"))
    results = previous.get("cases", {})
    work = fresh_workdir()
    log(f"benchmark: cases {cases}; work folder {work}; load average {load_average()}")
    started = time.perf_counter()
    try:
        for name in cases:
            log(f"case {name} ...")
            t0 = time.perf_counter()
            load = load_average()
            kwargs: dict[str, Any] = {}
            if name == "approx" and "default" in results and "run_dir" in results["default"]:
                run_dir = Path(results["default"]["run_dir"])
                kwargs["nuts_run"] = run_dir if run_dir.exists() else None
            if name == "baseline" and "default" in cases and "default" in results:
                kwargs["joint"] = results["default"]["warm"]  # measured in this run
            result = CASES[name](opts, work, **kwargs)
            result["measured_at"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
            result["load_average_at_start"] = [round(x, 2) for x in load]
            result["case_seconds"] = round(time.perf_counter() - t0, 1)
            result["options"] = {"draws": opts.draws, "tune": opts.tune}
            results[name] = result
            log(f"case {name} done in {result['case_seconds']:.0f} s")
            payload = {"machine": machine(), "cases": results}
            write_json(RESULTS_JSON, payload)  # after each case: a crash keeps what was done
            write_text(opts.out, render(payload))
    finally:
        if not opts.keep:
            shutil.rmtree(work, ignore_errors=True)
    log(f"all done in {time.perf_counter() - started:.0f} s; wrote {opts.out} and {RESULTS_JSON}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
