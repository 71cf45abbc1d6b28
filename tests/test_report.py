"""The HTML report: self-contained, every section, a loud failing gate, refusals, determinism.

Uses the session's ``small_run`` (2 chains x 300 draws: it fails the gate), always through a
copy. ``fit`` already wrote ``small_run/report.html``; re-rendering a copy with the ``report``
command must give the same bytes.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from bayes_gravity.cli import main
from bayes_gravity.report.assemble import REPORT_FILE
from bayes_gravity.report.section import SECTIONS

SCENARIO = "openness_plus_10pct"


@pytest.fixture(scope="module")
def rendered(small_run: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A copy of the small run plus one scenario, rendered by ``python -m bayes_gravity report``.

    One render serves every test here (rendering costs seconds of CPU): the scenario is
    written through the library, which does not re-render.
    """
    from bayes_gravity.config import MODELS_DIR
    from bayes_gravity.results.scenario import load_scenario, write_scenario
    from bayes_gravity.results.store import load_run

    run = tmp_path_factory.mktemp("report") / "run"
    shutil.copytree(small_run, run)
    (run / REPORT_FILE).unlink()
    scenario = load_scenario(MODELS_DIR / "scenarios" / f"{SCENARIO}.toml")
    write_scenario(scenario, load_run(run), run)

    def refit(*args: object) -> None:
        raise AssertionError("the report re-ran the classic pipeline")

    with pytest.MonkeyPatch.context() as patch:  # the report reads the saved classic tables
        patch.setattr("bayes_gravity.classic.study.run_classic", refit)
        patch.setattr("bayes_gravity.results.tables.run_classic", refit)
        assert main(["report", str(run)]) == 0
    return run, (run / REPORT_FILE).read_text(encoding="utf-8")


def _section(html: str, key: str) -> str:
    start = html.index(f'<section id="{key}">')
    return html[start : html.index("</section>", start)]


def test_fit_writes_the_report(small_run: Path) -> None:
    path = small_run / REPORT_FILE
    assert path.is_file(), f"fit did not write {path}"
    assert path.stat().st_size < 5e6, f"report is {path.stat().st_size} bytes, over 5 MB"


def test_rerender_gives_the_same_bytes(small_run: Path, rendered: tuple[Path, str]) -> None:
    """`report` on a copy reproduces the report `fit` wrote, except the added scenario."""
    _, html = rendered
    fitted = (small_run / REPORT_FILE).read_text(encoding="utf-8")
    assert "No scenarios were run" in _section(fitted, "scenarios")

    def without_scenarios(text: str) -> str:
        return text.replace(_section(text, "scenarios"), "")

    assert without_scenarios(html) == without_scenarios(fitted), (
        "re-rendering the same run folder changed the report"
    )


def test_report_is_self_contained(rendered: tuple[Path, str]) -> None:
    _, html = rendered
    remote = re.findall(r"""(?:src|href)\s*=\s*["']?(?:https?:)?//""", html, flags=re.I)
    assert not remote, f"remote assets referenced: {remote[:3]}"
    assert "<script" not in html.lower(), "the report must not contain scripts"
    assert "<link" not in html.lower(), "the report must not link stylesheets"
    images = re.findall(r'<img src="([^"]{0,30})', html)
    assert images, "no figures in the report"
    assert all(i.startswith("data:image/png;base64,") for i in images), images[:3]


def test_every_section_is_present(rendered: tuple[Path, str]) -> None:
    _, html = rendered
    for key, title in SECTIONS:
        assert f'<section id="{key}">' in html, f"section {key!r} missing"
        assert f"<h2>{title}</h2>" in html, f"heading {title!r} missing"


def test_failing_gate_is_loud(small_run: Path, rendered: tuple[Path, str]) -> None:
    diagnostics = json.loads((small_run / "diagnostics.json").read_text())
    assert diagnostics["passed"] is False, "small_run was expected to fail the gate"
    _, html = rendered
    banner = html.index('id="gate-banner"')
    assert banner < html.index('<section id="metadata">'), "the banner must come first"
    assert 'class="banner fail"' in html[banner - 40 : banner]
    assert "DIAGNOSTICS GATE FAILED" in html
    failed = [
        n for n, c in diagnostics["checks"].items() if not c["passed"] and c.get("gates", True)
    ]
    assert failed, "no failing gated check in small_run"
    # classification sections carry the warning
    for key in ("index", "potential", "scenarios"):
        assert "gate FAILED" in _section(html, key), f"section {key} lacks the failed-gate warning"


def test_report_shows_the_run_contents(small_run: Path, rendered: tuple[Path, str]) -> None:
    _, html = rendered
    from markupsafe import escape

    rule = json.loads((small_run / "diagnostics.json").read_text())["tier_rule"]
    assert str(escape(rule)) in html, f"the tier rule text {rule!r} is missing"
    for partner in ("KAZ", "KGZ", "TJK", "TKM", "UZB"):
        assert partner in html
    assert "pooled OLS (p-value)" in html, "classic estimates missing"
    assert "random effects (p-value)" in html, "classic estimates missing"
    if (small_run / "holdout_2023.csv").is_file():
        assert "Inside the 50 % interval:" in html, "holdout counts missing"
    scenarios = _section(html, "scenarios")
    assert f"Scenario {SCENARIO}" in scenarios, "scenario table missing"
    assert "P(tier change)" in scenarios
    assert "No scenarios were run" not in scenarios


