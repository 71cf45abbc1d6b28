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


# ---------------------------------------------------------------------------- several mistakes
# A catalogue of mistakes, each at its own place in the spec: wrong types, numbers outside
# their range (draws <= 0, ci_prob outside (0, 1), huge_below >= reshaping_at, thresholds of
# the gate outside their domain) and unknown or misspelt keys at every level. Any choice of
# them, applied together, must come back as one ConfigError listing each of them once, with
# the key; through the CLI as exit code 2, every key on stderr, no traceback, nothing written.
# Mistakes that would hide each other (a wrong type and a wrong range of the same key) share
# a slot, and at most one per slot is drawn.

Raw = dict[str, Any]


def _set(*path: Any) -> Any:
    def apply(value: Any) -> Any:
        def edit(raw: Raw) -> None:
            node: Any = raw
            for part in path[:-1]:
                node = node[part]
            node[path[-1]] = value

        return edit

    return apply


POSITIVE_OR_LESS = st.integers(-(10**6), 0)
OUTSIDE_UNIT = st.floats(max_value=0.0) | st.floats(min_value=1.0)
FINITE = {"allow_nan": False, "allow_infinity": False}


def _swap_thresholds(gap: float) -> Any:
    def edit(raw: Raw) -> None:
        raw["potential"]["huge_below"] = raw["potential"]["reshaping_at"] + gap

    return edit


# slot -> strategy of (edit, location of the problem, a fragment of it)
SLOTS: dict[str, Any] = {
    "draws": st.one_of(
        POSITIVE_OR_LESS.map(lambda v: (_set("sampler", "draws")(v), "sampler.draws", "greater")),
        st.just((_set("sampler", "draws")("many"), "sampler.draws", "'many'")),
    ),
    "chains": st.just((_set("sampler", "chains")(2.5), "sampler.chains", "2.5")),
    "tune": st.integers(-(10**6), -1).map(
        lambda v: (_set("sampler", "tune")(v), "sampler.tune", "greater")
    ),
    "target_accept": st.floats(max_value=0.0, **FINITE).map(
        lambda v: (_set("sampler", "target_accept")(v), "sampler.target_accept", "greater")
    ),
    "ci_prob": st.one_of(
        OUTSIDE_UNIT.filter(math.isfinite).map(lambda v: (_set("ci_prob")(v), "ci_prob", "")),
        st.just((_set("ci_prob")("wide"), "ci_prob", "'wide'")),
    ),
    "thresholds": st.one_of(
        st.floats(0.0, 1e6, **FINITE).map(
            lambda g: (_swap_thresholds(g), "potential.huge_below", "out of order")
        ),
        st.floats(max_value=0.0, **FINITE).map(
            lambda v: (_set("potential", "reshaping_at")(v), "potential.reshaping_at", "greater")
        ),
    ),
    "boundary": st.just((_set("potential", "boundary")(3), "potential.boundary", "3")),
    "rhat": st.floats(max_value=1.0, **FINITE).map(
        lambda v: (_set("diagnostics", "rhat_max")(v), "diagnostics.rhat_max", "greater")
    ),
    "ess": st.floats(max_value=0.0, **FINITE).map(
        lambda v: (_set("diagnostics", "ess_bulk_min")(v), "diagnostics.ess_bulk_min", "")
    ),
    "divergences": st.one_of(
        st.integers(-(10**6), -1).map(
            lambda v: (_set("diagnostics", "divergences_max")(v), "diagnostics.divergences_max", "")
        ),
        st.just((_set("diagnostics", "divergences_max")(0.5), "diagnostics.divergences_max", "")),
    ),
    "ebfmi": OUTSIDE_UNIT.filter(math.isfinite).map(
        lambda v: (_set("diagnostics", "ebfmi_min")(v), "diagnostics.ebfmi_min", "")
    ),
    "pareto": st.one_of(
        st.floats(max_value=0.0, **FINITE), st.floats(min_value=1.0, exclude_min=True, **FINITE)
    ).map(lambda v: (_set("diagnostics", "pareto_k_max")(v), "diagnostics.pareto_k_max", "")),
    "first_year": st.just((_set("data", "first_year")("2000s"), "data.first_year", "'2000s'")),
    "allow_drops": st.just((_set("data", "allow_drops")("KGZ"), "data.allow_drops", "'KGZ'")),
    "partner_effects": st.just(
        (_set("gravity", "partner_effects")("perhaps"), "gravity.partner_effects", "'perhaps'")
    ),
    "eigenvalue": st.just(
        (_set("classic", "eigenvalue_min")("one"), "classic.eigenvalue_min", "'one'")
    ),
    # unknown and misspelt keys, one per level
    "top-key": st.just((_set("ci_porb")(0.9), "ci_porb", "did you mean 'ci_prob'")),
    "data-key": st.just((_set("data", "frist_year")(2000), "data.frist_year", "'first_year'")),
    "index-key": st.just((_set("index", "anchr")("X"), "index.anchr", "'anchor'")),
    "indicator-key": st.just(
        (_set("index", "indicators", 0, "dimesion")("x"), "index.indicators.0.dimesion", "")
    ),
    "gravity-key": st.just(
        (_set("gravity", "likelyhood")("ppml"), "gravity.likelyhood", "'likelihood'")
    ),
    "covariate-key": st.just(
        (_set("gravity", "covariates", 1, "sourc")("x"), "gravity.covariates.1.sourc", "")
    ),
    "prior-key": st.just(
        (
            _set("gravity", "priors", "beta_log_dist")({"dist": "Normal", "sigmaa": 1.0}),
            "gravity.priors.beta_log_dist.sigmaa",
            "'sigma'",
        )
    ),
    "sampler-key": st.just((_set("sampler", "draw")(500), "sampler.draw", "'draws'")),
    "potential-key": st.just(
        (_set("potential", "reshaping")(1.3), "potential.reshaping", "'reshaping_at'")
    ),
    "diagnostics-key": st.just((_set("diagnostics", "rhat")(1.1), "diagnostics.rhat", "")),
    "classic-key": st.just(
        (_set("classic", "eigen_min")(1.0), "classic.eigen_min", "'eigenvalue_min'")
    ),
}

