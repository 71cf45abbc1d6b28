"""The HTML report of a run folder: one self-contained file a trade economist reads offline.

:func:`write_report` reads only what ``fit`` saved (``posterior.nc``, the CSV tables,
``diagnostics.json``, the optional ``comparison.csv``, ``holdout_2023.csv`` and
``scenarios/``) plus the dataset the posterior's attributes name, refused when its content
hash differs (:func:`bayes_gravity.predict.load_run`). Nothing is refitted; the classic PCA /
OLS / random-effects pipeline runs again because it takes a second.

Figures are PNGs embedded as base64 (no remote assets, no scripts); the template ships inside
the package (``templates/report.html.j2``). The same run folder renders to the same bytes:
the report holds no render timestamp and every random draw is seeded from the run.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bayes_gravity.drops import Drop
from bayes_gravity.errors import ResultsError
from bayes_gravity.gravity import BENCHMARK_DEFINITION
from bayes_gravity.holdout import COLUMNS as HOLDOUT_COLUMNS
from bayes_gravity.holdout import HOLDOUT_FILE
from bayes_gravity.io import write_text
from bayes_gravity.model import GravityModel
from bayes_gravity.scenario import COLUMNS as SCENARIO_COLUMNS
from bayes_gravity.scenario import SCENARIO_DIR

log = logging.getLogger(__name__)

REPORT_FILE = "report.html"
# Thinned draws for figures and derived summaries: enough for 5 %/95 % quantiles to 2 digits.
MAX_DRAWS = 2000
MAX_PARTNER_PANELS = 12  # per-partner figures beyond this show the largest partners by trade
DPI = 90
TIER_COLOURS = {"reshaping": "#1b7837", "expansion": "#f1a340", "huge": "#b2182b"}
TIER_LABELS = {
    "reshaping": "potential reshaping",
    "expansion": "potential expansion",
    "huge": "huge potential",
}
CHECK_LABELS = {
    "r_hat": ("R-hat (max)", "Gelman-Rubin split R-hat: do the chains agree?"),
    "ess_bulk": ("Bulk ESS (min)", "effective sample size for means and medians"),
    "ess_tail": ("Tail ESS (min)", "effective sample size for the 5 % and 95 % quantiles"),
    "divergences": ("Divergent transitions", "sampler steps that failed: a biased posterior"),
    "e_bfmi": ("E-BFMI (min over chains)", "energy Bayesian fraction of missing information"),
    "tree_depth_saturation": (
        "Tree-depth saturation",
        "share of draws that hit the maximum NUTS tree depth (reported, not gated)",
    ),
    "pareto_k": (
        "PSIS-LOO Pareto k (max)",
        "influential observations: reliability of leave-one-out (does not gate the fit)",
    ),
}
CLASSIC_LABELS = {"pooled_ols": "pooled OLS", "random_effects": "random effects"}
SECTIONS = (
    ("metadata", "1. Run and data"),
    ("diagnostics", "2. Sampler diagnostics"),
    ("checks", "3. Prior and posterior predictive checks"),
    ("index", "4. CBEC development index"),
    ("gravity", "5. Gravity coefficients: Bayesian vs classic"),
    ("potential", "6. Trade potential and tiers"),
    ("comparison", "7. Model comparison (PSIS-LOO)"),
    ("holdout", "8. Out-of-sample check"),
    ("scenarios", "9. Scenarios"),
)


# ---------------------------------------------------------------------------- helpers


def _figure_uri(fig: Any) -> str:
    """Encode a matplotlib figure as a PNG data URI and close it (no metadata: same bytes)."""
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None}, bbox_inches="tight")
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _collection_uri(plot: Any) -> str:
    """Encode an arviz_plots PlotCollection drawn with the matplotlib backend."""
    from matplotlib.ticker import MaxNLocator

    fig = plot.get_viz("figure")
    fig = fig.item() if hasattr(fig, "item") else fig
    for ax in fig.axes:  # chains are whole numbers (the E-BFMI panel)
        if ax.get_ylabel() == "Chain":
            ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    return _figure_uri(fig)


def _num(value: Any, digits: int = 3) -> str:
    """Format a number for a table cell; blanks for missing values."""
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "–"
    if isinstance(value, bool | np.bool_):
        return "yes" if value else "no"
    if isinstance(value, int | np.integer):
        return str(int(value))
    return f"{float(value):.{digits}g}"


def _usd(value: Any, sign: int = 1) -> str:
    """US$ (times ``sign``) with a unit word: 1.23 bn, 456 m."""
    value = sign * float(value)
    if not np.isfinite(value):
        return "–"
    minus = "−" if value < 0 else ""
    value = abs(value)
    if value >= 1e9:
        return f"{minus}{value / 1e9:.2f} bn"
    return f"{minus}{value / 1e6:.0f} m"


def _draws(da: Any, rng: np.random.Generator) -> np.ndarray:
    """Stacked draws (sample, ...) of a DataArray, thinned to at most ``MAX_DRAWS``."""
    values = np.asarray(da.stack(sample=("chain", "draw")).transpose("sample", ...).values)
    if len(values) > MAX_DRAWS:
        values = values[np.sort(rng.choice(len(values), MAX_DRAWS, replace=False))]
    return values


def _year_axis(axes: Any) -> None:
    """Whole years on the x axis (no 2002.5)."""
    from matplotlib.ticker import MaxNLocator

    for ax in np.ravel(axes):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True, nbins=6))


def _plain_log_axis(axes: Any, subs: tuple[float, ...] = (1.0,)) -> None:
    """Log-scale y axes labelled 0.1, 1, 10 instead of 10^-1, 10^0, 10^1.

    ``subs = (1, 3)`` adds 0.3, 3, 30: for panels whose range spans about a decade.
    """
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    for ax in np.ravel(axes):
        ax.yaxis.set_major_locator(LogLocator(base=10, subs=subs))
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.yaxis.set_minor_formatter(NullFormatter())


def _partner_flow_grid(
    partners: list[str], row_height: float
) -> tuple[Any, Any, list[tuple[str, str, Any]]]:
    """One row of panels per partner, exports left and imports right, sharing the years."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(
        len(partners), 2, figsize=(11, row_height * len(partners)), squeeze=False, sharex=True
    )
    cells = [
        (partner, flow, axes[i, j])
        for i, partner in enumerate(partners)
        for j, flow in enumerate(("export", "import"))
    ]
    return fig, axes, cells


