"""The Python front door: load a spec and a dataset, fit, read a saved run.

::

    import bayes_gravity as bg

    spec = bg.load_spec("models/default.toml")
    data = bg.load_dataset("data/china_central_asia")
    run = bg.fit(spec, data, draws=300, tune=300, chains=2, random_seed=7)
    run.save("models/notebook")      # posterior, tables, diagnostics: one commit
    run.potential                    # pandas DataFrames, as saved
    run.report()                     # models/notebook/report.html, from the saved files
    again = bg.load_run("models/notebook")

The command line is a thin layer over these functions. This module sits above every other
layer; it imports the model, results and report layers inside the functions that need them,
so that ``import bayes_gravity`` and the light CLI commands (``--help``, ``validate``) stay
fast. Those imports run downwards only: none of them dodges a cycle.
"""

from __future__ import annotations

import json
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from bayes_gravity import config
from bayes_gravity.config import ModelSpec
from bayes_gravity.data import dataset as _dataset
from bayes_gravity.data.dataset import Dataset
from bayes_gravity.data.spec_check import check_against_data
from bayes_gravity.errors import ResultsError

if TYPE_CHECKING:
    from bayes_gravity.model.gravity_model import GravityModel
    from bayes_gravity.results.scenario import ScenarioSpec
    from bayes_gravity.results.tables import RunResult

__all__ = ["Run", "fit", "load_dataset", "load_run", "load_spec"]


def load_spec(path: str | Path | None = None) -> ModelSpec:
    """Read and validate a model spec TOML (default: ``models/default.toml``)."""
    spec, _ = config.load_spec(path)
    return spec


def load_dataset(path: str | Path | None = None, trade_file: str = "trade.csv") -> Dataset:
    """Read and validate a dataset folder (default: the shipped one)."""
    return _dataset.load_dataset(path, trade_file=trade_file)


def fit(
    spec: ModelSpec,
    data: Dataset,
    *,
    method: str = "nuts",
    progressbar: bool = False,
    refuse_drops: bool = False,
    **sampler_options: Any,
) -> Run:
    """Fit ``spec`` on ``data`` and summarise it; nothing is written until :meth:`Run.save`.

    ``sampler_options`` are ``pm.sample``'s by their own names (``draws``, ``tune``,
    ``chains``, ``random_seed``, ``nuts_sampler`` ...) and override the spec's ``[sampler]``.
    ``method``: ``"nuts"``, or ``"advi"`` / ``"pathfinder"`` for a fast approximation that
    is for exploration only. ``refuse_drops`` (``fit --strict``): raise
    :class:`~bayes_gravity.errors.DataError` before sampling when a partner, flow or year
    loses every row, unless the spec sets ``data.allow_drops``.
    """
    from bayes_gravity.data.drops import refuse_drops as refuse
    from bayes_gravity.model.gravity_model import GravityModel
    from bayes_gravity.results.tables import fit_mean_model, summarise

    check_against_data(spec, data)
    model = GravityModel(spec, data)
    inputs = model.prepare()
    if refuse_drops:
        refuse(inputs.dropped, spec.data.allow_drops, f"the spec {spec.name!r}")
    model.fit(progressbar=progressbar, method=method, **sampler_options)
    mean = None
    if spec.frontier is not None:
        # the mean model beside the frontier: its ratio tiers and residuals (Waldman's check)
        mean = fit_mean_model(model, method=method, **sampler_options)
    return Run(model=model, result=summarise(model, mean), mean=mean)


