"""Model specs: the shipped spec loads; every bad spec is one ConfigError (exit 2) listing all
of its problems, with a "did you mean" hint for unknown keys, through the library and the CLI."""

from __future__ import annotations

import copy
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from bayes_gravity.cli import main
from bayes_gravity.config import DEFAULT_SPEC, ModelSpec, load_spec, parse_spec
from bayes_gravity.errors import ConfigError
from conftest import DEFAULT_SPEC_PATH, MakeDataset, write_spec

RAW_DEFAULT = tomllib.loads(DEFAULT_SPEC.read_text(encoding="utf-8"))
Raw = dict[str, Any]


def edited(edit: Callable[[Raw], object]) -> Raw:
    """A deep copy of the default spec as a dictionary, changed by ``edit``."""
    raw = copy.deepcopy(RAW_DEFAULT)
    edit(raw)
    return raw


def config_error(raw: Raw) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        parse_spec(raw, "spec.toml")
    assert info.value.exit_code == 2, f"exit code {info.value.exit_code}, expected 2"
    return info.value


def run(argv: list[str], capsys) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


# ---------------------------------------------------------------------------- the shipped spec


def test_default_spec_loads_with_the_study_settings():
    spec, path = load_spec()
    assert path == DEFAULT_SPEC == DEFAULT_SPEC_PATH
    assert isinstance(spec, ModelSpec)
    codes = [i.code for i in spec.index.indicators]
    assert len(codes) == 11, f"{len(codes)} index indicators, expected the study's 11"
    assert len(set(codes)) == 11, f"duplicate codes in {codes}"
    assert spec.index.anchor == "IT.NET.USER.ZS"
    dims = {i.dimension for i in spec.index.indicators}
    assert dims == {"internet", "logistics", "customs", "education_research"}, dims
    assert (spec.data.first_year, spec.data.last_year) == (2000, 2020)
    assert (spec.potential.reshaping_at, spec.potential.huge_below) == (1.2, 0.8)
    assert spec.potential.boundary == "lower_inclusive"
    assert spec.potential.ratio == "actual_over_predicted"
    assert [c.source for c in spec.gravity.covariates].count("index") == 1
    # the sampler block keeps PyMC's own names
    assert set(RAW_DEFAULT["sampler"]) <= set(spec.sampler.model_dump())


def test_spec_is_frozen_and_hash_tracks_content():
    spec, _ = load_spec()
    with pytest.raises(Exception, match="frozen"):
        spec.name = "other"  # type: ignore[misc]
    raw = tomllib.loads(DEFAULT_SPEC.read_text(encoding="utf-8"))  # the same file, read again
    same = parse_spec(copy.deepcopy(raw))
    raw["sampler"]["draws"] = 10
    other = parse_spec(raw)
    assert spec.content_hash() == same.content_hash()
    assert spec.content_hash() != other.content_hash()


# ---------------------------------------------------------------------------- unknown keys

UNKNOWN_KEYS = [
    ("top-level", lambda r: r.update(nmae="x"), "nmae", "'name'"),
    ("top-level-table", lambda r: r.update(sampeler={"draws": 10}), "sampeler", "'sampler'"),
    ("sampler", lambda r: r["sampler"].update(drawz=10), "sampler.drawz", "'draws'"),
    (
        "potential",
        lambda r: r["potential"].update(reshape_at=1.3),
        "potential.reshape_at",
        "'reshaping_at'",
    ),
    (
        "covariate-entry",
        lambda r: r["gravity"]["covariates"][2].update(sid="partner"),
        "gravity.covariates.2.sid",
        "'side'",
    ),
    (
        "indicator-entry",
        lambda r: r["index"]["indicators"][4].update(transfrom="log"),
        "index.indicators.4.transfrom",
        "'transform'",
    ),
    (
        "prior-in-a-dict",
        lambda r: r["gravity"].update(priors={"beta_log_gdp": {"dist": "Normal", "sgima": 1}}),
        "gravity.priors.beta_log_gdp.sgima",
        "'sigma'",
    ),
]