def _shown_partners(inp: ReportInputs, partners: list[str], sec: Section) -> list[str]:
    """``partners``, or the ``MAX_PARTNER_PANELS`` largest by total trade (noted in ``sec``).

    A figure with a panel or bar per partner is unreadable and slow to draw for a large
    panel (200 partners); the section's tables still list every partner.
    """
    if len(partners) <= MAX_PARTNER_PANELS:
        return partners
    assert inp.model.inputs is not None
    totals = inp.model.inputs.trade.groupby("partner")["value_usd"].sum()
    largest = totals.reindex(partners).fillna(0.0).sort_values(ascending=False, kind="stable")
    note = (
        f"Per-partner figures show the {MAX_PARTNER_PANELS} largest of {len(partners)} partners "
        "by total trade; the tables list every partner."
    )
    if note not in sec.notes:
        sec.notes.append(note)
    return sorted(largest.index[:MAX_PARTNER_PANELS])


def _reporter_label(model: GravityModel) -> str:
    """Return the reporter's ISO3 code (or "reporter" when there are several) for titles."""
    assert model.inputs is not None
    reporters = model.inputs.panel.reporters
    return reporters[0] if len(reporters) == 1 else "reporter"


@dataclass
class Section:
    """One report section: heading, plain explanation, figures, tables and warnings."""

    key: str
    title: str
    intro: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    figures: list[dict[str, str]] = field(default_factory=list)
    tables: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    details: list[dict[str, str]] = field(default_factory=list)

    def table(self, caption: str, frame: pd.DataFrame, classes: list[str] | None = None) -> None:
        """Add a table of strings (already formatted); ``classes`` per row for colouring."""
        self.tables.append(
            {
                "caption": caption,
                "columns": [str(c) for c in frame.columns],
                "rows": frame.astype(str).to_numpy().tolist(),
                "classes": classes or [""] * len(frame),
            }
        )

    def figure(self, uri: str, caption: str) -> None:
        """Add an embedded figure with its caption."""
        self.figures.append({"uri": uri, "caption": caption})


# ---------------------------------------------------------------------------- inputs


@dataclass
class ReportInputs:
    """Everything the report is built from, read from one run folder."""

    run_dir: Path
    model: GravityModel
    diagnostics: dict[str, Any]
    tables: dict[str, pd.DataFrame]
    rng_seed: int


def load_inputs(run_dir: Path) -> ReportInputs:
    """Read a run folder; a missing, truncated or foreign posterior is a ResultsError."""
    from bayes_gravity.predict import load_run
    from bayes_gravity.runs import read_diagnostics

    run_dir = Path(run_dir)
    model = load_run(run_dir)
    if not (run_dir / "diagnostics.json").is_file():
        raise ResultsError(f"{run_dir / 'diagnostics.json'} is missing; refit with `fit`")
    try:
        diagnostics = read_diagnostics(run_dir)
    except json.JSONDecodeError as err:
        raise ResultsError(f"{run_dir / 'diagnostics.json'} is not valid JSON ({err})") from None
    tables = {}
    for name in ("coefficients.csv", "potential.csv", "index.csv", "loadings.csv"):
        path = run_dir / name
        if path.is_file():
            tables[name] = pd.read_csv(path)
        elif name in ("coefficients.csv", "potential.csv"):
            raise ResultsError(f"{path} is missing; refit with `fit`")
    seed = int(model.idata.attrs.get("random_seed", model.spec.sampler.random_seed))
    return ReportInputs(run_dir, model, diagnostics, tables, seed)


# ---------------------------------------------------------------------------- sections


def _metadata_section(inp: ReportInputs) -> Section:
    attrs = inp.model.idata.attrs
    spec = inp.model.spec
    assert inp.model.inputs is not None
    panel = inp.model.inputs.panel
    trade = inp.model.inputs.trade
    sec = Section("metadata", dict(SECTIONS)["metadata"])
    sec.intro.append(
        "What was fitted, on which data, with which software: enough to reproduce every number "
        "below (same spec, data hash and seed give the same draws)."
    )
    sampler = json.loads(str(attrs.get("sampler", "{}")))
    posterior = inp.model.idata["posterior"]
    rows = [
        ("spec", f"{spec.name}: {spec.description}"),
        ("spec hash", str(attrs.get("spec_hash"))),
        ("data", f"{attrs.get('data_path')} (content hash {attrs.get('data_hash')})"),
        ("coupling", spec.coupling),
        ("likelihood", spec.gravity.likelihood),
        (
            "sampler",
            f"{sampler.get('nuts_sampler', '?')}: {posterior.sizes['chain']} chains x "
            f"{posterior.sizes['draw']} draws after {sampler.get('tune', '?')} tuning steps, "
            f"target_accept {sampler.get('nuts', {}).get('target_accept', '?')}",
        ),
        ("random seed", str(attrs.get("random_seed"))),
        ("wall time of the fit", f"{float(attrs.get('wall_seconds', np.nan)):.1f} s"),
        ("intervals", f"equal-tailed {spec.ci_prob:.0%} unless stated otherwise"),
        ("tier rule", spec.potential.describe()),
    ]
    versions = json.loads(str(attrs.get("versions", "{}")))
    rows.append(("package versions", ", ".join(f"{k} {v}" for k, v in sorted(versions.items()))))
    sec.table("Run", pd.DataFrame(rows, columns=["item", "value"]))
    years = panel.years
    coverage = [
        ("reporter(s)", ", ".join(panel.reporters)),
        ("partners", ", ".join(panel.partners)),
        ("years", f"{years[0]}–{years[-1]}"),
        ("trade rows in the likelihood", f"{len(trade)} (partner x flow x year)"),
        ("index indicators", f"{len(panel.indicator_specs)}"),
        ("gravity covariates", ", ".join(c.name for c in spec.gravity.covariates)),
    ]
    sec.table("Data coverage", pd.DataFrame(coverage, columns=["item", "value"]))
    exclusions = json.loads(str(attrs.get("exclusions", "[]")))
    sec.notes.append(
        "Exclusions (rows or series left out, each with its reason): "
        + ("none." if not exclusions else "")
    )
    sec.notes.extend(f"excluded: {e}" for e in exclusions)
    sec.notes.extend(f"data warning: {w}" for w in panel.warnings)
    sec.details.append(
        {
            "summary": "Resolved model spec (JSON, as stored with the posterior)",
            "text": json.dumps(json.loads(str(attrs["bayes_gravity_spec"])), indent=2),
        }
    )
    return sec


def _key_vars(posterior: Any) -> list[str]:
    """Scalar parameters the economist reads: slopes, intercept, scales, tail weight."""
    names = [str(n) for n in posterior.data_vars]
    keys = [n for n in names if n.startswith("beta_") and posterior[n].ndim == 2]
    keys += [n for n in ("intercept", "sigma", "sigma_partner", "nu") if n in names]
    return keys


