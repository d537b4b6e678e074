from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from auraquant.cta.report.model import EquityCurve
from auraquant.cta.report.transforms import display_indices, drawdown, monthly_returns


def _curve(points: list[tuple[datetime, float]], initial: float | None = None) -> EquityCurve:
    return EquityCurve(times=[t for t, _ in points], nav=[v for _, v in points], initial=initial)


def test_drawdown_from_running_peak_including_initial_capital() -> None:
    c = _curve([(datetime(2024, 1, d, tzinfo=UTC), v) for d, v in ((1, 90.0), (2, 120.0), (3, 60.0), (4, 130.0))])
    np.testing.assert_allclose(drawdown(c), [0.0, 0.0, -0.5, 0.0])
    c0 = _curve([(datetime(2024, 1, d, tzinfo=UTC), v) for d, v in ((1, 90.0), (2, 120.0), (3, 60.0))], initial=100.0)
    np.testing.assert_allclose(drawdown(c0), [-0.1, 0.0, -0.5])


def test_monthly_returns_chain_month_end_navs_and_compound_years() -> None:
    pts = [(datetime(2023, 11, 5, tzinfo=UTC), 105.0), (datetime(2023, 11, 30, 23, tzinfo=UTC), 110.0),
           (datetime(2023, 12, 31, 23, tzinfo=UTC), 99.0), (datetime(2024, 2, 10, tzinfo=UTC), 108.9),
           (datetime(2024, 2, 29, 23, tzinfo=UTC), 118.8)]
    mt = monthly_returns(_curve(pts, initial=100.0))
    assert mt.years == [2023, 2024]
    np.testing.assert_allclose(mt.months[0, 10:], [0.10, -0.10])
    assert np.isnan(mt.months[0, :10]).all() and np.isnan(mt.months[1, 0]) and np.isnan(mt.months[1, 2:]).all()
    np.testing.assert_allclose(mt.months[1, 1], 118.8 / 99.0 - 1)  # Jan 2024 has no marks: Feb vs Dec
    np.testing.assert_allclose(mt.year_total, [99.0 / 100.0 - 1, 118.8 / 99.0 - 1])
    # Without `initial` the first month starts from the first NAV.
    np.testing.assert_allclose(monthly_returns(_curve(pts)).months[0, 10], 110.0 / 105.0 - 1)


def test_display_indices_keep_every_extreme() -> None:
    rng = np.random.default_rng(0)
    nav = 100 * np.cumprod(1 + rng.normal(0, 0.01, 50_000))
    dd = nav / np.maximum.accumulate(nav) - 1
    idx = display_indices(nav, dd, max_points=3000)
    assert idx.size <= 3000 and idx[0] == 0 and idx[-1] == nav.size - 1
    assert np.all(np.diff(idx) > 0)
    assert int(np.argmin(dd)) in idx and int(np.argmax(nav)) in idx and int(np.argmin(nav)) in idx
    np.testing.assert_array_equal(display_indices(nav[:100], dd[:100], max_points=3000), np.arange(100))


def _hours(n: int) -> list[datetime]:
    from datetime import timedelta

    return [datetime(2024, 1, 1, tzinfo=UTC) + timedelta(hours=h) for h in range(n)]


def test_worst_drawdowns_peak_trough_recovery_deepest_first() -> None:
    from auraquant.cta.report.transforms import worst_drawdowns

    nav = [100, 110, 99, 105, 111, 120, 90, 100, 121, 118, 119, 115]
    t = _hours(len(nav))
    eps = worst_drawdowns(EquityCurve(times=t, nav=[float(x) for x in nav], initial=100.0), top=5)
    assert [(e.start, e.trough, e.recovery) for e in eps] == [(t[5], t[6], t[8]), (t[1], t[2], t[4]),
                                                              (t[8], t[11], None)]
    np.testing.assert_allclose([e.depth for e in eps], [90 / 120 - 1, 99 / 110 - 1, 115 / 121 - 1])
    assert eps[2].end == t[11]  # not recovered: measured to the last mark
    assert len(worst_drawdowns(EquityCurve(times=t, nav=[float(x) for x in nav], initial=100.0), top=2)) == 2
    # a peak that is the initial capital starts at the first mark
    first = worst_drawdowns(EquityCurve(times=t[:3], nav=[90.0, 95.0, 101.0], initial=100.0))
    assert [(e.start, e.trough, e.recovery) for e in first] == [(t[0], t[0], t[2])]
    assert worst_drawdowns(EquityCurve(times=t[:3], nav=[100.0, 101.0, 102.0], initial=100.0)) == []


