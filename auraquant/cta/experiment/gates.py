"""Significance gates: what a walk-forward result must show before it may be frozen, and how the holdout
must confirm a goal before research may say GOAL_MET.

Configured per workspace in `.aura/config/gates.json` (every key optional; a missing file means the
defaults below):

    {"min_dsr": 0.95, "dsr_scope": "session", "max_pbo": 0.5, "max_spa_p": 0.10, "min_oos_trades": 30,
     "holdout_tolerance": 0.5, "pbo_spa_preselect": null}

- `min_dsr`: the Deflated Sharpe Ratio computed with the trial ledger's count of `dsr_scope` ("session":
  the trials the research session evaluated on the data content; "workspace": every session's) must be at
  least this;
- `max_pbo`: the Probability of Backtest Overfitting (CSCV, mean over windows) at most this;
- `max_spa_p`: Hansen's SPA consistent p-value (median over windows) at most this;
- `min_oos_trades`: at least this many trades on the stitched out-of-sample segments.
A statistic that could not be computed fails its gate. A gate set to null is off; the record's `gates` text
then says "off" for it, so a relaxed workspace is visible in every record it produced. A result below any
gate may be archived as a candidate labelled "not significant", never frozen.

- `holdout_tolerance` (t >= 0): the holdout confirms a goal when every length-free goal metric (see
  `HOLDOUT_METRICS`, which includes the excess over buy and hold on the same holdout span) meets its
  threshold relaxed by t x |threshold| (a minimum m becomes m - t|m|, a maximum M becomes M + t|M|; a
  bound of 0, such as "beats buy and hold", stays 0). Count- and length-dependent metrics (trades, total
  return, DSR) are not compared: a holdout is shorter than the out-of-sample span.
- `pbo_spa_preselect`: null = PBO and SPA use every distinct trial of each window; an integer k keeps only
  the top k by train score (a stated preselection that every record then carries).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError

from auraquant.cta.governance.record import Threshold

GATES_FILE = "gates.json"
# Metrics a holdout can confirm: free of the span's length, or (the excess over buy and hold) measured against
# the same instrument over the same holdout span.
HOLDOUT_METRICS = frozenset({"sharpe", "sortino", "calmar", "max_drawdown", "win_rate", "ann_return",
                             "excess_sharpe", "excess_return"})
SIGNIFICANT, NOT_SIGNIFICANT = "significant", "not significant"


class GatesConfigError(ValueError):
    """`.aura/config/gates.json` is not valid JSON or has an invalid value."""


class GateConfig(BaseModel):
    """The workspace's significance gates (see the module docstring)."""

    model_config = {"frozen": True, "extra": "forbid"}
    min_dsr: float | None = Field(0.95, ge=0.0, le=1.0)
    dsr_scope: Literal["session", "workspace"] = "session"
    max_pbo: float | None = Field(0.5, ge=0.0, le=1.0)
    max_spa_p: float | None = Field(0.10, ge=0.0, le=1.0)
    min_oos_trades: int | None = Field(30, ge=0)
    holdout_tolerance: float = Field(0.5, ge=0.0)
    pbo_spa_preselect: int | None = Field(None, ge=2)

    def describe(self) -> str:
        """The gates in words, e.g. `session DSR >= 0.95, PBO <= 0.5, SPA p <= 0.1, OOS trades >= 30`."""
        def g(name: str, op: str, v: float | None) -> str:
            return f"{name} {op} {v:g}" if v is not None else f"{name} gate off"

        return ", ".join([g(f"{self.dsr_scope} DSR", ">=", self.min_dsr), g("PBO", "<=", self.max_pbo),
                          g("SPA p", "<=", self.max_spa_p), g("OOS trades", ">=", self.min_oos_trades)])

    def trial_selection(self) -> str:
        """How PBO and SPA choose their trials, in words every record carries."""
        return ("every distinct trial of each window" if self.pbo_spa_preselect is None else
                f"preselected: the top {self.pbo_spa_preselect} distinct trials of each window by train score")


def load_gates(config_dir: str | Path) -> GateConfig:
    """The gates of a workspace (`<config_dir>/gates.json`; defaults when the file is absent)."""
    path = Path(config_dir) / GATES_FILE
    if not path.is_file():
        return GateConfig()
    try:
        return GateConfig.model_validate(json.loads(path.read_text(encoding="utf-8")))
    except (json.JSONDecodeError, ValidationError) as exc:
        first = str(exc).splitlines()
        why = "; ".join(line.strip() for line in first[:3])
        raise GatesConfigError(f"invalid {path}: {why}") from None


def default_gates_json() -> str:
    """The defaults as the file `init` writes (so they can be found and edited)."""
    return json.dumps(GateConfig().model_dump(), indent=2) + "\n"


def _ok(v: Any) -> float | None:
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) else None