def _rank_figure(shown: Any, bins: int = 20) -> str:
    """Rank histograms per chain (Vehtari et al. 2021), one panel per scalar quantity."""
    import matplotlib.pyplot as plt
    from scipy.stats import binom, rankdata

    names = list(shown.data_vars)
    ncol = 4
    nrow = int(np.ceil(len(names) / ncol))
    fig, axes = plt.subplots(nrow, ncol, figsize=(12, 2.1 * nrow), squeeze=False)
    for ax, name in zip(axes.ravel(), names, strict=False):
        values = np.asarray(shown[name].transpose("chain", "draw").values, dtype=float)
        chains, draws = values.shape
        ranks = rankdata(values.ravel()).reshape(values.shape)
        edges = np.linspace(0.5, values.size + 0.5, bins + 1)
        expected = draws / bins
        lo, hi = binom.ppf([0.005, 0.995], draws, 1 / bins)
        ax.axhspan(lo, hi, color="0.88")
        ax.axhline(expected, color="0.4", ls="--", lw=0.8)
        top = hi
        for c in range(chains):
            counts, _ = np.histogram(ranks[c], bins=edges)
            ax.stairs(counts, np.arange(bins + 1), lw=1.2, baseline=None, label=f"chain {c}")
            top = max(top, counts.max())
        ax.set_title(name, fontsize=9)
        ax.set_xticks([0, bins], ["low", "high"], fontsize=7)
        ax.tick_params(labelsize=7)
        ax.set_ylim(0, 1.35 * top)
    for ax in axes.ravel()[len(names) :]:
        ax.axis("off")
    axes[0, 0].set_ylabel("draws per rank bin", fontsize=8)
    if len(names) and values.shape[0] <= 8:
        axes[0, 0].legend(fontsize=6, ncol=2, loc="upper left")
    fig.tight_layout()
    return _figure_uri(fig)


def _with_flagged(
    posterior: Any, keys: list[str], report: dict[str, Any], obs_labels: list[str]
) -> Any:
    """Key parameters plus, for each failing R-hat / ESS check, its worst scalar element."""
    import arviz_stats as az
    import xarray as xr

    shown = {k: posterior[k] for k in keys}
    for check, how in (("r_hat", "max"), ("ess_bulk", "min"), ("ess_tail", "min")):
        entry = report["checks"].get(check, {})
        name = entry.get("worst")
        if entry.get("passed", True) or not name or name not in posterior:
            continue
        if check == "r_hat":
            stat = az.rhat(posterior[[name]])[name]
        else:
            stat = az.ess(posterior[[name]], method=check.removeprefix("ess_"))[name]
        values = np.asarray(stat.values, dtype=float)
        if values.ndim == 0:
            shown.setdefault(name, posterior[name])
            continue
        flat = np.nanargmax(values) if how == "max" else np.nanargmin(values)
        where = dict(zip(stat.dims, np.unravel_index(int(flat), values.shape), strict=True))
        element = posterior[name].isel(where)
        label = ", ".join(
            obs_labels[int(where[d])] if d == "obs" else str(element.coords[d].values)
            for d in stat.dims
        )
        shown.setdefault(f"{name} [{label}]", element.drop_vars(list(stat.dims), errors="ignore"))
    return xr.Dataset(shown)


def _diagnostics_section(inp: ReportInputs) -> Section:
    import arviz_plots as azp

    report = inp.diagnostics
    sec = Section("diagnostics", dict(SECTIONS)["diagnostics"])
    sec.intro.append(
        "Checks that the Markov chains explored the posterior correctly. The sampler checks "
        "(R-hat, ESS, divergences, E-BFMI) gate the run: if one fails, the numbers below may be "
        "wrong and should not be reported before refitting with more draws, more tuning or a "
        "higher target_accept. Pareto k does not gate: a high value flags an influential "
        "observation, which makes the leave-one-out comparison approximate."
    )
    rows, classes = [], []
    ordered = [n for n in CHECK_LABELS if n in report["checks"]]
    ordered += [n for n in report["checks"] if n not in CHECK_LABELS]
    for name in ordered:
        check = report["checks"][name]
        label, meaning = CHECK_LABELS.get(name, (name, ""))
        gates = check.get("gates", True) and check.get("threshold") is not None
        verdict = "pass" if check["passed"] else ("FAIL" if gates else "warning")
        threshold = (
            "–" if check["threshold"] is None else f"{check['rule']} {_num(check['threshold'])}"
        )
        worst = check.get("worst") or ""
        if name == "pareto_k" and check.get("n_above"):
            worst = f"{check['n_above']} obs: " + ", ".join(check["observations_above"])
        rows.append((label, _num(check["value"], 4), threshold, verdict, worst, meaning))
        classes.append({"pass": "ok", "FAIL": "fail", "warning": "warn"}[verdict])
    frame = pd.DataFrame(
        rows, columns=["check", "value", "threshold", "verdict", "worst quantity", "what it means"]
    )
    sec.table("Diagnostics gate", frame, classes)
    if report.get("scope"):
        sec.notes.append(f"Scope: {report['scope']}.")
    tree = inp.model.idata
    posterior = tree["posterior"].to_dataset()
    keys = _key_vars(posterior)
    assert inp.model.inputs is not None
    labels = [f"{r.partner} {r.flow} {r.year}" for r in inp.model.inputs.trade.itertuples()]
    shown = _with_flagged(posterior, keys, report, labels)
    sec.figure(
        _rank_figure(shown),
        "Rank plots of the key parameters and of the worst element of each quantity the gate "
        "flags (name [coordinate]). All draws are ranked together; each line is one chain's "
        "histogram of its draws' ranks. If the chains sample the same distribution every "
        "histogram is flat (dashed line) and stays inside the grey band (99 % for each bin); "
        "a chain that sits in another region piles up at low or high ranks. With 20 bins per "
        "chain an occasional bin just outside the band is expected; a run of them is not.",
    )
    trace = azp.plot_trace_dist(
        tree,
        var_names=keys,
        backend="matplotlib",
        figure_kwargs={"figsize": (11, 1.7 * len(keys))},
    )
    sec.figure(
        _collection_uri(trace),
        "Posterior density (left) and trace (right) per chain (one line style per chain) of "
        "the key parameters: overlapping densities and stationary, well-mixed traces are what "
        "a healthy fit looks like.",
    )
    if "energy" in tree["sample_stats"].to_dataset():
        energy = azp.plot_energy(
            tree, backend="matplotlib", threshold=inp.model.spec.diagnostics.ebfmi_min
        )
        sec.figure(
            _collection_uri(energy),
            "Energy plot: the marginal energy distribution and the energy transitions should "
            "overlap; E-BFMI per chain (left) should be right of the dashed threshold line.",
        )
    return sec


