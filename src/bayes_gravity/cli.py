"""Command-line interface: ``python -m bayes_gravity COMMAND``.

Each command loads its config, calls the library, prints a short summary and returns an exit
code: 0 ok, 1 unexpected, 2 usage/config, 3 data, 4 diagnostics failed under ``--strict``,
5 output folder in use by another command, 6 results could not be written (disk full,
permission denied; the earlier results are left as they were).
Heavy libraries (PyMC, ArviZ) are imported inside the commands that sample or plot.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from bayes_gravity.errors import BayesGravityError, BayesGravityWarning, ConfigError

if TYPE_CHECKING:  # type-only: the CLI imports heavy modules inside each command
    from bayes_gravity.api import Run
    from bayes_gravity.config import ModelSpec
    from bayes_gravity.data.dataset import Dataset

app = typer.Typer(
    help="Bayesian trade-potential toolkit: CBEC index, gravity model, potential tiers.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
data_app = typer.Typer(help="Build or import datasets.", no_args_is_help=True)
app.add_typer(data_app, name="data")

DataOpt = Annotated[
    Path | None,
    typer.Option("--data", help="dataset folder (default: the spec's, else the shipped one)"),
]
OutOpt = Annotated[Path | None, typer.Option("--out", help="output folder")]
StrictDataOpt = Annotated[
    bool,
    typer.Option(
        "--strict-data", help="implausible values in the data are errors (exit 3), not warnings"
    ),
]
SpecArg = Annotated[
    Path | None, typer.Argument(help="model spec TOML (default: models/default.toml)")
]


# Run folders a command has committed, so an interrupt afterwards is reported truthfully.
WRITTEN: list[Path] = []
# What the running command holds until it returns (the lock of its output folder).
_HELD: list[contextlib.ExitStack] = []


def lock_output(folder: Path, command: str) -> None:
    """Hold the lock of ``folder`` until the command returns: one writer per folder."""
    from bayes_gravity.lock import folder_lock

    for note in _HELD[-1].enter_context(folder_lock(folder, command)):
        typer.echo(f"note: {note}", err=True)


def handled(command: Callable[..., int]) -> Callable[..., None]:
    """Map our errors to their exit codes with a message and no traceback."""

    @functools.wraps(command)
    def wrapper(*args: object, **kwargs: object) -> None:
        WRITTEN.clear()
        with contextlib.ExitStack() as held:
            _HELD.append(held)
            try:
                code = command(*args, **kwargs)
            except BayesGravityError as err:
                typer.echo(f"error: {err}", err=True)
                code = err.exit_code
            except KeyboardInterrupt as err:  # say what, if anything, was written
                if WRITTEN:
                    detail = (
                        f"the run in {WRITTEN[-1]} is complete; the steps after it were not done"
                    )
                else:
                    detail = str(err) or "nothing was written"
                typer.echo(f"interrupted: {detail}", err=True)
                code = 130
            finally:
                _HELD.pop()
        if code:
            raise typer.Exit(code)

    return wrapper


def _dataset_for(
    spec: ModelSpec, spec_path: Path, data: Path | None, strict_data: bool = False
) -> Dataset:
    """Load the dataset a spec names (``--data`` overrides it), with the spec's trade file.

    A folder or trade file the spec names that does not exist, and series the data lack, are
    spec errors (exit 2) naming the spec key; a broken dataset is a data error (exit 3), and so
    is an implausible one under ``--strict-data``.
    """
    from bayes_gravity.config import resolve_data_path
    from bayes_gravity.data.dataset import SHIPPED_DATA, load_dataset
    from bayes_gravity.data.spec_check import check_against_data

    folder = resolve_data_path(spec, spec_path, data)
    if data is None and folder is not None and not folder.is_dir():
        raise ConfigError(
            f"{spec_path}: data.path: dataset folder {folder} not found (a relative path is "
            "relative to the spec's folder)"
        )
    where = folder if folder is not None else SHIPPED_DATA
    if where.is_dir() and not (where / spec.data.trade_file).is_file():
        found = sorted(p.name for p in where.glob("*.csv"))
        raise ConfigError(
            f"{spec_path}: data.trade_file: {spec.data.trade_file!r} is not in {where}; "
            f"CSV files there: {found}"
        )
    dataset = load_dataset(
        folder,
        trade_file=spec.data.trade_file,
        strict=strict_data,
        window=(spec.data.first_year, spec.data.last_year, str(spec_path)),
    )
    check_against_data(spec, dataset, str(spec_path))
    return dataset


def echo(text: str = "") -> None:
    """Print to standard output."""
    typer.echo(text)


def _print_warnings(messages: list[str]) -> None:
    for message in messages:
        typer.echo(f"warning: {message}", err=True)


def _print_drops(drops: list[Any]) -> None:
    """Name every partner, flow or year that lost all its rows (stdout and stderr)."""
    if drops:
        echo(f"\nDROPPED: {len(drops)} group(s) lost every trade row; the results lack them:")
    for drop in drops:
        echo(f"  DROPPED {drop.describe()}")
        typer.echo(f"warning: dropped {drop.describe()}", err=True)


@app.command()
@handled
def validate(
    data: DataOpt = None, trade_file: str = "trade.csv", strict_data: StrictDataOpt = False
) -> int:
    """Check a dataset folder: print coverage and every problem; exit 0 when usable."""
    from bayes_gravity.data.dataset import load_dataset

    dataset = load_dataset(data, trade_file=trade_file, strict=strict_data)
    echo(f"dataset: {dataset.path}  (hash {dataset.content_hash})")
    years = dataset.years
    echo(
        f"trade: {len(dataset.trade)} rows, reporters {dataset.reporters}, "
        f"partners {dataset.partners}, years {years[0]}-{years[-1]}"
    )
    echo(
        f"pairs: {len(dataset.pairs)} rows; indicators: {dataset.indicators['indicator'].nunique()}"
    )
    echo("\ncoverage (indicator x country: first-last year (years with data)):")
    echo(dataset.coverage().to_string())
    _print_warnings(dataset.warnings)
    echo("\nno problems found: the data are usable")
    return 0


@app.command()
@handled
def classic(
    spec: SpecArg = None,
    data: DataOpt = None,
    out: OutOpt = None,
    strict_data: StrictDataOpt = False,
) -> int:
    """Run the study's classic pipeline: PCA index, OLS / random-effects gravity, tiers."""
    from bayes_gravity.classic.study import run_classic, write_classic
    from bayes_gravity.config import MODELS_DIR, load_spec

    model_spec, spec_path = load_spec(spec)
    out_dir = out if out is not None else MODELS_DIR / f"{model_spec.name}_classic"
    lock_output(out_dir, "classic")  # before the data are read: a second writer stops at once
    dataset = _dataset_for(model_spec, spec_path, data, strict_data)
    result = run_classic(dataset, model_spec)
    _print_warnings(result.warnings)
    for note in result.exclusions:
        echo(f"excluded: {note}")
    _print_drops(result.dropped)
    scores = result.index.scores.dropna(subset=["rank"])
    last = int(scores["year"].max())
    ranking = scores[scores["year"] == last].sort_values("rank")
    echo(
        f"\nCBEC index (PCA, {result.index.n_components} component(s) with eigenvalue > "
        f"{model_spec.classic.eigenvalue_min}), ranking in {last}:"
    )
    for row in ranking.itertuples():
        echo(f"  {row.rank:.0f}. {row.iso3}  score {row.score:+.2f}")
    echo(f"\ngravity coefficients (log trade, n = {result.n_obs}):")
    table = result.coefficients.pivot(index="term", columns="model", values=["estimate", "p_value"])
    for term in result.coefficients["term"].unique():
        if term == "intercept":
            continue
        cells = [
            f"{model}: {table.loc[term, ('estimate', model)]:+.3f} "
            f"(p={table.loc[term, ('p_value', model)]:.3f})"
            for model in ("pooled_ols", "random_effects")
        ]
        echo(f"  {term:<18} " + "   ".join(cells))
    echo(f"\npotential tiers ({model_spec.potential.describe()}), latest year per partner:")
    pot = result.potential
    latest = pot.loc[pot.groupby(["partner", "flow"])["year"].idxmax()]
    for row in latest.itertuples():
        echo(f"  {row.partner} {row.flow:<6} {row.year}  ratio {row.ratio:5.2f}  {row.tier}")
    paths = write_classic(result, out_dir)
    echo(f"\nwrote {', '.join(p.name for p in paths)} to {out_dir}")
    return 0


