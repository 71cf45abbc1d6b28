"""Bad specs not covered by test_config.py, and property tests of the spec parser.

Every bad spec is one ConfigError (exit 2) naming the spec file and key, and nothing is
written; no input makes the parser raise anything but our documented errors, and every spec
it accepts survives the JSON round trip through a saved run's attributes unchanged.
"""

from __future__ import annotations

import copy
import json
import math
import tomllib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bayes_gravity.cli import main
from bayes_gravity.config import DEFAULT_SPEC, ModelSpec, load_spec, parse_spec
from bayes_gravity.errors import BayesGravityError, ConfigError
from conftest import MakeDataset, write_spec

RAW_DEFAULT = tomllib.loads(DEFAULT_SPEC.read_text(encoding="utf-8"))
FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def problems_of(edit: Any) -> list[str]:
    raw = copy.deepcopy(RAW_DEFAULT)
    edit(raw)
    with pytest.raises(ConfigError) as info:
        parse_spec(raw, "spec.toml")
    assert info.value.exit_code == 2
    assert "spec.toml" in str(info.value)
    return info.value.problems


def run(argv: list[str], capsys) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


# ---------------------------------------------------------------------------- bad values

BAD = [
    ("rhat-limit-one", lambda r: r["diagnostics"].update(rhat_max=1.0), "diagnostics.rhat_max"),
    ("rhat-limit-below-one", lambda r: r["diagnostics"].update(rhat_max=0.99), "rhat_max"),
    ("ess-bulk-zero", lambda r: r["diagnostics"].update(ess_bulk_min=0), "ess_bulk_min"),
    ("ess-tail-negative", lambda r: r["diagnostics"].update(ess_tail_min=-5), "ess_tail_min"),
    ("divergences-negative", lambda r: r["diagnostics"].update(divergences_max=-1), "diverg"),
    ("ebfmi-zero", lambda r: r["diagnostics"].update(ebfmi_min=0), "ebfmi_min"),
    ("pareto-k-negative", lambda r: r["diagnostics"].update(pareto_k_max=-0.7), "pareto_k_max"),
    ("threshold-infinite", lambda r: r["potential"].update(reshaping_at=math.inf), "reshaping"),
    ("threshold-nan", lambda r: r["potential"].update(huge_below=math.nan), "huge_below"),
    ("ci-prob-nan", lambda r: r.update(ci_prob=math.nan), "ci_prob"),
    ("cores-zero", lambda r: r["sampler"].update(cores=0), "sampler.cores"),
    ("min-indicators-zero", lambda r: r["index"].update(min_indicators=0), "min_indicators"),
    ("cut-imputations-one", lambda r: r.update(cut_imputations=1), "cut_imputations"),
    ("name-with-separator", lambda r: r.update(name="../elsewhere"), "name"),
    ("name-empty", lambda r: r.update(name=""), "name"),
    ("nuts-option-a-table", lambda r: r["sampler"].update(nuts={"maxdepth": [8]}), "nuts"),
    ("covariate-source", lambda r: r["gravity"]["covariates"][0].update(source="x"), "source"),
    ("draws-float", lambda r: r["sampler"].update(draws=1.5), "sampler.draws"),
    ("priors-not-a-table", lambda r: r["gravity"].update(priors=3), "gravity.priors"),
]


@pytest.mark.parametrize(("edit", "key"), [c[1:] for c in BAD], ids=[c[0] for c in BAD])
def test_bad_value_is_one_problem_naming_the_key(edit, key):
    problems = problems_of(edit)
    assert len(problems) == 1, problems
    assert key in problems[0].split(":")[0], f"{key!r} not named in {problems[0]!r}"


def test_default_diagnostics_limits_are_valid():
    spec = parse_spec(copy.deepcopy(RAW_DEFAULT))
    assert spec.diagnostics.rhat_max > 1 and spec.diagnostics.ess_bulk_min > 0


# ---------------------------------------------------------------------------- spec meets data


