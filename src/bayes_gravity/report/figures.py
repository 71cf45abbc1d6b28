"""Figures of the report: matplotlib figures to embedded PNGs, shared axes and thinned draws.

Every figure is drawn with the Agg backend at a fixed DPI, so the same run gives the same bytes.
"""

from __future__ import annotations

import base64
import io
from typing import Any

import numpy as np

# Thinned draws for figures and derived summaries: enough for 5 %/95 % quantiles to 2 digits.
MAX_DRAWS = 2000


DPI = 90


TIER_COLOURS = {"reshaping": "#1b7837", "expansion": "#f1a340", "huge": "#b2182b"}


def figure_uri(fig: Any) -> str:
    """Encode a matplotlib figure as a PNG data URI and close it (no metadata: same bytes)."""
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None}, bbox_inches="tight")
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def collection_uri(plot: Any) -> str:
    """Encode an arviz_plots PlotCollection drawn with the matplotlib backend."""
    from matplotlib.ticker import MaxNLocator

    fig = plot.get_viz("figure")
    fig = fig.item() if hasattr(fig, "item") else fig
    for ax in fig.axes:  # chains are whole numbers (the E-BFMI panel)
        if ax.get_ylabel() == "Chain":
            ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    return figure_uri(fig)


def thin_draws(da: Any, rng: np.random.Generator) -> np.ndarray:
    """Stacked draws (sample, ...) of a DataArray, thinned to at most ``MAX_DRAWS``."""
    values = np.asarray(da.stack(sample=("chain", "draw")).transpose("sample", ...).values)
    if len(values) > MAX_DRAWS:
        values = values[np.sort(rng.choice(len(values), MAX_DRAWS, replace=False))]
    return values


def year_axis(axes: Any) -> None:
    """Whole years on the x axis (no 2002.5)."""
    from matplotlib.ticker import MaxNLocator

    for ax in np.ravel(axes):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True, nbins=6))


def plain_log_axis(axes: Any, subs: tuple[float, ...] = (1.0,)) -> None:
    """Log-scale y axes labelled 0.1, 1, 10 instead of 10^-1, 10^0, 10^1.

    ``subs = (1, 3)`` adds 0.3, 3, 30: for panels whose range spans about a decade.
    """
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    for ax in np.ravel(axes):
        ax.yaxis.set_major_locator(LogLocator(base=10, subs=subs))
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.yaxis.set_minor_formatter(NullFormatter())


def partner_flow_grid(
    partners: list[str], row_height: float
) -> tuple[Any, Any, list[tuple[str, str, Any]]]:
    """One row of panels per partner, exports left and imports right, sharing the years."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(
        len(partners), 2, figsize=(11, row_height * len(partners)), squeeze=False, sharex=True
    )
    cells = [
        (partner, flow, axes[i, j])
        for i, partner in enumerate(partners)
        for j, flow in enumerate(("export", "import"))
    ]
    return fig, axes, cells