@app.command()
@handled
def fit(
    spec: SpecArg = None,
    data: DataOpt = None,
    out: OutOpt = None,
    draws: Annotated[int | None, typer.Option(help="draws per chain after tuning")] = None,
    tune: Annotated[int | None, typer.Option(help="tuning steps per chain")] = None,
    chains: Annotated[int | None, typer.Option(help="number of chains")] = None,
    seed: Annotated[int | None, typer.Option(help="random seed (random_seed)")] = None,
    nuts_sampler: Annotated[
        str | None, typer.Option(help="pymc | nutpie | numpyro | blackjax")
    ] = None,
    strict: Annotated[
        bool,
        typer.Option(
            help="exit 4 when the diagnostics gate fails; exit 3 before sampling when a "
            "partner, flow or year loses every row (unless the spec's data.allow_drops)"
        ),
    ] = False,
    strict_data: StrictDataOpt = False,
    method: Annotated[
        str,
        typer.Option(help="nuts | advi | pathfinder (fast approximations, exploration only)"),
    ] = "nuts",
    compare: Annotated[
        bool,
        typer.Option(help="PSIS-LOO comparison with two gravity models without the index"),
    ] = True,
    report: Annotated[
        bool,
        typer.Option(help="render RUN/report.html (later: `python -m bayes_gravity report RUN`)"),
    ] = True,
) -> int:
    """Fit the Bayesian model (default: models/default.toml on the shipped data)."""
    from bayes_gravity import api
    from bayes_gravity.config import MODELS_DIR, load_spec
    from bayes_gravity.results.diagnostics import format_verdict

    model_spec, spec_path = load_spec(spec)
    if nuts_sampler is not None and nuts_sampler not in ("pymc", "nutpie", "numpyro", "blackjax"):
        raise ConfigError(f"--nuts-sampler: unknown sampler {nuts_sampler!r}")
    out_dir = out if out is not None else MODELS_DIR / model_spec.name
    lock_output(out_dir, "fit")  # before the data are read: a second writer stops at once
    dataset = _dataset_for(model_spec, spec_path, data, strict_data)
    # a line before the long part: the user (and the crash tests) know the fit has begun
    echo(f"fitting {model_spec.name} on {dataset.path} ({method}) ...")
    run = api.fit(
        model_spec,
        dataset,
        method=method,
        refuse_drops=strict,
        progressbar=sys.stderr.isatty(),
        draws=draws,
        tune=tune,
        chains=chains,
        random_seed=seed,
        nuts_sampler=nuts_sampler,
    )
    inputs = run.model.inputs
    assert inputs is not None
    _print_warnings(inputs.panel.warnings)
    for note in inputs.exclusions:
        echo(f"excluded: {note}")
    _print_drops(inputs.dropped)
    if run.mean is not None:
        echo(f"mean model fitted beside the frontier ({run.mean.wall_seconds or 0:.1f} s)")
    run.save(out_dir)
    WRITTEN.append(out_dir)  # from here on, an interrupt no longer means "nothing was written"
    if method != "nuts":
        from bayes_gravity.model.approximate import warning

        echo(f"!!! {warning(method)} !!!")
        compare = False  # PSIS-LOO needs posterior draws, not an approximation's
    if compare:
        _write_comparison(run)
    report_failed = False
    try:
        if report:
            _write_report(run)
    except Exception as err:  # the run is saved and valid; only its report is missing
        report_failed = True
        _print_warnings(
            [
                f"report.html was not written ({type(err).__name__}: {err}); the run itself "
                f"is saved: re-render with `python -m bayes_gravity report {out_dir}`"
            ]
        )
    verdict = format_verdict(run.verdict)
    echo(verdict)  # first and last, so a failing gate cannot be missed
    _print_fit_summary(model_spec, run, run.model.wall_seconds or 0.0)
    _print_drops(inputs.dropped)
    echo(verdict)
    tables = [n for n in run.tables if not n.startswith("classic")]
    echo(f"wrote posterior.nc, {', '.join(tables)}, diagnostics.json to {out_dir}")
    if strict and not run.passed:
        return 4
    return 1 if report_failed else 0