def test_index_indicator_not_in_data_lists_closest_codes(tmp_path, capsys):
    spec = write_spec(tmp_path / "s.toml", replace={'code = "SE.TER.ENRR"': 'code = "SE.TER.ENR"'})
    out = tmp_path / "out"
    code, stdout, err = run(["classic", str(spec), "--out", str(out)], capsys)
    assert code == 2, err
    assert str(spec) in err, err
    line = next(x for x in err.splitlines() if "SE.TER.ENR'" in x)
    assert line.startswith("  - index.indicators.9.code:"), line
    assert "indicators.csv" in line and "closest: SE.TER.ENRR" in line, line
    assert "Traceback" not in err and stdout == ""
    assert not out.exists()


def test_every_missing_series_is_listed_at_once(tmp_path, capsys):
    spec = write_spec(
        tmp_path / "s.toml",
        replace={
            'code = "IS.AIR.DPRT"': 'code = "IS.AIR.DPRX"',
            'indicator = "NE.TRD.GNFS.ZS"': 'indicator = "NE.TRD.GNFS"',
            'column = "dist_km"': 'column = "distance"',
        },
    )
    code, _, err = run(["fit", str(spec), "--out", str(tmp_path / "out")], capsys)
    assert code == 2, err
    bullets = [x for x in err.splitlines() if x.startswith("  - ")]
    assert len(bullets) == 3, err
    assert bullets[0].startswith("  - index.indicators.4.code: 'IS.AIR.DPRX'"), bullets
    assert "closest: IS.AIR.DPRT" in bullets[0]
    assert bullets[1].startswith("  - gravity.covariates.4.indicator: covariate 'openness_partner'")
    assert "closest: NE.TRD.GNFS.ZS" in bullets[1]
    assert bullets[2].startswith("  - gravity.covariates.5.column: covariate 'log_dist'")
    assert "'dist_km'" in bullets[2] and "pairs.csv" in bullets[2]
    assert not (tmp_path / "out").exists()


def test_code_with_no_close_match_says_how_to_list_the_codes(tmp_path, capsys):
    spec = write_spec(tmp_path / "s.toml", replace={'code = "SE.TER.ENRR"': 'code = "ZZZ"'})
    code, _, err = run(["classic", str(spec), "--out", str(tmp_path / "out")], capsys)
    assert code == 2, err
    assert "'ZZZ'" in err and "series available (`validate` lists them)" in err, err


def test_spec_data_path_that_does_not_exist(tmp_path, capsys):
    spec = write_spec(tmp_path / "specs" / "s.toml", data_path=Path("../no_such_data"))
    for command in ("classic", "fit", "prior"):
        out = tmp_path / f"out_{command}"
        code, _, err = run([command, str(spec), "--out", str(out)], capsys)
        assert code == 2, f"{command}: exit {code}\n{err}"
        assert err.startswith(f"error: {spec}: data.path: dataset folder"), err
        assert str((tmp_path / "no_such_data").resolve()) in err, err
        assert "relative to the spec's folder" in err
        assert not out.exists(), command


def test_spec_trade_file_that_does_not_exist(tmp_path, capsys, make_dataset: MakeDataset):
    folder = make_dataset()
    spec = write_spec(
        tmp_path / "s.toml",
        data_path=folder,
        replace={'trade_file = "trade.csv"': 'trade_file = "trade_partner.csv"'},
    )
    code, _, err = run(["classic", str(spec), "--out", str(tmp_path / "out")], capsys)
    assert code == 2, err
    assert "data.trade_file: 'trade_partner.csv'" in err, err
    assert "trade_partner_reported.csv" in err, "the CSV files present should be listed"


def test_data_option_that_does_not_exist_stays_a_data_error(tmp_path, capsys):
    code, _, err = run(["classic", "--data", str(tmp_path / "nope")], capsys)
    assert code == 3, err
    assert "data folder not found" in err


