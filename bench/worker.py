"""One measured fit in a fresh process (called by the benchmark cases, not by hand).

    python bench/worker.py gravity-ours  OUT.nc DRAWS TUNE CHAINS
    python bench/worker.py gravity-bambi OUT.nc DRAWS TUNE CHAINS [TARGET_ACCEPT]

Fits the gravity-only model (observed covariates, no latent index) on the shipped data,
through our code (the spec's sampler: the cached JAX engine) or through bambi's default
``fit()`` (PyMC's NUTS; ``TARGET_ACCEPT`` overrides its 0.8), and writes
the parameters both share (:func:`bayes_gravity.model.baseline.gravity_parameters` /
:func:`bayes_gravity.model.baseline.bambi_parameters`) with the sampler statistics to ``OUT.nc``.
Prints one JSON line: in-process seconds from start to the end of sampling, and sampling
time.
"""

from __future__ import annotations

import json
import sys
import time

START = time.perf_counter()


def main(argv: list[str]) -> int:
    """Run one task; see the module docstring."""
    task, out = argv[0], argv[1]
    draws, tune, chains = (int(a) for a in argv[2:5])
    accept = {"target_accept": float(argv[5])} if len(argv) > 5 else {}
    import xarray as xr

    from bayes_gravity.config import load_spec
    from bayes_gravity.data.dataset import load_dataset
    from bayes_gravity.model.baseline import (
        bambi_parameters,
        baseline_spec,
        fit_bambi_baseline,
        gravity_parameters,
    )
    from bayes_gravity.model.gravity_model import GravityModel

    spec, _ = load_spec(None)
    data = load_dataset()
    fit_start = time.perf_counter()
    if task == "gravity-ours":
        model = GravityModel(baseline_spec(spec), data)
        model.prepare()
        assert model.inputs is not None
        # no prior draws: bambi's fit() does not make them either
        tree = model.fit(draws=draws, tune=tune, chains=chains, store_prior=False)
        params = gravity_parameters(tree, model.inputs.panel.observed_covariates)
        sampling = float(tree["posterior"].attrs.get("sampling_time", float("nan")))
    elif task == "gravity-bambi":
        # bambi's default fit(): PyMC's own NUTS (nuts_sampler=None), default options
        tree = fit_bambi_baseline(data, spec, draws=draws, tune=tune, chains=chains, **accept)
        params = bambi_parameters(tree)
        sampling = float(tree["posterior"].attrs.get("sampling_time", float("nan")))
    else:
        raise SystemExit(f"unknown task {task!r}")
    end = time.perf_counter()
    stats = tree["sample_stats"].to_dataset()
    keep = [v for v in ("diverging", "n_steps", "tree_depth", "depth") if v in stats]
    xr.DataTree.from_dict({"posterior": params, "sample_stats": stats[keep]}, name=task).to_netcdf(
        out, engine="h5netcdf"
    )
    print(
        json.dumps(
            {
                "process_seconds_to_end_of_sampling": end - START,
                "fit_seconds": end - fit_start,
                "sampling_seconds": sampling,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
