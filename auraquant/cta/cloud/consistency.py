"""Internal consistency of an outside metrics table: what every honest engine row satisfies.

Audits re-run a sample of rows; these checks cover EVERY row for free, so a forger must keep each edited
row consistent with the engine's own definitions (`auraquant.cta.backtest.metrics`), which makes a naive
edit (a Sharpe raised alone, a NaN injected, a negative trade count) fail whether or not it is audited.

`sweep_table_problems(table, spec, param_sets)` returns human-readable problems (empty = consistent):

- the columns are exactly `trial`, the parameters (in the bundle's order), `METRIC_NAMES`, `psr`, `dsr`;
- no value is infinite; NaN only where the engine leaves a metric undefined (win rate, expectancy and
  average trade return iff there are no trades; daily_std iff n_days <= 1; Sharpe iff there is no
  variance (`auraquant.cta.backtest.sharpe`); calmar iff max_drawdown is 0; profit factor and sortino may be undefined);
- counts are whole and non-negative (trades, n_days >= 1); ratios in range (win rate, exposure in [0, 1],
  max_drawdown <= 0, cvar_95 <= var_95); win_rate x trades is a whole number of wins;
- for rows whose NAV stayed positive: total_return = final_nav / C - 1, years = n_days / B,
  ann_volatility = daily_std sqrt(B), sharpe = daily_mean / daily_std sqrt(B),
  ann_return = (final_nav / C)^(1/years) - 1, calmar = ann_return / -max_drawdown (relative 1e-12: these
  are the kernel's formulas, only the order of float operations may differ). A table without final_nav
  (a walk-forward trial table) uses 1 + total_return for final_nav / C;
- `psr` and `dsr` are bit-identical to `add_trial_statistics` over the table itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from auraquant.cta.backtest.layout import METRIC_NAMES
from auraquant.cta.backtest.metrics import add_trial_statistics
from auraquant.cta.backtest.sharpe import sharpe_ratio
from auraquant.cta.strategy.spec import Spec

_RTOL = 1e-12
_NOT_NUMERIC = "a metric column is not numeric"
# Metrics the engine always defines for a backtest of at least one bar.
_ALWAYS_FINITE = ("total_return", "ann_return", "max_drawdown", "trades", "exposure", "daily_mean", "n_days",
                  "years", "final_nav", "final_position", "var_95", "cvar_95")


def param_names(param_sets: Sequence[dict[str, Any]]) -> list[str]:
    """Parameter columns of a sweep table: keys in order of first appearance (as `run_sweep` lays them out)."""
    return list(pd.DataFrame(list(param_sets)).columns)


def bits_equal(a: Any, b: Any) -> bool:
    """Bit-identical float arrays (every NaN counts as the same NaN)."""
    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if x.shape != y.shape:
        return False
    nx, ny = np.isnan(x), np.isnan(y)
    return bool(np.array_equal(nx, ny) and np.array_equal(np.where(nx, 0.0, x).view(np.int64),
                                                          np.where(ny, 0.0, y).view(np.int64)))


def _close(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    both_nan = np.isnan(a) & np.isnan(b)
    with np.errstate(invalid="ignore"):
        return both_nan | (a == b) | (np.abs(a - b) <= _RTOL * np.maximum(np.abs(a), np.abs(b)))


def _rows(mask: np.ndarray) -> str:
    idx = np.flatnonzero(mask)
    return ", ".join(str(i) for i in idx[:5]) + (" ..." if idx.size > 5 else "")


def sweep_table_problems(table: pd.DataFrame, spec: Spec, param_sets: Sequence[dict[str, Any]]) -> list[str]:
    """Problems of a sweep metrics table (see the module docstring); empty when every row is consistent."""
    names = param_names(param_sets)
    want = ["trial", *names, *METRIC_NAMES, "psr", "dsr"]
    if list(table.columns) != want:
        extra = sorted(set(table.columns) - set(want))
        missing = sorted(set(want) - set(table.columns))
        return [f"columns are not the engine's (missing {missing}, unexpected {extra}, or reordered)"]
    problems = metric_problems(table, spec, param_sets)
    if problems and problems[0] == _NOT_NUMERIC:
        return problems
    col = {c: table[c].to_numpy(dtype=np.float64) for c in ("psr", "dsr")}
    recomputed = add_trial_statistics(table[list(METRIC_NAMES)].copy())
    for c in ("psr", "dsr"):
        if not bits_equal(recomputed[c], col[c]):
            mine = recomputed[c].to_numpy(dtype=np.float64)
            bad = ~_close(mine, col[c]) | (np.isnan(mine) != np.isnan(col[c]))
            problems.append(f"the {c} column is not the statistic of the table's own trials (rows {_rows(bad)})")
    return problems


def metric_problems(table: pd.DataFrame, spec: Spec, param_sets: Sequence[dict[str, Any]]) -> list[str]:
    """The per-row checks of the module docstring on whichever engine metric columns `table` has (a
    walk-forward trial table carries a subset); `param_sets[i]` are row i's parameters."""
    present = [c for c in (*METRIC_NAMES, "psr", "dsr") if c in table.columns]
    try:
        col = {c: table[c].to_numpy(dtype=np.float64) for c in present}
    except (TypeError, ValueError):
        return [_NOT_NUMERIC]
    problems: list[str] = []
    for c, v in col.items():
        if np.isinf(v).any():
            problems.append(f"{c} is infinite in rows {_rows(np.isinf(v))}")
    for c in _ALWAYS_FINITE:
        if c in col and np.isnan(col[c]).any():
            problems.append(f"{c} is NaN in rows {_rows(np.isnan(col[c]))} (the engine always defines it)")
    nan = np.full(len(table), np.nan)
    g = {c: col.get(c, nan) for c in (*METRIC_NAMES, "psr")}
    trades, n_days = g["trades"], g["n_days"]
    with np.errstate(invalid="ignore"):
        checks: list[tuple[tuple[str, ...], str, Any]] = [
            (("trades",), "trades is not a whole number >= 0", lambda: ~((trades >= 0) & (trades == np.floor(trades)))),
            (("n_days",), "n_days is not a whole number >= 1", lambda: ~((n_days >= 1) & (n_days == np.floor(n_days)))),
            (("trades", "win_rate", "expectancy", "avg_trade_return"),
             "win_rate/expectancy/avg_trade_return defined iff trades > 0",
             lambda: (np.isnan(g["win_rate"]) != (trades == 0)) | (np.isnan(g["expectancy"]) != (trades == 0))
             | (np.isnan(g["avg_trade_return"]) != (trades == 0))),
            (("trades", "win_rate"), "win_rate outside [0, 1] or not wins / trades", lambda: (trades > 0) & ~(
                (g["win_rate"] >= 0) & (g["win_rate"] <= 1)
                & (np.abs(g["win_rate"] * trades - np.round(g["win_rate"] * trades)) < 1e-6))),
            (("exposure",), "exposure outside [0, 1]", lambda: ~((g["exposure"] >= 0) & (g["exposure"] <= 1))),
            (("max_drawdown",), "max_drawdown > 0", lambda: ~(g["max_drawdown"] <= 0)),
            (("var_95", "cvar_95"), "cvar_95 > var_95", lambda: ~(g["cvar_95"] <= g["var_95"])),
            (("profit_factor",), "profit_factor < 0", lambda: g["profit_factor"] < 0),
            (("daily_std", "n_days"), "daily_std undefined iff n_days <= 1, else >= 0",
             lambda: (np.isnan(g["daily_std"]) != (n_days <= 1)) | (g["daily_std"] < 0)),
            (("sharpe", "daily_mean", "daily_std"), "sharpe undefined iff there is no variance",
             lambda: np.isnan(g["sharpe"]) != np.isnan(sharpe_ratio(g["daily_mean"], g["daily_std"], np.inf))),
            (("calmar", "max_drawdown"), "calmar undefined iff max_drawdown is 0",
             lambda: np.isnan(g["calmar"]) != ~(g["max_drawdown"] < 0)),
            (("psr",), "psr outside [0, 1]", lambda: g["psr"] > 1 + 1e-12),
            (("sortino", "daily_mean"), "sortino's sign differs from daily_mean's",
             lambda: np.sign(g["sortino"]) * np.sign(g["daily_mean"]) < 0),
        ]
        for needs, what, test in checks:
            if all(c in col for c in needs):
                bad = test()
                if bad.any():
                    problems.append(f"{what} in rows {_rows(bad)}")
    return problems + _formula_problems(col, spec, param_sets)