def _checks_section(inp: ReportInputs, rng: np.random.Generator) -> Section:
    import matplotlib.pyplot as plt

    from bayes_gravity.predict import Predictor

    sec = Section("checks", dict(SECTIONS)["checks"])
    assert inp.model.inputs is not None
    n_partners = len(inp.model.inputs.panel.partners)
    sec.intro.append(
        "Prior vs posterior: how far the data moved each key coefficient from its prior. A "
        "posterior that looks like its prior is identified by the prior, not the data. Pair "
        "covariates (distance, contiguity) take one value per partner, here "
        f"{n_partners}, and overlap with the partner effects: with few partners they are "
        "expected to stay close to their priors."
    )
    tree = inp.model.idata
    posterior = tree["posterior"].to_dataset()
    keys = _key_vars(posterior)
    if "prior" in tree.children:
        prior = tree["prior"].to_dataset()
        shown = [k for k in keys if k in prior.data_vars]
        ncol = 4
        nrow = int(np.ceil(len(shown) / ncol))
        fig, axes = plt.subplots(nrow, ncol, figsize=(12, 2.4 * nrow), squeeze=False)
        for ax, name in zip(axes.ravel(), shown, strict=False):
            post = _draws(posterior[name], rng)
            pri = np.asarray(prior[name].values).ravel()
            lo, hi = np.quantile(np.concatenate([post, pri]), [0.005, 0.995])
            bins = np.linspace(lo, hi, 50)
            # one filled outline per histogram, not 50 bar patches: same picture, faster
            ax.hist(pri, bins=bins, density=True, histtype="stepfilled", color="0.7", label="prior")
            ax.hist(
                post,
                bins=bins,
                density=True,
                histtype="stepfilled",
                color="#2166ac",
                alpha=0.7,
                label="posterior",
            )
            ax.set_title(name, fontsize=10)
            ax.set_yticks([])
        for ax in axes.ravel()[len(shown) :]:
            ax.axis("off")
        axes[0, 0].legend(fontsize=8)
        fig.tight_layout()
        sec.figure(_figure_uri(fig), "Prior (grey) and posterior (blue) of the key parameters.")
    else:
        sec.warnings.append(
            "This run stores no prior draws (fitted before they were saved): refit to see the "
            "prior vs posterior and prior predictive checks."
        )
    trade = inp.model.inputs.trade.reset_index(drop=True)
    predictor = Predictor(inp.model)
    index = None
    if predictor.index_name is not None:
        cube, years = predictor.index_cube(int(predictor.years[-1]), rng)
        index = predictor.index_for_rows(trade, cube, years)
    noise = predictor.noise_factor(len(trade), rng)
    draws = predictor.predict(trade, index, noise).trade
    quant = np.quantile(draws, [0.05, 0.25, 0.5, 0.75, 0.95], axis=0)
    prior_q = None
    if "prior_predictive" in tree.children:
        pp = tree["prior_predictive"].to_dataset()
        name = "log_trade" if "log_trade" in pp.data_vars else "trade"
        values = np.asarray(pp[name].stack(sample=("chain", "draw")).transpose("sample", ...))
        level = np.exp(values) if name == "log_trade" else values
        prior_q = np.quantile(level * 1e6, [0.05, 0.95], axis=0)
    sec.intro.append(
        "Predictive checks on the trade scale: for every partner and flow, the observed trade "
        "(dots) against the range the fitted model predicts for a new observation in that year "
        "(posterior predictive, dark band 50 %, light band 90 %), and the range the priors "
        "alone allow (prior predictive, dotted lines, 90 %). Observed dots should fall inside "
        "the posterior bands about as often as the band widths say."
    )
    inside = (trade["value_usd"] >= quant[0]) & (trade["value_usd"] <= quant[4])
    inside50 = (trade["value_usd"] >= quant[1]) & (trade["value_usd"] <= quant[3])
    sec.notes.append(
        f"Observed inside the posterior predictive 90 % band: {int(inside.sum())} of "
        f"{len(trade)} ({inside.mean():.0%}); inside the 50 % band: {int(inside50.sum())} "
        f"({inside50.mean():.0%})."
    )
    reporter = _reporter_label(inp.model)
    pairs = trade[["partner", "flow"]].drop_duplicates().sort_values(["partner", "flow"])
    partners = _shown_partners(inp, sorted(pairs["partner"].unique()), sec)
    fig, axes, cells = _partner_flow_grid(partners, row_height=2.0)
    for partner, flow, ax in cells:
        mask = ((trade["partner"] == partner) & (trade["flow"] == flow)).to_numpy()
        if not mask.any():
            ax.axis("off")
            continue
        obs_years = trade.loc[mask, "year"].to_numpy()
        order = np.argsort(obs_years)
        yrs = obs_years[order]
        q = quant[:, mask][:, order] / 1e9
        ax.fill_between(yrs, q[0], q[4], color="#9ecae1", label="90 % predictive")
        ax.fill_between(yrs, q[1], q[3], color="#3182bd", label="50 % predictive")
        if prior_q is not None:
            pq = prior_q[:, mask][:, order] / 1e9
            ax.plot(yrs, pq[0], ":", color="0.4", label="prior 90 %")
            ax.plot(yrs, pq[1], ":", color="0.4")
        ax.plot(
            yrs,
            trade.loc[mask, "value_usd"].to_numpy()[order] / 1e9,
            "o",
            ms=3,
            color="k",
            label="observed",
        )
        ax.set_yscale("log")
        ax.set_title(f"{reporter} {flow}s, partner {partner}", fontsize=9)
        ax.set_ylabel("US$ bn (log)", fontsize=8)
        ax.tick_params(labelsize=8)
        if prior_q is not None:
            lo = max(q[0].min() / 20, pq[0].min())
            hi = min(q[4].max() * 20, pq[1].max())
            ax.set_ylim(lo, hi)
    axes[0, 0].legend(fontsize=7, loc="lower right")
    _year_axis(axes)
    _plain_log_axis(axes)
    fig.tight_layout()
    sec.figure(
        _figure_uri(fig),
        "Posterior predictive bands (blue) and prior predictive 90 % range (dotted; clipped to "
        "20x the posterior range) against observed trade (dots), US$ bn on a log scale.",
    )
    return sec


def _gate_warning(inp: ReportInputs) -> list[str]:
    if inp.diagnostics.get("passed", False):
        return []
    return [
        "The diagnostics gate FAILED (section 2): these rankings and classifications come from "
        "a posterior that may be wrong. Do not report them before refitting."
    ]


