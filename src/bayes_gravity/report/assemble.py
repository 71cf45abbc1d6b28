"""The HTML report of a run folder: one self-contained file a trade economist reads offline.

:func:`write_report` reads only what ``fit`` saved (``posterior.nc``, the CSV tables,
``diagnostics.json``, the classic pipeline's ``classic_*.csv`` and ``classic.json``, the
optional ``comparison.csv``, ``holdout_2023.csv`` and ``scenarios/``) plus the dataset the
posterior's attributes name, refused when its content hash differs
(:func:`bayes_gravity.results.store.load_run`). Nothing is refitted and no pipeline runs
again: the report draws what the run folder holds.

Figures are PNGs embedded as base64 (no remote assets, no scripts); the template ships inside
the package (``templates/report.html.j2``). The same run folder renders to the same bytes:
the report holds no render timestamp and every random draw is seeded from the run.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import numpy as np

from bayes_gravity.data.drops import Drop
from bayes_gravity.io import write_text
from bayes_gravity.model.approximate import warning
from bayes_gravity.report.inputs import ReportInputs, load_inputs
from bayes_gravity.report.section import CHECK_LABELS, FRONTIER_TITLE
from bayes_gravity.report.sections.checks import checks_section
from bayes_gravity.report.sections.comparison import comparison_section
from bayes_gravity.report.sections.diagnostics import diagnostics_section
from bayes_gravity.report.sections.frontier import efficiency_section
from bayes_gravity.report.sections.gravity import gravity_section
from bayes_gravity.report.sections.holdout import holdout_section
from bayes_gravity.report.sections.index import index_section
from bayes_gravity.report.sections.metadata import metadata_section
from bayes_gravity.report.sections.potential import potential_section
from bayes_gravity.report.sections.scenarios import scenarios_section
from bayes_gravity.results import artefacts

log = logging.getLogger(__name__)


REPORT_FILE = artefacts.REPORT


def build_report(inp: ReportInputs) -> str:
    """Render the report's HTML from the run folder's inputs."""
    import matplotlib

    matplotlib.use("Agg")  # no display; also fixes the backend for byte-identical PNGs
    import jinja2
    import matplotlib.pyplot as plt

    rng = np.random.default_rng(inp.rng_seed)
    classic = inp.classic
    with plt.rc_context({"figure.max_open_warning": 0, "font.size": 9}):
        if inp.model.spec.frontier is not None:
            # the predictive checks, ratio tiers, holdout and scenarios need the mean model
            sections = [
                metadata_section(inp),
                diagnostics_section(inp),
                index_section(inp, classic, rng),
                gravity_section(inp, classic),
                efficiency_section(inp, "potential", FRONTIER_TITLE),
                comparison_section(inp),
            ]
        else:
            sections = [
                metadata_section(inp),
                diagnostics_section(inp),
                checks_section(inp, rng),
                index_section(inp, classic, rng),
                gravity_section(inp, classic),
                potential_section(inp, classic),
                comparison_section(inp),
                holdout_section(inp),
                scenarios_section(inp),
            ]
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("bayes_gravity.report", "templates"),
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
    return warning(str(attrs.get("inference_method", "approximation")))


def write_report(run_dir: Path, path: str | Path | None = None) -> Path:
    """Render ``run_dir/report.html`` (or ``path``) from the saved run (no refit).

    Returns the path written.

    Raises :class:`~bayes_gravity.errors.ResultsError` (exit code 2) for a folder without a
    readable posterior, a posterior of other data (hash mismatch) or missing tables; nothing
    is written then.
    """
    start = time.perf_counter()
    run_dir = Path(run_dir)
    html = build_report(load_inputs(run_dir))
    path = run_dir / REPORT_FILE if path is None else Path(path)
    write_text(path, html)
    log.info("report %s: %.1f s, %d bytes", path, time.perf_counter() - start, len(html))
    return path
