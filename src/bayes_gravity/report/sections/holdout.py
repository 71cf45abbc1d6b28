"""Section 8: out-of-sample check against the press-quoted figures of the holdout year."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from bayes_gravity.report.inputs import ReportInputs
from bayes_gravity.report.section import SECTIONS, Section, usd
from bayes_gravity.results.artefacts import HOLDOUT as HOLDOUT_FILE
from bayes_gravity.results.holdout import COLUMNS as HOLDOUT_COLUMNS


def holdout_section(inp: ReportInputs) -> Section:
    """Build section 8 from the saved holdout table (a note when the data have none)."""
    sec = Section("holdout", dict(SECTIONS)["holdout"])
    path = inp.run_dir / HOLDOUT_FILE
    sec.intro.append(
        "Trade in a year the model never saw, against its posterior predictive interval. The "
        "actual figures are press-quoted totals, not a primary statistical source."
    )
    if not path.is_file():
        sec.notes.append(
            f"No {HOLDOUT_FILE} in the run folder: the out-of-sample check was not run."
        )
        return sec
    table = pd.read_csv(path)
    missing = sorted(set(HOLDOUT_COLUMNS) - {"note"} - set(table.columns))
    if missing:
        sec.warnings.append(f"{path.name} lacks column(s) {missing}; not shown.")
        return sec
    shown = pd.DataFrame(
        {
            "partner": table["partner"],
            "flow": table["flow"],
            "year": table["year"],
            "actual US$": table["actual"].map(usd),
            "predicted median": table["pred_median"].map(usd),
            "50 % interval": [
                f"{usd(a)} – {usd(b)}" for a, b in zip(table["lo50"], table["hi50"], strict=True)
            ],
            "90 % interval": [
                f"{usd(a)} – {usd(b)}" for a, b in zip(table["lo90"], table["hi90"], strict=True)
            ],
            "in 50 %": table["in50"].map(_flag),
            "in 90 %": table["in90"].map(_flag),
            "note": table["note"].fillna("") if "note" in table else "",
        }
    )
    sec.table(f"Out-of-sample check ({path.name})", shown)
    in50 = table["in50"].map(_truth).dropna()
    in90 = table["in90"].map(_truth).dropna()
    sec.notes.append(
        f"Inside the 50 % interval: {int(in50.sum())} of {len(in50)}; inside the 90 % "
        f"interval: {int(in90.sum())} of {len(in90)} (expected about half and nine in ten)."
    )
    return sec


def _truth(value: Any) -> float:
    if isinstance(value, str):
        return {"true": 1.0, "false": 0.0, "1": 1.0, "0": 0.0}.get(value.strip().lower(), np.nan)
    try:
        return float(value)
    except (TypeError, ValueError):
        return np.nan


def _flag(value: Any) -> str:
    truth = _truth(value)
    return "–" if not np.isfinite(truth) else ("yes" if truth else "no")