def _write_comparison(run: Run) -> None:
    import time

    start = time.perf_counter()
    try:
        table = run.compare()
    except ValueError as err:
        _print_warnings([f"model comparison skipped: {err}"])
        return
    best = table.iloc[0]
    echo(
        f"model comparison (PSIS-LOO): best {best['model']}; "
        + ", ".join(f"{r.model} {r.elpd_diff:+.1f} (dSE {r.dse:.1f})" for r in table.itertuples())
        + f"; {time.perf_counter() - start:.1f} s"
    )


def _write_report(run: Run) -> Path:
    import time

    start = time.perf_counter()
    path = run.report()
    echo(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB, {time.perf_counter() - start:.1f} s)")
    return path


@app.command()
@handled
def report(
    run: Annotated[Path, typer.Argument(help="run folder written by `fit`")],
) -> int:
    """Re-render RUN/report.html from the saved posterior and tables (no refit)."""
    from bayes_gravity import api

    lock_output(run, "report")
    _write_report(api.load_run(run))
    return 0


def _print_fit_summary(spec: ModelSpec, run: Run, seconds: float) -> None:
    index = run.tables.get("index.csv")
    if index is not None:
        ranked = index.dropna(subset=["rank_mean"])
        last = int(ranked["year"].max())
        echo(f"\nCBEC index (latent factor), ranking in {last} (mean rank, P(rank = 1)):")
        for row in ranked[ranked["year"] == last].sort_values("rank_mean").itertuples():
            echo(
                f"  {row.iso3}  index {row.mean:+.2f} [{row.lo:+.2f}, {row.hi:+.2f}]  "
                f"rank {row.rank_mean:.1f}  P(first) {row.p_rank1:.2f}"
            )
    echo(f"\ngravity coefficients ({spec.ci_prob:.0%} intervals):")
    for row in run.coefficients.itertuples():
        echo(f"  {row.term:<20} {row.mean:+.3f} [{row.lo:+.3f}, {row.hi:+.3f}]")
    if "efficiency.csv" in run.tables:
        _print_frontier_summary(spec, run)
        echo(f"\nwall time {seconds:.1f} s")
        return
    pot = run.potential
    latest = pot.loc[pot.groupby(["partner", "flow"])["year"].idxmax()]
    echo(f"\npotential ({spec.potential.describe()}), latest year per partner:")
    for row in latest.itertuples():
        echo(
            f"  {row.partner} {row.flow:<6} {row.year}  ratio {row.ratio_mean:5.2f} "
            f"[{row.ratio_lo:.2f}, {row.ratio_hi:.2f}]  P(reshaping/expansion/huge) "
            f"{row.p_reshaping:.2f}/{row.p_expansion:.2f}/{row.p_huge:.2f}  -> {row.tier}"
        )
    echo(f"\nwall time {seconds:.1f} s")


