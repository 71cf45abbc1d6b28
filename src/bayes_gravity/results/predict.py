"""Posterior predictive trade for any partner x flow x year rows of a fitted run.

For each posterior draw ``s`` and row ``i`` (partner p, flow f, year t)::

    mu[s, i] = intercept + flow_effect[f] + sum_k beta_k * (x_ik - mean_k)
               + beta_cbec_index * cbec_index[s, p, t]
               + partner_effect[p] + partner_flow_effect[p, f]
               (+ partner_index_slope[p] * cbec_index[s, p, t]) (+ year_effect[t])

the linear predictor :func:`bayes_gravity.model.gravity.add_gravity` builds, with the
covariate means of the fit (stored in ``posterior.nc``). ``mu_benchmark`` drops the partner
terms. Everything is
vectorised over draws and rows; nothing loops over draws or partners.

Years after the fitted window: covariates come from the dataset where it has them and are
otherwise carried forward from the last observed year (:func:`covariate_rows` says which); the
latent CBEC index is projected with its own time prior, per draw (:meth:`Predictor.index_cube`):
the random walk continues with the draw's drift and step sd, the AR(1) with its ``rho``, and the
projected raw process is standardised with the constants of the fitted years, so the projected
index is on the same scale as the fitted one. Year effects cannot be projected and are refused.

Predictive draws use one multiplicative noise factor per draw and row, shared by every variant
of the same rows (common random numbers): a scenario and its baseline differ only through
``mu``. Student-t / log-normal: ``exp(sigma * e)`` with ``e`` Student-t(``nu``) / standard
normal; gamma: ``Gamma(shape, 1 / shape)``; ppml has no generative model, so its predictive
trade is the expected level (no noise).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from bayes_gravity.config import ModelSpec
from bayes_gravity.data.panel import _transform  # the exact transform the panel applies
from bayes_gravity.errors import ConfigError, DataError, ResultsError
from bayes_gravity.model.gravity import LOG_LIKELIHOODS, UNIT
from bayes_gravity.model.gravity_model import GravityModel
from bayes_gravity.results.draws import stack_draws

KEYS = ["partner", "flow", "year"]


# ---------------------------------------------------------------------------- covariates


def _reporter(model: GravityModel, rows: pd.DataFrame) -> pd.Series:
    assert model.inputs is not None
    if "reporter" in rows.columns:
        return rows["reporter"]
    reporters = model.inputs.panel.reporters
    if len(reporters) != 1:
        raise ConfigError(f"rows need a 'reporter' column: the fit has reporters {reporters}")
    return pd.Series(reporters[0], index=rows.index)


def covariate_rows(model: GravityModel, keys: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """Covariate values for ``keys`` (partner, flow, year) on the scale the panel builds.

    A series value missing in a row's year is carried forward from the country's last
    observed year before it; each carried value is named in the row's note (one string per
    row, empty when nothing was carried). A value with no earlier observation is a
    :class:`DataError`.
    """
    assert model.inputs is not None
    data = model.data
    rows = keys.reset_index(drop=True).copy()
    rows["year"] = rows["year"].astype(int)
    reporter = _reporter(model, rows)
    notes: list[list[str]] = [[] for _ in range(len(rows))]
    problems = []
    for cov in model.spec.gravity.covariates:
        if cov.source == "index":
            continue
        if cov.source == "pair":
            pairs = data.pairs.set_index(["reporter", "partner"])[cov.column]
            keys_ = pd.MultiIndex.from_arrays([reporter, rows["partner"]])
            raw = pd.Series(pd.to_numeric(pairs.reindex(keys_)).to_numpy(), index=rows.index)
        else:
            series = data.indicators[data.indicators["indicator"] == cov.indicator]
            series = series.dropna(subset=["value"]).sort_values("year")
            country = reporter if cov.side == "reporter" else rows["partner"]
            query = pd.DataFrame({"iso3": country.to_numpy(), "year": rows["year"].to_numpy()})
            query["row"] = np.arange(len(rows))
            found = pd.merge_asof(
                query.sort_values("year"),
                series[["iso3", "year", "value"]].rename(columns={"year": "seen"}),
                left_on="year",
                right_on="seen",
                by="iso3",
                direction="backward",
            ).sort_values("row")
            raw = pd.Series(found["value"].to_numpy(), index=rows.index)
            carried = found["seen"].notna() & (found["seen"] < found["year"])
            hits = found[carried]
            for row, iso3, seen in zip(hits["row"], hits["iso3"], hits["seen"], strict=True):
                notes[int(row)].append(
                    f"{cov.name}: {iso3} {cov.indicator} of {int(seen)} carried forward"
                )
        rows[cov.name] = _transform(raw, cov.transform).to_numpy()
        bad = rows[cov.name].isna() | ~np.isfinite(rows[cov.name])
        for r in rows[bad].itertuples():
            problems.append(f"{cov.name}: no value for {r.partner} in or before {r.year}")
    if problems:
        raise DataError(f"covariates missing in {data.path}", problems)
    return rows, ["; ".join(n) for n in notes]


# ---------------------------------------------------------------------------- draws


@dataclass(frozen=True)
class Prediction:
    """Per-draw results for a set of rows: arrays of shape (sample, row)."""

    mu: np.ndarray
    mu_benchmark: np.ndarray
    trade: np.ndarray  # predictive draws, US$
    level: np.ndarray  # expected trade given the draw's parameters, US$
    benchmark: np.ndarray  # expected trade from the determinants alone, US$


class Predictor:
    """Per-draw linear predictor, benchmark and predictive trade of a fitted model."""

    def __init__(self, model: GravityModel) -> None:
        if model.idata is None or model.inputs is None:
            raise ResultsError("the model has no posterior: fit or load it first")
        self.model = model
        self.spec: ModelSpec = model.spec
        panel = model.inputs.panel
        self.covariates = list(panel.observed_covariates)
        self.index_name = panel.index_covariate
        self.partners = panel.partners
        self.countries = panel.countries
        self.years = panel.years
        self.means = json.loads(str(model.idata.attrs.get("covariate_means", "{}"))) or dict(
            model.inputs.covariate_means
        )
        posterior = model.idata["posterior"].to_dataset()
        self.posterior = posterior
        names = ["intercept", "flow_effect", *(f"beta_{c}" for c in self.covariates)]
        optional = [
            f"beta_{self.index_name}",
            "partner_effect",
            "partner_flow_effect",
            "partner_index_slope",
            "year_effect",
            "sigma",
            "nu",
            "gamma_shape",
        ]
        names += [n for n in optional if n in posterior.data_vars]
        self.draws = {n: stack_draws(posterior, n) for n in names}
        self.n_draws = len(self.draws["intercept"])
        self._check_coords(posterior)

    def _check_coords(self, posterior: Any) -> None:
        flows = [str(f) for f in posterior["flow_effect"].coords["flow"].values]
        if flows != ["export", "import"]:
            raise ResultsError(f"unexpected flow coordinate {flows} in the posterior")
        if "partner_effect" in posterior.data_vars:
            saved = [str(p) for p in posterior["partner_effect"].coords["partner"].values]
            if saved != self.partners:
                raise ResultsError(f"posterior partners {saved} differ from the data's")

    # ------------------------------------------------------------------ index
    def _index_parameters(self) -> dict[str, np.ndarray]:
        """Index draws and time-prior parameters aligned with the gravity draws.

        Joint fit: the same posterior. Cut fit: gravity chain ``k * chains + c`` was fitted on
        index draw ``picks[k]`` of the first stage (see ``GravityModel._fit_cut``).
        """
        idata = self.model.idata
        names = ["cbec_index", "index_level_raw", "index_innovation_raw", "sigma_index_step"]
        names += ["index_drift", "index_ar1_rho"]
        if "index_posterior" not in idata.children:
            source = self.posterior
            pick = np.arange(self.n_draws)
        else:
            source = idata["index_posterior"].to_dataset()
            n_index = source.sizes["chain"] * source.sizes["draw"]
            n_imp = int(idata.attrs["cut_imputations"])
            per = int(idata.attrs["cut_chains_per_imputation"])
            picks = np.linspace(0, n_index - 1, n_imp).round().astype(int)
            chains = np.repeat(
                np.arange(self.posterior.sizes["chain"]), self.posterior.sizes["draw"]
            )
            pick = picks[chains // per]
        return {n: stack_draws(source, n)[pick] for n in names if n in source.data_vars}

    def index_cube(self, last_year: int, rng: np.random.Generator) -> tuple[np.ndarray, list[int]]:
        """Index draws (sample, country, year) for the fitted years, projected to ``last_year``.

        Returns the cube and its years. Projection noise comes from ``rng``.
        """
        params = self._index_parameters()
        fitted = params["cbec_index"]
        horizon = max(0, last_year - self.years[-1])
        years = [*self.years, *range(self.years[-1] + 1, self.years[-1] + 1 + horizon)]
        if horizon == 0:
            return fitted, years
        level, innov = params["index_level_raw"], params["index_innovation_raw"]
        step = params["sigma_index_step"][:, None]
        ar1 = "index_ar1_rho" in params
        raw = [level]
        for t in range(innov.shape[2]):  # over years, vectorised over draws and countries
            if ar1:
                raw.append(params["index_ar1_rho"][:, None] * raw[-1] + step * innov[:, :, t])
            else:
                raw.append(raw[-1] + params["index_drift"][:, None] + step * innov[:, :, t])
        raw_fit = np.stack(raw, axis=2)
        centre = raw_fit.mean(axis=(1, 2), keepdims=True)
        scale = raw_fit.std(axis=(1, 2), keepdims=True)
        rebuilt = (raw_fit - centre) / scale
        if not np.allclose(rebuilt, fitted, atol=1e-5):
            raise ResultsError(
                "the index cannot be rebuilt from its time-prior parameters "
                f"(max difference {np.abs(rebuilt - fitted).max():.3g}); cannot project it"
            )
        shocks = rng.standard_normal((self.n_draws, len(self.countries), horizon))
        future = []
        current = raw_fit[:, :, -1]
        for h in range(horizon):
            if ar1:
                current = params["index_ar1_rho"][:, None] * current + step * shocks[:, :, h]
            else:
                current = current + params["index_drift"][:, None] + step * shocks[:, :, h]
            future.append(current)
        projected = (np.stack(future, axis=2) - centre) / scale
        return np.concatenate([fitted, projected], axis=2), years

    def index_for_rows(
        self, rows: pd.DataFrame, cube: np.ndarray, cube_years: list[int]
    ) -> np.ndarray:
        """Index draws (sample, row) of each row's partner and year from an index cube."""
        unknown = sorted(set(rows["year"]) - set(cube_years))
        if unknown:
            raise ConfigError(f"no index for year(s) {unknown}: the cube covers {cube_years}")
        country = rows["partner"].map({c: i for i, c in enumerate(self.countries)})
        year = rows["year"].map({y: i for i, y in enumerate(cube_years)})
        return cube[:, country.to_numpy(dtype=int), year.to_numpy(dtype=int)]

    # ------------------------------------------------------------------ predictor
    def check_rows(self, rows: pd.DataFrame) -> None:
        """Refuse rows the fit cannot predict: unknown partner or flow, missing covariates."""
        problems = []
        unknown = sorted(set(rows["partner"]) - set(self.partners))
        if unknown:
            problems.append(f"unknown partner(s) {unknown}; the fit has {self.partners}")
        flows = sorted(set(rows["flow"]) - {"export", "import"})
        if flows:
            problems.append(f"unknown flow(s) {flows}; use 'export' or 'import'")
        missing = [c for c in self.covariates if c not in rows.columns]
        if missing:
            problems.append(f"covariate column(s) missing: {missing}")
        if "year_effect" in self.draws:
            outside = sorted(set(rows["year"]) - set(self.years))
            if outside:
                problems.append(
                    f"the fit has year effects, which cannot be projected to {outside} "
                    f"(fitted {self.years[0]}-{self.years[-1]})"
                )
        if problems:
            raise ConfigError("cannot predict these rows", problems)

    def linear_predictor(
        self, rows: pd.DataFrame, index: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(mu, mu_benchmark)``, each (sample, row), for covariate ``rows``.

        ``index`` holds the CBEC index per draw and row (sample, row); required when the model
        has an index covariate.
        """
        self.check_rows(rows)
        d = self.draws
        flow = (rows["flow"] == "import").to_numpy(dtype=int)
        bench = d["intercept"][:, None] + d["flow_effect"][:, flow]
        if self.covariates:
            x = np.column_stack(
                [rows[c].to_numpy(dtype=float) - self.means[c] for c in self.covariates]
            )
            beta = np.column_stack([d[f"beta_{c}"] for c in self.covariates])
            bench = bench + beta @ x.T
        beta_index = d.get(f"beta_{self.index_name}")
        if beta_index is not None:
            if index is None:
                raise ConfigError(f"the model has the covariate {self.index_name!r}: pass index")
            bench = bench + beta_index[:, None] * index
        if "year_effect" in d:
            year = rows["year"].map({y: i for i, y in enumerate(self.years)}).to_numpy(dtype=int)
            bench = bench + d["year_effect"][:, year]
        partner = rows["partner"].map({p: i for i, p in enumerate(self.partners)})
        p_idx = partner.to_numpy(dtype=int)
        mu = bench
        if "partner_effect" in d:
            mu = mu + d["partner_effect"][:, p_idx]
        if "partner_flow_effect" in d:
            mu = mu + d["partner_flow_effect"][:, p_idx, flow]
        if "partner_index_slope" in d and index is not None:
            mu = mu + d["partner_index_slope"][:, p_idx] * index
        return mu, bench

    def noise_factor(self, n_rows: int, rng: np.random.Generator) -> np.ndarray:
        """Multiplicative observation noise per draw and row (sample, row)."""
        shape = (self.n_draws, n_rows)
        likelihood = self.spec.gravity.likelihood
        if likelihood in LOG_LIKELIHOODS:
            sigma = self.draws["sigma"][:, None]
            if likelihood == "student_t":
                e = rng.standard_t(np.broadcast_to(self.draws["nu"][:, None], shape))
            else:
                e = rng.standard_normal(shape)
            return np.exp(sigma * e)
        if likelihood == "gamma":
            k = np.broadcast_to(self.draws["gamma_shape"][:, None], shape)
            return rng.gamma(k, 1.0 / k)
        return np.ones(shape)

    def level(self, mu: np.ndarray) -> np.ndarray:
        """Return expected trade in US$ per draw: ``exp(mu + sigma^2/2)`` on log likelihoods."""
        if self.spec.gravity.likelihood in LOG_LIKELIHOODS:
            return np.exp(mu + 0.5 * self.draws["sigma"][:, None] ** 2) * UNIT
        return np.exp(mu) * UNIT

    def predict(
        self, rows: pd.DataFrame, index: np.ndarray | None, noise: np.ndarray
    ) -> Prediction:
        """Predict ``rows`` with a given index (sample, row) and noise factor (sample, row)."""
        mu, bench = self.linear_predictor(rows, index)
        return Prediction(
            mu=mu,
            mu_benchmark=bench,
            trade=np.exp(mu) * noise * UNIT,
            level=self.level(mu),
            benchmark=self.level(bench),
        )


def quantiles(draws: np.ndarray, probs: list[float]) -> list[np.ndarray]:
    """Quantiles over the draw axis (axis 0)."""
    return [np.quantile(draws, p, axis=0) for p in probs]


def run_seed(model: GravityModel, offset: int = 0) -> int:
    """Return the run's random seed (posterior attributes) plus ``offset``."""
    seed = model.idata.attrs.get("random_seed", model.spec.sampler.random_seed)
    return int(seed) + offset
