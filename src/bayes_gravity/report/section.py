"""One report section (heading, text, figures, tables, warnings) and the formats sections share."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from bayes_gravity.model.gravity_model import GravityModel
from bayes_gravity.report.inputs import ReportInputs

MAX_PARTNER_PANELS = 12  # per-partner figures beyond this show the largest partners by trade


TIER_LABELS = {
    "reshaping": "potential reshaping",
    "expansion": "potential expansion",
    "huge": "huge potential",
}


CHECK_LABELS = {
    "r_hat": ("R-hat (max)", "Gelman-Rubin split R-hat: do the chains agree?"),
    "ess_bulk": ("Bulk ESS (min)", "effective sample size for means and medians"),
    "ess_tail": ("Tail ESS (min)", "effective sample size for the 5 % and 95 % quantiles"),
    "divergences": ("Divergent transitions", "sampler steps that failed: a biased posterior"),
    "e_bfmi": ("E-BFMI (min over chains)", "energy Bayesian fraction of missing information"),
    "tree_depth_saturation": (
        "Tree-depth saturation",
        "share of draws that hit the maximum NUTS tree depth (reported, not gated)",
    ),
    "pareto_k": (
        "PSIS-LOO Pareto k (max)",
        "influential observations: reliability of leave-one-out (does not gate the fit)",
    ),
}


SECTIONS = (
    ("metadata", "1. Run and data"),
    ("diagnostics", "2. Sampler diagnostics"),
    ("checks", "3. Prior and posterior predictive checks"),
    ("index", "4. CBEC development index"),
    ("gravity", "5. Gravity coefficients: Bayesian vs classic"),
    ("potential", "6. Trade potential and tiers"),
    ("comparison", "7. Model comparison (PSIS-LOO)"),
    ("holdout", "8. Out-of-sample check"),
    ("scenarios", "9. Scenarios"),
)


def num(value: Any, digits: int = 3) -> str:
    """Format a number for a table cell; blanks for missing values."""
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "–"
    if isinstance(value, bool | np.bool_):
        return "yes" if value else "no"
    if isinstance(value, int | np.integer):
        return str(int(value))
    return f"{float(value):.{digits}g}"


def usd(value: Any, sign: int = 1) -> str:
    """US$ (times ``sign``) with a unit word: 1.23 bn, 456 m."""
    value = sign * float(value)
    if not np.isfinite(value):
        return "–"
    minus = "−" if value < 0 else ""
    value = abs(value)
    if value >= 1e9:
        return f"{minus}{value / 1e9:.2f} bn"
    return f"{minus}{value / 1e6:.0f} m"


def shown_partners(inp: ReportInputs, partners: list[str], sec: Section) -> list[str]:
    """``partners``, or the ``MAX_PARTNER_PANELS`` largest by total trade (noted in ``sec``).

    A figure with a panel or bar per partner is unreadable and slow to draw for a large
    panel (200 partners); the section's tables still list every partner.
    """
    if len(partners) <= MAX_PARTNER_PANELS:
        return partners
    assert inp.model.inputs is not None
    totals = inp.model.inputs.trade.groupby("partner")["value_usd"].sum()
    largest = totals.reindex(partners).fillna(0.0).sort_values(ascending=False, kind="stable")
    note = (
        f"Per-partner figures show the {MAX_PARTNER_PANELS} largest of {len(partners)} partners "
        "by total trade; the tables list every partner."
    )
    if note not in sec.notes:
        sec.notes.append(note)
    return sorted(largest.index[:MAX_PARTNER_PANELS])


def reporter_label(model: GravityModel) -> str:
    """Return the reporter's ISO3 code (or "reporter" when there are several) for titles."""
    assert model.inputs is not None
    reporters = model.inputs.panel.reporters
    return reporters[0] if len(reporters) == 1 else "reporter"


@dataclass
class Section:
    """One report section: heading, plain explanation, figures, tables and warnings."""

    key: str
    title: str
    intro: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    figures: list[dict[str, str]] = field(default_factory=list)
    tables: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    details: list[dict[str, str]] = field(default_factory=list)

    def table(self, caption: str, frame: pd.DataFrame, classes: list[str] | None = None) -> None:
        """Add a table of strings (already formatted); ``classes`` per row for colouring."""
        self.tables.append(
            {
                "caption": caption,
                "columns": [str(c) for c in frame.columns],
                "rows": frame.astype(str).to_numpy().tolist(),
                "classes": classes or [""] * len(frame),
            }
        )

    def figure(self, uri: str, caption: str) -> None:
        """Add an embedded figure with its caption."""
        self.figures.append({"uri": uri, "caption": caption})


def key_vars(posterior: Any) -> list[str]:
    """Scalar parameters the economist reads: slopes, intercept, scales, tail weight."""
    names = [str(n) for n in posterior.data_vars]
    keys = [n for n in names if n.startswith("beta_") and posterior[n].ndim == 2]
    keys += [n for n in ("intercept", "sigma", "sigma_partner", "nu") if n in names]
    return keys


def gate_warning(inp: ReportInputs) -> list[str]:
    """Return the loud warning a section carries when the diagnostics gate failed."""
    if inp.diagnostics.get("passed", False):
        return []
    return [
        "The diagnostics gate FAILED (section 2): these rankings and classifications come from "
        "a posterior that may be wrong. Do not report them before refitting."
    ]
