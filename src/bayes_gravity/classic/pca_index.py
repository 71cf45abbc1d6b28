"""The classic CBEC development index: principal component analysis, as the study built it.

Steps: indicators already transformed, direction-flipped and standardised by
:func:`bayes_gravity.data.panel.indicator_panel`; gaps filled per country by linear interpolation
between observed years and carried flat beyond the first/last observation (PCA needs a
complete matrix — the Bayesian index needs no filling); re-standardised; components with
eigenvalue above ``eigenvalue_min`` kept; composite = variance-share-weighted component score.
Each component is oriented so its loadings sum to a positive number (higher = more developed).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class PCAIndex:
    """Scores per country-year, indicator weights, and the PCA's eigenvalues."""

    scores: pd.DataFrame  # iso3, year, score, rank
    weights: pd.DataFrame  # indicator, dimension, weight (composite loading)
    eigenvalues: np.ndarray
    n_components: int
    filled_cells: int


def fill_gaps(indicators: pd.DataFrame, countries: list[str], years: list[int]) -> pd.DataFrame:
    """Country-year x indicator matrix with gaps interpolated within each country."""
    wide = indicators.pivot_table(index=["iso3", "year"], columns="indicator", values="value")
    full = pd.MultiIndex.from_product([countries, years], names=["iso3", "year"])
    wide = wide.reindex(full)
    filled = wide.groupby(level="iso3", group_keys=False).apply(
        lambda g: g.interpolate(method="linear", limit_direction="both")
    )
    return filled


def rank_within_year(scores: pd.DataFrame, value: str, among: list[str]) -> pd.Series:
    """Rank 1 = highest ``value`` among the ``among`` countries in each year (others: NaN)."""
    inside = scores["iso3"].isin(among)
    ranks = scores[inside].groupby("year")[value].rank(ascending=False, method="min")
    return ranks.reindex(scores.index)


def pca_index(
    indicators: pd.DataFrame,
    countries: list[str],
    years: list[int],
    rank_among: list[str],
    eigenvalue_min: float = 1.0,
) -> PCAIndex:
    """Build the PCA index; indicators with no data for some country are left out of the PCA."""
    from sklearn.decomposition import PCA
    from sklearn.preprocessing import StandardScaler

    filled = fill_gaps(indicators, countries, years)
    complete = filled.dropna(axis=1, how="any")  # a country never observed: cannot fill
    matrix = StandardScaler().fit_transform(complete.to_numpy())
    pca = PCA().fit(matrix)
    eigenvalues = pca.explained_variance_ * (matrix.shape[0] - 1) / matrix.shape[0]
    keep = max(1, int((eigenvalues > eigenvalue_min).sum()))
    loadings = pca.components_[:keep].T  # indicator x component
    signs = np.where(loadings.sum(axis=0) < 0, -1.0, 1.0)
    loadings = loadings * signs
    component_scores = matrix @ loadings
    shares = eigenvalues[:keep] / eigenvalues[:keep].sum()
    composite = component_scores @ shares
    scores = complete.index.to_frame(index=False)
    scores["score"] = composite
    scores["rank"] = rank_within_year(scores, "score", rank_among)
    dims = indicators.drop_duplicates("indicator").set_index("indicator")["dimension"]
    weights = pd.DataFrame(
        {
            "indicator": complete.columns,
            "dimension": dims.reindex(complete.columns).to_numpy(),
            "weight": loadings @ shares,
        }
    )
    missing_cells = len(countries) * len(years) * complete.shape[1] - int(
        indicators["indicator"].isin(complete.columns).sum()
    )
    return PCAIndex(
        scores=scores,
        weights=weights,
        eigenvalues=eigenvalues,
        n_components=keep,
        filled_cells=missing_cells,
    )
