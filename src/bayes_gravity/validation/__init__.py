"""The validation layer: does the model recover what it is given? Synthetic data only.

Owns the simulator of datasets with known parameters (:mod:`.simulate`), simulation-based
calibration (:mod:`.calibration`, on Dask) and parameter recovery (:mod:`.recovery`). Every
dataset it writes says it is SYNTHETIC. It may import the model and classic layers, data and
the foundation; never results (a peer), the report, the API or the CLI.
"""