def load_run(folder: str | Path, data: str | Path | None = None) -> Run:
    """Open a run folder written by ``fit`` (``data``: where its dataset now is)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ResultsError(f"run folder not found: {folder}")
    return Run(folder=folder, data=data)


class Run:
    """One fit: its posterior, tables and diagnostics, in memory or in a run folder.

    A run from :func:`fit` lives in memory until :meth:`save`; one from :func:`load_run`
    reads its tables from the folder as they were saved, and its posterior on first use.
    """

    def __init__(
        self,
        model: GravityModel | None = None,
        result: RunResult | None = None,
        folder: Path | None = None,
        data: str | Path | None = None,
        mean: GravityModel | None = None,
    ) -> None:
        self._model = model
        self.mean = mean  # a frontier fit's mean model, fitted beside it (in memory only)
        self._result = result
        self.folder = folder
        self._data = data

    def __repr__(self) -> str:
        where = str(self.folder) if self.folder is not None else "not saved"
        return f"<Run {where}>"

    # ------------------------------------------------------------------ what the run holds

    @cached_property
    def model(self) -> GravityModel:
        """The fitted model (for a saved run: loaded with the dataset it was fitted on)."""
        if self._model is None:
            from bayes_gravity.results.store import load_run as read_run

            assert self.folder is not None
            self._model = read_run(self.folder, self._data)
        return self._model

    @property
    def spec(self) -> ModelSpec:
        """The spec the run was fitted with."""
        return self.model.spec

    @property
    def posterior(self) -> Any:
        """The ArviZ DataTree: posterior, sample_stats, log_likelihood, prior and data."""
        return self.model.idata

    @property
    def tables(self) -> dict[str, pd.DataFrame]:
        """Every table of the run by file name (a saved run: read from its folder)."""
        if self._result is not None:
            return dict(self._result.tables)
        return {name: self.table(name) for name in self._table_names()}

    def _table_names(self) -> list[str]:
        from bayes_gravity.results import artefacts

        assert self.folder is not None
        names = [*artefacts.TABLES, artefacts.HOLDOUT, *artefacts.CLASSIC]
        return [name for name in names if (self.folder / name).is_file()]

    def table(self, name: str) -> pd.DataFrame:
        """One of the run's tables by file name (e.g. ``"holdout_2023.csv"``)."""
        if self._result is not None:
            if name not in self._result.tables:
                raise ResultsError(f"this run has no {name}; tables: {sorted(self._result.tables)}")
            return self._result.tables[name].copy()
        assert self.folder is not None
        path = self.folder / name
        if not path.is_file():
            raise ResultsError(f"{path} is missing: this run has no {name}")
        return pd.read_csv(path)

    @property
    def index(self) -> pd.DataFrame:
        """Posterior CBEC index per country-year: mean, interval, mean rank, P(rank = 1)."""
        return self.table("index.csv")

    @property
    def loadings(self) -> pd.DataFrame:
        """Index loadings per indicator, next to the classic PCA weights."""
        return self.table("loadings.csv")

    @property
    def coefficients(self) -> pd.DataFrame:
        """Gravity coefficients and scales: mean, sd, interval, R-hat, bulk ESS."""
        return self.table("coefficients.csv")

    @property
    def potential(self) -> pd.DataFrame:
        """Potential ratio, tier probabilities and tier per partner x flow x year."""
        return self.table("potential.csv")

    @property
    def verdict(self) -> dict[str, Any]:
        """The diagnostics gate as saved in ``diagnostics.json``."""
        if self._result is not None:
            return self._result.diagnostics
        from bayes_gravity.results.store import read_diagnostics

        assert self.folder is not None
        return read_diagnostics(self.folder)

    @property
    def passed(self) -> bool:
        """Whether the diagnostics gate passed (never read a failed fit's tiers as settled)."""
        return bool(self.verdict.get("passed"))

    @property
    def diagnostics(self) -> pd.DataFrame:
        """One row per diagnostic check (by name): value, threshold, passed, whether it gates."""
        checks = self.verdict.get("checks", {})
        frame = pd.DataFrame.from_dict(checks, orient="index").sort_index()
        frame.index.name = "check"
        return frame

    # ------------------------------------------------------------------ what a run does

    def save(self, folder: str | Path) -> Path:
        """Write the run into ``folder`` as one commit (posterior, tables, diagnostics)."""
        from bayes_gravity.results.store import write_run

        folder = Path(folder)
        write_run(self.model, self._saved_result(), folder)
        self.folder = folder
        return folder

    def _saved_result(self) -> RunResult:
        if self._result is not None:
            return self._result
        from bayes_gravity.results import artefacts
        from bayes_gravity.results.tables import RunResult

        assert self.folder is not None
        tables = self.tables
        summary = self.folder / artefacts.CLASSIC_SUMMARY
        classic = json.loads(summary.read_text(encoding="utf-8")) if summary.is_file() else None
        return RunResult(tables=tables, diagnostics=self.verdict, classic=classic)

    def _saved_folder(self, what: str) -> Path:
        if self.folder is None:
            raise ResultsError(f"{what} reads the saved run: call run.save(folder) first")
        return self.folder

    def report(self, path: str | Path | None = None) -> Path:
        """Render the HTML report from the saved run (default ``FOLDER/report.html``)."""
        from bayes_gravity.report.assemble import write_report

        folder = self._saved_folder("the report")
        return write_report(folder) if path is None else write_report(folder, path)

    def scenario(
        self, scenario: str | Path | dict[str, Any] | ScenarioSpec, seed: int | None = None
    ) -> pd.DataFrame:
        """Trade and tiers under a scenario (a TOML path or its dictionary), beside the baseline.

        A saved run also keeps the result as ``scenarios/<name>.csv`` and ``.json``.
        """
        from bayes_gravity.results.scenario import (
            ScenarioSpec,
            load_scenario,
            parse_scenario,
            run_scenario,
            write_scenario,
        )

        if isinstance(scenario, ScenarioSpec):
            parsed = scenario
        elif isinstance(scenario, dict):
            parsed = parse_scenario(scenario, "<scenario dict>")
        else:
            parsed = load_scenario(scenario)
        if self.folder is None:
            return run_scenario(parsed, self.model, seed)
        _, _, table = write_scenario(parsed, self.model, self.folder, seed)
        return table

    def compare(self) -> pd.DataFrame:
        """PSIS-LOO comparison with two gravity models without the index (refits them).

        A saved run also keeps ``comparison.csv`` and ``comparison_pointwise.csv``.
        """
        from bayes_gravity.results.comparison import compare_models, write_comparison

        table, pointwise = compare_models(self.model, mean=self.mean)
        if self.folder is not None:
            write_comparison(table, pointwise, self.folder)
        return table