@pytest.mark.parametrize(
    ("edit", "location", "suggestion"),
    [case[1:] for case in UNKNOWN_KEYS],
    ids=[case[0] for case in UNKNOWN_KEYS],
)
def test_unknown_key_names_location_and_the_right_key(edit, location, suggestion):
    err = config_error(edited(edit))
    assert err.problems == [f"{location}: unknown key; did you mean {suggestion}?"], err.problems


def test_unknown_key_without_a_close_match_lists_the_allowed_keys():
    err = config_error(edited(lambda r: r["sampler"].update(zzzzzz=1)))
    (problem,) = err.problems
    assert problem.startswith("sampler.zzzzzz: unknown key; allowed: ["), problem
    assert "'draws'" in problem and "'nuts_sampler'" in problem, problem


# ---------------------------------------------------------------------------- bad values

BAD_VALUES = [
    ("draws-not-a-number", lambda r: r["sampler"].update(draws="many"), "sampler.draws", "'many'"),
    ("draws-zero", lambda r: r["sampler"].update(draws=0), "sampler.draws", "greater than 0"),
    (
        "target-accept-one",
        lambda r: r["sampler"].update(target_accept=1.0),
        "sampler.target_accept",
        "less than 1",
    ),
    (
        "thresholds-equal",
        lambda r: r["potential"].update(huge_below=1.2),
        "potential.huge_below",
        "huge_below (1.2) must be below reshaping_at (1.2)",
    ),
    (
        "thresholds-swapped",
        lambda r: r["potential"].update(huge_below=1.2, reshaping_at=0.8),
        "potential.huge_below",
        "huge_below (1.2) must be below reshaping_at (0.8)",
    ),
    (
        "threshold-zero",
        lambda r: r["potential"].update(huge_below=0),
        "potential.huge_below",
        "greater than 0",
    ),
    (
        "threshold-negative",
        lambda r: r["potential"].update(reshaping_at=-1.2),
        "potential.reshaping_at",
        "greater than 0",
    ),
    (
        "unknown-boundary",
        lambda r: r["potential"].update(boundary="inclusive"),
        "potential.boundary",
        "'inclusive'",
    ),
    (
        "unknown-likelihood",
        lambda r: r["gravity"].update(likelihood="poisson"),
        "gravity.likelihood",
        "'poisson'",
    ),
    (
        "unknown-nuts-sampler",
        lambda r: r["sampler"].update(nuts_sampler="stan"),
        "sampler.nuts_sampler",
        "'stan'",
    ),
    ("unknown-coupling", lambda r: r.update(coupling="both"), "coupling", "'both'"),
    (
        "anchor-not-an-indicator",
        lambda r: r["index"].update(anchor="IT.NET.USER.XX"),
        "index",
        "anchor 'IT.NET.USER.XX' is not among the indicators",
    ),
    (
        "duplicate-indicator",
        lambda r: r["index"]["indicators"].append(dict(r["index"]["indicators"][3])),
        "index",
        "indicator(s) listed twice: ['IT.NET.SECR.P6']",
    ),
    (
        "years-out-of-order",
        lambda r: r["data"].update(first_year=2021),
        "data.last_year",
        "first_year 2021 is after last_year 2020",
    ),
    (
        "bad-direction",
        lambda r: r["index"]["indicators"][0].update(direction="down"),
        "index.indicators.0.direction",
        "'down'",
    ),
    (
        "pair-covariate-without-column",
        lambda r: r["gravity"]["covariates"][5].pop("column"),
        "gravity.covariates.5",
        "source 'pair' needs `column`",
    ),
]


@pytest.mark.parametrize(
    ("edit", "location", "fragment"),
    [case[1:] for case in BAD_VALUES],
    ids=[case[0] for case in BAD_VALUES],
)
def test_bad_value_is_one_config_error_naming_key_and_value(edit, location, fragment):
    err = config_error(edited(edit))
    assert len(err.problems) == 1, f"expected 1 problem, got {err.problems}"
    (problem,) = err.problems
    assert problem.startswith(f"{location}: "), f"{problem!r} should start with {location!r}"
    assert fragment in problem, f"{fragment!r} missing from {problem!r}"
    assert "spec.toml" in str(err), str(err)