def _print_frontier_summary(spec: ModelSpec, run: Run) -> None:
    from bayes_gravity.results.efficiency import COMPARISON_FILE, crosstab

    assert spec.frontier is not None
    support = run.verdict["frontier_support"]
    echo(f"\n{support['message']}")
    eff = run.tables["efficiency.csv"]
    latest = eff.loc[eff.groupby(["partner", "flow"])["year"].idxmax()]
    echo(f"\ntrade efficiency ({spec.frontier.describe()}), latest year per partner:")
    for row in latest.to_dict("records"):
        echo(
            f"  {row['partner']} {row['flow']:<6} {row['year']}  TE {row['te_mean']:.2f} "
            f"[{row['te_lo']:.2f}, {row['te_hi']:.2f}]  untapped "
            f"{row['untapped_usd_mean'] / 1e9:.2f} bn US$ "
            f"[{row['untapped_usd_lo'] / 1e9:.2f}, {row['untapped_usd_hi'] / 1e9:.2f}]  "
            f"P(low/medium/high) {row['p_low']:.2f}/{row['p_medium']:.2f}/{row['p_high']:.2f} "
            f"-> {row['tier']}"
        )
    comparison = run.tables.get(COMPARISON_FILE)
    if comparison is not None:
        mean = run.verdict.get("mean_model", {})
        echo(
            f"\nfrontier tiers (rows) against the mean model's ratio tiers (columns), all "
            f"{len(comparison)} rows; same reading in {comparison['same_reading'].mean():.0%} "
            f"(high~reshaping, medium~expansion, low~huge); mean model: "
            f"{mean.get('summary', 'not fitted')}"
        )
        echo(crosstab(comparison).to_string())


