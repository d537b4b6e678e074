"""`Spec`: the persisted, content-addressed description of a strategy and how to backtest it.

Parameter paths (used by `search_space`, `apply_params`, sweeps and the Optuna layer):

- `baseline.<param>`                    e.g. `baseline.fast`
- `filters.<module>.<param>`            e.g. `filters.adx_trend.min_adx`
- `execution.<module>.<param>`          e.g. `execution.trailing_pct.pct`
- `risk.<module>.<param>`               e.g. `risk.fixed_fraction.fraction`

Module names are unique within each list, so a path always names exactly one parameter.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, field_validator, model_validator

from auraquant.canonical import ContentModel


class ModuleRef(BaseModel):
    """A module by name (its file name under `cta_runtime/<kind>/`) and its parameter overrides."""

    model_config = {"frozen": True, "extra": "forbid"}
    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    params: dict[str, int | float] = Field(default_factory=dict)


class IntRange(BaseModel):
    model_config = {"frozen": True, "extra": "forbid"}
    kind: Literal["int"] = "int"
    low: int
    high: int
    step: int = 1
    log: bool = False


class FloatRange(BaseModel):
    model_config = {"frozen": True, "extra": "forbid"}
    kind: Literal["float"] = "float"
    low: float
    high: float
    step: float | None = None
    log: bool = False


class Categorical(BaseModel):
    model_config = {"frozen": True, "extra": "forbid"}
    kind: Literal["categorical"] = "categorical"
    choices: list[int | float]


ParamSpace = Annotated[IntRange | FloatRange | Categorical, Field(discriminator="kind")]


class EngineSettings(BaseModel):
    """Kernel settings; see `auraquant.cta.backtest.engine` for their exact semantics.

    fill: `next_open` (signal at bar close, fill at the next bar's open; default) or `same_close`
      (fill at the signal bar's close; optimistic, flagged in every report).
    intrabar: which of SL and TP fills when both are touched inside one bar.
    commission_bps / slippage_bps: per side, in basis points of the fill notional / fill price.
    annualization: periods per year for daily returns (365 for 24/7 markets, 252 for exchange calendars).
    sides: `both`, `long` (short candidates only exit longs) or `short` (long candidates only exit shorts).
    """

    model_config = {"frozen": True, "extra": "forbid"}
    fill: Literal["next_open", "same_close"] = "next_open"
    intrabar: Literal["stop_first", "ohlc_path", "candle_color"] = "stop_first"
    commission_bps: float = Field(0.0, ge=0, le=1000)
    slippage_bps: float = Field(0.0, ge=0, le=1000)
    initial_capital: float = Field(10_000.0, gt=0)
    annualization: Literal[365, 252] = 365
    sides: Literal["both", "long", "short"] = "both"


def _as_list(v: Any) -> Any:
    return [v] if isinstance(v, dict | ModuleRef) else v


class Spec(ContentModel):
    """A strategy: baseline + filters + execution + risk modules, a search space, and engine settings."""

    _id_prefix = "spec"
    _id_exclude = frozenset({"description"})

    name: str = "unnamed"
    description: str = ""
    baseline: ModuleRef
    filters: list[ModuleRef] = Field(default_factory=list)
    execution: list[ModuleRef] = Field(default_factory=list)
    risk: list[ModuleRef] = Field(default_factory=list)
    search_space: dict[str, ParamSpace] = Field(default_factory=dict)
    engine: EngineSettings = Field(default_factory=EngineSettings)

    _normalize_execution = field_validator("execution", "risk", mode="before")(_as_list)

    @model_validator(mode="after")
    def _unique_and_paths(self) -> Spec:
        for kind, refs in (("filters", self.filters), ("execution", self.execution), ("risk", self.risk)):
            names = [r.name for r in refs]
            if len(set(names)) != len(names):
                raise ValueError(f"duplicate module names in {kind}: {names}")
        for path in self.search_space:
            locate_param(self, path)
        return self


def locate_param(spec: Spec, path: str) -> tuple[str, int, str]:
    """(kind, index in the kind's list or -1 for the baseline, param name) of a parameter path."""
    parts = path.split(".")
    if parts[0] == "baseline" and len(parts) == 2:
        return "baseline", -1, parts[1]
    if parts[0] in ("filters", "execution", "risk") and len(parts) == 3:
        refs: list[ModuleRef] = getattr(spec, parts[0])
        for i, ref in enumerate(refs):
            if ref.name == parts[1]:
                return parts[0], i, parts[2]
        raise ValueError(f"parameter path {path!r}: no module {parts[1]!r} in {parts[0]}")
    raise ValueError(f"bad parameter path {path!r} (expected baseline.<p> or <kind>.<module>.<p>)")


def apply_params(spec: Spec, flat: Mapping[str, int | float]) -> Spec:
    """A new Spec with each `path -> value` of `flat` written into the referenced module's params."""
    data = spec.model_dump(mode="python")
    for path, value in flat.items():
        kind, idx, param = locate_param(spec, path)
        target = data["baseline"] if kind == "baseline" else data[kind][idx]
        target["params"] = {**target["params"], param: value}
    return Spec.model_validate(data)


def flat_params(spec: Spec) -> dict[str, int | float]:
    """The explicitly set module params of `spec` as `path -> value` (defaults are not included)."""
    out: dict[str, int | float] = {f"baseline.{k}": v for k, v in spec.baseline.params.items()}
    for kind in ("filters", "execution", "risk"):
        for ref in getattr(spec, kind):
            out.update({f"{kind}.{ref.name}.{k}": v for k, v in ref.params.items()})
    return out