def _index_section(inp: ReportInputs, classic: Any, rng: np.random.Generator) -> Section:
    import matplotlib.pyplot as plt

    from bayes_gravity.runs import index_posterior

    sec = Section("index", dict(SECTIONS)["index"])
    assert inp.model.inputs is not None
    panel = inp.model.inputs.panel
    if panel.index_covariate is None:
        sec.notes.append("This model has no CBEC index covariate.")
        return sec
    sec.warnings.extend(_gate_warning(inp))
    sec.intro.append(
        "The CBEC development index is a latent factor: one unobserved development level per "
        "country and year that explains the co-movement of the indicators below (internet, "
        "logistics, customs, education and research), following a random walk over time. It "
        "is standardised (mean 0, sd 1 over all countries and years), so a value of +1 is one "
        "standard deviation above the panel average. Missing indicator values are left out of "
        "the likelihood, not imputed."
    )
    draws = _draws(index_posterior(inp.model)["cbec_index"], rng)  # sample, country, year
    countries = list(panel.countries)
    years = np.asarray(panel.years)
    q = np.quantile(draws, [0.05, 0.25, 0.5, 0.75, 0.95], axis=0)
    shown = set(_shown_partners(inp, list(panel.partners), sec)) | set(panel.reporters)
    fans = [(c, country) for c, country in enumerate(countries) if country in shown]
    ncol = 3
    nrow = int(np.ceil(len(fans) / ncol))
    fig, axes = plt.subplots(nrow, ncol, figsize=(12, 2.6 * nrow), sharey=True, squeeze=False)
    for ax, (c, country) in zip(axes.ravel(), fans, strict=False):
        ax.fill_between(years, q[0, c], q[4, c], color="#c6dbef", label="90 %")
        ax.fill_between(years, q[1, c], q[3, c], color="#6baed6", label="50 %")
        ax.plot(years, q[2, c], color="#08306b", label="median")
        ax.set_title(country, fontsize=10)
        ax.tick_params(labelsize=8)
        ax.axhline(0, color="0.6", lw=0.5)
    for ax in axes.ravel()[len(fans) :]:
        ax.axis("off")
    axes[0, 0].legend(fontsize=8, loc="upper left")
    axes[0, 0].set_ylabel("index (sd units)", fontsize=8)
    _year_axis(axes)
    fig.tight_layout()
    sec.figure(_figure_uri(fig), "Posterior index per country: median, 50 % and 90 % bands.")
    # rank probabilities among the partners, latest year
    members = [countries.index(p) for p in panel.partners]
    last = draws[:, members, -1]
    ranks = (-last).argsort(axis=1).argsort(axis=1) + 1  # 1 = highest index
    probs = np.stack([(ranks == r).mean(axis=0) for r in range(1, len(members) + 1)], axis=1)
    if len(members) <= MAX_PARTNER_PANELS:  # a colour per rank: readable for a few partners
        fig, ax = plt.subplots(figsize=(9, 0.5 * len(members) + 1.2))
        left = np.zeros(len(members))
        cmap = plt.get_cmap("viridis", len(members))
        for r in range(len(members)):
            ax.barh(panel.partners, probs[:, r], left=left, color=cmap(r), label=f"rank {r + 1}")
            left += probs[:, r]
        ax.set_xlim(0, 1)
        ax.set_xlabel(f"posterior probability of each rank in {years[-1]} (1 = most developed)")
        ax.legend(fontsize=8, ncol=len(members), loc="lower center", bbox_to_anchor=(0.5, 1.0))
        ax.invert_yaxis()
        fig.tight_layout()
        sec.figure(_figure_uri(fig), f"Rank probabilities among the partners in {years[-1]}.")
    first = int(np.argmax(probs[:, 0]))
    sec.notes.append(
        f"Most likely first in {years[-1]}: {panel.partners[first]} with probability "
        f"{probs[first, 0]:.2f}."
    )
    scores = classic.index.scores
    pca_last = scores[scores["year"] == years[-1]].set_index("iso3")
    table = pd.DataFrame(
        {
            "partner": panel.partners,
            "index median [90 %]": [
                f"{np.median(last[:, i]):+.2f} [{np.quantile(last[:, i], 0.05):+.2f}, "
                f"{np.quantile(last[:, i], 0.95):+.2f}]"
                for i in range(len(members))
            ],
            "P(rank 1)": [f"{p:.2f}" for p in probs[:, 0]],
            "mean rank": [
                f"{(probs[i] * np.arange(1, len(members) + 1)).sum():.1f}"
                for i in range(len(members))
            ],
            "classic PCA rank": [_num(pca_last["rank"].get(p, np.nan)) for p in panel.partners],
        }
    )
    sec.table(f"Ranking in {years[-1]}: Bayesian index vs the classic PCA score", table)
    loadings = inp.tables.get("loadings.csv")
    if loadings is not None:
        sec.intro.append(
            "Loadings say how strongly each (standardised) indicator moves with the index; the "
            "classic PCA weights are the study's variance-weighted component scores. Their "
            "scales differ, so compare their order and sign, not their size. The loading of "
            f"the anchor indicator ({inp.model.spec.index.anchor}) is constrained positive, "
            "which fixes the index's direction."
        )
        loadings = loadings.sort_values("mean")
        fig, axes = plt.subplots(1, 2, figsize=(11, 0.35 * len(loadings) + 1.2), sharey=True)
        y = np.arange(len(loadings))
        axes[0].errorbar(
            loadings["mean"],
            y,
            xerr=[loadings["mean"] - loadings["lo"], loadings["hi"] - loadings["mean"]],
            fmt="o",
            color="#2166ac",
        )
        axes[0].set_yticks(
            y, [f"{r.indicator} ({r.dimension})" for r in loadings.itertuples()], fontsize=8
        )
        axes[0].set_title(f"Bayesian loading (mean, {inp.model.spec.ci_prob:.0%})", fontsize=10)
        axes[0].axvline(0, color="0.6", lw=0.5)
        axes[1].barh(y, loadings["pca_weight"].fillna(0.0), color="0.5")
        axes[1].set_title("classic PCA weight", fontsize=10)
        axes[1].axvline(0, color="0.6", lw=0.5)
        fig.tight_layout()
        sec.figure(
            _figure_uri(fig), "Loadings of the latent index next to the classic PCA weights."
        )
    return sec


