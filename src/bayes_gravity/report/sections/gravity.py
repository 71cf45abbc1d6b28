"""Section 5: gravity coefficients, Bayesian beside the classic OLS / random effects."""

from __future__ import annotations

import numpy as np
import pandas as pd

from bayes_gravity.model.gravity_model import GravityModel
from bayes_gravity.report.figures import figure_uri
from bayes_gravity.report.inputs import ReportInputs, SavedClassic
from bayes_gravity.report.section import SECTIONS, Section

CLASSIC_LABELS = {"pooled_ols": "pooled OLS", "random_effects": "random effects"}


def gravity_section(inp: ReportInputs, classic: SavedClassic) -> Section:
    """Build section 5: Bayesian coefficients beside the classic OLS / random effects."""
    import matplotlib.pyplot as plt

    sec = Section("gravity", dict(SECTIONS)["gravity"])
    spec = inp.model.spec
    sec.intro.append(
        "Elasticities and semi-elasticities of trade (log US$) with respect to each "
        "determinant. Covariates are centred, so the intercept is log trade at the sample "
        "means. Partner effects are partially pooled random intercepts, so time-invariant "
        "pair variables (log distance, contiguity) are identified mostly by their priors; read "
        "them with that in mind. Classic estimates: pooled OLS with HC1 robust standard errors "
        "and random effects (GLS) per partner-flow series, on the PCA index; their intervals "
        f"are estimate ± {_z(spec.ci_prob):.3f} standard errors."
    )
    coefs = inp.tables["coefficients.csv"]
    bayes = coefs[~coefs["term"].str.startswith(("sigma", "nu", "intercept", "gamma"))]
    cl = classic.coefficients
    # The study's flow dummy (import = 1) is the same contrast as the Bayesian beta_import.
    cl = cl.assign(term=cl["term"].replace({"flow_import": "import"}))
    terms = list(bayes["term"])
    z = _z(spec.ci_prob)
    fig, ax = plt.subplots(figsize=(10, 0.55 * len(terms) + 1.2))
    y = np.arange(len(terms))
    ax.errorbar(
        bayes["mean"],
        y,
        xerr=[bayes["mean"] - bayes["lo"], bayes["hi"] - bayes["mean"]],
        fmt="o",
        color="#2166ac",
        label=f"Bayesian (mean, {spec.ci_prob:.0%})",
    )
    for offset, model, colour in (
        (0.2, "pooled_ols", "#d6604d"),
        (0.35, "random_effects", "#4d9221"),
    ):
        part = cl[cl["model"] == model].set_index("term")
        est = part["estimate"].reindex(terms).to_numpy(dtype=float)
        se = part["std_error"].reindex(terms).to_numpy(dtype=float)
        ax.errorbar(
            est,
            y + offset,
            xerr=z * se,
            fmt="s",
            ms=4,
            color=colour,
            label=f"{CLASSIC_LABELS[model]} (± {z:.3g} SE)",
        )
    ax.axvline(0, color="0.6", lw=0.5)
    ax.set_yticks(y + 0.15, terms, fontsize=9)
    ax.invert_yaxis()
    ax.legend(fontsize=8, loc="best")
    ax.set_xlabel("coefficient on log trade")
    fig.tight_layout()
    sec.figure(
        figure_uri(fig), "Bayesian intervals next to the classic OLS and random-effects estimates."
    )
    rows = []
    for term in terms:
        b = bayes[bayes["term"] == term].iloc[0]
        row = {
            "term": term,
            f"Bayesian mean [{spec.ci_prob:.0%} interval]": (
                f"{b['mean']:+.3f} [{b['lo']:+.3f}, {b['hi']:+.3f}]"
            ),
            "P(coefficient > 0)": _p_positive(inp.model, term),
        }
        for model in ("pooled_ols", "random_effects"):
            part = cl[(cl["model"] == model) & (cl["term"] == term)]
            row[f"{CLASSIC_LABELS[model]} (p-value)"] = (
                "–"
                if part.empty
                else f"{part['estimate'].iloc[0]:+.3f} (p={part['p_value'].iloc[0]:.3f})"
            )
        rows.append(row)
    sec.table("Gravity coefficients", pd.DataFrame(rows))
    scales = coefs[coefs["term"].str.startswith(("sigma", "nu", "intercept", "gamma"))]
    sec.table(
        "Intercept and scale parameters",
        pd.DataFrame(
            {
                "parameter": scales["term"],
                "mean [interval]": [
                    f"{r.mean:.3f} [{r.lo:.3f}, {r.hi:.3f}]" for r in scales.itertuples()
                ],
            }
        ),
    )
    sec.notes.append(
        f"Classic regressions use {classic.n_obs} rows; "
        + "; ".join(classic.exclusions + classic.warnings or ["no exclusions"])
        + "."
    )
    return sec


def _z(prob: float) -> float:
    from scipy.stats import norm

    return float(norm.ppf(0.5 + prob / 2))


def _p_positive(model: GravityModel, term: str) -> str:
    posterior = model.idata["posterior"].to_dataset()
    name = f"beta_{term}"
    if name not in posterior:
        return "–"
    return f"{float((posterior[name] > 0).mean()):.3f}"
