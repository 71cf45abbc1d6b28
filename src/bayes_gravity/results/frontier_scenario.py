"""Scenarios that reduce inefficiency: "halve u for KAZ from 2015", on the fitted years.

Per posterior draw and trade row, the frontier ``actual * exp(u)`` is held and the
inefficiency of the chosen rows is scaled: ``u' = factor * u``, so trade under the scenario
is ``frontier * exp(-u') = actual * exp((1 - factor) u)``, TE becomes ``exp(-u')`` and the
change in trade ``actual * (exp((1 - factor) u) - 1)`` is at least 0 for ``factor <= 1``. The
rows are the fitted ones: projecting the frontier to years after the fit needs the
predictive machinery of the mean model, which a frontier run does not have yet.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from bayes_gravity.errors import ConfigError
from bayes_gravity.io import write_csv
from bayes_gravity.model.gravity_model import GravityModel
from bayes_gravity.potential import TE_TIERS, te_tier_codes
from bayes_gravity.results import artefacts


def inefficiency_scenario(
    model: GravityModel,
    factor: float,
    partners: list[str] | None = None,
    flows: list[str] | None = None,
    from_year: int | None = None,
) -> pd.DataFrame:
    """Trade and TE when the inefficiency of the chosen rows is multiplied by ``factor``."""
    from bayes_gravity.model.frontier import inefficiency_draws

    spec = model.spec
    if spec.frontier is None:
        raise ConfigError(f"run of spec {spec.name!r} is not a frontier fit: no u to change")
    if not 0 <= factor:
        raise ConfigError(f"--factor must be >= 0 (got {factor})")
    assert model.inputs is not None
    trade = model.inputs.trade.reset_index(drop=True)
    known = sorted(trade["partner"].unique())
    unknown = sorted(set(partners or []) - set(known))
    if unknown:
        raise ConfigError(f"--partner: {unknown} are not partners of this run ({known})")
    chosen = np.ones(len(trade), dtype=bool)
    if partners:
        chosen &= trade["partner"].isin(partners).to_numpy()
    if flows:
        chosen &= trade["flow"].isin(flows).to_numpy()
    if from_year is not None:
        chosen &= (trade["year"] >= from_year).to_numpy()
    if not chosen.any():
        raise ConfigError("the scenario selects no fitted trade row (check --partner, --from-year)")
    log_values = np.log(trade["value_usd"].to_numpy(dtype=float) / 1e6)
    posterior = model.idata["posterior"].to_dataset()
    u = inefficiency_draws(posterior, spec.frontier, log_values, int(spec.sampler.random_seed))
    scaled = np.where(chosen[None, :], factor * u, u)
    actual = trade["value_usd"].to_numpy(dtype=float)
    trade_scn = actual[None, :] * np.exp(u - scaled)
    delta = trade_scn - actual[None, :]
    tail = (1 - spec.ci_prob) / 2
    base_codes = te_tier_codes(np.exp(-u), spec.frontier)
    scn_codes = te_tier_codes(np.exp(-scaled), spec.frontier)
    probs = np.stack([(scn_codes == k).mean(axis=0) for k in range(len(TE_TIERS))], axis=-1)
    table = trade[["partner", "flow", "year"]].copy()
    table["changed"] = chosen
    table["actual"] = actual
    table["te_mean"] = np.exp(-u).mean(axis=0)
    table["te_scenario_mean"] = np.exp(-scaled).mean(axis=0)
    table["trade_scenario_mean"] = trade_scn.mean(axis=0)
    table["delta_usd_mean"] = delta.mean(axis=0)
    table["delta_usd_lo"] = np.quantile(delta, tail, axis=0)
    table["delta_usd_hi"] = np.quantile(delta, 1 - tail, axis=0)
    table["tier"] = np.asarray(TE_TIERS, dtype=object)[probs.argmax(axis=1)]
    table["p_tier_change"] = (scn_codes != base_codes).mean(axis=0)
    table["rule"] = (
        f"u multiplied by {factor} for partners {partners or 'all'}, flows {flows or 'both'}, "
        f"years {'from ' + str(from_year) if from_year is not None else 'all'} (fitted years); "
        "frontier held, trade = frontier * exp(-u')"
    )
    return table.sort_values(["partner", "flow", "year"]).reset_index(drop=True)


def write_inefficiency_scenario(table: pd.DataFrame, run_dir: Path, name: str) -> Path:
    """Write ``RUN/scenarios/NAME.csv`` atomically."""
    if not name or "/" in name or name.startswith(".") or f"{name}.csv" in artefacts.ALL:
        raise ConfigError(f"--name: {name!r} is not a valid scenario name")
    path = Path(run_dir) / artefacts.SCENARIO_DIR / f"{name}.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    write_csv(path, table)
    return path