def test_model_level_problem_does_not_dump_the_whole_table():
    err = config_error(edited(lambda r: r["potential"].update(huge_below=2.0)))
    (problem,) = err.problems
    assert "{" not in problem and len(problem) < 120, f"noisy message: {problem!r}"


def test_three_problems_are_reported_at_once():
    def three(raw: Raw) -> None:
        raw["sampler"]["drawz"] = 500
        raw["sampler"]["draws"] = "many"
        raw["potential"]["huge_below"] = 1.5

    err = config_error(edited(three))
    locations = sorted(p.split(":")[0] for p in err.problems)
    assert locations == ["potential.huge_below", "sampler.draws", "sampler.drawz"], err.problems
    bullets = [line for line in str(err).splitlines() if line.startswith("  - ")]
    assert len(bullets) == 3, str(err)


def test_anchor_and_duplicate_problems_are_reported_together():
    def both(raw: Raw) -> None:
        raw["index"]["anchor"] = "NOT.A.CODE"
        raw["index"]["indicators"].append(dict(raw["index"]["indicators"][1]))

    (problem,) = config_error(edited(both)).problems
    assert "anchor 'NOT.A.CODE'" in problem and "listed twice" in problem, problem


# ---------------------------------------------------------------------------- files


def test_missing_spec_file(tmp_path):
    with pytest.raises(ConfigError, match="spec file not found") as info:
        load_spec(tmp_path / "nope.toml")
    assert "nope.toml" in str(info.value)
    assert info.value.exit_code == 2