def test_unknown_sampler_through_the_cli(tmp_path, capsys):
    spec = write_spec(
        tmp_path / "s.toml", replace={'nuts_sampler = "blackjax"': 'nuts_sampler = "nutpy"'}
    )
    out = tmp_path / "out"
    code, _, err = run(["fit", str(spec), "--out", str(out)], capsys)
    assert code == 2, err
    assert "sampler.nuts_sampler" in err and "'nutpy'" in err, err
    code, _, err = run(["fit", "--nuts-sampler", "stan", "--out", str(out)], capsys)
    assert code == 2 and "unknown sampler 'stan'" in err, err
    assert not out.exists()


# ---------------------------------------------------------------------------- properties


def _paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    """Every key path into the default spec (tables, arrays and their entries)."""
    found = [prefix] if prefix else []
    if isinstance(node, dict):
        for key, value in node.items():
            found += _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found += _paths(value, (*prefix, i))
    return found


PATHS = _paths(RAW_DEFAULT)
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-(10**6), 10**6)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12)
)
VALUES = st.recursive(
    SCALARS,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=6,
)


def _mutate(raw: dict, path: tuple, how: str, value: Any, key: str) -> None:
    parent: Any = raw
    for part in path[:-1]:
        parent = parent[part]
    last = path[-1]
    if how == "replace":
        parent[last] = value
    elif how == "delete":
        del parent[last]
    elif how == "add" and isinstance(parent, dict):
        parent[key] = value
    elif how == "add":
        parent.append(value)


def _assert_accepted_or_config_error(raw: Any) -> None:
    try:
        spec = parse_spec(raw, "mutated.toml")
    except ConfigError as err:
        assert err.exit_code == 2
        assert err.problems, "a ConfigError must list its problems"
        assert str(err).startswith("mutated.toml: invalid model spec")
        return
    # An accepted spec is stored as JSON with every run and parsed again on load.
    assert isinstance(spec, ModelSpec)
    again = parse_spec(json.loads(json.dumps(spec.model_dump(mode="json"), allow_nan=False)))
    assert again == spec
    assert again.content_hash() == spec.content_hash()


@FAST
@given(
    mutations=st.lists(
        st.tuples(
            st.sampled_from(PATHS),
            st.sampled_from(["replace", "delete", "add"]),
            VALUES,
            st.text(max_size=10),
        ),
        min_size=1,
        max_size=3,
    )
)
def test_mutated_default_spec_is_accepted_or_one_config_error(mutations):
    raw = copy.deepcopy(RAW_DEFAULT)
    for path, how, value, key in mutations:
        try:
            _mutate(raw, path, how, value, key)
        except (KeyError, IndexError, TypeError):
            continue  # an earlier mutation removed or replaced the parent
    _assert_accepted_or_config_error(raw)


@FAST
@given(raw=st.dictionaries(st.text(max_size=10), VALUES, max_size=6) | VALUES)
def test_random_document_is_a_config_error(raw):
    _assert_accepted_or_config_error(raw)


@FAST
@given(
    path=st.sampled_from([p for p in PATHS if isinstance(p[-1], str)]),
    value=SCALARS,
)
def test_any_scalar_at_any_key_is_accepted_or_one_config_error(path, value):
    raw = copy.deepcopy(RAW_DEFAULT)
    _mutate(raw, path, "replace", value, "")
    _assert_accepted_or_config_error(raw)


@settings(max_examples=40, deadline=None)
@given(text=st.text(max_size=300) | st.binary(max_size=300))
def test_random_spec_file_is_a_config_error(tmp_path_factory, text):
    path = tmp_path_factory.mktemp("spec") / "random.toml"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    with pytest.raises(BayesGravityError) as info:
        load_spec(path)
    assert isinstance(info.value, ConfigError) and "random.toml" in str(info.value)


@settings(max_examples=30, deadline=None)
@given(
    lines=st.lists(
        st.sampled_from(DEFAULT_SPEC.read_text(encoding="utf-8").splitlines()), max_size=40
    )
)
def test_shuffled_lines_of_the_default_spec(tmp_path_factory, lines):
    path = tmp_path_factory.mktemp("spec") / "shuffled.toml"
    path.write_text("\n".join(lines), encoding="utf-8")
    try:
        load_spec(path)
    except ConfigError as err:
        assert "shuffled.toml" in str(err)
