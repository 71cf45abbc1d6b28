"""From a PyMC model to a serialised JAX program that runs one chain.

The model is defined once, in PyMC. PyTensor's JAX backend (``pymc.sampling.jax``) turns its
log-density, its deterministics and its pointwise log-likelihood into JAX functions of the
flat unconstrained vector; :func:`bayes_gravity.model.engine.driver.make_chain` puts them into one
NUTS chain; ``jax.export`` serialises the traced program (StableHLO) with everything the
DataTree needs (names, shapes, dims, coords, observed and constant data) beside it.

A later process deserialises the program and never imports PyMC, rebuilds the graph or runs
PyTensor's rewrites: that is the warm path. Both paths run the *deserialised* program, so a
cold and a warm run compile the same StableHLO and give the same draws.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bayes_gravity.model.engine.driver import ChainSettings

# Observed variables whose pointwise log-likelihood is kept (PSIS-LOO scores trade only).
KEY_SHAPE = (2,)  # threefry key data


@dataclass
class ProgramMeta:
    """Everything a warm run needs besides the program: layout and the DataTree's labels."""

    ndim: int
    posterior_vars: list[str]
    log_likelihood_vars: list[str]
    dims: dict[str, list[str]]
    coords: dict[str, list[Any]]
    observed_data: dict[str, np.ndarray] = field(default_factory=dict)
    constant_data: dict[str, np.ndarray] = field(default_factory=dict)
    inputs: list[str] = field(default_factory=list)
    initial_point: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def to_json(self) -> dict[str, Any]:
        """JSON-safe layout (arrays are stored separately)."""
        return {
            "ndim": self.ndim,
            "posterior_vars": self.posterior_vars,
            "log_likelihood_vars": self.log_likelihood_vars,
            "inputs": self.inputs,
            "dims": self.dims,
            "coords": {k: [_plain(v) for v in vals] for k, vals in self.coords.items()},
        }


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def _shared_by_name(outputs: list[Any], names: list[str]) -> list[Any]:
    """Find the shared variables called ``names`` that ``outputs`` depend on."""
    from pytensor.compile import SharedVariable
    from pytensor.graph.traversal import ancestors

    found = {v.name: v for v in ancestors(outputs) if isinstance(v, SharedVariable)}
    missing = [name for name in names if name not in found]
    if missing:
        raise KeyError(f"the model has no shared data called {missing}")
    return [found[name] for name in names]


