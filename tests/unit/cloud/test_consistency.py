"""Row consistency of outside metrics tables: honest engine tables pass, each kind of edit is named."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from auraquant.cta.backtest.engine import run_sweep
from auraquant.cta.cloud.consistency import bits_equal, metric_problems, sweep_table_problems

from .conftest import PARAM_SETS, SPEC

# Includes sets that never trade on a short sample (undefined win rate, expectancy, ...).
SHORT_SETS = [{"baseline.fast": 3, "baseline.slow": s, "execution.trailing_pct.pct": 0.05} for s in (5, 8, 40, 90)]


@pytest.fixture(scope="module")
def table(bars: pd.DataFrame) -> pd.DataFrame:
    t = run_sweep(bars, SPEC, PARAM_SETS)
    t.insert(0, "trial", np.arange(len(t)))
    return t


def test_honest_tables_are_consistent(table: pd.DataFrame, bars: pd.DataFrame) -> None:
    assert sweep_table_problems(table, SPEC, PARAM_SETS) == []
    short = run_sweep(bars.iloc[:40], SPEC, SHORT_SETS)
    short.insert(0, "trial", np.arange(len(short)))
    assert (short["trades"] == 0).any()  # the undefined-metric rules are exercised
    assert sweep_table_problems(short, SPEC, SHORT_SETS) == []


@pytest.mark.parametrize(("col", "value", "problem"), [
    ("sharpe", 9.99, "sharpe does not follow"),
    ("total_return", 0.5, "total_return does not follow"),
    ("calmar", 3.0, "calmar does not follow"),
    ("trades", -1.0, "trades is not a whole number"),
    ("trades", 2.5, "trades is not a whole number"),
    ("win_rate", 1.5, "win_rate outside"),
    ("exposure", 1.2, "exposure outside"),
    ("max_drawdown", 0.1, "max_drawdown > 0"),
    ("cvar_95", 1.0, "cvar_95 > var_95"),
    ("sharpe", np.nan, "sharpe undefined iff"),
    ("final_nav", np.nan, "final_nav is NaN"),
    ("sortino", np.inf, "sortino is infinite"),
    ("dsr", 0.99, "dsr column is not the statistic"),
    ("psr", 0.5, "psr column is not the statistic"),
])
def test_each_edit_is_named(table: pd.DataFrame, col: str, value: float, problem: str) -> None:
    bad = table.copy()
    bad.loc[3, col] = value
    problems = sweep_table_problems(bad, SPEC, PARAM_SETS)
    assert any(problem in p for p in problems), problems
    assert any("rows 3" in p for p in problems if problem in p) or col in ("dsr", "psr")


def test_columns_must_be_the_engines(table: pd.DataFrame) -> None:
    assert "columns are not the engine's" in sweep_table_problems(table.assign(bonus=1.0), SPEC, PARAM_SETS)[0]
    reordered = table[[table.columns[0], *table.columns[2:], table.columns[1]]]
    assert "columns are not the engine's" in sweep_table_problems(reordered, SPEC, PARAM_SETS)[0]
    assert sweep_table_problems(table.assign(sharpe="high"), SPEC, PARAM_SETS) == ["a metric column is not numeric"]


def test_subset_tables_are_checked_on_the_columns_they_have(table: pd.DataFrame) -> None:
    sub = table[["sharpe", "daily_mean", "daily_std", "trades", "n_days", "total_return", "max_drawdown"]].copy()
    assert metric_problems(sub, SPEC, PARAM_SETS) == []
    sub.loc[0, "sharpe"] = sub.loc[0, "sharpe"] * 2
    assert any("sharpe does not follow" in p for p in metric_problems(sub, SPEC, PARAM_SETS))


def test_bits_equal_is_exact_and_nan_aware() -> None:
    assert bits_equal([1.0, np.nan], [1.0, np.nan])
    assert not bits_equal([1.0], [np.nextafter(1.0, 2.0)])
    assert not bits_equal([0.0], [-0.0])
    assert not bits_equal([1.0, 2.0], [1.0])
