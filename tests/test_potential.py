"""Potential ratios and tiers: exact boundaries under both conventions, the inverted ratio,
the printed rule, tier probabilities and the posterior summaries on hand-made draws."""

from __future__ import annotations

import re

import numpy as np
import pytest

from bayes_gravity.config import PotentialSpec
from bayes_gravity.potential import (
    TIERS,
    classify,
    posterior_potential,
    potential_ratio,
    tier_codes,
    tier_probabilities,
)

LOWER = PotentialSpec(boundary="lower_inclusive")
UPPER = PotentialSpec(boundary="upper_inclusive")


def below(x: float) -> float:
    return float(np.nextafter(x, -np.inf))


def above(x: float) -> float:
    return float(np.nextafter(x, np.inf))


# (ratio, tier under lower_inclusive, tier under upper_inclusive)
BOUNDARY_CASES = [
    (1.2, "reshaping", "expansion"),
    (above(1.2), "reshaping", "reshaping"),
    (below(1.2), "expansion", "expansion"),
    (1.2 + 1e-9, "reshaping", "reshaping"),
    (1.2 - 1e-9, "expansion", "expansion"),
    (0.8, "expansion", "huge"),
    (above(0.8), "expansion", "expansion"),
    (below(0.8), "huge", "huge"),
    (0.8 + 1e-9, "expansion", "expansion"),
    (0.8 - 1e-9, "huge", "huge"),
    (1.0, "expansion", "expansion"),
    (0.0, "huge", "huge"),
    (5.0, "reshaping", "reshaping"),
    (np.inf, "reshaping", "reshaping"),
]


@pytest.mark.parametrize(
    ("ratio", "lower", "upper"), BOUNDARY_CASES, ids=[f"{c[0]!r}" for c in BOUNDARY_CASES]
)
def test_tier_at_and_around_the_thresholds(ratio, lower, upper):
    got_lower = classify([ratio], LOWER)[0]
    got_upper = classify([ratio], UPPER)[0]
    assert got_lower == lower, f"ratio {ratio!r}, lower_inclusive: {got_lower}, expected {lower}"
    assert got_upper == upper, f"ratio {ratio!r}, upper_inclusive: {got_upper}, expected {upper}"


def test_classify_whole_array_and_codes_index_tiers():
    ratios = np.array([c[0] for c in BOUNDARY_CASES])
    assert list(classify(ratios, LOWER)) == [c[1] for c in BOUNDARY_CASES]
    codes = tier_codes(ratios, UPPER)
    assert [TIERS[k] for k in codes] == [c[2] for c in BOUNDARY_CASES]
    assert classify(ratios.reshape(2, 7), LOWER).shape == (2, 7)


def test_thresholds_come_from_the_spec():
    spec = PotentialSpec(reshaping_at=1.5, huge_below=0.5)
    got = list(classify([1.49, 1.5, 0.5, below(0.5), 1.3, 0.7], spec))
    assert got == ["expansion", "reshaping", "expansion", "huge", "expansion", "expansion"]


# pairs (actual, predicted), including the exact boundaries 120/100 and 80/100
SITUATIONS = [
    (120.0, 100.0),
    (80.0, 100.0),
    (121.0, 100.0),
    (119.0, 100.0),
    (81.0, 100.0),
    (79.0, 100.0),
    (100.0, 100.0),
    (3.0, 1.0),
    (1.0, 3.0),
    (0.0, 5.0),
    (6.0e9, 5.0e9),
    (4.0e9, 5.0e9),
]


@pytest.mark.parametrize("boundary", ["lower_inclusive", "upper_inclusive"])
def test_inverted_ratio_gives_the_same_tier_for_the_same_situation(boundary):
    straight = PotentialSpec(boundary=boundary)
    inverted = PotentialSpec(boundary=boundary, ratio="predicted_over_actual")
    actual = np.array([s[0] for s in SITUATIONS])
    predicted = np.array([s[1] for s in SITUATIONS])
    r_straight = potential_ratio(actual, predicted, straight)
    r_inverted = potential_ratio(actual, predicted, inverted)
    np.testing.assert_allclose(r_straight, actual / predicted)
    with np.errstate(divide="ignore"):
        np.testing.assert_allclose(r_inverted, predicted / actual)
    tiers_straight = list(classify(r_straight, straight))
    tiers_inverted = list(classify(r_inverted, inverted))
    assert tiers_straight == tiers_inverted, (
        f"same situations, different tiers: {tiers_straight} vs {tiers_inverted}"
    )
    # the list covers every tier, and the two exact boundaries differ between conventions
    assert set(tiers_straight) == set(TIERS)
    expected_edges = (
        ["reshaping", "expansion"] if boundary == "lower_inclusive" else ["expansion", "huge"]
    )
    assert tiers_straight[:2] == expected_edges, tiers_straight[:2]