MISTAKES = st.lists(st.sampled_from(sorted(SLOTS)), min_size=1, max_size=5, unique=True).flatmap(
    lambda slots: st.tuples(*(SLOTS[s] for s in slots))
)


def _with_mistakes(mistakes: tuple) -> Raw:
    raw = copy.deepcopy(RAW_DEFAULT)
    raw.setdefault("gravity", {}).setdefault("priors", {})
    for edit, _, _ in mistakes:
        edit(raw)
    return raw


def _check_problems(problems: list[str], mistakes: tuple) -> None:
    assert len(problems) == len(mistakes), problems
    locations = [p.split(": ")[0] for p in problems]
    for _, location, fragment in mistakes:
        assert location in locations, f"{location!r} not listed: {problems}"
        problem = problems[locations.index(location)]
        assert fragment in problem, f"{fragment!r} not in {problem!r}"


@FAST
@given(mistakes=MISTAKES)
def test_every_mistake_is_listed_once_with_its_key(mistakes):
    with pytest.raises(ConfigError) as info:
        parse_spec(_with_mistakes(mistakes), "spec.toml")
    assert info.value.exit_code == 2
    _check_problems(info.value.problems, mistakes)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return {math.inf: "inf", -math.inf: "-inf"}.get(value, repr(value))
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    assert isinstance(value, dict), value
    return "{" + ", ".join(f"{json.dumps(k)} = {_toml_value(v)}" for k, v in value.items()) + "}"


def to_toml(raw: Raw) -> str:
    """A spec dictionary as TOML: one line per top-level key, inline tables below."""
    return "\n".join(f"{json.dumps(k)} = {_toml_value(v)}" for k, v in raw.items()) + "\n"


def test_toml_writer_round_trips_the_default_spec():
    assert tomllib.loads(to_toml(RAW_DEFAULT)) == RAW_DEFAULT


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mistakes=MISTAKES)
def test_every_mistake_through_the_cli(tmp_path_factory, mistakes):
    folder = tmp_path_factory.mktemp("cli")
    spec = folder / "mistakes.toml"
    raw = _with_mistakes(mistakes)
    spec.write_text(to_toml(raw), encoding="utf-8")
    assert tomllib.loads(spec.read_text(encoding="utf-8")) == raw
    out = folder / "out"
    import io
    from contextlib import redirect_stderr, redirect_stdout

    err = io.StringIO()
    with redirect_stderr(err), redirect_stdout(io.StringIO()):
        code = main(["fit", str(spec), "--out", str(out)])
    text = err.getvalue()
    assert code == 2, text
    assert text.startswith(f"error: {spec}: invalid model spec"), text
    assert "Traceback" not in text
    bullets = [line.removeprefix("  - ") for line in text.splitlines() if line.startswith("  - ")]
    _check_problems(bullets, mistakes)
    assert not out.exists(), "nothing may be written"
