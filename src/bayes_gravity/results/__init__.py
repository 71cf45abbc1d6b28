"""The results layer: what a fit means, and the run folder that keeps it.

Owns the run folder as a store (:mod:`.store`: one commit per fit, loading a run back) and
the one list of its file names (:mod:`.artefacts`), the diagnostics gate
(:mod:`.diagnostics`), the tables of a fit (:mod:`.tables`: index, loadings, coefficients,
potential, classic), posterior draws as arrays (:mod:`.draws`), predictions
(:mod:`.predict`), scenarios, the holdout check and the PSIS-LOO comparison. It may import
the model and classic layers, data and the foundation; never the report, validation (a
peer), the API or the CLI.
"""
