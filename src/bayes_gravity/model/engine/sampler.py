"""``nuts_sampler = "blackjax"``: cached whole-chain JAX programs, run in parallel threads.

:func:`sample` returns the DataTree ``pm.sample`` would (posterior, sample_stats,
log_likelihood, observed and constant data). On a warm cache it neither imports PyMC nor
builds the model: it deserialises the chain program, lets JAX's persistent cache supply the
executable, and runs the chains. On a cold cache it calls ``build_model()``, traces and
exports the program, stores it, then runs the stored bytes exactly as a warm run would.

Chains (``[sampler.nuts] chain_method``, PyMC's name): ``"parallel"`` (the default on a CPU)
runs each chain as one call of the same executable, ``cores`` at a time in threads (XLA
releases the GIL while it runs), so a chain's draws depend on its key only, not on how many
run at once; ``"vectorized"`` (the default on a GPU) runs all chains in one call, vectorised
with ``jax.vmap``, which fills a GPU but waits for the longest trajectory at every step.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from bayes_gravity.model.engine import cache
from bayes_gravity.model.engine.driver import METRICS, ChainSettings
from bayes_gravity.model.engine.pathfinder import INITS, resample

log = logging.getLogger(__name__)

PROGRAM_FILE = "chain.jaxexport"
INIT_FILE = "init.jaxexport"
META_FILE = "meta.json"
DATA_FILE = "data.npz"
# Compile and load times of the last call in this process, for the benchmarks.
LAST_TIMES: dict[str, float] = {}
_JAX_LOCK = threading.Lock()
_CONFIGURED: list[bool] = []


# Chains run in parallel threads, one XLA computation each: intra-op threads inside a
# computation would only compete with the other chain (12 % slower per leapfrog step here).
CPU_FLAGS = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"


def configure_jax() -> Any:
    """Import JAX with float64 and its persistent compilation cache in the cache folder."""
    if "jax" not in sys.modules:  # flags are read when JAX starts its CPU client
        os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {CPU_FLAGS}".strip()
    import jax

    with _JAX_LOCK:
        if not _CONFIGURED:
            jax.config.update("jax_enable_x64", True)
            if jax.config.jax_compilation_cache_dir is None:  # a user's own setting wins
                jax.config.update("jax_compilation_cache_dir", str(cache.cache_dir() / "xla"))
            # every program is cached, however quick to compile (the docs' quick start)
            jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
            jax.config.update("jax_persistent_cache_min_entry_size_bytes", -1)
            _CONFIGURED.append(True)
    return jax


def chain_settings(tune: int, draws: int, target_accept: float, nuts: dict[str, Any]) -> Any:
    """Build the static chain settings from ``pm.sample``-style options (``nuts``: extras)."""
    from bayes_gravity.errors import ConfigError

    allowed = {"max_treedepth", "metric", "target_accept", "chain_method", "init"}
    unknown = sorted(set(nuts) - allowed)
    if unknown:
        raise ConfigError(
            f"sampler.nuts: option(s) {unknown} are not understood by nuts_sampler = "
            f"'blackjax' (allowed: {', '.join(sorted(allowed - {'target_accept'}))})"
        )
    metric = str(nuts.get("metric", "low_rank"))
    if metric not in METRICS:
        raise ConfigError(f"sampler.nuts.metric: {metric!r} is not one of {METRICS}")
    init = str(nuts.get("init", "pathfinder"))
    if init not in INITS:
        raise ConfigError(f"sampler.nuts.init: {init!r} is not one of {INITS}")
    return ChainSettings(
        tune=int(tune),
        draws=int(draws),
        target_accept=float(nuts.get("target_accept", target_accept)),
        max_treedepth=int(nuts.get("max_treedepth", 10)),
        metric=metric,
        init=init,
    )


def _save(folder: Path, exported: Any, exported_init: Any, meta: Any) -> None:
    (folder / PROGRAM_FILE).write_bytes(bytes(exported.serialize()))
    if exported_init is not None:
        (folder / INIT_FILE).write_bytes(bytes(exported_init.serialize()))
    (folder / META_FILE).write_text(json.dumps(meta.to_json(), sort_keys=True), encoding="utf-8")
    arrays = {f"observed::{k}": v for k, v in meta.observed_data.items()}
    arrays.update({f"constant::{k}": v for k, v in meta.constant_data.items()})
    arrays["engine::initial_point"] = meta.initial_point
    np.savez(folder / DATA_FILE, **arrays)


GROUPS = {"observed": "observed_data", "constant": "constant_data", "engine": "engine"}


def _load(folder: Path) -> tuple[Any, dict[str, Any], dict[str, dict[str, np.ndarray]]]:
    """Load ``(programs, meta, data)``: ``programs`` holds ``chain`` and, if stored, ``init``."""
    jax = configure_jax()
    programs = {"chain": jax.export.deserialize(bytearray((folder / PROGRAM_FILE).read_bytes()))}
    if (folder / INIT_FILE).is_file():
        programs["init"] = jax.export.deserialize(bytearray((folder / INIT_FILE).read_bytes()))
    meta = json.loads((folder / META_FILE).read_text(encoding="utf-8"))
    data: dict[str, dict[str, np.ndarray]] = {group: {} for group in GROUPS.values()}
    with np.load(folder / DATA_FILE, allow_pickle=False) as arrays:
        for name in arrays.files:
            group, var = name.split("::", 1)
            data[GROUPS[group]][var] = arrays[name]
    return programs, meta, data


def load_or_build(
    key: str,
    build_model: Callable[[], Any],
    settings: ChainSettings,
    log_likelihood: list[str],
    inputs: dict[str, np.ndarray],
    batch: int | None = None,
) -> tuple[Any, dict[str, Any], dict[str, dict[str, np.ndarray]], bool]:
    """Load the stored program for ``key``; build and store it first when it is missing.

    Returns ``(programs, meta, data, built)``.
    """
    folder = cache.entry("programs", key)
    if (folder / PROGRAM_FILE).is_file():
        try:
            return (*_load(folder), False)
        except Exception as err:  # a damaged or foreign entry: rebuild it
            cache.discard("programs", key, f"{type(err).__name__}: {err}")
    configure_jax()
    from bayes_gravity.model.engine.program import build_program

    exported, exported_init, meta = build_program(
        build_model(), settings, log_likelihood, inputs, batch
    )
    folder = cache.commit_folder(
        "programs", key, lambda tmp: _save(tmp, exported, exported_init, meta)
    )
    return (*_load(folder), True)


def chain_keys(seed: int, chains: int) -> np.ndarray:
    """Key data of each chain: ``jax.random.split`` of the seed's key (chains x 2 uint32)."""
    jax = configure_jax()
    keys = jax.random.split(jax.random.key(int(seed)), chains)
    return np.asarray(jax.random.key_data(keys))