def test_zero_actual_trade_is_huge_potential_either_way():
    for ratio in ("actual_over_predicted", "predicted_over_actual"):
        spec = PotentialSpec(ratio=ratio)
        r = potential_ratio([0.0], [5.0], spec)
        assert classify(r, spec)[0] == "huge", f"{ratio}: ratio {r[0]} not classed huge"


# ---------------------------------------------------------------------------- describe()

RULE = re.compile(r"(reshaping|expansion|huge potential): ([0-9.r<=> ]+?)(?:;|$| \()")


def stated_tier(text: str, r: float) -> str:
    """The tier the printed rule assigns to ``r`` (each condition evaluated as Python)."""
    matches = RULE.findall(text)
    assert [m[0] for m in matches] == ["reshaping", "expansion", "huge potential"], text
    hits = [
        name for name, cond in matches if eval(cond, {}, {"r": r})
    ]  # RULE admits digits, r, <, =, >
    assert len(hits) == 1, f"r = {r}: rule {text!r} matches {hits}"
    return hits[0].replace(" potential", "")


SPECS = [
    PotentialSpec(boundary=b, ratio=d, reshaping_at=hi, huge_below=lo)
    for b in ("lower_inclusive", "upper_inclusive")
    for d in ("actual_over_predicted", "predicted_over_actual")
    for hi, lo in ((1.2, 0.8), (1.5, 0.5))
]


@pytest.mark.parametrize(
    "spec", SPECS, ids=[f"{s.boundary}-{s.ratio}-{s.reshaping_at}" for s in SPECS]
)
def test_describe_states_thresholds_direction_and_agrees_with_classify(spec):
    text = spec.describe()
    direction = (
        "actual / predicted" if spec.ratio == "actual_over_predicted" else "predicted / actual"
    )
    assert text.startswith(f"ratio r = {direction}; "), text
    for threshold in (spec.reshaping_at, spec.huge_below):
        assert str(threshold) in text, f"threshold {threshold} not stated in {text!r}"
    hi, lo = spec.reshaping_at, spec.huge_below
    points = [lo / 2, lo, (lo + 1) / 2, 1.0, (hi + 1) / 2, hi, 2 * hi]
    if spec.ratio == "predicted_over_actual":
        # the rule is printed for the ratio shown, r = predicted / actual; 1/hi is rounded in
        # print, so only check its neighbourhood away from the rounding
        points = [1 / p for p in points if p != hi] + [1 / hi * 0.999, 1 / hi * 1.001]
    for r in points:
        printed = stated_tier(text, r)
        computed = classify([r], spec)[0]
        assert printed == computed, f"r = {r}: printed rule says {printed}, classify {computed}"


# ---------------------------------------------------------------------------- probabilities


def test_tier_probabilities_match_a_hand_count():
    # 8 draws x 3 rows; LOWER: >= 1.2 reshaping, < 0.8 huge
    draws = np.array(
        [
            [1.2, 0.5, 1.0],
            [1.3, 0.7, 1.1],
            [0.9, 0.8, 1.19],
            [2.0, 0.79, 0.81],
            [1.19, 0.1, 1.0],
            [1.5, 0.2, 5.0],
            [0.7, 0.3, 0.2],
            [1.2, 1.2, 1.0],
        ]
    )
    probs = tier_probabilities(draws, LOWER, axis=0)
    assert probs.shape == (3, 3), probs.shape
    expected = np.array(
        [
            [5 / 8, 2 / 8, 1 / 8],  # row 0: 1.2, 1.3, 2.0, 1.5, 1.2 | 0.9, 1.19 | 0.7
            [1 / 8, 1 / 8, 6 / 8],  # row 1: 1.2 | 0.8 | the rest
            [1 / 8, 6 / 8, 1 / 8],  # row 2: 5.0 | ... | 0.2
        ]
    )
    np.testing.assert_array_equal(probs, expected)
    np.testing.assert_allclose(probs.sum(axis=-1), 1.0)
    # the sample axis can be the last one
    np.testing.assert_array_equal(tier_probabilities(draws.T, LOWER, axis=1), expected)


