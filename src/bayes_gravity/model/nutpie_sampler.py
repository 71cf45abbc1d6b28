"""nutpie without the per-process compile: PyTensor's cached numba functions behind nutpie.

``pm.sample(nuts_sampler="nutpie")`` hands the model to ``nutpie.compile_pymc_model``, which
wraps PyTensor's numba log-density in a ``numba.cfunc``. That wrapper cannot be cached (it
embeds the data as dynamic globals) and compiling it recompiles the whole log-density: 65-80
s of the default fit, paid again in every process. PyTensor itself caches the numba
functions it generates on disk (``pytensor.config.base_compiledir``/numba, keyed by the
graph), so loading them in a later process takes about a second.

This module gives nutpie those cached functions through its Python-function interface
(``nutpie.compiled_pyfunc.from_pyfunc``), as nutpie's own JAX backend does. Each call enters
Python, but the numba functions are built with ``nogil=True`` (under their own cache key), so
two chains' threads can evaluate the log-density at the same time: on the shipped data
sampling took 35 s with it against 47 s without (4 x 2500 iterations, quiet 2-core machine,
identical draws). The sampler, its settings and the
returned DataTree are nutpie's, patched the way ``pm.sample`` patches them (constant and
observed data, sampling time), so the rest of the package cannot tell the two paths apart.

Cost of the indirection: one Python call per gradient. Measured on the shipped data: 56 us
inside the log-density and about 40 us in nutpie's Python-function plumbing per gradient.
"""

from __future__ import annotations

import time
import types
from typing import Any

import numpy as np
from pytensor.compile.mode import NUMBA, Mode
from pytensor.link.numba.cache import CACHED_SRC_FUNCTIONS
from pytensor.link.numba.dispatch.basic import numba_njit
from pytensor.link.numba.linker import NumbaLinker

# First-call compile (cold cache) and load (warm cache) times of the last compile in this
# process, for the benchmarks.
LAST_COMPILE: dict[str, float] = {}


class NogilNumbaLinker(NumbaLinker):
    """PyTensor's numba linker, with the final function compiled ``nogil=True``.

    PyTensor compiles every graph into one final numba function, cached on disk under a key
    of the graph. numba's cache index does not tell a ``nogil`` build from a plain one, so the
    ``nogil`` build is registered under its own key (the graph's key + ``_nogil``): a plain
    build cached by other code is never loaded in its place.
    """

    def jit_compile(self, fn_and_cache: Any) -> Any:
        """Compile the graph's final function ``nogil=True``, cached under its own key."""
        fn, _ = fn_and_cache
        py_func = fn.py_func
        key = CACHED_SRC_FUNCTIONS.get(py_func)
        if key is None:  # a graph PyTensor cannot cache: plain nogil compile
            return numba_njit(py_func, final_function=True, nogil=True)
        twin = types.FunctionType(
            py_func.__code__, py_func.__globals__, py_func.__name__, py_func.__defaults__
        )
        twin.__source__ = getattr(py_func, "__source__", None)  # type: ignore[attr-defined]
        CACHED_SRC_FUNCTIONS[twin] = f"{key}_nogil"
        return numba_njit(twin, final_function=True, cache=True, nogil=True)


def nogil_numba_mode() -> Mode:
    """PyTensor's NUMBA mode (same rewrites) with :class:`NogilNumbaLinker`."""
    return Mode(linker=NogilNumbaLinker(), optimizer=NUMBA.provided_optimizer)


def compile_model(model: Any) -> Any:
    """Compile ``model`` for nutpie from PyTensor's (disk-cached) numba functions."""
    import nutpie.compile_pymc as ncp
    from nutpie.compiled_pyfunc import from_pyfunc
    from pymc.initial_point import make_initial_point_fn

    start = time.perf_counter()
    # nutpie's defaults: support points, jittered. A PyTensor function is not thread-safe
    # and nutpie's chain threads call this one concurrently: serialise it, as nutpie does.
    initial = ncp._wrap_with_lock(
        make_initial_point_fn(
            model=model,
            default_strategy="support_point",
            jitter_rvs=set(model.free_RVs),
            return_transformed=True,
        )
    )
    # private helper of nutpie 0.16 (the same call its numba and JAX backends make)
    n_dim, _, logp_pt, expand_pt, initial_point, shape_info, reparameterized = ncp._make_functions(
        model,
        mode=nogil_numba_mode(),
        compute_grad=True,
        join_expanded=False,
        pymc_initial_point_fn=initial,
    )
    graphs = time.perf_counter()
    logp_fn, expand_fn = logp_pt.vm.jit_fn, expand_pt.vm.jit_fn
    logp_shared = [np.asarray(v.get_value()) for v in logp_pt.get_shared()]
    expand_shared = [np.asarray(v.get_value()) for v in expand_pt.get_shared()]
    names, _, shapes = shape_info
    # First calls compile (cold) or load from PyTensor's cache (warm).
    point = initial_point(0)
    logp_fn(point, *logp_shared)
    expand_fn(point, *expand_shared)
    LAST_COMPILE.update(graphs_seconds=graphs - start, jit_seconds=time.perf_counter() - graphs)

    def make_logp_fn() -> Any:
        def logp(x: np.ndarray, **_: Any) -> tuple[float, np.ndarray]:
            value, grad = logp_fn(x, *logp_shared)
            return float(value), grad

        return logp

    def make_expand_fn(seed1: Any, seed2: Any, chain: Any) -> Any:
        def expand(x: np.ndarray, **_: Any) -> dict[str, np.ndarray]:
            values = expand_fn(x, *expand_shared)
            return {
                name: np.asarray(value, dtype="float64").reshape(shape)
                for name, value, shape in zip(names, values, shapes, strict=True)
            }

        return expand

    dims, coords = ncp._prepare_dims_and_coords(model, shape_info, reparameterized)
    return from_pyfunc(
        ndim=n_dim,
        make_logp_fn=make_logp_fn,
        make_expand_fn=make_expand_fn,
        expanded_dtypes=[np.dtype("float64")] * len(names),
        expanded_shapes=shapes,
        expanded_names=names,
        dims=dims,
        coords=coords,
        make_initial_point_fn=initial_point,
        reparameterized_names=reparameterized,
    )


def sample(
    model: Any,
    *,
    draws: int,
    tune: int,
    chains: int,
    cores: int | None,
    random_seed: int,
    nuts: dict[str, Any] | None = None,
    progressbar: bool = False,
    **_: Any,
) -> Any:
    """Sample ``model`` with nutpie; the DataTree ``pm.sample(nuts_sampler="nutpie")`` gives.

    ``nuts`` holds nutpie's sampler options (``target_accept``, ``maxdepth`` or PyMC's
    ``max_treedepth``, ...). Other ``pm.sample`` keywords are accepted and ignored.
    """
    import nutpie
    from pymc.backends.arviz import patch_nutpie_idata

    compiled = compile_model(model)
    options = dict(nuts or {})
    if "max_treedepth" in options:
        options["maxdepth"] = options.pop("max_treedepth")
    start = time.time()
    idata = nutpie.sample(
        compiled,
        draws=draws,
        tune=max(int(tune), 1),  # nuts-rs needs at least one tuning step
        chains=chains,
        cores=cores or min(chains, 2),
        seed=int(random_seed),
        progress_bar=progressbar,
        save_warmup=False,  # as pm.sample's discard_tuned_samples: tuning draws are not kept
        **options,
    )
    patch_nutpie_idata(idata, model, sampling_time=time.time() - start)
    return idata
