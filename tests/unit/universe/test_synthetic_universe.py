"""The correlated synthetic generator: labelled, deterministic, correlated as asked, OHLC-consistent."""

from __future__ import annotations

import numpy as np
import pytest

from auraquant.cta.data.synthetic import generate_correlated


def test_correlated_members_are_deterministic_labelled_and_consistent() -> None:
    a = generate_correlated(3, 2000, seed=3, correlation=0.6)
    b = generate_correlated(3, 2000, seed=3, correlation=0.6)
    assert list(a) == ["SYN01/USDT", "SYN02/USDT", "SYN03/USDT"]
    for s in a:
        assert a[s].equals(b[s])
        f = a[s]
        assert (f["low"] <= f[["open", "close"]].min(axis=1)).all() and (f["high"] >= f[["open", "close"]].max(axis=1)).all()
        assert f["time"].is_monotonic_increasing and f["time"].dt.tz is not None
    assert not a["SYN01/USDT"]["close"].equals(a["SYN02/USDT"]["close"])


@pytest.mark.parametrize("rho", [0.0, 0.8])
def test_return_correlation_follows_rho(rho: float) -> None:
    fr = generate_correlated(2, 8000, seed=5, correlation=rho, drift_scale=0.0)
    r = [np.diff(np.log(f["close"].to_numpy())) for f in fr.values()]
    c = float(np.corrcoef(r[0], r[1])[0, 1])
    assert abs(c - rho) < 0.1


def test_invalid_arguments() -> None:
    with pytest.raises(ValueError):
        generate_correlated(0, 100)
    with pytest.raises(ValueError):
        generate_correlated(2, 100, correlation=1.0)
