"""The fitted model: joint (or cut) latent CBEC index + hierarchical gravity model.

scikit-learn / pymc-marketing conventions: ``__init__`` only stores the spec and data;
``build()`` makes the ``pm.Model``; ``fit()`` samples and keeps the DataTree; ``save()`` /
``load()`` round-trip through netCDF with the resolved spec, data hash, versions and seed in
the attributes, and ``load()`` refuses a file whose spec or data do not match.

Over 500 lines on purpose: one class, whose build, the three sampling paths (engine,
nutpie, ``pm.sample``), the cut fit and the save/load round trip share the spec, the panel
and the DataTree's attributes; split apart they would pass those between modules. The file
format itself is :mod:`bayes_gravity.model.posterior_file`.
"""

from __future__ import annotations

import difflib
import json
import logging
import platform
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bayes_gravity.config import ModelSpec, parse_spec
from bayes_gravity.data.dataset import Dataset
from bayes_gravity.data.drops import Drop, find_drops
from bayes_gravity.data.panel import KEYS, Panel, build_panel
from bayes_gravity.errors import BayesGravityError, ConfigError, ResultsError
from bayes_gravity.io import write_with
from bayes_gravity.model.gravity import LOG_LIKELIHOODS, add_gravity, usable_rows
from bayes_gravity.model.latent_index import add_latent_index
from bayes_gravity.model.posterior_file import read_posterior, stamp_checksum

log = logging.getLogger(__name__)

# Prior draws stored with every fit (prior vs posterior and prior predictive in the report).
PRIOR_DRAWS = 500
METHODS = ("nuts", "advi", "pathfinder")
# Packages whose versions can change the numbers: model building and compilation, sampling,
# summaries, the file format.
PACKAGES = (
    "bayes_gravity",
    "pymc",
    "pytensor",
    "nutpie",
    "numba",
    "arviz",
    "arviz-base",
    "arviz-stats",
    "numpy",
    "scipy",
    "pandas",
    "xarray",
    "h5netcdf",
    "h5py",
    "pydantic",
)


def package_versions() -> dict[str, str]:
    """Versions of Python and of the packages that determine the numbers."""
    versions = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


@contextmanager
def refuse_interrupted_sampling() -> Iterator[None]:
    """Re-raise a Ctrl-C that the sampler swallowed.

    nutpie (and PyMC's own sampler) catch ``KeyboardInterrupt`` and return the draws made so
    far, which would be saved as if the run were complete. The signal is recorded here and
    raised again once the sampler returns.
    """
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers can only be set in the main thread
        return
    received: list[int] = []

    def handler(signum: int, frame: Any) -> None:
        received.append(signum)
        raise KeyboardInterrupt

    previous = signal.getsignal(signal.SIGINT)
    signal.signal(signal.SIGINT, handler)
    try:
        yield
    except Exception as err:
        # nutpie may fail a chain instead of returning ("failed to initialize point") when
        # interrupted: after a Ctrl-C that error is the interrupt, not a bug to report.
        if received:
            raise KeyboardInterrupt("sampling was interrupted: nothing was written") from err
        raise
    finally:
        signal.signal(signal.SIGINT, previous if previous is not None else signal.SIG_DFL)
    if received:
        raise KeyboardInterrupt("sampling was interrupted: nothing was written")


def uses_engine(options: dict[str, Any]) -> bool:
    """Whether these sampler options run on the cached JAX engine."""
    return options.get("nuts_sampler") == "blackjax"


def check_complete(idata: Any, chains: int, draws: int) -> None:
    """Refuse a posterior with fewer chains or draws than asked for (an aborted sampler)."""
    sizes = idata["posterior"].sizes
    got = (int(sizes.get("chain", 0)), int(sizes.get("draw", 0)))
    if got != (chains, draws):
        raise BayesGravityError(
            f"the sampler returned {got[0]} chain(s) x {got[1]} draws, {chains} x {draws} were "
            "asked for; nothing was written"
        )


@dataclass(frozen=True)
class ModelInputs:
    """What the PyMC model is built from: the panel plus the rows the likelihood uses."""

    panel: Panel
    trade: pd.DataFrame
    covariate_means: dict[str, float]
    exclusions: list[str]
    dropped: list[Drop] = field(default_factory=list)