def init_key(seed: int) -> np.ndarray:
    """Key data of the Pathfinder initialisation, apart from every chain's key."""
    jax = configure_jax()
    return np.asarray(jax.random.key_data(jax.random.fold_in(jax.random.key(int(seed)), 1)))


def sample(
    build_model: Callable[[], Any],
    key_parts: dict[str, Any],
    *,
    draws: int,
    tune: int,
    chains: int,
    cores: int | None,
    random_seed: int,
    target_accept: float = 0.8,
    nuts: dict[str, Any] | None = None,
    log_likelihood: tuple[str, ...] = (),
    data: dict[str, np.ndarray] | None = None,
    progressbar: bool = False,
    **_: Any,
) -> Any:
    """Sample with the cached blackjax chain program; return the DataTree.

    ``build_model()`` returns the ``pm.Model`` (called only on a cache miss); ``key_parts``
    identify it (the spec's model part and the data hash). ``data`` gives values of
    ``pm.Data`` variables that are arguments of the program (the same program serves every
    value). Other ``pm.sample`` keywords are accepted and ignored.
    """
    data = {name: np.asarray(value) for name, value in (data or {}).items()}
    jax = configure_jax()
    nuts = dict(nuts or {})
    settings = chain_settings(tune, draws, target_accept, nuts)
    platform = jax.default_backend()
    method = str(nuts.get("chain_method", "parallel" if platform == "cpu" else "vectorized"))
    if method not in ("parallel", "vectorized"):
        from bayes_gravity.errors import ConfigError

        raise ConfigError(
            f"sampler.nuts.chain_method: {method!r} is not 'parallel' or 'vectorized'"
        )
    batch = chains if method == "vectorized" else None
    key = cache.make_key(
        {
            **key_parts,
            "settings": settings._asdict(),
            "batch": batch,
            "log_likelihood": sorted(log_likelihood),
            "inputs": {k: [list(v.shape), str(v.dtype)] for k, v in sorted(data.items())},
            "platform": platform,
            "engine": "blackjax-chain",
        }
    )
    start = time.perf_counter()
    programs, meta, stored, built = load_or_build(
        key, build_model, settings, list(log_likelihood), data, batch
    )
    loaded = time.perf_counter()
    arguments = [data[name] for name in meta["inputs"]]
    key_spec = jax.ShapeDtypeStruct((2,), np.uint32)
    value_specs = [jax.ShapeDtypeStruct(a.shape, a.dtype) for a in arguments]
    initial_point = stored["engine"]["initial_point"]
    start_spec = jax.ShapeDtypeStruct(initial_point.shape, initial_point.dtype)
    if batch is not None:
        key_spec, start_spec = (
            jax.ShapeDtypeStruct((batch, *spec.shape), spec.dtype)
            for spec in (key_spec, start_spec)
        )
    compiled = jax.jit(programs["chain"].call).lower(key_spec, start_spec, *value_specs).compile()
    ready = time.perf_counter()
    LAST_TIMES.update(
        built=float(built), program_seconds=loaded - start, compile_seconds=ready - loaded
    )

    keys = chain_keys(random_seed, chains)
    init_stats: dict[str, Any] = {"init": settings.init}
    if settings.init == "pathfinder":
        initialise = jax.jit(programs["init"].call).lower(
            jax.ShapeDtypeStruct((2,), np.uint32), *value_specs
        )
        found = jax.block_until_ready(initialise.compile()(init_key(random_seed), *arguments))
        starts = resample(found, chains, random_seed)
        init_stats.update(
            init_pareto_k=float(found["pareto_k"]),
            init_path_elbo=[float(e) for e in np.ravel(found["elbo"])],
        )
    else:
        starts = np.tile(initial_point, (chains, 1))
    initialised = time.perf_counter()
    LAST_TIMES["init_seconds"] = initialised - ready

    def run(c: int) -> dict[str, np.ndarray]:
        out = compiled(keys[c], starts[c], *arguments)
        out = jax.block_until_ready(out)
        if progressbar:
            log.warning("chain %d of %d done", c + 1, chains)
        return {name: np.asarray(value) for name, value in out.items()}

    workers = max(1, min(int(cores or min(chains, 2)), chains))
    if batch is not None:
        together = jax.block_until_ready(compiled(keys, starts, *arguments))
        results = [{k: np.asarray(v[c]) for k, v in together.items()} for c in range(chains)]
    elif workers == 1:
        results = [run(c) for c in range(chains)]
    else:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            results = list(pool.map(run, range(chains)))
    sampled = time.perf_counter()
    LAST_TIMES["sampling_seconds"] = sampled - initialised
    tree = _to_datatree(results, meta, stored, settings, sampled - initialised)
    tree["posterior"].attrs.update(init_stats)
    # whether this run traced and stored the program (a cold cache) or loaded it (warm)
    tree["posterior"].attrs["engine_program"] = "built" if built else "loaded"
    return tree