def test_trade_excursions_follow_the_fill_convention() -> None:
    from auraquant.cta.report.transforms import trade_excursions

    t = _hours(6)
    o = np.array([100.0, 100.0, 104.0, 101.0, 98.0, 99.0])
    h = np.array([101.0, 106.0, 105.0, 103.0, 99.0, 120.0])
    lo = np.array([99.0, 97.0, 100.0, 95.0, 96.0, 90.0])
    # long entered at bar 1's open (100), signal exit at bar 4's open (98): bars 1..3 held in full
    (mae, mfe), = trade_excursions(t, o, h, lo, [(t[1], t[4], 1, 100.0, 98.0, "signal")], fill_at_open=True)
    assert mae == pytest.approx(-0.05) and mfe == pytest.approx(0.06)
    # a short over the same bars: signs flip (adverse = the high, favourable = the low)
    (mae, mfe), = trade_excursions(t, o, h, lo, [(t[1], t[4], -1, 100.0, 98.0, "signal")], fill_at_open=True)
    assert mae == pytest.approx(-0.06) and mfe == pytest.approx(0.05)
    # an intrabar stop on bar 4 at 96.5: that bar's open (98) and the fill count, not its low (96)
    (mae, _), = trade_excursions(t, o, h, lo, [(t[2], t[4], 1, 104.0, 96.5, "stop_loss")], fill_at_open=True)
    assert mae == pytest.approx(95.0 / 104.0 - 1)
    # same_close fills: the entry bar is not held (entered at its close), the exit bar is (exit at its close)
    (mae, mfe), = trade_excursions(t, o, h, lo, [(t[1], t[4], 1, 100.0, 98.0, "signal")], fill_at_open=False)
    assert mae == pytest.approx(-0.05) and mfe == pytest.approx(0.05)
    # bars missing for a trade: no excursions
    assert trade_excursions(t[:3], o[:3], h[:3], lo[:3], [(t[1], t[4], 1, 100.0, 98.0, "signal")],
                            fill_at_open=True) == [(None, None)]


def test_rolling_stats_are_the_engine_sharpe_on_each_window() -> None:
    from datetime import timedelta

    from auraquant.cta.report.transforms import daily_returns, rolling_stats, rolling_window_days

    rng = np.random.default_rng(2)
    t = [datetime(2024, 1, 1, tzinfo=UTC) + timedelta(hours=6 * i) for i in range(4 * 200)]
    nav = 1000 * np.cumprod(1 + rng.normal(0.0005, 0.01, len(t)))
    curve = EquityCurve(times=t, nav=nav.tolist(), initial=1000.0)
    d = daily_returns(curve).to_numpy()
    assert d.size == 200 and d[0] == pytest.approx(nav[3] / 1000.0 - 1)
    st = rolling_stats(curve, 365)
    assert st.window == rolling_window_days(200) == 30
    last = d[-30:]
    assert st.sharpe[-1] == pytest.approx(last.mean() / last.std(ddof=1) * np.sqrt(365))
    assert st.volatility[-1] == pytest.approx(last.std(ddof=1) * np.sqrt(365))
    assert np.isnan(st.sharpe[:29]).all() and np.isfinite(st.sharpe[29:]).all()
    assert rolling_window_days(400) == 90 and rolling_window_days(40) == 10 and rolling_window_days(8) == 5