def _gravity_section(inp: ReportInputs, classic: Any) -> Section:
    import matplotlib.pyplot as plt

    sec = Section("gravity", dict(SECTIONS)["gravity"])
    spec = inp.model.spec
    sec.intro.append(
        "Elasticities and semi-elasticities of trade (log US$) with respect to each "
        "determinant. Covariates are centred, so the intercept is log trade at the sample "
        "means. Partner effects are partially pooled random intercepts, so time-invariant "
        "pair variables (log distance, contiguity) are identified mostly by their priors; read "
        "them with that in mind. Classic estimates: pooled OLS with HC1 robust standard errors "
        "and random effects (GLS) per partner-flow series, on the PCA index; their intervals "
        f"are estimate ± {_z(spec.ci_prob):.3f} standard errors."
    )
    coefs = inp.tables["coefficients.csv"]
    bayes = coefs[~coefs["term"].str.startswith(("sigma", "nu", "intercept", "gamma"))]
    cl = classic.coefficients
    # The study's flow dummy (import = 1) is the same contrast as the Bayesian beta_import.
    cl = cl.assign(term=cl["term"].replace({"flow_import": "import"}))
    terms = list(bayes["term"])
    z = _z(spec.ci_prob)
    fig, ax = plt.subplots(figsize=(10, 0.55 * len(terms) + 1.2))
    y = np.arange(len(terms))
    ax.errorbar(
        bayes["mean"],
        y,
        xerr=[bayes["mean"] - bayes["lo"], bayes["hi"] - bayes["mean"]],
        fmt="o",
        color="#2166ac",
        label=f"Bayesian (mean, {spec.ci_prob:.0%})",
    )
    for offset, model, colour in (
        (0.2, "pooled_ols", "#d6604d"),
        (0.35, "random_effects", "#4d9221"),
    ):
        part = cl[cl["model"] == model].set_index("term")
        est = part["estimate"].reindex(terms).to_numpy(dtype=float)
        se = part["std_error"].reindex(terms).to_numpy(dtype=float)
        ax.errorbar(
            est,
            y + offset,
            xerr=z * se,
            fmt="s",
            ms=4,
            color=colour,
            label=f"{CLASSIC_LABELS[model]} (± {z:.3g} SE)",
        )
    ax.axvline(0, color="0.6", lw=0.5)
    ax.set_yticks(y + 0.15, terms, fontsize=9)
    ax.invert_yaxis()
    ax.legend(fontsize=8, loc="best")
    ax.set_xlabel("coefficient on log trade")
    fig.tight_layout()
    sec.figure(
        _figure_uri(fig), "Bayesian intervals next to the classic OLS and random-effects estimates."
    )
    rows = []
    for term in terms:
        b = bayes[bayes["term"] == term].iloc[0]
        row = {
            "term": term,
            f"Bayesian mean [{spec.ci_prob:.0%} interval]": (
                f"{b['mean']:+.3f} [{b['lo']:+.3f}, {b['hi']:+.3f}]"
            ),
            "P(coefficient > 0)": _p_positive(inp.model, term),
        }
        for model in ("pooled_ols", "random_effects"):
            part = cl[(cl["model"] == model) & (cl["term"] == term)]
            row[f"{CLASSIC_LABELS[model]} (p-value)"] = (
                "–"
                if part.empty
                else f"{part['estimate'].iloc[0]:+.3f} (p={part['p_value'].iloc[0]:.3f})"
            )
        rows.append(row)
    sec.table("Gravity coefficients", pd.DataFrame(rows))
    scales = coefs[coefs["term"].str.startswith(("sigma", "nu", "intercept", "gamma"))]
    sec.table(
        "Intercept and scale parameters",
        pd.DataFrame(
            {
                "parameter": scales["term"],
                "mean [interval]": [
                    f"{r.mean:.3f} [{r.lo:.3f}, {r.hi:.3f}]" for r in scales.itertuples()
                ],
            }
        ),
    )
    sec.notes.append(
        f"Classic regressions use {classic.n_obs} rows; "
        + "; ".join(classic.exclusions + classic.warnings or ["no exclusions"])
        + "."
    )
    return sec


def _z(prob: float) -> float:
    from scipy.stats import norm

    return float(norm.ppf(0.5 + prob / 2))


def _p_positive(model: GravityModel, term: str) -> str:
    posterior = model.idata["posterior"].to_dataset()
    name = f"beta_{term}"
    if name not in posterior:
        return "–"
    return f"{float((posterior[name] > 0).mean()):.3f}"


