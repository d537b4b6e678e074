import math

import pytest

from auraquant.cta.research.goal import GoalError, parse_goal


def test_issue_goal_parses_to_archive_thresholds() -> None:
    g = parse_goal("BTC/USDT 1h Sharpe >= 1.2, max drawdown >= -15%")
    assert (g.symbol, g.timeframe) == ("BTC/USDT", "1h")
    assert g.as_archive_goal() == {"sharpe": {"min": 1.2}, "max_drawdown": {"min": -0.15}}
    assert g.unknown == []


@pytest.mark.parametrize("text", ["ETH/USDT 4h sharpe ≥ 1.2; MaxDD ≤ -15%", "eth/usdt 4h Sharpe>=1.2 and dd 15%",
                                  "ETH/USDT 4h sharpe => 1.2, maximum drawdown >= -0.15"])
def test_drawdown_bound_always_means_no_worse_than(text: str) -> None:
    g = parse_goal(text)
    assert g.symbol == "ETH/USDT" and g.timeframe == "4h"
    assert g.thresholds["max_drawdown"].min == pytest.approx(-0.15)
    assert g.thresholds["max_drawdown"].max is None
    assert g.thresholds["sharpe"].min == pytest.approx(1.2)


def test_upper_bounds_percent_and_unknown_metrics() -> None:
    g = parse_goal("sortino >= 2, win rate <= 60%, omega >= 3")
    assert g.symbol is None and g.timeframe is None
    assert g.thresholds["win_rate"].max == pytest.approx(0.6)
    assert g.thresholds["sortino"].min == 2
    assert g.unknown == ["omega >= 3"]


def test_failures_and_met() -> None:
    g = parse_goal("sharpe >= 1.2, max drawdown >= -15%")
    assert g.met({"sharpe": 1.3, "max_drawdown": -0.10})
    assert g.failures({"sharpe": 1.3, "max_drawdown": -0.20}) == ["max_drawdown=-0.2 < -0.15"]
    assert g.failures({"sharpe": math.nan, "max_drawdown": -0.1}) == ["sharpe is not available"]
    assert not g.met({"max_drawdown": -0.1})


def test_goal_without_threshold_is_refused() -> None:
    with pytest.raises(GoalError, match="no metric threshold"):
        parse_goal("make me rich on BTC/USDT 1h")


@pytest.mark.parametrize("text", ["BTC/USDT 1h sharpe >= 1, beats buy and hold", "sharpe>=1 and beat the buy-and-hold",
                                  "Sharpe >= 1; outperforms B&H", "sharpe >= 1 · beating buy & hold"])
def test_beats_buy_and_hold_requires_both_excesses(text: str) -> None:
    g = parse_goal(text)
    # " and " inside "buy and hold" must not split the clause (it would leave a stray "hold").
    assert g.as_archive_goal() == {"sharpe": {"min": 1.0}, "excess_return": {"min": 0.0},
                                   "excess_sharpe": {"min": 0.0}}
    assert g.unknown == []
    assert g.met({"sharpe": 1.1, "excess_return": 0.0, "excess_sharpe": 0.2})
    assert g.failures({"sharpe": 1.1, "excess_return": -12.9, "excess_sharpe": 0.2}) == [
        "excess_return=-12.9 < 0"]
    assert g.failures({"sharpe": 1.1, "excess_return": 0.1}) == ["excess_sharpe is not available"]


def test_beats_buy_and_hold_on_one_metric_and_explicit_excess_bounds() -> None:
    assert parse_goal("beats buy and hold on sharpe, max dd 20%").as_archive_goal() == {
        "excess_sharpe": {"min": 0.0}, "max_drawdown": {"min": -0.2}}
    assert parse_goal("outperforms B&H on total return").as_archive_goal() == {"excess_return": {"min": 0.0}}
    assert parse_goal("excess sharpe >= 0.2, excess return >= 10%").as_archive_goal() == {
        "excess_sharpe": {"min": 0.2}, "excess_return": {"min": 0.1}}
    assert parse_goal("sharpe over buy and hold >= 0.3; return vs B&H > 5%").as_archive_goal() == {
        "excess_sharpe": {"min": 0.3}, "excess_return": {"min": 0.05}}
    # An explicit bound overrides the one "beats" implies.
    assert parse_goal("beats buy and hold, excess sharpe >= 0.5").thresholds["excess_sharpe"].min == 0.5
    g = parse_goal("sharpe >= 1, beats buy and hold on sortino")
    assert g.as_archive_goal() == {"sharpe": {"min": 1.0}} and g.unknown == ["beats buy and hold on sortino"]
    assert parse_goal("beats buy and hold").describe() == "excess_return >= 0 · excess_sharpe >= 0"
