from __future__ import annotations

from datetime import UTC, datetime

import numpy as np

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
