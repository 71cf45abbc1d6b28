"""Whole partners, flows or years that lose every trade row on the way to the likelihood.

Rows are left out one by one for a reason (a covariate missing in that year, zero trade under
a log likelihood); when every row of a partner, a partner's flow or a year goes, the results
silently lack it (``potential.csv`` without the partner). Such a group is a :class:`Drop`:
named with its reason in the command's summary, in ``diagnostics.json`` (``dropped``) and at
the top of the report; ``fit --strict`` refuses it unless the spec sets
``data.allow_drops = true``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import pandas as pd

from bayes_gravity.errors import DataError


@dataclass(frozen=True)
class Drop:
    """A partner, partner x flow or year without any row left, and why."""

    level: str  # "partner", "flow" or "year"
    key: str  # "MMR", "MMR import", "2003"
    rows: int
    reason: str

    def describe(self) -> str:
        """One line: what went, how many rows, why."""
        return f"{self.level} {self.key}: all {self.rows} trade row(s) dropped: {self.reason}"

    def to_json(self) -> dict[str, Any]:
        """Return a plain dict (for ``diagnostics.json``)."""
        return asdict(self)


def _reason(reasons: pd.Series) -> str:
    counts = reasons.value_counts(sort=True)
    if len(counts) == 1:
        return f"{counts.index[0]} (every row)"
    return "; ".join(f"{reason} ({n} row(s))" for reason, n in counts.items())


def find_drops(rows: pd.DataFrame) -> list[Drop]:
    """Find the groups of ``rows`` without a kept row (``reason`` is ``""`` where kept).

    A partner lost whole is listed once, not again for each flow; a year is listed when no
    partner keeps a row in it.
    """
    kept = rows["reason"] == ""
    drops: list[Drop] = []
    lost_partners: set[str] = set()
    for partner, group in rows.groupby("partner", sort=True):
        if not kept[group.index].any():
            lost_partners.add(str(partner))
            drops.append(Drop("partner", str(partner), len(group), _reason(group["reason"])))
    for keys, group in rows.groupby(["partner", "flow"], sort=True):
        p, flow = (str(k) for k in keys)
        if p not in lost_partners and not kept[group.index].any():
            drops.append(Drop("flow", f"{p} {flow}", len(group), _reason(group["reason"])))
    for year, group in rows.groupby("year", sort=True):
        if not kept[group.index].any():
            drops.append(Drop("year", str(year), len(group), _reason(group["reason"])))
    return drops


def refuse_drops(drops: list[Drop], allowed: bool, source: str) -> None:
    """Raise :class:`DataError` listing ``drops`` unless the spec allows them (``--strict``)."""
    if drops and not allowed:
        raise DataError(
            f"fit --strict: {len(drops)} group(s) of trade rows would be dropped whole; supply "
            f"the missing data, or set `allow_drops = true` under [data] in {source} to fit "
            "without them; nothing was fitted",
            [d.describe() for d in drops],
        )