def test_tier_probabilities_sum_to_one_on_random_draws():
    rng = np.random.default_rng(1)
    draws = np.exp(rng.normal(0.0, 0.4, size=(400, 6, 2)))
    probs = tier_probabilities(draws, UPPER)
    assert probs.shape == (6, 2, 3)
    np.testing.assert_allclose(probs.sum(axis=-1), 1.0, atol=1e-12)
    assert ((probs >= 0) & (probs <= 1)).all()


# ---------------------------------------------------------------------------- posterior


def test_posterior_potential_on_hand_made_draws():
    actual = np.array([100.0, 50.0])
    benchmark = np.array(
        [
            [50.0, 100.0],  # ratios 2.0, 0.5
            [80.0, 100.0],  # 1.25, 0.5
            [100.0, 125.0],  # 1.0, 0.4
            [200.0, 250.0],  # 0.5, 0.2
        ]
    )
    out = posterior_potential(actual, benchmark, LOWER, ci_prob=0.5)
    np.testing.assert_allclose(
        out["ratio_mean"], [(2 + 1.25 + 1 + 0.5) / 4, (0.5 + 0.5 + 0.4 + 0.2) / 4]
    )
    # equal-tailed 50 % interval, linear quantiles: sorted ratios of row 0 are 0.5, 1, 1.25, 2
    np.testing.assert_allclose(out["ratio_lo"][0], 0.5 + 0.75 * 0.5)
    np.testing.assert_allclose(out["ratio_hi"][0], 1.25 + 0.25 * 0.75)
    np.testing.assert_allclose(out["benchmark_mean"], [107.5, 143.75])
    # gap = benchmark - actual: negative when trade exceeds the benchmark
    np.testing.assert_allclose(out["gap_usd_mean"], [7.5, 93.75])
    np.testing.assert_allclose(out["gap_usd_lo"][1], 50.0)  # draws 50, 50, 75, 200
    np.testing.assert_allclose(out["gap_usd_hi"][1], 75 + 0.25 * 125)
    np.testing.assert_array_equal(out["p_reshaping"], [0.5, 0.0])
    np.testing.assert_array_equal(out["p_expansion"], [0.25, 0.0])
    np.testing.assert_array_equal(out["p_huge"], [0.25, 1.0])
    assert list(out["tier"]) == ["reshaping", "huge"], out["tier"]
    for key in ("ratio", "gap_usd"):
        lo, mid, hi = out[f"{key}_lo"], out[f"{key}_mean"], out[f"{key}_hi"]
        assert (lo <= mid).all() and (mid <= hi).all(), f"{key}: {lo} <= {mid} <= {hi} fails"


def test_posterior_gap_sign_follows_benchmark_minus_actual():
    actual = np.array([10.0, 10.0])
    bench = np.array([[20.0, 5.0], [30.0, 6.0], [25.0, 4.0]])
    out = posterior_potential(actual, bench, LOWER, ci_prob=0.9)
    assert out["gap_usd_mean"][0] > 0, "benchmark above actual: the gap must be positive"
    assert out["gap_usd_mean"][1] < 0, "benchmark below actual: the gap must be negative"
    assert out["gap_usd_hi"][1] < 0 < out["gap_usd_lo"][0]
    assert list(out["tier"]) == ["huge", "reshaping"]


def test_posterior_potential_inverted_ratio_same_tiers():
    rng = np.random.default_rng(3)
    actual = np.array([100.0, 100.0, 100.0])
    bench = np.exp(rng.normal(np.log([60.0, 100.0, 160.0]), 0.05, size=(500, 3)))
    straight = posterior_potential(actual, bench, LOWER, ci_prob=0.9)
    inverted = posterior_potential(
        actual, bench, PotentialSpec(ratio="predicted_over_actual"), ci_prob=0.9
    )
    assert list(straight["tier"]) == ["reshaping", "expansion", "huge"], straight["tier"]
    assert list(inverted["tier"]) == list(straight["tier"])
    for key in ("p_reshaping", "p_expansion", "p_huge", "gap_usd_mean"):
        np.testing.assert_allclose(inverted[key], straight[key], err_msg=key)
    np.testing.assert_allclose(inverted["ratio_mean"], (bench / actual).mean(axis=0))