def _formula_problems(col: dict[str, np.ndarray], spec: Spec, param_sets: Sequence[dict[str, Any]]) -> list[str]:
    """The kernel's formulas (`backtest.kernel._finalize`) on whichever inputs the table carries."""
    n = len(param_sets)
    # Parameters address module params only (`strategy.spec.apply_params`): capital and annualization
    # basis are the spec's engine settings for every row.
    initial, basis = spec.engine.initial_capital, float(spec.engine.annualization)
    sq = np.sqrt(basis)
    nan = np.full(n, np.nan)
    g = {c: col.get(c, nan) for c in ("final_nav", "total_return", "max_drawdown", "n_days", "daily_mean",
                                      "daily_std", "ann_return")}
    # NAV/initial from the final NAV, else from the total return (a walk-forward trial table has no NAV).
    growth = g["final_nav"] / initial if "final_nav" in col else 1.0 + g["total_return"]
    has_growth = "final_nav" in col or "total_return" in col
    # Formulas hold only while the NAV stayed positive; a ruined run may be reported under other rules.
    with np.errstate(invalid="ignore", divide="ignore"):
        alive = (growth > 0) & ((g["max_drawdown"] > -1) if "max_drawdown" in col else True)
        years = g["n_days"] / basis
        ann = np.where(years > 0, growth ** (1.0 / years) - 1.0, -1.0)
        ann_claimed = g["ann_return"] if "ann_return" in col else ann
        rules: list[tuple[str, tuple[str, ...], bool, np.ndarray]] = [
            ("total_return", ("final_nav",), True, g["final_nav"] / initial - 1.0),
            ("years", ("n_days",), True, years),
            ("ann_volatility", ("daily_std",), True, g["daily_std"] * sq),
            # The one Sharpe definition (rows checked here are not ruined: no cap applies).
            ("sharpe", ("daily_mean", "daily_std"), True, sharpe_ratio(g["daily_mean"], g["daily_std"],
                                                                        col.get("n_days", np.inf), periods_per_year=basis)),
            ("ann_return", ("n_days",), has_growth, ann),
            ("calmar", ("max_drawdown", "n_days"), has_growth or "ann_return" in col,
             np.where(g["max_drawdown"] < 0, ann_claimed / -g["max_drawdown"], np.nan)),
        ]
    problems = []
    for c, needs, usable, expected in rules:
        if c not in col or not usable or not all(k in col for k in needs):
            continue
        bad = alive & ~_close(col[c], expected)
        if bad.any():
            problems.append(f"{c} does not follow from the row's other metrics in rows {_rows(bad)}")
    return problems