def test_invalid_toml(tmp_path):
    path = tmp_path / "broken.toml"
    path.write_text('name = "x"\n[sampler\ndraws = 10\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid TOML") as info:
        load_spec(path)
    assert "broken.toml" in str(info.value) and "line 2" in str(info.value), str(info.value)
    assert info.value.exit_code == 2


def test_spec_file_with_problems_names_the_file(tmp_path):
    path = write_spec(tmp_path / "typo.toml", replace={"draws = 1000": "drawz = 1000"})
    with pytest.raises(ConfigError) as info:
        load_spec(path)
    assert str(path) in str(info.value)
    assert info.value.problems == ["sampler.drawz: unknown key; did you mean 'draws'?"]


def test_relative_data_path_resolves_against_the_spec_folder(tmp_path):
    from bayes_gravity.config import resolve_data_path

    path = tmp_path / "specs" / "s.toml"
    path.parent.mkdir()
    path.write_text(
        DEFAULT_SPEC.read_text().replace("[data]\n", '[data]\npath = "../mydata"\n'),
        encoding="utf-8",
    )
    spec, spec_path = load_spec(path)
    assert resolve_data_path(spec, spec_path, None) == (tmp_path / "mydata").resolve()
    assert resolve_data_path(spec, spec_path, "elsewhere") == Path("elsewhere")
    default, default_path = load_spec()
    assert resolve_data_path(default, default_path, None) is None


# ---------------------------------------------------------------------------- through the CLI

BAD_SPEC_FILES = [
    ("unknown-nested-key", {"draws = 1000": "drawz = 1000"}, "did you mean 'draws'"),
    ("wrong-type", {"draws = 1000": 'draws = "many"'}, "sampler.draws"),
    (
        "thresholds-out-of-order",
        {"huge_below = 0.8 ": "huge_below = 1.2 "},
        "must be below reshaping_at",
    ),
    ("unknown-likelihood", {'likelihood = "student_t"': 'likelihood = "probit"'}, "'probit'"),
    ("invalid-toml", {"[potential]": "[potential"}, "not valid TOML"),
]


@pytest.mark.parametrize(
    ("replace", "fragment"),
    [case[1:] for case in BAD_SPEC_FILES],
    ids=[case[0] for case in BAD_SPEC_FILES],
)
def test_cli_classic_bad_spec_exits_2_and_writes_nothing(tmp_path, capsys, replace, fragment):
    spec = write_spec(tmp_path / "bad.toml", replace=replace)
    out = tmp_path / "out"
    code, stdout, err = run(["classic", str(spec), "--out", str(out)], capsys)
    assert code == 2, f"exit code {code}, expected 2; stderr:\n{err}"
    assert err.startswith("error: "), err
    assert fragment in err, f"{fragment!r} missing from stderr:\n{err}"
    assert "bad.toml" in err
    assert "Traceback" not in err
    assert stdout == "", f"nothing should be printed on stdout, got {stdout!r}"
    assert not out.exists(), "a failed run must not create the output folder"


def test_cli_classic_missing_spec_exits_2(tmp_path, capsys):
    out = tmp_path / "out"
    code, _, err = run(["classic", str(tmp_path / "none.toml"), "--out", str(out)], capsys)
    assert code == 2, err
    assert "spec file not found" in err and "none.toml" in err
    assert not out.exists()


def test_cli_lists_all_three_problems(tmp_path, capsys):
    spec = write_spec(
        tmp_path / "three.toml",
        replace={
            "draws = 1000": 'draws = "many"',
            "reshaping_at = 1.2 ": "reshape_at = 1.2 ",
            'nuts_sampler = "blackjax"': 'nuts_sampler = "stan"',
        },
    )
    code, _, err = run(["classic", str(spec), "--out", str(tmp_path / "out")], capsys)
    assert code == 2, err
    bullets = [line for line in err.splitlines() if line.startswith("  - ")]
    assert len(bullets) == 3, f"expected 3 problems listed, got:\n{err}"
    assert "did you mean 'reshaping_at'" in err and "'stan'" in err and "'many'" in err


# ---------------------------------------------------------------------------- spec vs data


def _add_series_outside_window(code: str) -> Callable[[dict[str, pd.DataFrame]], None]:
    """Rows for ``code`` only in 1995 (before the window) and for a country not in the trade."""

    def edit(tables: dict[str, pd.DataFrame]) -> None:
        extra = pd.DataFrame(
            [["KAZ", "1995", code, "1.5"], ["DEU", "2010", code, "2.5"]],
            columns=["iso3", "year", "indicator", "value"],
        )
        tables["indicators.csv"] = pd.concat([tables["indicators.csv"], extra])

    return edit


EXTRA_INDICATOR = '\n[[index.indicators]]\ncode = "XX.NO.DATA"\ndimension = "internet"\n'


@pytest.mark.parametrize(
    ("replace", "fragments"),
    [
        ({'code = "SE.TER.ENRR"': 'code = "SE.TER.ENRX"'}, ("SE.TER.ENRX", "indicators.csv")),
        (
            {'indicator = "NE.TRD.GNFS.ZS"': 'indicator = "NE.TRD.XXXX.ZS"'},
            ("openness_partner", "NE.TRD.XXXX.ZS", "indicators.csv"),
        ),
    ],
    ids=["index-indicator", "covariate-indicator"],
)
def test_cli_series_not_in_the_data_exits_2(tmp_path, capsys, replace, fragments):
    spec = write_spec(tmp_path / "s.toml", replace=replace)
    out = tmp_path / "out"
    code, _, err = run(["classic", str(spec), "--out", str(out)], capsys)
    assert code == 2, f"exit code {code}, expected 2; stderr:\n{err}"
    for fragment in fragments:
        assert fragment in err, f"{fragment!r} missing from stderr:\n{err}"
    assert "Traceback" not in err
    assert not out.exists()


def test_cli_too_few_indicators_with_data_exits_3(tmp_path, capsys, make_dataset: MakeDataset):
    folder = make_dataset(edit=_add_series_outside_window("XX.NO.DATA"))
    spec = write_spec(
        tmp_path / "s.toml",
        data_path=folder,
        replace={"[index]\n": "[index]\nmin_indicators = 12\n"},
        append=EXTRA_INDICATOR,
    )
    out = tmp_path / "out"
    code, _, err = run(["classic", str(spec), "--out", str(out)], capsys)
    assert code == 3, f"exit code {code}, expected 3 (data); stderr:\n{err}"
    assert "only 11 index indicator(s) have data; at least 12" in err, err
    assert "XX.NO.DATA" in err, err
    assert not out.exists()