@app.command()
@handled
def prior(
    spec: SpecArg = None,
    data: DataOpt = None,
    out: OutOpt = None,
    draws: Annotated[int, typer.Option(help="prior predictive draws")] = 500,
    strict_data: StrictDataOpt = False,
) -> int:
    """Prior predictive check: the trade the priors alone imply, next to the observed trade."""
    from bayes_gravity.config import MODELS_DIR, load_spec
    from bayes_gravity.io import write_csv
    from bayes_gravity.model.gravity_model import GravityModel

    model_spec, spec_path = load_spec(spec)
    out_dir = out if out is not None else MODELS_DIR / model_spec.name
    lock_output(out_dir, "prior")
    dataset = _dataset_for(model_spec, spec_path, data, strict_data)
    table = GravityModel(model_spec, dataset).prior_predictive(draws=draws)
    inside = (table["actual"] >= table["prior_lo"]) & (table["actual"] <= table["prior_hi"])
    echo(
        f"prior predictive (90% interval, {draws} draws): {int(inside.sum())} of {len(table)} "
        "observed trade values inside"
    )
    echo(
        f"  observed US$ range {table['actual'].min():.3g} - {table['actual'].max():.3g}; "
        f"prior medians {table['prior_median'].min():.3g} - {table['prior_median'].max():.3g}; "
        f"prior 90% bounds {table['prior_lo'].min():.3g} - {table['prior_hi'].max():.3g}"
    )
    write_csv(out_dir / "prior_predictive.csv", table)
    echo(f"wrote {out_dir / 'prior_predictive.csv'}")
    return 0


