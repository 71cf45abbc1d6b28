"""Section 1: the run and its data (spec, dataset, sampler, versions, exclusions)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from bayes_gravity.report.inputs import ReportInputs
from bayes_gravity.report.section import SECTIONS, Section


def metadata_section(inp: ReportInputs) -> Section:
    """Build section 1: spec, data, sampler settings, versions and exclusions."""
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
