"""Does the dataset hold what the spec names? One error listing every missing series.

Lives with the data, not with the spec: the spec layer knows nothing of datasets.
"""

from __future__ import annotations

import difflib

from bayes_gravity.config import ModelSpec
from bayes_gravity.data.dataset import Dataset
from bayes_gravity.errors import ConfigError


def check_against_data(spec: ModelSpec, data: Dataset, source: str = "<spec>") -> None:
    """Check that every series and column the spec names exists in the dataset.

    Raises one :class:`ConfigError` (the spec is what is wrong) naming the spec key, the
    missing code and the closest codes the data do have.
    """
    available = sorted(set(data.indicators["indicator"]))
    indicators = data.path / "indicators.csv"

    def closest(code: str) -> str:
        near = difflib.get_close_matches(code, available, n=3, cutoff=0.5)
        if near:
            return f"closest: {', '.join(near)}"
        return f"{len(available)} series available (`validate` lists them)"

    problems = []
    for i, item in enumerate(spec.index.indicators):
        if item.code not in available:
            problems.append(
                f"index.indicators.{i}.code: {item.code!r} is not in {indicators}; "
                f"{closest(item.code)}"
            )
    for i, cov in enumerate(spec.gravity.covariates):
        if cov.source == "indicator" and cov.indicator not in available:
            problems.append(
                f"gravity.covariates.{i}.indicator: covariate {cov.name!r}: {cov.indicator!r} "
                f"is not in {indicators}; {closest(str(cov.indicator))}"
            )
        if cov.source == "pair" and cov.column not in data.pairs.columns:
            columns = [c for c in data.pairs.columns if c not in ("reporter", "partner")]
            problems.append(
                f"gravity.covariates.{i}.column: covariate {cov.name!r}: {cov.column!r} is not "
                f"a column of {data.path / 'pairs.csv'}; columns: {columns}"
            )
    if problems:
        raise ConfigError(f"{source}: the spec names data that {data.path} does not have", problems)