def _no_report(run: Path, capsys: pytest.CaptureFixture[str], fragment: str) -> None:
    code = main(["report", str(run)])
    err = capsys.readouterr().err
    assert code == 2, f"exit code {code}, expected 2; stderr: {err}"
    assert fragment in err, f"{fragment!r} not in the message: {err}"
    assert not (run / REPORT_FILE).exists(), "a report was written for a refused run"
    assert not list(run.glob(f".{REPORT_FILE}.*")), "a temporary report file was left behind"


def _copy_without_report(small_run: Path, tmp_path: Path) -> Path:
    run = tmp_path / "run"
    shutil.copytree(small_run, run)
    (run / REPORT_FILE).unlink()
    return run


def test_refuses_a_folder_without_posterior(
    small_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = _copy_without_report(small_run, tmp_path)
    (run / "posterior.nc").unlink()
    _no_report(run, capsys, "posterior.nc")


def test_refuses_a_run_without_its_classic_tables(
    small_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The report draws the classic results ``fit`` saved; it does not re-run the pipeline."""
    run = _copy_without_report(small_run, tmp_path)
    (run / "classic_potential.csv").unlink()
    _no_report(run, capsys, "classic_potential.csv")


def test_refuses_a_truncated_posterior(
    small_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = _copy_without_report(small_run, tmp_path)
    data = (run / "posterior.nc").read_bytes()
    (run / "posterior.nc").write_bytes(data[: len(data) // 2])
    _no_report(run, capsys, "posterior.nc")


def test_refuses_a_posterior_of_other_data(
    small_run: Path, tmp_path: Path, make_dataset, capsys: pytest.CaptureFixture[str]
) -> None:
    """The dataset the posterior names has changed since the fit: its hash differs."""
    import xarray as xr

    from conftest import set_cell

    run = _copy_without_report(small_run, tmp_path)
    edited = make_dataset(edit=set_cell("trade.csv", 5, "value_usd", "123456789"))
    tree = xr.open_datatree(run / "posterior.nc", engine="h5netcdf").load()
    tree.attrs["data_path"] = str(edited)
    (run / "posterior.nc").unlink()
    tree.to_netcdf(run / "posterior.nc", engine="h5netcdf")
    _no_report(run, capsys, "different data")


@pytest.mark.slow
def test_comparison_scores_the_same_observations(small_run: Path, tmp_path: Path) -> None:
    """Tiny extra fits: three models, same rows, saved, shown, and ignored once stale."""
    from bayes_gravity.report.assemble import write_report
    from bayes_gravity.results.comparison import compare_models, read_comparison, write_comparison
    from bayes_gravity.results.store import load_run

    run = _copy_without_report(small_run, tmp_path)
    model = load_run(run)
    assert model.inputs is not None
    table, pointwise = compare_models(model, draws=200, tune=200, chains=2)
    assert sorted(table["model"]) == ["bambi_baseline", "gravity_no_index", "joint"]
    n_obs = len(model.inputs.trade)
    assert set(table["n_obs"]) == {n_obs}, f"observations per model {list(table['n_obs'])}"
    keys = pointwise.groupby("model")[["partner", "flow", "year"]].apply(
        lambda g: tuple(map(tuple, g.astype(str).to_numpy()))
    )
    assert keys.nunique() == 1, "the models were scored on different observations"
    joint = table.set_index("model").loc["joint"]
    elpd = json.loads((run / "diagnostics.json").read_text())["checks"]["pareto_k"]["elpd_loo"]
    assert joint["elpd_loo"] == pytest.approx(elpd, rel=1e-4), "joint LOO is not the run's LOO"
    write_comparison(table, pointwise, run)
    body = _section(write_report(run).read_text(encoding="utf-8"), "comparison")
    assert "PSIS-LOO comparison" in body and "gravity_no_index" in body
    model.idata.attrs["wall_seconds"] = 1.0  # as if refitted into the same folder
    assert read_comparison(run, model.idata) is None, "a stale comparison was accepted"


def test_large_panels_show_the_largest_partners_and_say_so() -> None:
    """Beyond MAX_PARTNER_PANELS, per-partner figures keep the largest partners by trade."""
    from types import SimpleNamespace

    import pandas as pd

    from bayes_gravity.report.section import MAX_PARTNER_PANELS, Section, shown_partners

    n = MAX_PARTNER_PANELS + 3
    partners = [f"P{i:02d}" for i in range(n)]
    # partner i trades i+1 (both flows): the smallest three are P00, P01, P02
    trade = pd.DataFrame(
        {
            "partner": partners * 2,
            "value_usd": [float(i + 1) for i in range(n)] * 2,
        }
    )
    inp = SimpleNamespace(model=SimpleNamespace(inputs=SimpleNamespace(trade=trade)))
    sec = Section("x", "x")
    shown = shown_partners(inp, partners, sec)  # type: ignore[arg-type]
    assert shown == partners[3:]
    assert len(sec.notes) == 1 and f"{MAX_PARTNER_PANELS} largest of {n}" in sec.notes[0]
    few = Section("y", "y")
    assert shown_partners(inp, partners[:5], few) == partners[:5]  # type: ignore[arg-type]
    assert few.notes == []