def gate_failures(dsr: float | None, pbo: float | None, spa_p: float | None, trades: int | None,
                  cfg: GateConfig) -> list[str]:
    """One phrase per failed gate (empty = every gate passes). Undefined statistics fail."""
    out = []
    d, p, s = _ok(dsr), _ok(pbo), _ok(spa_p)
    if cfg.min_dsr is not None:
        if d is None:
            out.append(f"{cfg.dsr_scope} DSR not available (needs >= 2 trials with a defined Sharpe)")
        elif d < cfg.min_dsr:
            out.append(f"{cfg.dsr_scope} DSR {d:.3f} < {cfg.min_dsr:g}")
    if cfg.max_pbo is not None:
        if p is None:
            out.append("PBO not available (too few trials or days per window)")
        elif p > cfg.max_pbo:
            out.append(f"PBO {p:.3f} > {cfg.max_pbo:g}")
    if cfg.max_spa_p is not None:
        if s is None:
            out.append("SPA p not available (fewer than 10 days of trial returns per window)")
        elif s > cfg.max_spa_p:
            out.append(f"SPA p {s:.3f} > {cfg.max_spa_p:g}")
    if cfg.min_oos_trades is not None and (trades is None or trades < cfg.min_oos_trades):
        out.append(f"{trades if trades is not None else 0} OOS trades < {cfg.min_oos_trades}")
    return out


def significance_failures(significance: Mapping[str, Any], cfg: GateConfig) -> list[str]:
    """The gates an archive record's `significance` block fails under `cfg` (a record without one fails)."""
    if not significance:
        return ["the record carries no significance evidence (archive it with archive_candidate)"]
    return gate_failures(significance.get(f"dsr_{cfg.dsr_scope}"), significance.get("pbo"),
                         significance.get("spa_p"), _int(significance.get("oos_trades")), cfg)


def _int(v: Any) -> int | None:
    f = _ok(v)
    return None if f is None else int(f)


def relaxed(t: Threshold, tolerance: float) -> Threshold:
    """`t` widened by `tolerance` x |bound| on each side it constrains."""
    return Threshold(min=None if t.min is None else t.min - tolerance * abs(t.min),
                     max=None if t.max is None else t.max + tolerance * abs(t.max))


def holdout_failures(thresholds: Mapping[str, Threshold], holdout: Mapping[str, Any] | None,
                     tolerance: float) -> list[str]:
    """Why the holdout does not confirm the goal (empty = it confirms). Only `HOLDOUT_METRICS` are compared,
    each against its threshold relaxed by `tolerance`; a goal with none of them is confirmed by nothing and
    so fails, as does a missing or undefined holdout metric."""
    if not holdout:
        return ["the holdout was not scored"]
    names = [n for n in sorted(thresholds) if n in HOLDOUT_METRICS]
    if not names:
        return ["the goal has no metric the holdout can confirm (" + ", ".join(sorted(HOLDOUT_METRICS)) + ")"]
    out = []
    for name in names:
        t = relaxed(thresholds[name], tolerance)
        v = _ok(holdout.get(name))
        if v is None:
            out.append(f"holdout {name} is undefined")
        elif t.min is not None and v < t.min:
            out.append(f"holdout {name} {v:.3f} < {t.min:.3f} (goal {thresholds[name].min:g} less {tolerance:g}x)")
        elif t.max is not None and v > t.max:
            out.append(f"holdout {name} {v:.3f} > {t.max:.3f} (goal {thresholds[name].max:g} plus {tolerance:g}x)")
    return out


HOLDOUT_SHOWN = ("sharpe", "sortino", "max_drawdown", "total_return", "ann_return", "trades", "holdout_bars")


def holdout_table(thresholds: Mapping[str, Threshold], holdout: Mapping[str, Any] | None,
                  tolerance: float) -> list[dict[str, Any]]:
    """Rows (metric, holdout value, goal, bound after tolerance, verdict) for the goal's metrics and the usual
    holdout metrics: verdict "confirms" / "misses" for goal metrics the holdout can confirm, "not compared"
    for goal metrics it cannot (length-dependent), "-" for metrics outside the goal."""
    rows = []
    for name in [*sorted(thresholds), *(m for m in HOLDOUT_SHOWN if m not in thresholds)]:
        v = _ok((holdout or {}).get(name))
        t = thresholds.get(name)
        goal = bound = None
        verdict = "-"
        if t is not None:
            goal = " and ".join(p for p in (f">= {t.min:g}" if t.min is not None else "",
                                            f"<= {t.max:g}" if t.max is not None else "") if p)
            if name in HOLDOUT_METRICS:
                r = relaxed(t, tolerance)
                bound = " and ".join(p for p in (f">= {r.min:.4g}" if r.min is not None else "",
                                                 f"<= {r.max:.4g}" if r.max is not None else "") if p)
                ok = v is not None and (r.min is None or v >= r.min) and (r.max is None or v <= r.max)
                verdict = "confirms" if ok else "misses"
            else:
                verdict = "not compared"
        rows.append({"metric": name, "holdout": v, "goal": goal, "bound": bound, "verdict": verdict})
    return rows