@app.command()
@handled
def scenario(
    spec: Annotated[Path, typer.Argument(help="scenario TOML (e.g. models/scenarios/*.toml)")],
    run: Annotated[Path, typer.Option("--run", help="run folder written by `fit`")],
    data: DataOpt = None,
    seed: Annotated[int | None, typer.Option(help="seed of the predictive draws")] = None,
    report: Annotated[bool, typer.Option(help="re-render the run's report afterwards")] = True,
) -> int:
    """Posterior predictive trade and potential tiers under a scenario, next to the baseline."""
    import time

    from bayes_gravity import api
    from bayes_gravity.results.artefacts import SCENARIO_DIR
    from bayes_gravity.results.diagnostics import format_verdict
    from bayes_gravity.results.scenario import load_scenario

    start = time.perf_counter()
    scenario_spec = load_scenario(spec)  # a bad scenario is reported before the run is read
    lock_output(run, "scenario")
    saved = api.load_run(run, data)
    table = saved.scenario(scenario_spec, seed)
    csv_path = run / SCENARIO_DIR / f"{scenario_spec.name}.csv"
    json_path = csv_path.with_suffix(".json")
    # The scenario's tiers stand on the fit: its verdict goes first and last, as in `fit`.
    verdict = format_verdict(saved.verdict)
    echo(verdict)
    echo(f"scenario {scenario_spec.name}: {scenario_spec.description}")
    latest = table[table["year"] == table["year"].max()]
    for row in latest.itertuples():
        echo(
            f"  {row.partner} {row.flow:<6} {row.year}  trade {row.trade_mean / 1e9:7.2f} bn US$ "
            f"(change {row.delta_mean / 1e9:+.2f} bn)  P(tier change) {row.p_tier_change:.2f}  "
            f"-> {row.tier}"
        )
    echo(verdict)
    echo(f"wrote {csv_path} and {json_path.name} ({time.perf_counter() - start:.1f} s)")
    if report:
        start = time.perf_counter()
        page = saved.report()
        echo(f"re-rendered {page} ({time.perf_counter() - start:.1f} s)")
    return 0


@app.command("efficiency-scenario")
@handled
def efficiency_scenario(
    run: Annotated[Path, typer.Argument(help="run folder of a frontier fit")],
    factor: Annotated[float, typer.Option(help="multiply u by this (0.5: halve inefficiency)")],
    name: Annotated[str, typer.Option(help="writes RUN/scenarios/NAME.csv")],
    partner: Annotated[list[str] | None, typer.Option(help="partner(s); default: all")] = None,
    flow: Annotated[list[str] | None, typer.Option(help="export | import; default: both")] = None,
    from_year: Annotated[int | None, typer.Option(help="first year changed")] = None,
) -> int:
    """Frontier runs: trade and TE with inefficiency scaled (fitted years), e.g. halve u for KAZ."""
    from bayes_gravity.results.diagnostics import format_verdict
    from bayes_gravity.results.frontier_scenario import (
        inefficiency_scenario,
        write_inefficiency_scenario,
    )
    from bayes_gravity.results.store import load_run, read_diagnostics

    model = load_run(run)
    table = inefficiency_scenario(model, factor, partner, flow, from_year)
    path = write_inefficiency_scenario(table, run, name)
    verdict = format_verdict(read_diagnostics(run))
    echo(verdict)
    changed = table[table["changed"]]
    latest = changed[changed["year"] == changed["year"].max()]
    echo(f"scenario {name}: {table['rule'].iloc[0]}")
    for row in latest.to_dict("records"):
        echo(
            f"  {row['partner']} {row['flow']:<6} {row['year']}  TE {row['te_mean']:.2f} -> "
            f"{row['te_scenario_mean']:.2f}  trade +{row['delta_usd_mean'] / 1e9:.2f} bn US$ "
            f"[{row['delta_usd_lo'] / 1e9:.2f}, {row['delta_usd_hi'] / 1e9:.2f}]  "
            f"P(tier change) {row['p_tier_change']:.2f} -> {row['tier']}"
        )
    echo(verdict)
    echo(f"wrote {path}")
    return 0


