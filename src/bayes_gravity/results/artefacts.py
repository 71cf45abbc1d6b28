"""Every file name a run folder can hold, in one place.

The store (:mod:`bayes_gravity.results.store`) commits and clears these names without knowing
who writes or reads them; each writer and reader imports its name from here. A new artefact
is declared here first, so a refit removes a stale copy of it with the rest of the old run.

Layout of ``models/<spec name>/`` (or ``--out``)::

    posterior.nc       ArviZ DataTree (posterior, sample_stats, log_likelihood, observed and
                       constant data); attrs: resolved spec, data hash, versions, seed
    index.csv          iso3, year, mean, lo, hi, rank_mean, p_rank1
    loadings.csv       indicator, dimension, mean, lo, hi, pca_weight
    coefficients.csv   term, mean, sd, lo, hi, r_hat, ess_bulk
    potential.csv      partner, flow, year, actual, ratio_mean, ratio_lo, ratio_hi,
                       benchmark_mean, gap_usd_*, p_reshaping, p_expansion, p_huge, tier,
                       tier_rule
    holdout_2023.csv   predictive intervals for the press-quoted 2023 figures (when present)
    classic_*.csv      the study's classic pipeline on the same data and spec (PCA scores and
                       weights, OLS / random-effects coefficients, point tiers), and
    classic.json       its row count, exclusions and warnings: what the report sets beside the
                       Bayesian results
    diagnostics.json   per-check values and an overall "passed"
    comparison*.csv    PSIS-LOO comparison (``fit --compare``)
    report.html        the rendered report
    scenarios/         one CSV + JSON pair per scenario
"""

from __future__ import annotations

POSTERIOR = "posterior.nc"
DIAGNOSTICS = "diagnostics.json"
INDEX = "index.csv"
LOADINGS = "loadings.csv"
COEFFICIENTS = "coefficients.csv"
POTENTIAL = "potential.csv"
TABLES = (INDEX, LOADINGS, COEFFICIENTS, POTENTIAL)

HOLDOUT_YEAR = 2023
HOLDOUT = f"holdout_{HOLDOUT_YEAR}.csv"

CLASSIC_INDEX = "classic_index.csv"
CLASSIC_WEIGHTS = "classic_pca_weights.csv"
CLASSIC_COEFFICIENTS = "classic_coefficients.csv"
CLASSIC_POTENTIAL = "classic_potential.csv"
CLASSIC_SUMMARY = "classic.json"
CLASSIC = (CLASSIC_INDEX, CLASSIC_WEIGHTS, CLASSIC_COEFFICIENTS, CLASSIC_POTENTIAL)

COMPARISON = "comparison.csv"
COMPARISON_POINTWISE = "comparison_pointwise.csv"
REPORT = "report.html"
SCENARIO_DIR = "scenarios"

# What one `fit` writes in one commit, and everything an older run may have left beside it.
FIT = (*TABLES, HOLDOUT, *CLASSIC, CLASSIC_SUMMARY, POSTERIOR, DIAGNOSTICS)
ALL = (*FIT, COMPARISON, COMPARISON_POINTWISE, REPORT, SCENARIO_DIR)
