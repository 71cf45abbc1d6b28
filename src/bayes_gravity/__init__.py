"""bayes_gravity: Bayesian trade-potential toolkit.

Latent-factor index of cross-border e-commerce (CBEC) development, hierarchical gravity model
and trade-potential tiers, each with posterior uncertainty; plus the classic PCA / OLS
pipeline. The package's front door is :mod:`bayes_gravity.api`, whose names are exported
here (``bg.load_spec``, ``bg.load_dataset``, ``bg.fit``, ``bg.load_run``, ``bg.Run``), and
imported on first use, so that ``import bayes_gravity`` stays light. Layers, top to bottom:
cli, api, report, results / validation, model / classic, data, foundation (config, errors,
io, potential); see ``docs/architecture.md``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["Run", "fit", "load_dataset", "load_run", "load_spec"]

if TYPE_CHECKING:
    from bayes_gravity.api import Run, fit, load_dataset, load_run, load_spec


def __getattr__(name: str) -> Any:
    """Import the API on first use of one of its names (PEP 562)."""
    if name in __all__:
        from bayes_gravity import api

        return getattr(api, name)
    raise AttributeError(f"module 'bayes_gravity' has no attribute {name!r}")