@data_app.command("import-wb")
@handled
def import_wb(
    files: Annotated[list[Path], typer.Argument(help="World Bank bulk CSV file(s), wide years")],
    out: Annotated[Path, typer.Option("--out", help="indicators.csv to write")],
    countries: Annotated[
        str | None, typer.Option(help="comma-separated ISO3 codes to keep (default: all)")
    ] = None,
    first_year: Annotated[int | None, typer.Option(help="drop years before this")] = None,
    merge: Annotated[bool, typer.Option(help="add to an existing indicators.csv")] = False,
) -> int:
    """Import World Bank bulk CSVs (wide years, 1960 ... 2024) into an indicators.csv."""
    from bayes_gravity.data.dataset import import_worldbank

    table = import_worldbank(
        files,
        out,
        countries=[c.strip() for c in countries.split(",")] if countries else None,
        first_year=first_year,
        merge=merge,
    )
    echo(
        f"wrote {out}: {len(table)} values, {table['indicator'].nunique()} series, "
        f"{table['iso3'].nunique()} countries"
    )
    return 0


@app.command()
@handled
def calibrate(
    sims: Annotated[int, typer.Option(help="prior draws for simulation-based calibration")] = 100,
    recovery: Annotated[
        int, typer.Option(help="recovery replicates (simulated datasets with known values)")
    ] = 0,
    scheduler: Annotated[
        str | None, typer.Option(help="Dask scheduler address (default: a LocalCluster)")
    ] = None,
    workers: Annotated[int, typer.Option(help="LocalCluster worker processes")] = 2,
    seed: Annotated[int, typer.Option(help="seed of the prior draws / simulations")] = 20240601,
    out: Annotated[Path, typer.Option("--out", help="output folder")] = Path("docs/validation"),
    verbose: Annotated[
        bool, typer.Option("--verbose", help="show Dask's own log (info level)")
    ] = False,
) -> int:
    """Validate the model on SYNTHETIC data: SBC rank checks and parameter recovery (Dask)."""
    from bayes_gravity.errors import ConfigError
    from bayes_gravity.validation import calibration
    from bayes_gravity.validation import recovery as fixed_recovery

    if sims < 0 or recovery < 0 or workers < 1:
        raise ConfigError("--sims and --recovery must be >= 0 and --workers >= 1")
    command = "python -m bayes_gravity calibrate " + " ".join(sys.argv[2:])
    lock_output(out, "calibrate")

    def progress(result: dict) -> None:
        echo(f"  fit {result.get('sim', result.get('rep'))} done in {result['fit_seconds']:.1f} s")

    if sims:
        echo(f"SBC: {sims} prior draws on {scheduler or f'a LocalCluster of {workers}'}")
        sbc = calibration.run_sbc(
            sims,
            seed=seed,
            scheduler=scheduler,
            n_workers=workers,
            progress=progress,
            verbose=verbose,
        )
        sbc.command = command
        paths = calibration.write_sbc(sbc, out)
        worst = sbc.tests.sort_values("p_value").iloc[0]
        echo(
            f"SBC: lowest chi-square p-value {worst['p_value']:.3f} ({worst['quantity']}); "
            f"median fit {sbc.fits['fit_seconds'].median():.1f} s; wrote "
            + ", ".join(p.name for p in paths)
        )
    if recovery:
        echo(f"recovery: {recovery} simulated datasets")
        rec = fixed_recovery.run_fixed_recovery(
            recovery,
            seed=seed,
            scheduler=scheduler,
            n_workers=workers,
            progress=progress,
            verbose=verbose,
        )
        rec.command = command
        paths = fixed_recovery.write_recovery(rec, out)
        echo(
            fixed_recovery.recovery_summary_line(rec)
            + "; wrote "
            + ", ".join(p.name for p in paths)
        )
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run the CLI and return its exit code (errors are printed, never a traceback)."""
    from bayes_gravity.model.engine.cache import point_compilers_at_cache

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    warnings.simplefilter("always", BayesGravityWarning)
    point_compilers_at_cache()  # before PyTensor or numba is imported
    try:
        app(args=argv, prog_name="python -m bayes_gravity")
    except SystemExit as exit_:
        return exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
