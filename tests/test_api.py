"""The Python API: `import bayes_gravity as bg`, fit, save, load, read, scenario, report.

The round trip runs on PyMC's mock sampler (draws from the prior, seconds); the README's
worked example runs as written, on the real engine, at the size it states.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import bayes_gravity as bg
from bayes_gravity.errors import ConfigError, ResultsError
from bayes_gravity.results import artefacts

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def mock_sampler():
    import pymc as pm
    from pymc.testing import mock_sample

    def flags(size: tuple[int, int]) -> np.ndarray:
        return np.zeros(size, dtype=bool)

    def energy(size: tuple[int, int]) -> np.ndarray:
        return np.random.default_rng(0).normal(size=size)

    original = pm.sample
    pm.sample = partial(
        mock_sample,
        sample_stats={"diverging": flags, "energy": energy, "reached_max_treedepth": flags},
    )
    yield {"nuts_sampler": "pymc", "draws": 20, "chains": 2}
    pm.sample = original


def test_fit_save_load_round_trip(mock_sampler, tmp_path: Path) -> None:
    spec = bg.load_spec()
    data = bg.load_dataset()
    run = bg.fit(spec, data, **mock_sampler)
    assert run.folder is None
    for frame, column in [
        (run.index, "rank_mean"),
        (run.loadings, "pca_weight"),
        (run.coefficients, "r_hat"),
        (run.potential, "tier"),
    ]:
        assert isinstance(frame, pd.DataFrame) and column in frame.columns and len(frame)
    assert {"r_hat", "ess_bulk", "divergences"} <= set(run.diagnostics.index)
    assert {"value", "threshold", "passed"} <= set(run.diagnostics.columns)
    assert "posterior" in run.posterior.children
    assert run.posterior["posterior"].sizes["draw"] == 20
    with pytest.raises(ResultsError, match="save"):
        run.report()  # the report reads saved files only

    folder = run.save(tmp_path / "run")
    for name in (*artefacts.CLASSIC, artefacts.CLASSIC_SUMMARY, artefacts.POSTERIOR):
        assert (folder / name).is_file(), name
    saved = bg.load_run(folder)
    assert saved._model is None  # tables are read without loading the posterior
    pd.testing.assert_frame_equal(saved.potential, pd.read_csv(folder / "potential.csv"))
    pd.testing.assert_frame_equal(
        saved.coefficients.set_index("term"),
        run.coefficients.set_index("term"),
        check_exact=False,
        rtol=1e-5,  # the CSV keeps 6 significant digits
    )
    assert saved.passed == run.passed
    assert list(saved.diagnostics.index) == list(run.diagnostics.index)
    assert saved.posterior["posterior"].sizes["draw"] == 20

    table = saved.scenario(
        {
            "name": "openness_up",
            "changes": [{"covariate": "openness_partner", "operation": "multiply", "value": 1.1}],
        }
    )
    assert {"delta_mean", "p_tier_change", "tier"} <= set(table.columns)
    assert (folder / "scenarios" / "openness_up.csv").is_file()
    page = saved.report()
    assert page == folder / "report.html" and "openness_up" in page.read_text(encoding="utf-8")

    copy = saved.save(tmp_path / "copy")
    again = bg.load_run(copy)
    pd.testing.assert_frame_equal(again.potential, saved.potential)
    assert not (copy / "scenarios").exists()  # a new commit: nothing of the older folder


def test_bad_input_is_refused_with_names(tmp_path: Path) -> None:
    with pytest.raises(ResultsError, match="run folder not found"):
        bg.load_run(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ResultsError, match=r"potential\.csv is missing"):
        _ = bg.load_run(tmp_path / "empty").potential
    spec = bg.load_spec()
    wrong = spec.model_copy(
        update={
            "index": spec.index.model_copy(
                update={
                    "indicators": [
                        spec.index.indicators[0].model_copy(update={"code": "NOT.A.SERIES"}),
                        *spec.index.indicators[1:],
                    ]
                }
            )
        }
    )
    with pytest.raises(ConfigError, match=r"NOT\.A\.SERIES"):
        bg.fit(wrong, bg.load_dataset())


def test_import_is_light() -> None:
    code = (
        "import sys, bayes_gravity as bg\n"
        "assert callable(bg.fit) and bg.Run.__name__ == 'Run'\n"
        "heavy = [m for m in ('pymc', 'pytensor', 'jax', 'matplotlib') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def readme_example() -> str:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    part = text.split("## From Python", 1)[1]
    found = re.search(r"```python\n(.*?)```", part, flags=re.S)
    assert found, "README: the Python example is missing"
    return found.group(1)


def test_readme_example_runs_as_written(tmp_path: Path) -> None:
    # the example's relative paths are the repository's; its output goes to a scratch folder
    for name in ("models", "data"):
        os.symlink(REPO / name, tmp_path / name)
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"))
    done = subprocess.run(
        [sys.executable, "-c", readme_example()],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=env,
        timeout=1200,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert (tmp_path / "notebook_run" / "report.html").is_file()
    assert (tmp_path / "notebook_run" / "scenarios" / "openness_up.csv").is_file()
    assert "tier" in done.stdout