def build_program(
    model: Any,
    settings: ChainSettings,
    log_likelihood: list[str],
    inputs: dict[str, np.ndarray] | None = None,
    batch: int | None = None,
) -> tuple:
    """Trace and export one chain of ``model``; return ``(exported, exported_init, meta)``.

    The chain program takes ``(key_data, start, *inputs)``; ``exported_init`` (``None`` unless
    ``settings.init == "pathfinder"``) takes ``(key_data, *inputs)`` and returns the pool of
    Pathfinder draws that the chains' starts are resampled from.

    ``batch``: export ``batch`` chains vectorised in one program (``jax.vmap`` over the
    keys and starts; PyMC's ``chain_method = "vectorized"``, the way to fill a GPU).

    ``log_likelihood`` names the observed variables whose pointwise log density is kept.
    ``inputs`` names ``pm.Data`` variables that become arguments of the program (after the
    key) instead of constants, so that one program serves every value of them (the index
    draws of the cut's imputations); their given values only fix shapes and dtypes.
    """
    import jax
    import jax.numpy as jnp
    from pymc.backends.arviz import (
        coords_and_dims_for_inferencedata,
        find_constants,
        find_observations,
    )
    from pymc.initial_point import make_initial_point_fn
    from pymc.sampling.jax import get_jaxified_graph
    from pymc.util import get_default_varnames

    from bayes_gravity.model.engine.driver import make_chain
    from bayes_gravity.model.engine.pathfinder import make_initialiser

    value_vars = list(model.value_vars)
    initial_point = make_initial_point_fn(model=model, jitter_rvs=set(), return_transformed=True)(0)
    names = [v.name for v in value_vars]
    shapes = [tuple(np.shape(initial_point[n])) for n in names]
    sizes = [int(np.prod(s)) for s in shapes]
    offsets = np.cumsum([0, *sizes])
    initial = np.concatenate([np.ravel(initial_point[n]) for n in names]).astype("float64")

    def unflatten(x: Any) -> list[Any]:
        return [x[offsets[i] : offsets[i + 1]].reshape(shapes[i]) for i in range(len(names))]

    kept = list(get_default_varnames(model.unobserved_value_vars, include_transformed=False))
    observed = [v for v in model.observed_RVs if v.name in log_likelihood]
    pointwise = model.logp(vars=observed, sum=False) if observed else []
    outputs = [model.logp(), *kept, *pointwise]
    # shared data that become program arguments: symbolic stand-ins replace them everywhere
    shared = _shared_by_name(outputs, list(inputs or {}))
    stand_ins = [var.type() for var in shared]
    if shared:
        from pytensor.graph.replace import clone_replace

        outputs = clone_replace(outputs, replace=dict(zip(shared, stand_ins, strict=True)))
    logp_graph = get_jaxified_graph(inputs=[*value_vars, *stand_ins], outputs=outputs[:1])
    expand_graph = get_jaxified_graph(inputs=[*value_vars, *stand_ins], outputs=outputs[1:])
    kept_names = [v.name for v in kept]
    loglik_names = [v.name for v in observed]

    def logdensity_of(values: tuple[Any, ...]) -> Any:
        def logdensity(x: Any) -> Any:
            return logp_graph(*unflatten(x), *values)[0]

        # jitted: traced once, though the kernel and the adaptation call it in several places
        return jax.jit(logdensity)

    def program(key_data: Any, start: Any, *values: Any) -> dict[str, Any]:
        def expand(x: Any) -> dict[str, Any]:
            arrays = expand_graph(*unflatten(x), *values)
            out = dict(zip(kept_names, arrays[: len(kept)], strict=True))
            for name, value in zip(loglik_names, arrays[len(kept) :], strict=True):
                out[f"loglik::{name}"] = value
            return out

        # Pathfinder's starts are used as they are; the prior's initial point is jittered
        jitter = jnp.full(initial.shape, 0.0 if settings.init == "pathfinder" else 1.0)
        chain = make_chain(logdensity_of(values), jitter, settings, expand)
        return chain(key_data, start)

    def init_program(key_data: Any, *values: Any) -> dict[str, Any]:
        return make_initialiser(logdensity_of(values), jnp.asarray(initial))(key_data)

    n_values = len(inputs or {})
    key_spec = jax.ShapeDtypeStruct(KEY_SHAPE, jnp.uint32)
    value_specs = [
        jax.ShapeDtypeStruct(np.shape(v), np.asarray(v).dtype) for v in (inputs or {}).values()
    ]
    start_spec = jax.ShapeDtypeStruct(initial.shape, initial.dtype)
    if batch is not None:
        vectorised = jax.vmap(program, in_axes=(0, 0, *([None] * n_values)))
        batched = [
            jax.ShapeDtypeStruct((batch, *spec.shape), spec.dtype)
            for spec in (key_spec, start_spec)
        ]
        exported = jax.export.export(jax.jit(vectorised))(*batched, *value_specs)
    else:
        exported = jax.export.export(jax.jit(program))(key_spec, start_spec, *value_specs)
    exported_init = None
    if settings.init == "pathfinder":
        exported_init = jax.export.export(jax.jit(init_program))(key_spec, *value_specs)

    coords, dims = coords_and_dims_for_inferencedata(model)
    meta = ProgramMeta(
        ndim=int(initial.size),
        posterior_vars=kept_names,
        log_likelihood_vars=loglik_names,
        dims={k: list(v) for k, v in dims.items()},
        coords={k: list(np.asarray(v).tolist()) for k, v in coords.items()},
        observed_data={k: np.asarray(v) for k, v in (find_observations(model) or {}).items()},
        constant_data={
            k: np.asarray(v)
            for k, v in (find_constants(model) or {}).items()
            if k not in (inputs or {})
        },
        inputs=list(inputs or {}),
        initial_point=initial,
    )
    return exported, exported_init, meta
