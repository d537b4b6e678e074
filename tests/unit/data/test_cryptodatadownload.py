"""CryptoDataDownload-style CSVs import unedited, with every adaptation listed as a repair.

The fixtures are generated here in the layout of the public site's Binance files: a URL line above the header,
columns `Unix,Date,Symbol,Open,High,Low,Close,Volume BTC,Volume USDT,tradecount`, newest row first, and a
`Unix` column whose older rows are epoch seconds while the newer ones are epoch milliseconds.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from auraquant.cli import app
from auraquant.cta.data.ingest import DataInputError
from auraquant.cta.data.service import import_file
from auraquant.workspace import Workspace

URL_LINE = "https://www.CryptoDataDownload.com"
HEADER = "Unix,Date,Symbol,Open,High,Low,Close,Volume BTC,Volume USDT,tradecount"


def _cdd_csv(path: Path, *, start: str, n: int, step: str, ms_from: int, symbol: str = "BTCUSDT",
             date_fmt: str = "%Y-%m-%d %H:%M:%S", seed: int = 3) -> pd.DataFrame:
    """Write a CDD-shaped file of `n` bars (rows `ms_from`.. have millisecond epochs, earlier ones seconds) and
    return the bars it holds, oldest first, in canonical form."""
    rng = np.random.default_rng(seed)
    times = pd.date_range(start, periods=n, freq=step, tz="UTC")
    close = 30_000.0 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    open_ = np.concatenate([[close[0]], close[:-1]])
    high = np.maximum(open_, close) * (1 + rng.uniform(0, 0.005, n))
    low = np.minimum(open_, close) * (1 - rng.uniform(0, 0.005, n))
    vol_base = rng.uniform(10, 100, n).round(6)
    vol_quote = (vol_base * close).round(2)
    seconds = times.asi8 // 10**9
    unix = [str(s * 1000) if i >= ms_from else str(s) for i, s in enumerate(seconds)]
    lines = [URL_LINE, HEADER]
    for i in reversed(range(n)):  # newest first, as the site serves them
        lines.append(f"{unix[i]},{times[i].strftime(date_fmt)},{symbol},{open_[i]:.2f},{high[i]:.2f},"
                     f"{low[i]:.2f},{close[i]:.2f},{vol_base[i]},{vol_quote[i]},{int(rng.integers(100, 9999))}")
    path.write_text("\n".join(lines) + "\n")
    return pd.DataFrame({"time": times, "open": np.round(open_, 2), "close": np.round(close, 2),
                         "volume": vol_base})


@pytest.mark.parametrize(("name", "timeframe", "step", "n", "ms_from", "date_fmt"), [
    ("Binance_BTCUSDT_1h.csv", "1h", "1h", 2000, 1200, "%Y-%m-%d %H:%M:%S"),
    ("Binance_BTCUSDT_d.csv", "1d", "1D", 600, 450, "%Y-%m-%d"),
])
def test_cdd_files_import_with_listed_repairs(workspace: Workspace, tmp_path: Path, name: str, timeframe: str,
                                              step: str, n: int, ms_from: int, date_fmt: str) -> None:
    path = tmp_path / name
    truth = _cdd_csv(path, start="2021-03-01", n=n, step=step, ms_from=ms_from, date_fmt=date_fmt)
    dv, created = import_file(workspace.store, path, symbol="BTC/USDT", timeframe=timeframe)
    assert created and dv.bars == n and dv.quality.ok
    repairs = dv.quality.repairs
    assert any("skipped 1 line(s) above the header" in r and "CryptoDataDownload" in r for r in repairs), repairs
    assert any("'Volume BTC' (base currency)" in r and "'Volume USDT' (quote currency) ignored" in r
               for r in repairs), repairs
    assert any(f"{n - ms_from} rows in milliseconds" in r and f"{ms_from} rows in seconds" in r
               for r in repairs), repairs
    assert any("newest-first" in r for r in repairs), repairs
    bars = workspace.store.load_bars(dv.id)
    assert bars["time"].tolist() == truth["time"].tolist()  # both epoch units land on the right bar
    assert bars["time"].diff().dropna().nunique() == 1
    np.testing.assert_array_equal(bars["close"].to_numpy(), truth["close"].to_numpy())
    np.testing.assert_array_equal(bars["volume"].to_numpy(), truth["volume"].to_numpy())  # base, not quote


def test_an_ordinary_csv_loses_no_line(workspace: Workspace, tmp_path: Path) -> None:
    """Without a preamble the header is the first line and nothing is listed as skipped."""
    path = tmp_path / "plain.csv"
    truth = _cdd_csv(path, start="2022-01-01", n=50, step="1h", ms_from=0)
    path.write_text("\n".join(path.read_text().splitlines()[1:]) + "\n")
    dv, _ = import_file(workspace.store, path, symbol="BTC/USDT", timeframe="1h")
    assert dv.bars == 50 and not any("skipped" in r or "per row" in r for r in dv.quality.repairs)
    assert workspace.store.load_bars(dv.id)["time"].iloc[0] == truth["time"].iloc[0]


def test_symbol_column_must_match_the_import(workspace: Workspace, tmp_path: Path) -> None:
    path = tmp_path / "eth.csv"
    _cdd_csv(path, start="2022-01-01", n=20, step="1h", ms_from=0, symbol="ETHUSDT")
    with pytest.raises(DataInputError, match="'ETHUSDT', not 'BTC/USDT'"):
        import_file(workspace.store, path, symbol="BTC/USDT", timeframe="1h")
    lines = path.read_text().splitlines()
    lines[5] = lines[5].replace("ETHUSDT", "BTCUSDT")  # data row 3 (0-based), line 6 of the file
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataInputError, match=r"more than one symbol .* at rows 3 \(line 6\)"):
        import_file(workspace.store, path, symbol="ETH/USDT", timeframe="1h")
    assert workspace.store.list_data_versions() == []


def test_comment_and_blank_preamble_lines_and_gzip(workspace: Workspace, tmp_path: Path) -> None:
    """`#` comments, blank lines and a title line above the header are all skipped, also in a .csv.gz."""
    plain = tmp_path / "src.csv"
    truth = _cdd_csv(plain, start="2022-06-01", n=40, step="1h", ms_from=40)
    body = plain.read_text().splitlines()[1:]  # header + rows
    path = tmp_path / "bars.csv.gz"
    with gzip.open(path, "wt") as fh:
        fh.write("\n".join(["# exported 2024-01-01", "", URL_LINE, *body]) + "\n")
    dv, _ = import_file(workspace.store, path, symbol="BTC/USDT", timeframe="1h")
    assert dv.bars == 40 and any("skipped 3 line(s)" in r for r in dv.quality.repairs), dv.quality.repairs
    assert workspace.store.load_bars(dv.id)["time"].tolist() == truth["time"].tolist()


def test_errors_give_the_file_line_after_a_preamble(workspace: Workspace, tmp_path: Path) -> None:
    path = tmp_path / "cdd.csv"
    _cdd_csv(path, start="2022-01-01", n=30, step="1h", ms_from=0)
    lines = path.read_text().splitlines()
    cells = lines[9].split(",")
    cells[6] = "n/a"  # close of data row 7, on line 10 (URL line 1, header line 2)
    lines[9] = ",".join(cells)
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataInputError, match=r"row 7: 'n/a' \(line 10\)"):
        import_file(workspace.store, path, symbol="BTC/USDT", timeframe="1h")


def test_cli_import_reports_the_repairs_as_json(workspace: Workspace, tmp_path: Path) -> None:
    path = tmp_path / "Binance_BTCUSDT_1h.csv"
    _cdd_csv(path, start="2023-01-01", n=120, step="1h", ms_from=60)
    result = CliRunner().invoke(app, ["data", "import", str(path), "--symbol", "BTC/USDT", "--timeframe", "1h",
                                      "--json", "-w", str(workspace.root)])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["bars"] == 120 and doc["quality"]["errors"] == []
    assert len(doc["quality"]["repairs"]) == 4 and doc["quality"]["repairs"][0].startswith("skipped 1 line(s)")