def _potential_section(inp: ReportInputs, classic: Any) -> Section:
    import matplotlib.pyplot as plt

    spec = inp.model.spec
    sec = Section("potential", dict(SECTIONS)["potential"])
    sec.warnings.extend(_gate_warning(inp))
    pot = inp.tables["potential.csv"]
    rule = spec.potential.describe()
    definition = BENCHMARK_DEFINITION
    sec.intro.append(
        "Trade potential compares actual trade with the trade the gravity model predicts from "
        "the determinants alone. The prediction (benchmark) leaves out the partner's own random "
        "effect, otherwise every ratio would be about 1 by construction. "
        f"Benchmark: {definition}."
    )
    sec.intro.append(
        f"Tier rule (from the spec): {rule}. Each pair gets the posterior probability of each "
        "tier and its most probable tier. The US$ gap is actual minus predicted trade: "
        "negative = trade below what the determinants predict (room to grow)."
    )
    hi, lo = spec.potential.reshaping_at, spec.potential.huge_below
    if spec.potential.ratio == "predicted_over_actual":
        hi, lo = 1 / hi, 1 / lo
    reporter = _reporter_label(inp.model)
    pairs = pot[["partner", "flow"]].drop_duplicates()
    partners = _shown_partners(inp, sorted(pairs["partner"].unique()), sec)
    fig, axes, cells = _partner_flow_grid(partners, row_height=1.9)
    for partner, flow, ax in cells:
        part = pot[(pot["partner"] == partner) & (pot["flow"] == flow)].sort_values("year")
        if part.empty:
            ax.axis("off")
            continue
        ax.fill_between(part["year"], part["ratio_lo"], part["ratio_hi"], color="#c6dbef")
        ax.plot(part["year"], part["ratio_mean"], color="#08306b")
        ax.axhline(hi, color=TIER_COLOURS["reshaping"], ls="--", lw=1)
        ax.axhline(lo, color=TIER_COLOURS["huge"], ls="--", lw=1)
        ax.set_yscale("log")
        ax.set_title(f"{reporter} {flow}s, partner {partner}", fontsize=9)
        ax.tick_params(labelsize=8)
    axes[0, 0].set_ylabel("ratio (log)", fontsize=8)
    _year_axis(axes)
    _plain_log_axis(axes, subs=(1.0, 3.0))
    fig.tight_layout()
    sec.figure(
        _figure_uri(fig),
        f"Potential ratio per year (mean and {spec.ci_prob:.0%} interval) against the tier "
        f"thresholds: green dashed {hi:.3g} (reshaping at or above when the ratio is "
        f"actual/predicted), red dashed {lo:.3g}.",
    )
    latest = pot.loc[pot.groupby(["partner", "flow"])["year"].idxmax()].reset_index(drop=True)
    bars = latest[latest["partner"].isin(partners)]
    labels = [f"{r.partner} {r.flow} {r.year}" for r in bars.itertuples()]
    fig, ax = plt.subplots(figsize=(10, 0.4 * len(bars) + 1.5))
    left = np.zeros(len(bars))
    for tier in ("reshaping", "expansion", "huge"):
        values = bars[f"p_{tier}"].to_numpy(dtype=float)
        ax.barh(labels, values, left=left, color=TIER_COLOURS[tier], label=TIER_LABELS[tier])
        left += values
    ax.set_xlim(0, 1)
    ax.invert_yaxis()
    ax.set_xlabel("posterior probability of each tier (latest year)")
    ax.legend(fontsize=8, ncol=3, loc="lower center", bbox_to_anchor=(0.5, 1.0))
    fig.tight_layout()
    sec.figure(_figure_uri(fig), "Tier probabilities per partner and flow in the latest year.")
    cl = classic.potential
    cl_latest = cl.set_index(["partner", "flow", "year"])
    rows = []
    for r in latest.itertuples():
        key = (r.partner, r.flow, r.year)
        classic_cell = (
            f"{cl_latest.loc[key, 'ratio']:.2f} ({cl_latest.loc[key, 'tier']})"
            if key in cl_latest.index
            else "–"
        )
        rows.append(
            {
                "partner": r.partner,
                "flow": r.flow,
                "year": r.year,
                "actual US$": _usd(r.actual),
                "predicted US$ (mean)": _usd(r.benchmark_mean),
                "ratio mean [interval]": f"{r.ratio_mean:.2f} [{r.ratio_lo:.2f}, {r.ratio_hi:.2f}]",
                "P(reshaping / expansion / huge)": (
                    f"{r.p_reshaping:.2f} / {r.p_expansion:.2f} / {r.p_huge:.2f}"
                ),
                "most probable tier": TIER_LABELS.get(str(r.tier), str(r.tier)),
                # potential.csv holds predicted - actual; shown as actual - predicted
                "gap: actual − predicted US$ [interval]": (
                    f"{_usd(r.gap_usd_mean, -1)} [{_usd(r.gap_usd_hi, -1)}, "
                    f"{_usd(r.gap_usd_lo, -1)}]"
                ),
                "classic ratio (tier)": classic_cell,
            }
        )
    sec.table("Potential in the latest year (all years: potential.csv)", pd.DataFrame(rows))
    sec.notes.append(
        "Gap = actual minus predicted trade (potential.csv stores the opposite sign, predicted "
        "minus actual, in gap_usd_*). Classic ratio: actual / exp(X b) from the random-effects "
        "(or OLS, per the spec) regression on the PCA index, the series' own effect excluded."
    )
    return sec


def _comparison_section(inp: ReportInputs) -> Section:
    from bayes_gravity.comparison import read_comparison

    sec = Section("comparison", dict(SECTIONS)["comparison"])
    sec.intro.append(
        "Does the CBEC index help predict trade? Each model's expected log predictive density "
        "(ELPD) is estimated by Pareto-smoothed importance-sampling leave-one-out "
        "cross-validation (PSIS-LOO) over the same trade observations (log trade). Higher is "
        "better; a difference smaller than about twice its standard error (dSE) is not a clear "
        "difference. The weight is the stacking weight of each model's predictions."
    )
    saved = read_comparison(inp.run_dir, inp.model.idata)
    if saved is None:
        sec.notes.append(
            "Not run for this fit (`fit --no-compare`, a likelihood not on log trade, or the "
            "comparison files belong to an earlier fit). Run `fit` without --no-compare."
        )
        return sec
    table, pointwise = saved
    rows = pd.DataFrame(
        {
            "model": table["model"],
            "what it is": table["description"],
            "ELPD (SE)": [f"{r.elpd_loo:.1f} ({r.se:.1f})" for r in table.itertuples()],
            "ELPD difference to best (dSE)": [
                f"{r.elpd_diff:.1f} ({r.dse:.1f})" for r in table.itertuples()
            ],
            "effective parameters p_loo": [f"{v:.1f}" for v in table["p_loo"]],
            "stacking weight": [f"{v:.2f}" for v in table["weight"]],
            "Pareto k max (n ≥ threshold)": [
                f"{r.pareto_k_max:.2f} ({r.n_k_above})" for r in table.itertuples()
            ],
            "draws x chains, fit time": [
                f"{r.draws} x {r.chains}, {r.wall_seconds:.0f} s" for r in table.itertuples()
            ],
        }
    )
    sec.table("PSIS-LOO comparison (best first)", rows)
    best = str(table["model"].iloc[0])
    readings = []
    for name, diff, dse in table[["model", "elpd_diff", "dse"]].iloc[1:].to_numpy().tolist():
        clear = abs(float(diff)) > 2 * float(dse)
        readings.append(
            f"{name} is {abs(float(diff)):.1f} lower (dSE {float(dse):.1f}): "
            + ("clearly worse" if clear else "not clearly different")
        )
    sec.notes.append(f"Reading: {best} predicts best; " + "; ".join(readings) + ".")
    n_obs = sorted(set(table["n_obs"]))
    sec.notes.append(
        f"All models are scored on the same {n_obs[0]} observations (partner x flow x year), "
        "checked row by row when the comparison was computed."
    )
    if (table["n_k_above"] > 0).any():
        sec.warnings.append(
            "Some observations have Pareto k above the threshold: the ELPD of the models "
            "concerned is approximate (influential observations, often structural breaks)."
        )
    worst = pointwise.sort_values("pareto_k", ascending=False).head(5)
    sec.table(
        "Most influential observations (highest Pareto k over all models)",
        worst.assign(
            pareto_k=worst["pareto_k"].map(lambda v: f"{v:.2f}"),
            elpd_loo_i=worst["elpd_loo_i"].map(lambda v: f"{v:.2f}"),
        )[["model", "partner", "flow", "year", "elpd_loo_i", "pareto_k"]],
    )
    return sec


