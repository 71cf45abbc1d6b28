"""Loud drops: a partner, flow or year that loses every row is named with its reason.

In the command's summary, in diagnostics.json (``dropped``), at the top of the report; and
``fit --strict`` refuses before sampling unless the spec sets ``data.allow_drops = true``.
"""

from __future__ import annotations

import json

import pytest

from bayes_gravity.cli import main
from bayes_gravity.config import load_spec
from bayes_gravity.data.dataset import load_dataset
from bayes_gravity.data.drops import Drop
from bayes_gravity.model.gravity_model import GravityModel
from conftest import MOCK_FIT, MakeDataset, set_where, write_spec

# Kyrgyzstan without its WDI trade-openness series (as Myanmar has none in the real data)
NO_KGZ_OPENNESS = "no openness_partner (NE.TRD.GNFS.ZS, partner) (every row)"


def without_kgz_openness(tables) -> None:
    frame = tables["indicators.csv"]
    keep = ~((frame["iso3"] == "KGZ") & (frame["indicator"] == "NE.TRD.GNFS.ZS"))
    tables["indicators.csv"] = frame[keep]


def without_chn_gdp_2005(tables) -> None:
    frame = tables["indicators.csv"]
    keep = ~(
        (frame["iso3"] == "CHN")
        & (frame["indicator"] == "NY.GDP.MKTP.CD")
        & (frame["year"] == "2005")
    )
    tables["indicators.csv"] = frame[keep]


ZERO_KGZ_IMPORTS = set_where("trade.csv", {"partner": "KGZ", "flow": "import"}, "value_usd", "0")


def drops_of(folder) -> list[Drop]:
    spec, _ = load_spec()
    return GravityModel(spec, load_dataset(folder)).prepare().dropped


def run(argv: list[str], capsys) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_partner_without_a_covariate_is_dropped_by_name(make_dataset: MakeDataset):
    assert drops_of(make_dataset(edit=without_kgz_openness)) == [
        Drop("partner", "KGZ", 42, NO_KGZ_OPENNESS)
    ]


def test_flow_of_zeros_under_a_log_likelihood(make_dataset: MakeDataset):
    (drop,) = drops_of(make_dataset(edit=ZERO_KGZ_IMPORTS))
    assert (drop.level, drop.key, drop.rows) == ("flow", "KGZ import", 21)
    assert "zero trade (student_t has no mass at zero" in drop.reason


def test_year_without_the_reporter_gdp(make_dataset: MakeDataset):
    (drop,) = drops_of(make_dataset(edit=without_chn_gdp_2005))
    assert drop == Drop(
        "year", "2005", 10, "no log_gdp_reporter (NY.GDP.MKTP.CD, reporter) (every row)"
    )


def test_shipped_data_drop_nothing():
    assert drops_of(None) == []


def test_classic_names_the_drop(make_dataset: MakeDataset, tmp_path, capsys):
    spec = write_spec(tmp_path / "s.toml", data_path=make_dataset(edit=without_kgz_openness))
    code, out, err = run(["classic", str(spec), "--out", str(tmp_path / "out")], capsys)
    assert code == 0, err
    assert f"DROPPED partner KGZ: all 42 trade row(s) dropped: {NO_KGZ_OPENNESS}" in out
    assert "warning: dropped partner KGZ" in err


def test_fit_strict_refuses_a_drop_before_sampling(make_dataset: MakeDataset, tmp_path, capsys):
    spec = write_spec(tmp_path / "s.toml", data_path=make_dataset(edit=without_kgz_openness))
    out = tmp_path / "out"
    code, _, err = run(["fit", str(spec), "--out", str(out), "--strict"], capsys)
    assert code == 3, err
    assert "partner KGZ" in err and "allow_drops = true" in err and "nothing was fitted" in err
    assert "Traceback" not in err and not out.exists()


@pytest.mark.usefixtures("mock_fit")
def test_allowed_drop_is_named_in_the_summary_and_diagnostics(
    make_dataset: MakeDataset, tmp_path, capsys
):
    spec = write_spec(
        tmp_path / "s.toml",
        data_path=make_dataset(edit=without_kgz_openness),
        replace={'trade_file = "trade.csv"': 'trade_file = "trade.csv"\nallow_drops = true'},
    )
    out = tmp_path / "out"
    code, stdout, err = run(["fit", str(spec), "--out", str(out), "--strict", *MOCK_FIT], capsys)
    assert code in (0, 4), err  # 4: the mock draws fail the gate; the drop did not stop it
    assert stdout.count("DROPPED partner KGZ") == 2, "named before sampling and in the summary"
    diagnostics = json.loads((out / "diagnostics.json").read_text(encoding="utf-8"))
    assert diagnostics["dropped"] == [
        {"level": "partner", "key": "KGZ", "rows": 42, "reason": NO_KGZ_OPENNESS}
    ]


def test_report_names_the_drop_at_the_top():
    """The page of a run whose diagnostics.json lists a drop (the template, as build_report
    renders it; the full report of a real run is rendered in test_report.py)."""
    import jinja2

    spec, _ = load_spec()
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("bayes_gravity.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    drop = Drop("partner", "KGZ", 42, NO_KGZ_OPENNESS)
    context = dict(title="t", spec=spec, passed=True, failed=[], loo_reliable=True)
    html = env.get_template("report.html.j2").render(
        **context, approximation="", dropped=[drop.describe()], sections=[]
    )
    banner = html.index('id="dropped-banner"')
    assert banner < html.index("<nav>"), "the drop is named at the top of the report"
    assert "partner KGZ: all 42 trade row(s) dropped" in html[banner:]
    clean = env.get_template("report.html.j2").render(
        **context, approximation="", dropped=[], sections=[]
    )
    assert "dropped-banner" not in clean


def test_allow_drops_must_be_a_boolean(tmp_path, capsys):
    spec = write_spec(
        tmp_path / "s.toml",
        replace={'trade_file = "trade.csv"': 'trade_file = "trade.csv"\nallow_drops = "KGZ"'},
    )
    code, _, err = run(["fit", str(spec), "--out", str(tmp_path / "out")], capsys)
    assert code == 2 and "data.allow_drops" in err and not (tmp_path / "out").exists()
