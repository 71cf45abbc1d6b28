"""Model specs: TOML files validated by frozen pydantic models.

Unknown keys fail with a "did you mean" hint; every problem in a spec is reported at once as a
:class:`ConfigError` (exit code 2). The resolved spec is stored with every result.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import math
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from bayes_gravity.errors import ConfigError

MODELS_DIR = Path(__file__).resolve().parents[2] / "models"
DEFAULT_SPEC = MODELS_DIR / "default.toml"


class _Strict(BaseModel):
    # No inf/NaN: they would pass range checks, and NaN is saved as null in the run's spec.
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class DataSpec(_Strict):
    """Which dataset and years to use."""

    path: str | None = Field(
        None, description="dataset folder; relative paths are relative to the spec file"
    )
    trade_file: str = "trade.csv"
    first_year: int | None = None
    last_year: int | None = None
    allow_drops: bool = Field(
        False,
        description="let `fit --strict` go on when a partner, flow or year loses every row",
    )

    # Checks across fields are field validators on the later field (``info.data`` holds the
    # earlier ones once valid): a model validator would not run when any other key of the
    # table is wrong, and every problem is to be listed at once.
    @field_validator("last_year")
    @classmethod
    def _years_in_order(cls, last: int | None, info: ValidationInfo) -> int | None:
        first = info.data.get("first_year")
        if first is not None and last is not None and first > last:
            raise ValueError(f"first_year {first} is after last_year {last}")
        return last


class IndicatorSpec(_Strict):
    """One index indicator: a series code, its dimension, direction and transform."""

    code: str
    dimension: str
    direction: Literal["+", "-"] = "+"
    transform: Literal["none", "log", "log1p"] = "none"


class IndexSpec(_Strict):
    """The CBEC development index (PCA in the classic pipeline, latent factor in the fit)."""

    indicators: list[IndicatorSpec]
    anchor: str = Field(description="indicator whose loading is constrained positive")
    time_prior: Literal["random_walk", "ar1"] = "random_walk"
    min_indicators: int = Field(3, ge=1)

    # A model validator, so both problems come back together; it does not run when another key
    # of [index] is wrong (those are listed, and this check follows once they are fixed).
    @model_validator(mode="after")
    def _anchor_listed(self) -> IndexSpec:
        codes = [i.code for i in self.indicators]
        problems = []  # both checks reported together, not one per run
        if self.anchor not in codes:
            problems.append(f"anchor {self.anchor!r} is not among the indicators {codes}")
        dupes = {c for c in codes if codes.count(c) > 1}
        if dupes:
            problems.append(f"indicator(s) listed twice: {sorted(dupes)}")
        if problems:
            raise ValueError("; ".join(problems))
        return self


class CovariateSpec(_Strict):
    """A gravity covariate and where its values come from.

    ``source`` is ``"indicator"`` (a series of the partner or reporter), ``"pair"`` (a
    ``pairs.csv`` column) or ``"index"`` (the CBEC index of ``side``).
    """

    name: str
    source: Literal["indicator", "pair", "index"]
    indicator: str | None = None
    column: str | None = None
    side: Literal["partner", "reporter"] = "partner"
    transform: Literal["none", "log", "percent"] = "none"

    @model_validator(mode="after")
    def _source_fields(self) -> CovariateSpec:
        if self.source == "indicator" and not self.indicator:
            raise ValueError(f"covariate {self.name!r}: source 'indicator' needs `indicator`")
        if self.source == "pair" and not self.column:
            raise ValueError(f"covariate {self.name!r}: source 'pair' needs `column`")
        return self


class PriorSpec(_Strict):
    """A prior override: a PyMC distribution name and its parameters."""

    dist: Literal["Normal", "HalfNormal", "StudentT", "Exponential", "Gamma", "LogNormal"]
    mu: float | None = None
    sigma: float | None = None
    nu: float | None = None
    lam: float | None = None
    alpha: float | None = None
    beta: float | None = None


class GravitySpec(_Strict):
    """The gravity model: covariates, likelihood and random-effect structure."""

    covariates: list[CovariateSpec]
    likelihood: Literal["student_t", "lognormal", "gamma", "ppml"] = "student_t"
    partner_effects: bool = True
    partner_flow_effects: bool = Field(
        True, description="partner-specific import-minus-export gap (centred, sum-to-zero)"
    )
    partner_slopes_index: bool = False
    year_effects: bool = False
    priors: dict[str, PriorSpec] = Field(default_factory=dict)


class SamplerSpec(_Strict):
    """Sampler settings under PyMC's own names, passed through to ``pm.sample``."""

    draws: int = Field(1000, gt=0)
    tune: int = Field(1000, ge=0)
    chains: int = Field(4, gt=0)
    cores: int | None = Field(None, gt=0)
    target_accept: float = Field(0.95, gt=0, lt=1)
    random_seed: int = 20240601
    nuts_sampler: Literal["pymc", "nutpie", "numpyro", "blackjax"] = "blackjax"
    nuts: dict[str, Any] = Field(
        default_factory=dict, description="extra NUTS options, passed as pm.sample(nuts=...)"
    )

    @field_validator("nuts")
    @classmethod
    def _scalar_options(cls, nuts: dict[str, Any]) -> dict[str, Any]:
        bad = [
            key
            for key, value in nuts.items()
            if not isinstance(value, bool | int | float | str)
            or (isinstance(value, float) and not math.isfinite(value))
        ]
        if bad:
            raise ValueError(f"options {bad} must be finite numbers, booleans or strings")
        return nuts


