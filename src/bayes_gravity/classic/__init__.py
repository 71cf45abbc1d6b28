"""The classic layer: the study's own pipeline, reproduced as it was published.

Owns the PCA index (:mod:`.pca_index`: gap filling, eigenvalue rule, composite score) and
the pooled OLS / random-effects gravity regressions with their point tiers
(:mod:`.study`). The Bayesian results are read next to these. It may import the data layer
and the foundation (config, errors, io, potential), never the model layer (a peer), results,
report, validation, the API or the CLI.
"""