def _holdout_section(inp: ReportInputs) -> Section:
    sec = Section("holdout", dict(SECTIONS)["holdout"])
    path = inp.run_dir / HOLDOUT_FILE
    sec.intro.append(
        "Trade in a year the model never saw, against its posterior predictive interval. The "
        "actual figures are press-quoted totals, not a primary statistical source."
    )
    if not path.is_file():
        sec.notes.append(
            f"No {HOLDOUT_FILE} in the run folder: the out-of-sample check was not run."
        )
        return sec
    table = pd.read_csv(path)
    missing = sorted(set(HOLDOUT_COLUMNS) - {"note"} - set(table.columns))
    if missing:
        sec.warnings.append(f"{path.name} lacks column(s) {missing}; not shown.")
        return sec
    shown = pd.DataFrame(
        {
            "partner": table["partner"],
            "flow": table["flow"],
            "year": table["year"],
            "actual US$": table["actual"].map(_usd),
            "predicted median": table["pred_median"].map(_usd),
            "50 % interval": [
                f"{_usd(a)} – {_usd(b)}" for a, b in zip(table["lo50"], table["hi50"], strict=True)
            ],
            "90 % interval": [
                f"{_usd(a)} – {_usd(b)}" for a, b in zip(table["lo90"], table["hi90"], strict=True)
            ],
            "in 50 %": table["in50"].map(_flag),
            "in 90 %": table["in90"].map(_flag),
            "note": table["note"].fillna("") if "note" in table else "",
        }
    )
    sec.table(f"Out-of-sample check ({path.name})", shown)
    in50 = table["in50"].map(_truth).dropna()
    in90 = table["in90"].map(_truth).dropna()
    sec.notes.append(
        f"Inside the 50 % interval: {int(in50.sum())} of {len(in50)}; inside the 90 % "
        f"interval: {int(in90.sum())} of {len(in90)} (expected about half and nine in ten)."
    )
    return sec


def _truth(value: Any) -> float:
    if isinstance(value, str):
        return {"true": 1.0, "false": 0.0, "1": 1.0, "0": 0.0}.get(value.strip().lower(), np.nan)
    try:
        return float(value)
    except (TypeError, ValueError):
        return np.nan


def _flag(value: Any) -> str:
    truth = _truth(value)
    return "–" if not np.isfinite(truth) else ("yes" if truth else "no")


def _scenarios_section(inp: ReportInputs) -> Section:
    sec = Section("scenarios", dict(SECTIONS)["scenarios"])
    folder = inp.run_dir / SCENARIO_DIR
    files = sorted(folder.glob("*.csv")) if folder.is_dir() else []
    if not files:
        sec.notes.append("No scenarios were run for this fit (`python -m bayes_gravity scenario`).")
        return sec
    sec.warnings.extend(_gate_warning(inp))
    sec.intro.append(
        "Posterior predictive trade under each scenario next to the baseline (the same draws "
        "without the change): mean trade with its interval, the change in US$ and the "
        "probability that the pair's potential tier changes. Shown for the last year of each "
        "scenario; every year is in the scenario's CSV."
    )
    for path in files:
        table = pd.read_csv(path)
        meta_path = path.with_suffix(".json")
        description = ""
        if meta_path.is_file():
            try:
                description = str(
                    json.loads(meta_path.read_text(encoding="utf-8")).get("description", "")
                )
            except json.JSONDecodeError:
                description = f"({meta_path.name} unreadable)"
        needed = set(SCENARIO_COLUMNS)
        if not needed <= set(table.columns):
            sec.warnings.append(
                f"{path.name} lacks column(s) {sorted(needed - set(table.columns))}"
            )
            continue
        last = table[table["year"] == table["year"].max()]
        shown = pd.DataFrame(
            {
                "partner": last["partner"],
                "flow": last["flow"],
                "year": last["year"],
                "trade mean [interval]": [
                    f"{_usd(r.trade_mean)} [{_usd(r.trade_lo)}, {_usd(r.trade_hi)}]"
                    for r in last.itertuples()
                ],
                "change vs baseline": last["delta_mean"].map(_usd),
                "P(tier change)": last["p_tier_change"].map(lambda v: f"{v:.2f}"),
                "most probable tier (scenario)": last["tier"].map(lambda t: TIER_LABELS.get(t, t))
                if "tier" in last
                else "",
            }
        )
        sec.table(f"Scenario {path.stem}: {description}", shown)
    return sec


# ---------------------------------------------------------------------------- assembly


def build_report(inp: ReportInputs) -> str:
    """Render the report's HTML from the run folder's inputs."""
    import matplotlib

    matplotlib.use("Agg")  # no display; also fixes the backend for byte-identical PNGs
    import jinja2
    import matplotlib.pyplot as plt

    from bayes_gravity.classic import run_classic

    rng = np.random.default_rng(inp.rng_seed)
    classic = run_classic(inp.model.data, inp.model.spec)
    with plt.rc_context({"figure.max_open_warning": 0, "font.size": 9}):
        sections = [
            _metadata_section(inp),
            _diagnostics_section(inp),
            _checks_section(inp, rng),
            _index_section(inp, classic, rng),
            _gravity_section(inp, classic),
            _potential_section(inp, classic),
            _comparison_section(inp),
            _holdout_section(inp),
            _scenarios_section(inp),
        ]
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("bayes_gravity", "templates"),
        autoescape=jinja2.select_autoescape(["html", "j2"]),
        undefined=jinja2.StrictUndefined,
    )
    diagnostics = inp.diagnostics
    failed = [
        CHECK_LABELS.get(name, (name,))[0]
        for name, check in diagnostics["checks"].items()
        if not check["passed"] and check.get("gates", True)
    ]
    return env.get_template("report.html.j2").render(
        title=f"bayes_gravity report: {inp.model.spec.name}",
        spec=inp.model.spec,
        passed=bool(diagnostics.get("passed")),
        failed=failed,
        loo_reliable=bool(diagnostics.get("loo_reliable", True)),
        approximation=_approximation_banner(inp.model.idata.attrs),
        dropped=[Drop(**d).describe() for d in diagnostics.get("dropped", [])],
        sections=sections,
    )


def _approximation_banner(attrs: Any) -> str:
    """Return the warning an approximate fit (ADVI, Pathfinder) carries; empty for NUTS."""
    if not int(attrs.get("approximate", 0)):
        return ""
    from bayes_gravity.approximate import warning

    return warning(str(attrs.get("inference_method", "approximation")))


def write_report(run_dir: Path) -> Path:
    """Render ``run_dir/report.html`` from the saved run (no refit); return its path.

    Raises :class:`~bayes_gravity.errors.ResultsError` (exit code 2) for a folder without a
    readable posterior, a posterior of other data (hash mismatch) or missing tables; nothing
    is written then.
    """
    start = time.perf_counter()
    run_dir = Path(run_dir)
    html = build_report(load_inputs(run_dir))
    path = run_dir / REPORT_FILE
    write_text(path, html)
    log.info("report %s: %.1f s, %d bytes", path, time.perf_counter() - start, len(html))
    return path
