"""One NUTS chain as one JAX program: warm-up and sampling in a single ``lax.scan``.

The chain runs blackjax's NUTS kernel with the step size and mass matrix adapted during the
first ``tune`` iterations by blackjax's staged adaptation engine on nutpie's schedule, and
frozen after. Warm-up and sampling share one scan body, so the kernel (with the model's
log-density and gradient inside it) appears once in the compiled program: XLA compile time
is about half of that of a warm-up scan followed by a sampling scan.

Mass matrix: ``"low_rank"`` (default) is nutpie's diagonal-plus-low-rank metric fitted by
minimising the Fisher divergence (Seyboldt et al. 2026, in blackjax's implementation), seeded
from the gradient at the start and estimated from a partly-forgetting buffer, as nutpie does;
``"diag"`` is its diagonal-only variant. On the shipped data the low-rank metric gave 1.5-3x
the effective sample size per draw of the diagonal one: the time-varying gravity covariates
(the reporter's GDP, internet use, the latent index) trend together.

Nothing here calls back to the host: the whole chain is one XLA computation, which is what
makes it cacheable by JAX's persistent compilation cache.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from blackjax.adaptation.low_rank_adaptation import (
    _accumulating_buffer_capacity,
    build_growing_window_schedule,
)
from blackjax.adaptation.metric_recipes import (
    _build_fisher_diag_core,
    _build_fisher_low_rank_accumulating_core,
    seed_low_rank_sigma_from_grad,
)
from blackjax.adaptation.staged_adaptation import _make_engine
from blackjax.mcmc import integrators, nuts

METRICS = ("low_rank", "diag")
# nutpie's defaults for the low-rank metric (rank, regularisation, eigenvalue cut-off)
LOW_RANK = {"max_rank": 10, "gamma": 1e-5, "cutoff": 2.0}


class ChainSettings(NamedTuple):
    """Static settings of one chain: they shape the compiled program."""

    tune: int
    draws: int
    target_accept: float
    max_treedepth: int
    metric: str
    init: str = "pathfinder"  # see bayes_gravity.model.engine.pathfinder


# Metric recomputed every this many tuning steps (nutpie recomputes every draw; each
# recompute is an eigendecomposition, so every 10th keeps warm-up cheap).
RECOMPUTE_EVERY = 10


def tuning_schedule(tune: int) -> np.ndarray:
    """Nutpie's warm-up schedule: the mass matrix adapts from the first draw, in growing windows.

    Against Stan's schedule (75 steps of step size only, then doubling windows) it halved the
    leapfrog steps of warm-up on the shipped data (tune 300: 21k against 41k per chain) for
    the same sampling efficiency afterwards.
    """
    with jax.ensure_compile_time_eval():  # concrete numbers even while a chain is traced
        return np.asarray(build_growing_window_schedule(max(tune, 1)))


def _metric_core(metric: str, tune: int) -> Any:
    if metric == "low_rank":
        buffer = max(_accumulating_buffer_capacity(tuning_schedule(tune)), 1)
        return _build_fisher_low_rank_accumulating_core(
            buffer_size=buffer, recompute_every=RECOMPUTE_EVERY, **LOW_RANK
        )
    if metric == "diag":
        return _build_fisher_diag_core(initial_inverse_mass_matrix=None)
    raise ValueError(f"unknown mass matrix {metric!r}; choose from {METRICS}")


def make_chain(
    logdensity: Callable[[jax.Array], jax.Array],
    jitter: jax.Array,
    settings: ChainSettings,
    expand: Callable[[jax.Array], dict[str, jax.Array]],
) -> Callable[[jax.Array, jax.Array], dict[str, jax.Array]]:
    """Return ``chain(key_data, start) -> outputs`` for one chain.

    ``start`` is the starting point on the unconstrained scale; ``jitter`` is 1 where the
    chain jitters it (uniform on [-1, 1], as ``pm.sample``'s ``jitter+adapt_diag``) and 0
    elsewhere: zero everywhere for starts drawn by Pathfinder.
    ``expand`` maps one unconstrained draw to the arrays to keep (constrained values,
    deterministics, pointwise log-likelihood); it is applied to every kept draw after the
    loop. The outputs are those arrays with a leading ``draw`` axis plus the sample stats.
    """
    tune, draws = settings.tune, settings.draws
    ndim = int(jitter.shape[0])
    core = _metric_core(settings.metric, tune)
    adapt_init, adapt_update, adapt_final = _make_engine(
        core, target_acceptance_rate=settings.target_accept
    )
    # (stage, window end) per tuning step; one dummy row when there is no tuning
    schedule = jnp.asarray(tuning_schedule(tune))
    kernel = nuts.build_kernel(integrators.velocity_verlet)

    def chain(key_data: jax.Array, initial: jax.Array) -> dict[str, jax.Array]:
        key = jax.random.wrap_key_data(key_data)
        key_jitter, key_steps = jax.random.split(key)
        start = initial + jitter * jax.random.uniform(key_jitter, (ndim,), minval=-1, maxval=1)
        state = nuts.init(start, logdensity)
        adapt = adapt_init(start, 1.0)
        if settings.metric == "low_rank":
            seeded = seed_low_rank_sigma_from_grad(adapt.imm_state, state.logdensity_grad)
            adapt = adapt._replace(imm_state=seeded, inverse_mass_matrix=seeded.inverse_mass_matrix)
        frozen = (jnp.asarray(adapt.step_size, dtype=initial.dtype), adapt.inverse_mass_matrix)
        buffer = jnp.zeros((draws, ndim), dtype=initial.dtype)
        stats0 = {
            "diverging": jnp.zeros(draws, dtype=bool),
            "energy": jnp.zeros(draws),
            "lp": jnp.zeros(draws),
            "n_steps": jnp.zeros(draws, dtype=jnp.int32),
            "tree_depth": jnp.zeros(draws, dtype=jnp.int32),
            "acceptance_rate": jnp.zeros(draws),
            "step_size": jnp.zeros(draws),
        }

        def body(carry: Any, xs: Any) -> tuple[Any, None]:
            state, adapt, frozen, buffer, stats, tuning_steps = carry
            t, step_key = xs
            warm = t < tune
            step_size = jnp.where(warm, adapt.step_size, frozen[0])
            inverse_mass = jax.tree.map(
                lambda a, b: jnp.where(warm, a, b), adapt.inverse_mass_matrix, frozen[1]
            )
            state, info = kernel(
                step_key,
                state,
                logdensity,
                step_size,
                inverse_mass,
                max_num_doublings=settings.max_treedepth,
            )
            row = schedule[jnp.minimum(t, schedule.shape[0] - 1)]
            stage = (row[0], row[1].astype(bool))
            adapt = jax.lax.cond(
                warm,
                lambda a: adapt_update(
                    a, stage, state.position, state.logdensity_grad, info.acceptance_rate
                ),
                lambda a: a,
                adapt,
            )
            frozen = jax.lax.cond(
                t == tune - 1, lambda a, f: adapt_final(a), lambda a, f: f, adapt, frozen
            )
            # Tuning draws are not kept (pm.sample's discard_tuned_samples): during tuning,
            # slot 0 is rewritten with its own value, an in-place no-op.
            slot = jnp.maximum(t - tune, 0)
            keep = t >= tune
            buffer = buffer.at[slot].set(jnp.where(keep, state.position, buffer[slot]))
            record = {
                "diverging": info.is_divergent,
                "energy": info.energy,
                "lp": state.logdensity,
                "n_steps": info.num_integration_steps.astype(jnp.int32),
                "tree_depth": info.num_trajectory_expansions.astype(jnp.int32),
                "acceptance_rate": info.acceptance_rate,
                "step_size": step_size,
            }
            stats = {
                name: stats[name].at[slot].set(jnp.where(keep, value, stats[name][slot]))
                for name, value in record.items()
            }
            tuning_steps = tuning_steps + jnp.where(warm, info.num_integration_steps, 0)
            return (state, adapt, frozen, buffer, stats, tuning_steps), None

        steps = jnp.arange(tune + draws)
        keys = jax.random.split(key_steps, tune + draws)
        carry = (state, adapt, frozen, buffer, stats0, jnp.zeros((), dtype=jnp.int64))
        (_, _, _, buffer, stats, tuning_steps), _ = jax.lax.scan(body, carry, (steps, keys))
        stats["reached_max_treedepth"] = stats["tree_depth"] >= settings.max_treedepth
        outputs = jax.lax.map(expand, buffer)
        # leapfrog steps of the tuning phase (the gradient budget of warm-up)
        outputs["tuning::n_steps"] = tuning_steps
        return {**outputs, **{f"stat::{k}": v for k, v in stats.items()}}

    return chain