def model_inputs(panel: Panel, spec: ModelSpec) -> ModelInputs:
    """Rows usable by the likelihood and the centring of each observed covariate."""
    likelihood = spec.gravity.likelihood
    trade, notes = usable_rows(panel.trade, likelihood)
    means = {name: float(trade[name].mean()) for name in panel.observed_covariates}
    zero = f"zero trade ({likelihood} has no mass at zero; likelihood = 'ppml' keeps it)"
    kept = panel.trade[KEYS].assign(reason="")
    if likelihood != "ppml":  # the rows usable_rows leaves out
        kept.loc[panel.trade["value_usd"] <= 0, "reason"] = zero
    rows = pd.concat([kept, panel.excluded[[*KEYS, "reason"]]], ignore_index=True)
    return ModelInputs(panel, trade, means, [*panel.exclusions, *notes], find_drops(rows))


class GravityModel:
    """Latent-index hierarchical gravity model for one spec and one dataset."""

    def __init__(self, spec: ModelSpec, data: Dataset) -> None:
        self.spec = spec
        self.data = data
        self.idata: Any = None
        self.model: Any = None
        self.inputs: ModelInputs | None = None
        self.wall_seconds: float | None = None

    # ------------------------------------------------------------------ build
    def prepare(self) -> ModelInputs:
        """Build the modelling tables (no PyMC): the panel and the rows the likelihood uses."""
        if self.inputs is None:
            panel = build_panel(self.data, self.spec)
            self.inputs = model_inputs(panel, self.spec)
        return self.inputs

    def model_key(self) -> dict[str, Any]:
        """Identify the PyMC model this spec builds on this dataset (for cache keys).

        The spec without the parts that do not change the model (name, sampler settings,
        tiers, gate thresholds, classic settings) and the dataset's content hash.
        """
        spec = self.spec.dump_for_hash()
        for part in ("name", "description", "sampler", "potential", "diagnostics", "classic"):
            spec.pop(part, None)
        spec.pop("ci_prob", None)
        return {"spec": spec, "data": self.data.content_hash}

    def build(self) -> Any:
        """Create the PyMC model.

        ``coupling = "joint"``: the index is latent inside the gravity model, so index
        uncertainty propagates and trade can inform the index. ``"cut"``: the gravity model
        sees the index as data (``cbec_index_data``, filled per imputation by ``fit``), so
        trade cannot move it; the index itself is fitted by :meth:`build_index_model`.
        """
        import pymc as pm

        inputs = self.prepare()
        panel = inputs.panel
        coords = {"country": panel.countries, "year": panel.years}
        with pm.Model(coords=coords) as model:
            index = None
            if panel.index_covariate is not None:
                if self.spec.coupling == "joint":
                    index = add_latent_index(
                        panel.indicators,
                        panel.countries,
                        panel.years,
                        anchor=self.spec.index.anchor,
                        time_prior=self.spec.index.time_prior,
                    )
                else:
                    shape = (len(panel.countries), len(panel.years))
                    index = pm.Data("cbec_index_data", np.zeros(shape), dims=("country", "year"))
            add_gravity(
                inputs.trade,
                panel.observed_covariates,
                inputs.covariate_means,
                self.spec.gravity,
                partners=panel.partners,
                years=panel.years,
                cbec_index=index,
                countries=panel.countries,
                index_name=panel.index_covariate,
                likelihood=self._frontier_likelihood(),
            )
        unknown = sorted(set(self.spec.gravity.priors) - set(model.named_vars))
        if unknown:
            names = sorted(n for n in model.named_vars if n.startswith(("beta_", "sigma", "nu")))
            hints = []
            for name in unknown:
                close = difflib.get_close_matches(name, names, n=1)
                hint = f"did you mean {close[0]!r}?" if close else f"parameters: {names}"
                hints.append(f"[gravity.priors.{name}]: no such parameter in this model; {hint}")
            raise ConfigError("unknown prior name(s) in the spec", hints)
        self.model, self.inputs = model, inputs
        return model

    def _frontier_likelihood(self) -> Any:
        """Return the frontier's likelihood for :func:`add_gravity` (None: the mean model)."""
        frontier = self.spec.frontier
        if frontier is None:
            return None
        from bayes_gravity.model.frontier import add_frontier

        assert self.inputs is not None
        panel, trade = self.inputs.panel, self.inputs.trade

        def likelihood(mu: Any, log_values: np.ndarray, terms: dict[str, Any]) -> None:
            add_frontier(
                mu,
                log_values,
                trade,
                frontier,
                self.spec.gravity,
                panel.partners,
                panel.years,
                terms,
            )

        return likelihood

    def build_index_model(self) -> Any:
        """Build the latent index on the indicators alone (the first stage of the cut)."""
        import pymc as pm

        panel = self.prepare().panel
        with pm.Model(coords={"country": panel.countries, "year": panel.years}) as model:
            add_latent_index(
                panel.indicators,
                panel.countries,
                panel.years,
                anchor=self.spec.index.anchor,
                time_prior=self.spec.index.time_prior,
            )
        return model

    # ------------------------------------------------------------------ fit
    def sampler_options(self, **overrides: Any) -> dict[str, Any]:
        """``pm.sample`` keyword arguments: the spec's, updated by non-None ``overrides``."""
        options = self.spec.sampler.model_dump()
        options.update({k: v for k, v in overrides.items() if v is not None})
        nuts = dict(options.pop("nuts"))
        nuts.setdefault("target_accept", options.pop("target_accept"))
        options["nuts"] = nuts
        if options.get("cores") is None:
            options["cores"] = min(options["chains"], 2)
        return options

    def fit(
        self,
        progressbar: bool = False,
        method: str = "nuts",
        store_prior: bool = True,
        **overrides: Any,
    ) -> Any:
        """Sample the posterior (PyMC's ``pm.sample`` options by their own names).

        ``store_prior`` adds prior draws (``prior``, ``prior_predictive`` groups) for the
        report's prior checks.

        ``method``: ``"nuts"`` (default) samples the posterior; ``"advi"`` and
        ``"pathfinder"`` fit a fast approximation for exploration (see
        :mod:`bayes_gravity.model.approximate`), marked as such in the DataTree's attributes.
        """
        if method not in METHODS:
            raise ConfigError(f"--method: unknown method {method!r}; choose from {METHODS}")
        options = self.sampler_options(**overrides)
        inputs = self.prepare()
        # The cached engine builds the PyMC model only when its program is not cached yet.
        if self.model is None and not (method == "nuts" and uses_engine(options)):
            self.build()
        start = time.perf_counter()
        with refuse_interrupted_sampling():
            if method != "nuts":
                from bayes_gravity.model.approximate import fit_approximation

                with self.model:
                    idata = fit_approximation(method, options)
                    self._add_log_likelihood(idata)
            elif self.spec.coupling == "cut" and inputs.panel.index_covariate is not None:
                idata = self._fit_cut(options, progressbar)
            else:
                idata = self._sample(options, progressbar)
                check_complete(idata, options["chains"], options["draws"])
            self.wall_seconds = time.perf_counter() - start
            if store_prior:
                self._add_prior(idata, int(options["random_seed"]))
        self.idata = idata
        self._stamp(options)
        return idata

    def _observed_name(self) -> str | None:
        """Name the trade likelihood's observed variable (None for the PPML pseudo-likelihood)."""
        likelihood = self.spec.gravity.likelihood
        if likelihood == "ppml":
            return None
        return "log_trade" if likelihood in LOG_LIKELIHOODS else "trade"

    def _sample(
        self, options: dict[str, Any], progressbar: bool, stage: str = "gravity", **data: Any
    ) -> Any:
        """Sample the gravity model (or the cut's ``stage = "index"`` model).

        ``nuts_sampler = "blackjax"``: the cached whole-chain JAX engine
        (:mod:`bayes_gravity.model.engine`), with the pointwise log-likelihood computed inside the
        program. ``"nutpie"``: PyTensor's cached numba functions behind nutpie
        (:mod:`bayes_gravity.model.nutpie_sampler`). Otherwise ``pm.sample``. ``data`` replaces the
        values of ``pm.Data`` variables (the index draws of a cut imputation).
        """
        observed = self._observed_name() if stage == "gravity" else None
        if uses_engine(options):
            from bayes_gravity.model.engine import sampler as engine

            def build() -> Any:
                return self.build() if stage == "gravity" else self.build_index_model()

            return engine.sample(
                build,
                {**self.model_key(), "stage": stage},
                **options,
                log_likelihood=(observed,) if observed else (),
                data=data,
                progressbar=progressbar,
            )
        import pymc as pm

        from bayes_gravity.model import nutpie_sampler

        model = self.model if stage == "gravity" else self.build_index_model()
        if model is None:
            model = self.build()
        with model:
            if data:
                pm.set_data(data)
            if options.get("nuts_sampler") == "nutpie":
                idata = nutpie_sampler.sample(model, **options, progressbar=progressbar)
            else:
                idata = pm.sample(
                    **options, progressbar=progressbar, compute_convergence_checks=False
                )
        if observed is not None:
            pm.compute_log_likelihood(idata, var_names=[observed], model=model, progressbar=False)
        return idata

    def _add_prior(self, idata: Any, seed: int) -> None:
        """Store prior draws of the parameters and of trade, for the report's prior checks.

        ``PRIOR_DRAWS`` draws of the scalar gravity parameters, the loadings and the observed
        trade (prior predictive): small next to the posterior, and cheap to sample. They are
        drawn by PyMC once per model and seed and kept in the engine's cache, so that a warm
        fit need not build the PyMC model for them.
        """
        from bayes_gravity.model.engine.cache import memo_tree

        prior = memo_tree(
            {**self.model_key(), "prior_draws": PRIOR_DRAWS, "seed": int(seed)},
            lambda: self._draw_prior(seed),
        )
        for group in ("prior", "prior_predictive"):
            if group in prior.children:
                idata[group] = prior[group]

    def _draw_prior(self, seed: int) -> Any:
        import pymc as pm

        model = self.model if self.model is not None else self.build()
        names = [
            n
            for n in model.named_vars
            if n.startswith(("beta_", "sigma", "intercept", "gamma_shape"))
            or n in ("nu", "loading")
        ]
        # the trade likelihood only: the indicator likelihood is large and not checked here
        observed = [v.name for v in model.observed_RVs if v.name in ("log_trade", "trade")]
        # PyTensor's Python backend: the same draws as the default C backend, without the
        # half minute of C compilation a cold cache would pay for this one-off function
        with model:
            return pm.sample_prior_predictive(
                draws=PRIOR_DRAWS,
                var_names=[*names, *observed],
                random_seed=seed,
                compile_kwargs={"mode": "FAST_COMPILE"},
            )

    def _add_log_likelihood(self, idata: Any) -> None:
        import pymc as pm

        observed = self._observed_name()
        if observed is None:  # a pseudo-likelihood: no pointwise log density for LOO
            return
        pm.compute_log_likelihood(idata, var_names=[observed], model=self.model, progressbar=False)

    def _fit_cut(self, options: dict[str, Any], progressbar: bool) -> Any:
        """Two-stage fit: index on indicators alone, then gravity per index draw, pooled.

        The gravity model is fitted once for each of ``cut_imputations`` index draws (evenly
        spaced through the index posterior) and the posteriors are pooled, as in multiple
        imputation: index uncertainty propagates, trade never feeds back into the index.
        Pooled chains are numbered imputation-major (``chain = k * chains + c``); diagnostics
        are computed within each imputation (``cut_imputations`` attribute).
        """
        import xarray as xr

        index_fit = self._sample(options, progressbar, stage="index")
        index_draws = index_fit["posterior"]["cbec_index"].stack(sample=("chain", "draw"))
        index_draws = index_draws.transpose("sample", "country", "year").values
        n_imp = self.spec.cut_imputations
        picks = np.linspace(0, len(index_draws) - 1, n_imp).round().astype(int)
        # 1000 draws per chain at least: with 250 and 500, split R-hat within an imputation
        # reached 1.016 and 1.02 (beta_cbec_index, mu_benchmark) on the shipped data.
        per_fit = dict(options, draws=max(1000, options["draws"] // n_imp))
        parts = []
        for k, pick in enumerate(picks):
            part = self._sample(
                dict(per_fit, random_seed=int(options["random_seed"]) + k),
                progressbar,
                cbec_index_data=index_draws[pick],
            )
            part = part.map_over_datasets(
                lambda ds, k=k: (
                    ds.assign_coords(chain=ds["chain"] + k * options["chains"])
                    if "chain" in ds.dims
                    else ds
                )
            )
            parts.append(part)
        groups = ["posterior", "sample_stats", "log_likelihood"]
        pooled = {
            g: xr.concat([p[g].to_dataset() for p in parts], dim="chain")
            for g in groups
            if g in parts[0].children
        }
        for g in ("observed_data", "constant_data"):
            if g in parts[0].children:
                pooled[g] = parts[0][g].to_dataset()
        pooled["index_posterior"] = index_fit["posterior"].to_dataset()
        pooled["index_sample_stats"] = index_fit["sample_stats"].to_dataset()
        tree = xr.DataTree.from_dict(pooled)
        tree.attrs["cut_imputations"] = n_imp
        tree.attrs["cut_chains_per_imputation"] = int(options["chains"])
        return tree

    def prior_predictive(self, draws: int = 500) -> pd.DataFrame:
        """Prior predictive check: trade implied by the priors alone, per observed row (US$)."""
        import pymc as pm

        from bayes_gravity.model.gravity import UNIT

        if self.model is None:
            self.build()
        assert self.inputs is not None
        likelihood = self.spec.gravity.likelihood
        to_level: Any = np.exp
        if likelihood == "ppml":
            target = "mu_benchmark"  # a pseudo-likelihood has no generator
        elif likelihood in LOG_LIKELIHOODS:
            target = "log_trade"
        else:
            target, to_level = "trade", np.asarray
        with self.model:
            prior = pm.sample_prior_predictive(
                draws=draws, var_names=[target], random_seed=self.spec.sampler.random_seed
            )
        group = "prior" if target == "mu_benchmark" else "prior_predictive"
        values = prior[group][target].stack(sample=("chain", "draw")).transpose("sample", ...)
        level = to_level(np.asarray(values.values)) * UNIT
        table = self.inputs.trade[["partner", "flow", "year", "value_usd"]].copy()
        table = table.rename(columns={"value_usd": "actual"})
        table["prior_lo"] = np.quantile(level, 0.05, axis=0)
        table["prior_median"] = np.quantile(level, 0.5, axis=0)
        table["prior_hi"] = np.quantile(level, 0.95, axis=0)
        return table

    def _stamp(self, sampler_options: dict[str, Any]) -> None:
        assert self.inputs is not None
        attrs = {
            "bayes_gravity_spec": json.dumps(self.spec.dump_for_hash(), sort_keys=True),
            "spec_hash": self.spec.content_hash(),
            "inference_method": self.idata.attrs.get("inference_method", "nuts"),
            "data_hash": self.data.content_hash,
            "data_path": str(self.data.path),
            "versions": json.dumps(package_versions(), sort_keys=True),
            "random_seed": int(sampler_options["random_seed"]),
            "sampler": json.dumps(sampler_options, sort_keys=True, default=str),
            "wall_seconds": float(self.wall_seconds or 0.0),
            "exclusions": json.dumps(self.inputs.exclusions),
            "covariate_means": json.dumps(self.inputs.covariate_means, sort_keys=True),
        }
        self.idata.attrs.update(attrs)

    # ------------------------------------------------------------------ save / load
    def save(self, path: str | Path) -> None:
        """Write the DataTree (with attributes) to netCDF atomically."""
        if self.idata is None:
            raise ResultsError("nothing to save: fit() first")

        def write(tmp: Path) -> None:
            self.idata.to_netcdf(tmp, engine="h5netcdf")
            stamp_checksum(tmp)

        write_with(path, write)

    @classmethod
    def load(cls, path: str | Path, data: Dataset, spec: ModelSpec | None = None) -> GravityModel:
        """Load a saved fit; refuse it if its spec or data hash does not match."""
        idata = read_posterior(path)
        try:
            saved_spec = parse_spec(json.loads(idata.attrs["bayes_gravity_spec"]), str(path))
        except (ValueError, TypeError, ConfigError) as err:
            raise ResultsError(f"{path}: the stored spec is unreadable ({err}); refit") from None
        if saved_spec.content_hash() != idata.attrs.get("spec_hash"):
            raise ResultsError(
                f"{path}: the stored spec hashes to {saved_spec.content_hash()}, not to the "
                f"recorded spec_hash {idata.attrs.get('spec_hash')}; refit with `fit`"
            )
        if spec is not None and spec.content_hash() != idata.attrs.get("spec_hash"):
            raise ResultsError(
                f"{path} was fitted with a different spec (hash {idata.attrs.get('spec_hash')}, "
                f"current {spec.content_hash()}); refit with `fit`"
            )
        if data.content_hash != idata.attrs.get("data_hash"):
            raise ResultsError(
                f"{path} was fitted on different data (hash {idata.attrs.get('data_hash')}, "
                f"current {data.content_hash} in {data.path}); refit with `fit`"
            )
        model = cls(spec or saved_spec, data)
        model.idata = idata
        model.wall_seconds = float(idata.attrs.get("wall_seconds", np.nan))
        model.inputs = model_inputs(build_panel(data, model.spec), model.spec)
        return model
