"""What the report reads from a run folder: model, tables, verdict, classic results.

The report renders from these saved files only; nothing here fits or re-runs a pipeline.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from bayes_gravity.errors import ResultsError
from bayes_gravity.model.gravity_model import GravityModel
from bayes_gravity.results import artefacts
from bayes_gravity.results.store import load_run, read_diagnostics


@dataclass
class ReportInputs:
    """Everything the report is built from, read from one run folder."""

    run_dir: Path
    model: GravityModel
    diagnostics: dict[str, Any]
    tables: dict[str, pd.DataFrame]
    rng_seed: int
    classic: SavedClassic


@dataclass(frozen=True)
class SavedClassic:
    """The classic pipeline's results as ``fit`` saved them beside the posterior."""

    scores: pd.DataFrame  # iso3, year, score, rank
    coefficients: pd.DataFrame  # term, estimate, std_error, p_value, model
    potential: pd.DataFrame  # partner, flow, year, actual, predicted, ratio, tier
    n_obs: int
    exclusions: list[str]
    warnings: list[str]


def read_classic(run_dir: Path) -> SavedClassic:
    """Read the classic tables a fit saved; a run folder without them must be refitted."""
    paths = [run_dir / name for name in (*artefacts.CLASSIC, artefacts.CLASSIC_SUMMARY)]
    missing = [p.name for p in paths if not p.is_file()]
    if missing:
        raise ResultsError(
            f"{run_dir}: {missing} missing (the run was saved before fits kept the classic "
            "tables, or the folder is incomplete); refit with `fit`"
        )
    try:
        summary = json.loads((run_dir / artefacts.CLASSIC_SUMMARY).read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ResultsError(
            f"{run_dir / artefacts.CLASSIC_SUMMARY} is not valid JSON ({err})"
        ) from None
    return SavedClassic(
        scores=pd.read_csv(run_dir / artefacts.CLASSIC_INDEX),
        coefficients=pd.read_csv(run_dir / artefacts.CLASSIC_COEFFICIENTS),
        potential=pd.read_csv(run_dir / artefacts.CLASSIC_POTENTIAL),
        n_obs=int(summary["n_obs"]),
        exclusions=[str(s) for s in summary["exclusions"]],
        warnings=[str(s) for s in summary["warnings"]],
    )


def load_inputs(run_dir: Path) -> ReportInputs:
    """Read a run folder; a missing, truncated or foreign posterior is a ResultsError."""
    run_dir = Path(run_dir)
    model = load_run(run_dir)
    if not (run_dir / "diagnostics.json").is_file():
        raise ResultsError(f"{run_dir / 'diagnostics.json'} is missing; refit with `fit`")
    try:
        diagnostics = read_diagnostics(run_dir)
    except json.JSONDecodeError as err:
        raise ResultsError(f"{run_dir / 'diagnostics.json'} is not valid JSON ({err})") from None
    tables = {}
    for name in ("coefficients.csv", "potential.csv", "index.csv", "loadings.csv"):
        path = run_dir / name
        if path.is_file():
            tables[name] = pd.read_csv(path)
        elif name in ("coefficients.csv", "potential.csv"):
            raise ResultsError(f"{path} is missing; refit with `fit`")
    seed = int(model.idata.attrs.get("random_seed", model.spec.sampler.random_seed))
    return ReportInputs(run_dir, model, diagnostics, tables, seed, read_classic(run_dir))
