"""Section 2: the sampler diagnostics gate, rank plots, traces and the energy plot."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from bayes_gravity.report.figures import collection_uri, figure_uri
from bayes_gravity.report.inputs import ReportInputs
from bayes_gravity.report.section import CHECK_LABELS, SECTIONS, Section, key_vars, num


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
    return figure_uri(fig)


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


def diagnostics_section(inp: ReportInputs) -> Section:
    """Build section 2: the gate's table, rank plots, traces and the energy plot."""
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
            "–" if check["threshold"] is None else f"{check['rule']} {num(check['threshold'])}"
        )
        worst = check.get("worst") or ""
        if name == "pareto_k" and check.get("n_above"):
            worst = f"{check['n_above']} obs: " + ", ".join(check["observations_above"])
        rows.append((label, num(check["value"], 4), threshold, verdict, worst, meaning))
        classes.append({"pass": "ok", "FAIL": "fail", "warning": "warn"}[verdict])
    frame = pd.DataFrame(
        rows, columns=["check", "value", "threshold", "verdict", "worst quantity", "what it means"]
    )
    sec.table("Diagnostics gate", frame, classes)
    if report.get("scope"):
        sec.notes.append(f"Scope: {report['scope']}.")
    tree = inp.model.idata
    posterior = tree["posterior"].to_dataset()
    keys = key_vars(posterior)
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
        collection_uri(trace),
        "Posterior density (left) and trace (right) per chain (one line style per chain) of "
        "the key parameters: overlapping densities and stationary, well-mixed traces are what "
        "a healthy fit looks like.",
    )
    if "energy" in tree["sample_stats"].to_dataset():
        energy = azp.plot_energy(
            tree, backend="matplotlib", threshold=inp.model.spec.diagnostics.ebfmi_min
        )
        sec.figure(
            collection_uri(energy),
            "Energy plot: the marginal energy distribution and the energy transitions should "
            "overlap; E-BFMI per chain (left) should be right of the dashed threshold line.",
        )
    return sec