class PotentialSpec(_Strict):
    """Trade-potential tiers: thresholds, inclusive side of a threshold, ratio direction."""

    reshaping_at: float = Field(1.2, gt=0)
    huge_below: float = Field(0.8, gt=0)
    boundary: Literal["lower_inclusive", "upper_inclusive"] = "lower_inclusive"
    ratio: Literal["actual_over_predicted", "predicted_over_actual"] = "actual_over_predicted"

    @field_validator("huge_below")
    @classmethod
    def _ordered(cls, huge_below: float, info: ValidationInfo) -> float:
        reshaping_at = info.data.get("reshaping_at")
        if reshaping_at is not None and not huge_below < reshaping_at:
            raise ValueError(
                f"thresholds out of order: huge_below ({huge_below}) must be below "
                f"reshaping_at ({reshaping_at})"
            )
        return huge_below

    def describe(self) -> str:
        """One line stating the tier rule, printed with every output.

        The thresholds are stated on the actual / predicted scale; with
        ``ratio = "predicted_over_actual"`` the rule is given on the printed ratio ``r`` (the
        thresholds inverted), since that is the number shown next to each tier.
        """
        hi, lo = self.reshaping_at, self.huge_below
        if self.ratio == "actual_over_predicted":
            if self.boundary == "lower_inclusive":
                rule = (
                    f"reshaping: r >= {hi}; expansion: {lo} <= r < {hi}; huge potential: r < {lo}"
                )
            else:
                rule = (
                    f"reshaping: r > {hi}; expansion: {lo} < r <= {hi}; huge potential: r <= {lo}"
                )
            return f"ratio r = actual / predicted; {rule}"
        inv_hi, inv_lo = f"{1 / hi:.4g}", f"{1 / lo:.4g}"
        if self.boundary == "lower_inclusive":
            rule = (
                f"reshaping: r <= {inv_hi}; expansion: {inv_hi} < r <= {inv_lo}; "
                f"huge potential: r > {inv_lo}"
            )
        else:
            rule = (
                f"reshaping: r < {inv_hi}; expansion: {inv_hi} <= r < {inv_lo}; "
                f"huge potential: r >= {inv_lo}"
            )
        return (
            f"ratio r = predicted / actual; {rule} (thresholds {hi} and {lo} on "
            f"actual / predicted = 1/r)"
        )


class DiagnosticsSpec(_Strict):
    """Thresholds of the diagnostics gate."""

    rhat_max: float = Field(1.01, gt=1, description="R-hat is at least 1: a limit of 1 fails")
    ess_bulk_min: float = Field(400, gt=0)
    ess_tail_min: float = Field(400, gt=0)
    divergences_max: int = Field(0, ge=0)
    ebfmi_min: float = Field(0.3, gt=0, lt=1, description="E-BFMI below 0.3 is a warning sign")
    pareto_k_max: float = Field(
        0.7, gt=0, le=1, description="k above 0.7: unreliable; above 1 the mean does not exist"
    )


