from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from auraquant.cta.report.formatting import fmt_value, sign_class
from auraquant.cta.report.model import EquityCurve, MonteCarloFan, OOSWindow, TearsheetData

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def _curve(n: int = 3) -> EquityCurve:
    return EquityCurve(times=[T0 + timedelta(hours=i) for i in range(n)], nav=[100.0 + i for i in range(n)])


def test_equity_rejects_inconsistent_input() -> None:
    with pytest.raises(ValidationError, match="3 times but 2 NAV"):
        EquityCurve(times=[T0, T0 + timedelta(hours=1), T0 + timedelta(hours=2)], nav=[1.0, 2.0])
    with pytest.raises(ValidationError, match="strictly increasing"):
        EquityCurve(times=[T0, T0], nav=[1.0, 2.0])
    with pytest.raises(ValidationError, match="at least two"):
        EquityCurve(times=[T0], nav=[1.0])
    with pytest.raises(ValidationError, match="NaN"):
        EquityCurve(times=[T0, T0 + timedelta(hours=1)], nav=[1.0, float("nan")])


def test_naive_times_are_read_as_utc() -> None:
    c = EquityCurve(times=[datetime(2024, 1, 1), datetime(2024, 1, 2)], nav=[1.0, 2.0])
    assert c.times[0] == T0 and c.times[0].tzinfo is not None
    w = OOSWindow(start=datetime(2024, 1, 1), end=datetime(2024, 2, 1), label="W0")
    assert w.start == T0
    with pytest.raises(ValidationError, match="ends before it starts"):
        OOSWindow(start=T0, end=T0, label="bad")


def test_fan_shapes_are_checked() -> None:
    with pytest.raises(ValidationError, match="not in"):
        MonteCarloFan(method="m", n_sims=1, seed=0, x=[0, 1], quantiles={1.5: [1.0, 1.0]})
    with pytest.raises(ValidationError, match="path has 1 values for 2 steps"):
        MonteCarloFan(method="m", n_sims=1, seed=0, x=[0, 1], quantiles={0.5: [1.0]})


def test_metrics_accept_an_ordered_mapping_and_keep_order() -> None:
    d = TearsheetData(title="t", equity=_curve(), metrics={"b": 1.0, "a": (0.25, "pct"), "c": None})
    assert [(m.name, m.value, m.unit) for m in d.metrics] == [("b", 1.0, "ratio"), ("a", 0.25, "pct"), ("c", None, "ratio")]
    assert [m.name for m in d.headline_metrics()] == ["b", "a", "c"]
    d2 = TearsheetData(title="t", equity=_curve(), metrics={"b": 1.0, "a": 2.0}, headline=["a"])
    assert [m.name for m in d2.headline_metrics()] == ["a"]
    with pytest.raises(ValidationError, match="headline metrics not in metrics"):
        TearsheetData(title="t", equity=_curve(), metrics={"a": 1.0}, headline=["sharpe"])


def test_values_are_displayed_as_given() -> None:
    assert fmt_value(0.15349, "pct") == "15.35%"
    assert fmt_value(-0.1, "pct") == "-10.00%"
    assert fmt_value(1.23456, "ratio") == "1.23" and fmt_value(-0.5, "ratio") == "-0.50"
    # probabilities: 3 decimals, never scientific notation at the ends
    assert fmt_value(0.0031, "prob") == "0.003" and fmt_value(1.9e-40, "prob") == "< 0.001"
    assert fmt_value(0.0, "prob") == "< 0.001" and fmt_value(0.9996, "prob") == "> 0.999"
    assert fmt_value(0.5, "prob") == "0.500" and fmt_value(None, "prob") == "n/a"
    assert fmt_value(1.9e-40, "raw") == "1.9e-40" and fmt_value(7, "raw") == "7"
    assert fmt_value(None, "ratio") == "n/a"
    assert fmt_value(float("inf"), "ratio") == "n/a"
    assert fmt_value(1234, "count") == "1,234"
    assert fmt_value(12345.678, "money") == "12,345.68"
    assert fmt_value(5.0, "bps") == "5 bps"
    assert fmt_value("stop_first", "text") == "stop_first"
    assert sign_class(-0.2, "return") == "neg" and sign_class(0.2, "return") == "pos"
    assert sign_class(0.2, "pct") == "" and sign_class(2.0, "ratio") == ""
    assert fmt_value(0.15349, "return") == "15.35%"


def test_universe_view_refuses_carriers_or_correlations_outside_the_members() -> None:
    import pytest
    from pydantic import ValidationError

    from auraquant.cta.report.model import InstrumentRow, UniverseView

    rows = [InstrumentRow(symbol="A"), InstrumentRow(symbol="B")]
    ok = UniverseView(members=rows, portfolio=InstrumentRow(symbol="portfolio"), carriers=1, carrier_symbols=["A"],
                      correlation={"A": {"A": 1.0, "B": 0.3}, "B": {"A": 0.3, "B": 1.0}})
    assert ok.carriers == 1
    for bad in ({"carriers": 3}, {"carrier_symbols": ["C"]}, {"correlation": {"A": {"C": 0.1}}}):
        with pytest.raises(ValidationError):
            UniverseView(**({"members": rows, "portfolio": InstrumentRow(symbol="portfolio"), "carriers": 1} | bad))
