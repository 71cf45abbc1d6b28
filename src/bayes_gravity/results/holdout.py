"""Out-of-sample check: predict a later year's trade and compare it with published figures.

The fit ends in its last year (2020 in the default spec); the dataset's holdout file
(``trade_press_2023_2024.csv``, :func:`bayes_gravity.data.dataset.load_holdout`) holds press-quoted
figures for 2023. For each partner and flow the posterior predictive trade of the holdout year
uses that year's covariates from ``indicators.csv`` (a value missing in that year is carried
forward from the last observed year and named in ``note``) and the CBEC index projected with
its random walk with drift (:mod:`bayes_gravity.results.predict`). A ``total`` row sums the
export and import draws. ``pred_mean`` is the posterior mean of expected trade (log likelihoods:
``exp(mu + sigma^2/2)``); ``pred_median`` and the 50 % / 90 % intervals are quantiles of the
posterior predictive draws (observation noise included).
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bayes_gravity.data.dataset import load_holdout
from bayes_gravity.io import write_csv
from bayes_gravity.model.gravity_model import GravityModel
from bayes_gravity.results.artefacts import HOLDOUT as HOLDOUT_FILE
from bayes_gravity.results.artefacts import HOLDOUT_YEAR
from bayes_gravity.results.predict import KEYS, Predictor, covariate_rows, quantiles, run_seed

SEED_OFFSET = 2023  # holdout noise must not reuse the sampler's stream
COLUMNS = [
    *KEYS,
    "actual",
    "pred_mean",
    "pred_median",
    "lo50",
    "hi50",
    "lo90",
    "hi90",
    "in50",
    "in90",
    "note",
]


def _press_note(row: Mapping[Hashable, Any]) -> str:
    notes = []
    if str(row.get("derived_by_subtraction", "")).strip().lower() == "true":
        notes.append("actual derived by subtraction (total minus the other flow)")
    if str(row.get("precision", "")).strip():
        notes.append(str(row["precision"]).replace("_", " "))
    return "; ".join(notes)


def holdout_table(
    model: GravityModel, year: int = HOLDOUT_YEAR, seed: int | None = None
) -> pd.DataFrame | None:
    """Predictive intervals for the holdout figures of ``year``; None without a holdout file.

    Rows of other reporters or partners than the fit's, and other years, are left out.
    """
    assert model.inputs is not None
    press = load_holdout(model.data.path)
    if press is None:
        return None
    predictor = Predictor(model)
    reporters = model.inputs.panel.reporters
    press = press[
        (press["year"] == year)
        & press["reporter"].isin(reporters)
        & press["partner"].isin(predictor.partners)
    ].reset_index(drop=True)
    if press.empty or "year_effect" in predictor.draws:
        return None  # nothing to check, or year effects that cannot be projected
    partners = sorted(press["partner"].unique())
    keys = pd.DataFrame(
        [(p, f, year) for p in partners for f in ("export", "import")], columns=KEYS
    )
    if len(reporters) == 1:
        rows, notes = covariate_rows(model, keys)
    else:  # several reporters: predict the press rows' own pairs only
        return None
    rng = np.random.default_rng(run_seed(model, SEED_OFFSET) if seed is None else seed)
    index = None
    if predictor.index_name is not None:
        cube, cube_years = predictor.index_cube(year, rng)
        index = predictor.index_for_rows(rows, cube, cube_years)
    noise = predictor.noise_factor(len(rows), rng)
    pred = predictor.predict(rows, index, noise)
    position = {(r.partner, r.flow): i for i, r in enumerate(rows.itertuples())}
    records = []
    for row in press.to_dict("records"):
        flows = ["export", "import"] if row["flow"] == "total" else [row["flow"]]
        if any((row["partner"], f) not in position for f in flows):
            continue
        cols = [position[(row["partner"], f)] for f in flows]
        trade = pred.trade[:, cols].sum(axis=1)
        level = pred.level[:, cols].sum(axis=1)
        lo90, lo50, median, hi50, hi90 = quantiles(trade, [0.05, 0.25, 0.5, 0.75, 0.95])
        actual = float(row["value_usd"])
        carried = sorted({n for c in cols for n in notes[c].split("; ") if n})
        records.append(
            {
                "partner": row["partner"],
                "flow": row["flow"],
                "year": year,
                "actual": actual,
                "pred_mean": float(level.mean()),
                "pred_median": float(median),
                "lo50": float(lo50),
                "hi50": float(hi50),
                "lo90": float(lo90),
                "hi90": float(hi90),
                "in50": bool(lo50 <= actual <= hi50),
                "in90": bool(lo90 <= actual <= hi90),
                "note": "; ".join(filter(None, [_press_note(row), *carried])),
            }
        )
    table = pd.DataFrame.from_records(records, columns=COLUMNS)
    order = {"export": 0, "import": 1, "total": 2}
    table = table.sort_values(
        ["partner", "flow"], key=lambda s: s.map(order) if s.name == "flow" else s
    )
    return table.reset_index(drop=True)


def write_holdout(model: GravityModel, run_dir: Path, seed: int | None = None) -> Path | None:
    """Write ``holdout_<year>.csv`` into ``run_dir``; None when the data have no holdout."""
    table = holdout_table(model, seed=seed)
    if table is None:
        return None
    path = Path(run_dir) / HOLDOUT_FILE
    write_csv(path, table)
    return path


def coverage(table: pd.DataFrame) -> str:
    """One line: how many figures fall inside the 50 % and 90 % predictive intervals."""
    n = len(table)
    return (
        f"{int(table['in50'].sum())} of {n} inside the 50 % interval, "
        f"{int(table['in90'].sum())} of {n} inside the 90 % interval"
    )