class ClassicSpec(_Strict):
    """Settings of the classic PCA / OLS pipeline."""

    eigenvalue_min: float = 1.0
    potential_model: Literal["ols", "re"] = "re"


FRONTIER_TIER_SOURCE = (
    "the thresholds of issue 13 (TE < 0.5 low, 0.5-0.8 medium, >= 0.8 high), a convention "
    "like the ratio's 0.8 / 1.2: CBEC frontier studies report mean efficiencies below 0.5 "
    "(Tang, Liao & Wu 2020), so 0.5 splits 'far from' and 0.8 'close to' the frontier"
)


class FrontierSpec(_Strict):
    """The stochastic frontier: ``log trade = frontier + v - u`` with inefficiency ``u >= 0``.

    ``inefficiency``: the distribution of ``u``. ``pattern``: ``"iid"`` (one ``u`` per
    pair-flow-year), ``"bc92"`` (Battese & Coelli 1992: ``u_it = exp(-eta (t - T)) u_i`` per
    pair-flow series, ``eta`` common or per partner with partial pooling) or ``"bc95"``
    (the scale of ``u`` depends on ``determinants``, gravity covariates by name). ``noise``:
    the distribution of ``v``. TE tiers: low below ``low_below``, high at or above ``high_at``.
    """

    inefficiency: Literal["half_normal", "exponential", "truncated_normal"] = "half_normal"
    pattern: Literal["iid", "bc92", "bc95"] = "iid"
    eta: Literal["common", "partner"] = Field(
        "common", description="bc92: one eta, or one per partner (partially pooled)"
    )
    determinants: list[str] = Field(
        default_factory=list, description="bc95: covariates that scale u (e.g. cbec_index)"
    )
    noise: Literal["normal", "student_t"] = "normal"
    low_below: float = Field(0.5, gt=0, lt=1)
    high_at: float = Field(0.8, gt=0, le=1)

    @model_validator(mode="after")
    def _consistent(self) -> FrontierSpec:
        problems = []
        if not self.low_below < self.high_at:
            problems.append(
                f"tier thresholds out of order: low_below ({self.low_below}) must be below "
                f"high_at ({self.high_at})"
            )
        if self.pattern == "bc95" and not self.determinants:
            problems.append("pattern 'bc95' needs `determinants` (covariate names)")
        if self.pattern != "bc95" and self.determinants:
            problems.append(f"`determinants` apply to pattern 'bc95' only, not {self.pattern!r}")
        if self.pattern != "bc92" and self.eta != "common":
            problems.append(f"`eta` applies to pattern 'bc92' only, not {self.pattern!r}")
        dupes = sorted({d for d in self.determinants if self.determinants.count(d) > 1})
        if dupes:
            problems.append(f"determinant(s) listed twice: {dupes}")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def describe(self) -> str:
        """One line stating the TE tier rule, printed with every frontier output."""
        lo, hi = self.low_below, self.high_at
        return (
            f"TE = actual / frontier; low: TE < {lo}; medium: {lo} <= TE < {hi}; "
            f"high: TE >= {hi} (defaults: {FRONTIER_TIER_SOURCE})"
        )


