"""bayes_gravity: Bayesian trade-potential toolkit.

Latent-factor index of cross-border e-commerce (CBEC) development, hierarchical gravity model and
trade-potential tiers, each with posterior uncertainty; plus the classic PCA / OLS pipeline.
Heavy modules (PyMC, ArviZ) are imported lazily by the functions that need them.
"""

__version__ = "0.1.0"
