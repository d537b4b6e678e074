"""Strategy Specs shared by several test packages (one definition each, so their ids cannot drift apart)."""

from __future__ import annotations

from pathlib import Path

from auraquant.cta.strategy.spec import Spec

BUILTIN_RUNTIME = Path(__file__).resolve().parents[2] / "cta_runtime"


def renamed_builtin(kind: str, name: str, new_name: str) -> str:
    """The source of built-in module `kind/name` under the name `new_name`: an agent-written module that computes
    exactly what the built-in does (its results must equal the built-in's)."""
    return (BUILTIN_RUNTIME / kind / f"{name}.py").read_text(encoding="utf-8").replace(
        f'name = "{name}"', f'name = "{new_name}"')


def ema_chandelier_spec(name: str) -> Spec:
    """EMA cross + chandelier ATR trailing stop with a 3-parameter search space (walk-forward tests)."""
    return Spec.model_validate({
        "name": name,
        "baseline": {"name": "ema_cross", "params": {"fast": 12, "slow": 26}},
        "execution": [{"name": "chandelier", "params": {"period": 22, "mult": 3.0}}],
        "search_space": {"baseline.fast": {"kind": "int", "low": 3, "high": 30},
                         "baseline.slow": {"kind": "int", "low": 20, "high": 120},
                         "execution.chandelier.mult": {"kind": "float", "low": 1.0, "high": 5.0}},
        "engine": {"commission_bps": 5, "slippage_bps": 2}})


#: EMA cross + percent trailing stop, and the 8-set grid the cloud job tests sweep over it.
SWEEP_SPEC = Spec(name="ema-trail", baseline={"name": "ema_cross", "params": {"fast": 12, "slow": 26}},
                  execution=[{"name": "trailing_pct", "params": {"pct": 0.05}}])
SWEEP_PARAM_SETS = [{"baseline.fast": f, "baseline.slow": s, "execution.trailing_pct.pct": p}
                    for f in (5, 12) for s in (30, 60) for p in (0.02, 0.06)]