def _to_datatree(
    results: list[dict[str, np.ndarray]],
    meta: dict[str, Any],
    data: dict[str, dict[str, np.ndarray]],
    settings: ChainSettings,
    seconds: float,
) -> Any:
    """Assemble the chains' arrays into the DataTree ``pm.sample`` returns.

    Built with xarray directly: ``arviz_base.from_dict`` took 1.4 s for this on the shipped
    data, most of a warm fit's post-processing.
    """
    import xarray as xr

    chains = len(results)
    draws = settings.draws

    def dataset(arrays: dict[str, np.ndarray], sampled: bool) -> xr.Dataset:
        variables = {}
        coords: dict[str, Any] = {}
        if sampled:
            coords = {"chain": np.arange(chains), "draw": np.arange(draws)}
        for name, values in arrays.items():
            lead = ["chain", "draw"] if sampled else []
            extra = values.ndim - len(lead)
            dims = list(meta["dims"].get(name, []))[:extra]
            dims += [f"{name}_dim_{i}" for i in range(len(dims), extra)]
            variables[name] = (lead + dims, values)
            for dim in dims:
                if dim in meta["coords"] and dim not in coords:
                    coords[dim] = meta["coords"][dim]
        return xr.Dataset(variables, coords=coords)

    def stacked(name: str) -> np.ndarray:
        return np.stack([r[name] for r in results])

    groups = {
        "posterior": dataset({n: stacked(n) for n in meta["posterior_vars"]}, True),
        "sample_stats": dataset(
            {k.removeprefix("stat::"): stacked(k) for k in results[0] if k.startswith("stat::")},
            True,
        ),
    }
    if meta["log_likelihood_vars"]:
        loglik = {n: stacked(f"loglik::{n}") for n in meta["log_likelihood_vars"]}
        groups["log_likelihood"] = dataset(loglik, True)
    for group in ("observed_data", "constant_data"):  # not the engine's own arrays
        if data[group]:
            groups[group] = dataset(data[group], False)
    groups["posterior"].attrs.update(
        sampling_time=float(seconds),
        tuning_steps=settings.tune,
        inference_library="blackjax",
        mass_matrix=settings.metric,
        tuning_leapfrog_steps=int(sum(int(r["tuning::n_steps"]) for r in results)),
    )
    return xr.DataTree.from_dict(groups)