class ModelSpec(_Strict):
    """A whole model spec (``models/<name>.toml``)."""

    # The name is the run folder's name (models/<name>/): no separators, not hidden, not empty.
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", max_length=100)
    description: str = ""
    data: DataSpec = Field(default_factory=DataSpec)
    index: IndexSpec
    gravity: GravitySpec
    coupling: Literal["joint", "cut"] = "joint"
    cut_imputations: int = Field(
        8, ge=2, description="index draws the gravity model is refitted on under coupling = cut"
    )
    sampler: SamplerSpec = Field(default_factory=SamplerSpec)
    potential: PotentialSpec = Field(default_factory=PotentialSpec)
    diagnostics: DiagnosticsSpec = Field(default_factory=DiagnosticsSpec)
    classic: ClassicSpec = Field(default_factory=ClassicSpec)
    ci_prob: float = Field(0.9, gt=0, lt=1)
    frontier: FrontierSpec | None = Field(
        None, description="stochastic frontier instead of the mean model (models/frontier.toml)"
    )

    @model_validator(mode="after")
    def _frontier_fits_gravity(self) -> ModelSpec:
        if self.frontier is None:
            return self
        problems = []
        names = [c.name for c in self.gravity.covariates]
        unknown = [d for d in self.frontier.determinants if d not in names]
        if unknown:
            problems.append(
                f"frontier.determinants: {unknown} are not gravity covariates; covariates: {names}"
            )
        if self.gravity.likelihood not in ("student_t", "lognormal"):
            problems.append(
                f"frontier: the frontier is on log trade, but gravity.likelihood is "
                f"{self.gravity.likelihood!r}; the noise v is set by frontier.noise"
            )
        if self.coupling != "joint":
            problems.append("frontier: needs coupling = 'joint' (the cut is not implemented)")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def dump_for_hash(self) -> dict[str, Any]:
        """Return the resolved spec as JSON data, without ``frontier`` when there is none.

        A mean-model spec hashes as it did before the frontier existed, so cached programs
        and stored spec hashes stay valid.
        """
        dumped = self.model_dump(mode="json")
        if dumped.get("frontier") is None:
            dumped.pop("frontier", None)
        return dumped

    def content_hash(self) -> str:
        """Hash of the resolved spec, stored with results to detect mismatches."""
        text = json.dumps(self.dump_for_hash(), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


# ---------------------------------------------------------------------------- loading


def _allowed_keys(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """Field names valid at ``loc`` (for the "did you mean" hint)."""
    current: Any = model
    dict_key = False
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        if dict_key:  # a key of a dict[str, Model] field (e.g. a prior's name), not a field
            dict_key = False
            continue
        field = getattr(current, "model_fields", {}).get(part)
        if field is None:
            return []
        annotation = field.annotation
        args = getattr(annotation, "__args__", ())
        candidates = [annotation, *args]
        current = next(
            (c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)), None
        )
        if current is None:
            return []
        dict_key = getattr(annotation, "__origin__", None) is dict
    return list(getattr(current, "model_fields", {}))


def _describe(err: dict[str, Any], model: type[BaseModel]) -> str:
    loc = ".".join(str(p) for p in err["loc"]) or "(top level)"
    if err["type"] == "extra_forbidden":
        key = str(err["loc"][-1])
        allowed = _allowed_keys(model, err["loc"])
        close = difflib.get_close_matches(key, allowed, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else f"; allowed: {allowed}"
        return f"{loc}: unknown key{hint}"
    if err["type"] == "value_error":
        # a model-level check: its message names the values; the input is the whole table
        return f"{loc}: {err['msg'].removeprefix('Value error, ')}"
    return f"{loc}: {err['msg']} (got {err.get('input')!r})"


def validate_as[M: BaseModel](model: type[M], raw: dict[str, Any], source: str, what: str) -> M:
    """Validate ``raw`` as ``model``; raise :class:`ConfigError` listing every problem."""
    try:
        return model.model_validate(raw)
    except ValidationError as err:
        problems = [_describe(dict(e), model) for e in err.errors()]
        raise ConfigError(f"{source}: invalid {what}", problems) from None


def read_toml(path: Path, what: str) -> dict[str, Any]:
    """Read a TOML file; a missing or unparsable file is a :class:`ConfigError`."""
    if not path.is_file():
        raise ConfigError(f"{what} file not found: {path}")
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise ConfigError(f"{path}: not valid TOML ({err})") from None


def parse_spec(raw: dict[str, Any], source: str = "<spec>") -> ModelSpec:
    """Validate a spec dictionary; raise :class:`ConfigError` listing every problem."""
    return validate_as(ModelSpec, raw, source, "model spec")


def load_spec(path: str | Path | None = None) -> tuple[ModelSpec, Path]:
    """Read and validate a spec file (default ``models/default.toml``).

    Returns the spec and its path (relative data paths resolve against the spec's folder).
    """
    spec_path = Path(path) if path is not None else DEFAULT_SPEC
    return parse_spec(read_toml(spec_path, "spec"), str(spec_path)), spec_path


def resolve_data_path(spec: ModelSpec, spec_path: Path, override: str | Path | None) -> Path | None:
    """Return the dataset folder: command-line override, else the spec's path, else shipped."""
    if override is not None:
        return Path(override)
    if spec.data.path is None:
        return None
    path = Path(spec.data.path)
    return path if path.is_absolute() else (spec_path.parent / path).resolve()
