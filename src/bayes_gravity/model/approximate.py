"""Fast approximate posteriors for exploration: ADVI (PyMC) and Pathfinder (pymc-extras).

An approximation is not the posterior: its draws are independent samples from a fitted
Gaussian (ADVI: mean-field; Pathfinder: low-rank from an L-BFGS path), which typically
understates posterior spread and cannot show multimodality. NUTS diagnostics (R-hat, ESS,
divergences, E-BFMI) do not apply to it, so the gate of an approximate fit never passes and
every output says "APPROXIMATE". Its error against NUTS on the shipped data is measured by
``bench/bench_approx.py`` (bench/RESULTS.md).
"""

from __future__ import annotations

from typing import Any

from bayes_gravity.errors import ConfigError

# ADVI optimisation steps. 30,000 took longer than a warm NUTS fit (~170 s for the whole
# `fit` command); its error against NUTS is measured by `make bench` (bench/RESULTS.md).
ADVI_STEPS = 10_000
WARNING = (
    "APPROXIMATE POSTERIOR ({method}): exploration only, not for reporting; NUTS diagnostics "
    "do not apply; refit with --method nuts"
)


def warning(method: str) -> str:
    """Return the banner every output of an approximate fit carries."""
    return WARNING.format(method=method)


def fit_approximation(method: str, options: dict[str, Any]) -> Any:
    """Fit ``method`` in the current model; return draws as a DataTree (one chain).

    ``options["chains"] * options["draws"]`` independent draws, so downstream tables see as
    many draws as a NUTS fit would give. The DataTree's attributes name the method.
    """
    import pymc as pm

    seed = int(options["random_seed"])
    n_draws = int(options["chains"]) * int(options["draws"])
    if method == "advi":
        approx = pm.fit(n=ADVI_STEPS, method="advi", random_seed=seed, progressbar=False)
        tree = approx.sample(draws=n_draws, random_seed=seed + 1)
        detail = f"mean-field ADVI, {ADVI_STEPS} steps"
    elif method == "pathfinder":
        try:
            import pymc_extras as pmx  # optional: not in requirements.lock
        except ImportError:
            raise ConfigError(
                "--method pathfinder needs the pymc-extras package, which is not installed; "
                "use --method advi (pymc-extras 0.15.1, the newest release, requires pymc<6.4)"
            ) from None
        tree = pmx.fit(method="pathfinder", num_draws=n_draws, random_seed=seed)
        detail = "multi-path Pathfinder (pymc-extras)"
    else:
        raise ConfigError(f"unknown approximation {method!r}")
    tree.attrs.update({"inference_method": method, "approximate": 1, "approximation": detail})
    return tree


def is_approximate(tree: Any) -> bool:
    """Whether a DataTree holds an approximation rather than NUTS draws."""
    return bool(tree.attrs.get("approximate", 0))


def gate_not_applicable(method: str) -> dict[str, Any]:
    """Return the diagnostics verdict of an approximate fit: never passed, no NUTS checks."""
    return {
        "passed": False,
        "approximate": True,
        "method": method,
        "loo_reliable": False,
        "note": warning(method),
        "checks": {},
    }
