"""Trade potential: the ratio of actual to benchmark trade and its three tiers.

Tier names follow the literature: "reshaping" (潜力再造型, trade already above what the
determinants predict), "expansion" (潜力拓展型) and "huge" (潜力巨大型, trade far below the
benchmark). Thresholds, which side of a threshold is inclusive and the ratio's direction are
settings (:class:`~bayes_gravity.config.PotentialSpec`) and are printed with every output.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from bayes_gravity.config import FrontierSpec, PotentialSpec

TIERS = ("reshaping", "expansion", "huge")
# Trade-efficiency tiers of a stochastic frontier (TE = actual / frontier, in (0, 1]).
TE_TIERS = ("low", "medium", "high")


def potential_ratio(
    actual: npt.ArrayLike, benchmark: npt.ArrayLike, spec: PotentialSpec
) -> np.ndarray:
    """Ratio in the direction the spec states (actual/benchmark or its inverse)."""
    actual_arr = np.asarray(actual, dtype=float)
    bench_arr = np.asarray(benchmark, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        if spec.ratio == "actual_over_predicted":
            return actual_arr / bench_arr
        return bench_arr / actual_arr


def tier_codes(ratio: npt.ArrayLike, spec: PotentialSpec) -> np.ndarray:
    """Integer tier per ratio: 0 reshaping, 1 expansion, 2 huge (indexes :data:`TIERS`).

    With ``ratio = "predicted_over_actual"`` a *low* ratio means trade above the benchmark, so
    the thresholds are read the other way round (reshaping below ``1 / reshaping_at``...).
    """
    r = np.asarray(ratio, dtype=float)
    if spec.ratio == "predicted_over_actual":
        with np.errstate(divide="ignore"):
            r = 1.0 / r  # compare on the actual/predicted scale the thresholds are stated in
    hi, lo = spec.reshaping_at, spec.huge_below
    if spec.boundary == "lower_inclusive":
        reshaping, huge = r >= hi, r < lo
    else:
        reshaping, huge = r > hi, r <= lo
    return np.where(reshaping, 0, np.where(huge, 2, 1))


def te_tier_codes(te: np.ndarray, spec: FrontierSpec) -> np.ndarray:
    """0 low (TE < low_below), 1 medium, 2 high (TE >= high_at); indexes :data:`TE_TIERS`."""
    return np.where(te < spec.low_below, 0, np.where(te >= spec.high_at, 2, 1))


def classify(ratio: npt.ArrayLike, spec: PotentialSpec) -> np.ndarray:
    """Tier name per ratio."""
    return np.asarray(TIERS, dtype=object)[tier_codes(ratio, spec)]


def tier_probabilities(ratio_draws: np.ndarray, spec: PotentialSpec, axis: int = 0) -> np.ndarray:
    """Share of draws in each tier; the tier axis is appended last (reshaping, expansion, huge)."""
    codes = tier_codes(ratio_draws, spec)
    return np.stack([(codes == k).mean(axis=axis) for k in range(len(TIERS))], axis=-1)


def posterior_potential(
    actual: np.ndarray,
    benchmark_draws: np.ndarray,
    spec: PotentialSpec,
    ci_prob: float,
) -> dict[str, np.ndarray]:
    """Summaries of the potential per row from benchmark draws of shape (sample, row).

    Returns ratio mean and equal-tailed interval, P(tier) per tier, the most probable tier,
    and the potential gap (benchmark - actual, US$) with its interval.
    """
    ratio = potential_ratio(actual[None, :], benchmark_draws, spec)
    gap = benchmark_draws - actual[None, :]
    lo_q, hi_q = (1 - ci_prob) / 2, 1 - (1 - ci_prob) / 2
    probs = tier_probabilities(ratio, spec, axis=0)
    return {
        "ratio_mean": ratio.mean(axis=0),
        "ratio_lo": np.quantile(ratio, lo_q, axis=0),
        "ratio_hi": np.quantile(ratio, hi_q, axis=0),
        "benchmark_mean": benchmark_draws.mean(axis=0),
        "gap_usd_mean": gap.mean(axis=0),
        "gap_usd_lo": np.quantile(gap, lo_q, axis=0),
        "gap_usd_hi": np.quantile(gap, hi_q, axis=0),
        "p_reshaping": probs[:, 0],
        "p_expansion": probs[:, 1],
        "p_huge": probs[:, 2],
        "tier": np.asarray(TIERS, dtype=object)[probs.argmax(axis=1)],
    }
