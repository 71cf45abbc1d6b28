"""A run folder as a store: write one fit's files as a set, read them back.

The file names are :mod:`bayes_gravity.results.artefacts`'s; the store knows nothing of
who writes or reads each one. Files are staged in a hidden folder and committed as a set
(:func:`bayes_gravity.io.staged_commit`): a fit killed at any moment leaves the previous run
intact, or (killed during the final renames) a commit that the next reader or writer
completes. Never a mix of two runs, never half a file.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from bayes_gravity.config import parse_spec
from bayes_gravity.data.dataset import load_dataset
from bayes_gravity.errors import ResultsError
from bayes_gravity.io import finish_commits, staged_commit, write_csv, write_json
from bayes_gravity.model.gravity_model import GravityModel, read_posterior
from bayes_gravity.results import artefacts
from bayes_gravity.results.tables import RunResult

POSTERIOR_FILE = artefacts.POSTERIOR


def _commit_order(names: list[str]) -> list[str]:
    """Tables first, then the posterior, ``diagnostics.json`` last (readers look at it first)."""
    return sorted(names, key=lambda n: (n == "posterior.nc", n == "diagnostics.json", n))


def write_run(model: GravityModel, result: RunResult, out: Path) -> list[Path]:
    """Write the posterior, the tables and diagnostics.json into ``out`` as one commit.

    Everything of an earlier run in ``out`` that this run does not replace (e.g.
    ``index.csv`` after a spec without the index, its comparison, report and scenarios) is
    removed in the same commit: a file of another posterior must not be read as this one's.
    """
    names = [*result.tables, artefacts.POSTERIOR, artefacts.DIAGNOSTICS]
    if result.classic is not None:
        names.append(artefacts.CLASSIC_SUMMARY)
    with staged_commit(out, _commit_order, remove=[*artefacts.ALL, *names]) as stage:
        model.save(stage / "posterior.nc")
        for name, frame in result.tables.items():
            write_csv(stage / name, frame)
        if result.classic is not None:
            write_json(stage / artefacts.CLASSIC_SUMMARY, result.classic)
        write_json(stage / artefacts.DIAGNOSTICS, result.diagnostics)
    return [out / name for name in _commit_order(names)]


def read_diagnostics(run_dir: Path) -> dict[str, Any]:
    """Read the saved diagnostics verdict of a run folder."""
    finish_commits(run_dir)
    return json.loads((run_dir / "diagnostics.json").read_text(encoding="utf-8"))


def _peek_attrs(path: Path) -> dict[str, Any] | None:
    """Attributes of a posterior file without loading its arrays (None when unreadable)."""
    import h5netcdf

    try:
        with h5netcdf.File(path, "r") as handle:
            return {str(k): v for k, v in handle.attrs.items()}
    except (OSError, ValueError, KeyError, RuntimeError):
        return None


def load_run(run_dir: str | Path, data: str | Path | None = None) -> GravityModel:
    """Load a run folder's fitted model with the dataset it was fitted on.

    Refuses (:class:`ResultsError`, exit code 2) a folder without ``posterior.nc``, a truncated
    or foreign file, a posterior whose stored spec does not hash to its ``spec_hash``, a
    dataset that differs from the one fitted (``data_hash``), and covariate means that do not
    match the ones recomputed from the data.
    """
    run_dir = Path(run_dir)
    path = run_dir / POSTERIOR_FILE
    if not run_dir.is_dir():
        raise ResultsError(f"run folder not found: {run_dir}")
    attrs = _peek_attrs(path) if path.is_file() else None
    if attrs is None or "bayes_gravity_spec" not in attrs:
        # raises the precise error (missing, truncated, not ours), or completes a commit
        # that a killed fit left half-renamed, after which the attributes can be read
        read_posterior(path)
        attrs = _peek_attrs(path)
        if attrs is None or "bayes_gravity_spec" not in attrs:
            raise ResultsError(f"{path} is not a bayes_gravity posterior; refit")
    spec = parse_spec(json.loads(attrs["bayes_gravity_spec"]), str(path))
    if spec.content_hash() != attrs.get("spec_hash"):
        raise ResultsError(
            f"{path}: the stored spec hashes to {spec.content_hash()}, not to the recorded "
            f"spec_hash {attrs.get('spec_hash')}; the file was altered or comes from another "
            "version; refit with `fit`"
        )
    folder = Path(data) if data is not None else Path(str(attrs.get("data_path", "")))
    if not folder.is_dir():
        raise ResultsError(
            f"{path} was fitted on data in {folder}, which is not there; pass --data DIR"
        )
    dataset = load_dataset(folder, trade_file=spec.data.trade_file)
    model = GravityModel.load(path, dataset, spec=spec)
    assert model.inputs is not None
    stored = json.loads(str(model.idata.attrs.get("covariate_means", "{}")))
    recomputed = model.inputs.covariate_means
    off = [
        name
        for name in recomputed
        if name not in stored or not np.isclose(stored[name], recomputed[name], rtol=1e-9)
    ]
    if off:
        raise ResultsError(
            f"{path}: covariate means of the fit differ from the data's for {off}; refit"
        )
    return model
