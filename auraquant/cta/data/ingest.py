"""Reading bar files (CSV, Parquet) into the canonical frame: time (UTC bar open), open, high, low, close, volume.

Timestamps may be epoch numbers (seconds, ms, us or ns, told apart by magnitude *per row*, because
CryptoDataDownload files mix seconds and milliseconds in one column), ISO-8601 strings (with or without an
offset; naive ones are taken as UTC), or Parquet timestamps (naive = UTC, aware = converted).

Real-world CSV layouts handled without editing the file (each handling is listed as a repair, see
`INPUT_REPAIRS`): lines above the header (a URL or comment line, as CryptoDataDownload writes) are detected and
skipped; a `unix` epoch column is preferred over a `date` text column; per-currency volume columns
(`Volume BTC`, `Volume USDT`) are mapped: the base-currency one becomes `volume`, the quote-currency one is
ignored (the canonical frame stores base volume only). A `symbol` column must hold one symbol, and that symbol
must be the one imported. Row order and duplicates are the quality check's business (`quality.assess`).

Malformed input raises `DataInputError` naming the column and the offending rows (0-based data rows, i.e. not
counting the header or skipped lines, plus the 1-based line number in the file); nothing is written here.
"""

from __future__ import annotations

import csv
import gzip
import io
import itertools
import re
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from auraquant.cta.data.quality import INPUT_REPAIRS, ROW
from auraquant.cta.data.timeframes import OHLCV
from auraquant.errors import UserError


class DataInputError(UserError, ValueError):
    """The input cannot be read as bars; the message says what and where."""


_ALIASES: dict[str, tuple[str, ...]] = {
    # `unix` before `date`: CryptoDataDownload files carry both, and the epoch is the unambiguous one.
    "time": ("time", "timestamp", "unix", "date", "datetime", "open_time", "opentime", "ts", "t"),
    "open": ("open", "o"),
    "high": ("high", "h"),
    "low": ("low", "l"),
    "close": ("close", "c"),
    "volume": ("volume", "vol", "v", "base_volume"),
}


# Where the header line starts in the file: data row r is on line r + _FIRST_DATA_LINE (1-based), skipped
# preamble lines added. Kept in `DataFrame.attrs` so messages can give line numbers a text editor shows.
_FIRST_DATA_LINE = "aura_first_data_line"
_PREAMBLE_SCAN = 20  # lines inspected for a preamble above the header; CDD files have exactly one


def _csv_preamble(p: Path) -> list[str]:
    """The lines above the header of a CSV: blank lines, `#` comments, and single-field lines (a URL or title,
    no delimiter) followed by a line with several fields. Anything else is taken as the header, so an
    ordinary file is never cut."""
    opener = gzip.open if p.suffix.lower() == ".gz" else open
    try:
        with opener(p, "rt", encoding="utf-8-sig", errors="replace", newline="") as fh:
            head = list(itertools.islice(fh, _PREAMBLE_SCAN + 1))
    except (OSError, EOFError, UnicodeError):
        return []  # unreadable here: pandas reports the real cause
    fields = [len(next(csv.reader(io.StringIO(line)), [])) for line in head]
    preamble: list[str] = []
    for i, line in enumerate(head[:_PREAMBLE_SCAN]):
        blank_or_comment = not line.strip() or line.lstrip().startswith("#")
        title = fields[i] == 1 and i + 1 < len(head) and fields[i + 1] >= 2
        if not (blank_or_comment or title):
            return preamble
        preamble.append(line.rstrip("\r\n"))
    return []  # no header found in the scanned lines: leave the file to pandas as it is


def _line_of(raw: pd.DataFrame, row: int) -> int:
    return int(row) + int(raw.attrs.get(_FIRST_DATA_LINE, 2))


def _rows_text(raw: pd.DataFrame, rows: list[int]) -> str:
    return ", ".join(f"{r} (line {_line_of(raw, r)})" for r in rows)


def read_table(path: str | Path) -> pd.DataFrame:
    """Load a CSV or Parquet file as-is (no interpretation yet).

    For CSV, lines above the header are skipped and listed in `attrs[INPUT_REPAIRS]`.
    """
    p = Path(path)
    if not p.is_file():
        raise DataInputError(f"{p}: no such file")
    if p.stat().st_size == 0:
        raise DataInputError(f"{p}: the file is empty")
    suffix = p.suffix.lower()
    repairs: list[str] = []
    preamble: list[str] = []
    try:
        if suffix in {".parquet", ".pq"}:
            raw = pd.read_parquet(p)
        elif suffix in {".csv", ".txt", ".gz"}:
            preamble = _csv_preamble(p)
            raw = pd.read_csv(p, dtype=str, keep_default_na=False, na_values=["", "NaN", "nan", "NA", "null"],
                              skiprows=len(preamble))
            if preamble:
                shown = preamble[0] if len(preamble[0]) <= 80 else preamble[0][:77] + "..."
                repairs.append(f"skipped {len(preamble)} line(s) above the header (first: {shown!r})")
        else:
            raise DataInputError(f"{p}: unsupported file type {suffix!r}; use .csv or .parquet")
    except DataInputError:
        raise
    except pd.errors.EmptyDataError as e:
        raise DataInputError(f"{p}: the file is empty") from e
    except Exception as e:  # pyarrow/pandas parse failures: report the file, keep the cause
        raise DataInputError(f"{p}: cannot read as {suffix.lstrip('.')}: {e}") from e
    if raw.empty:
        raise DataInputError(f"{p}: the file has a header but no rows")
    raw.attrs[INPUT_REPAIRS] = repairs
    raw.attrs[_FIRST_DATA_LINE] = len(preamble) + 2
    return raw


_VOLUME_CCY = re.compile(r"^volume[ _-]?([a-z0-9]+)$")


def _symbol_key(symbol: str) -> str:
    """`BTC/USDT`, `BTC-USDT`, `btcusdt`, `BTC/USDT:USDT` -> `BTCUSDT` (what a file's symbol column is compared by)."""
    return re.sub(r"[^A-Z0-9]", "", symbol.split(":")[0].upper())


def _file_symbol(raw: pd.DataFrame, symbol: str | None) -> str | None:
    """The one symbol of a `symbol` column (checked against the imported `symbol`), else `symbol`."""
    col = next((c for c in raw.columns if str(c).strip().lower() == "symbol"), None)
    if col is None:
        return symbol
    values = raw[col].astype("string").str.strip()
    first = values.dropna().iloc[0] if values.notna().any() else None
    if first is None:
        return symbol
    other = (values.notna() & (values != first)).fillna(False).to_numpy(dtype=bool)  # blank cells say nothing
    if other.any():
        rows = [int(r) for r in np.flatnonzero(other)[:5]]
        raise DataInputError(f"column {col!r} holds more than one symbol ({first!r} and others) at rows "
                             f"{_rows_text(raw, rows)}; import one symbol per file")
    if symbol is not None and _symbol_key(first) != _symbol_key(symbol):
        raise DataInputError(f"the file's {col!r} column says {first!r}, not {symbol!r}; "
                             f"import it as that symbol or check the file")
    return str(first)


def _base_volume(raw: pd.DataFrame, symbol: str | None, repairs: list[str]) -> str | None:
    """The base-currency column among per-currency volume columns (`Volume BTC` of BTC/USDT), or None when the
    file has none. The quote-currency column is ignored and that is listed in `repairs`."""
    by_ccy = {m.group(1).upper(): c for c in raw.columns if (m := _VOLUME_CCY.match(str(c).strip().lower()))}
    if not by_ccy:
        return None
    key = _symbol_key(symbol) if symbol else ""
    bases = [ccy for ccy in by_ccy if key.startswith(ccy) and len(key) > len(ccy)]
    if symbol and "/" in symbol:
        bases = [ccy for ccy in by_ccy if ccy == _symbol_key(symbol.split("/")[0])]
    if len(bases) != 1:
        raise DataInputError(
            f"cannot tell the base-currency volume among {list(map(str, by_ccy.values()))} for symbol "
            f"{symbol!r}; map it with --map volume=<column>")
    chosen = by_ccy[bases[0]]
    ignored = [str(c) for ccy, c in by_ccy.items() if ccy != bases[0]]
    repairs.append(f"volume taken from {chosen!r} (base currency)"
                   + (f"; {', '.join(map(repr, ignored))} (quote currency) ignored" if ignored else ""))
    return str(chosen)


def _resolve_columns(raw: pd.DataFrame, mapping: Mapping[str, str] | None, symbol: str | None,
                     repairs: list[str]) -> dict[str, str]:
    mapping = dict(mapping or {})
    unknown = set(mapping) - set(_ALIASES)
    if unknown:
        raise DataInputError(f"unknown target column(s) in mapping: {sorted(unknown)}; targets are {list(_ALIASES)}")
    lower = {str(c).strip().lower(): c for c in raw.columns}
    resolved: dict[str, str] = {}
    for target, aliases in _ALIASES.items():
        if target in mapping:
            if mapping[target] not in raw.columns:
                raise DataInputError(f"mapped column {mapping[target]!r} for {target} not in file; columns: {list(raw.columns)}")
            resolved[target] = mapping[target]
            continue
        found = next((lower[a] for a in aliases if a in lower), None)
        if found is None and target == "volume":
            found = _base_volume(raw, _file_symbol(raw, symbol), repairs)
        if found is None:
            raise DataInputError(
                f"missing column {target!r}: file has {list(map(str, raw.columns))}; "
                f"map it with --map {target}=<column>")
        resolved[target] = found
    return resolved


def _parse_time(raw: pd.DataFrame, name: str, repairs: list[str]) -> pd.Series:
    col = raw[name]
    if isinstance(col.dtype, pd.DatetimeTZDtype):
        return col.dt.tz_convert("UTC")
    if pd.api.types.is_datetime64_any_dtype(col):
        return col.dt.tz_localize("UTC")
    if pd.api.types.is_numeric_dtype(col):
        return _epoch_to_utc(raw, col.astype("float64"), name, repairs)
    s = col.astype("string").str.strip()
    s = s.where(s != "", pd.NA)  # blank cells are missing times: the quality check reports them as `nan`
    present = s.notna().to_numpy()
    numeric = pd.to_numeric(s, errors="coerce")
    is_num = numeric.notna().to_numpy()
    # The column is epochs when most filled cells are numbers; then the non-numeric ones are the bad rows.
    if is_num.sum() * 2 > present.sum():
        bad = present & ~is_num
        if not bad.any():
            return _epoch_to_utc(raw, numeric.astype("float64"), name, repairs)
    else:
        parsed = pd.to_datetime(s, utc=True, errors="coerce", format="ISO8601")
        bad = present & parsed.isna().to_numpy()
        if not bad.any():
            return parsed
    rows = [int(r) for r in np.flatnonzero(bad)[:5]]
    raise DataInputError(
        f"column {name!r}: cannot parse {int(bad.sum())} timestamp(s) at rows {_rows_text(raw, rows)} "
        f"(e.g. {s.iloc[rows[0]]!r}); use epoch numbers or ISO-8601 throughout")


# Epoch magnitude -> unit, decided per value: seconds up to 1e11 (year 5138), then ms, us, ns.
_UNIT_BOUNDS = ((1e11, "seconds", 1e3), (1e14, "milliseconds", 1.0), (1e17, "microseconds", 1e-3))
_MAX_MS = 9.2e15  # datetime64[ns] ends in 2262 (2**63 ns); beyond that a value is not a time at all


def _epoch_to_utc(raw: pd.DataFrame, x: pd.Series, name: str, repairs: list[str]) -> pd.Series:
    """Epoch numbers to UTC times, each value's unit decided by its own magnitude (files mix s and ms).

    Times are rounded to the millisecond (bars live on a millisecond grid). NaN stays NaT (the quality check
    reports it); non-finite or unrepresentable values are refused here.
    """
    a = x.to_numpy(dtype=np.float64)
    mag = np.abs(a)
    ms = a * 1e-6  # nanoseconds unless a smaller bound below matches
    unit = np.full(len(a), "nanoseconds", dtype=object)
    for bound, label, to_ms in reversed(_UNIT_BOUNDS):
        hit = mag < bound
        ms = np.where(hit, a * to_ms, ms)
        unit[hit] = label
    with np.errstate(invalid="ignore"):
        bad = (np.isinf(a)) | (np.abs(ms) >= _MAX_MS)
    if bad.any():
        rows = [int(r) for r in np.flatnonzero(bad)[:5]]
        examples = ", ".join(f"{x.iloc[r]!r}" for r in rows)
        raise DataInputError(f"column {name!r}: {int(bad.sum())} value(s) are not a time (infinite or beyond the "
                             f"year 2262) at rows {_rows_text(raw, rows)}: {examples}")
    present = ~np.isnan(a)
    counts = pd.Series(unit[present]).value_counts()
    if len(counts) > 1:
        repairs.append(f"epoch unit decided per row in {name!r}: "
                       + ", ".join(f"{n} rows in {u}" for u, n in counts.items()))
    ms_int = np.where(present, np.round(np.where(present, ms, 0.0)), 0).astype(np.int64)
    out = pd.Series(pd.to_datetime(ms_int, unit="ms", utc=True), index=x.index)
    return out.where(present, pd.NaT)


def _parse_number(raw: pd.DataFrame, name: str) -> pd.Series:
    col = raw[name]
    if pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col):
        return col.astype("float64")
    s = col.astype("string").str.strip()
    num = pd.to_numeric(s, errors="coerce")
    bad = num.isna() & s.notna() & (s != "")
    if bad.any():
        rows = [int(r) for r in np.flatnonzero(bad.to_numpy())[:5]]
        examples = ", ".join(f"row {r}: {s.iloc[r]!r} (line {_line_of(raw, r)})" for r in rows)
        raise DataInputError(f"column {name!r} has non-numeric values ({int(bad.sum())}): {examples}")
    return num.astype("float64")


def normalize(raw: pd.DataFrame, mapping: Mapping[str, str] | None = None, *,
              symbol: str | None = None) -> pd.DataFrame:
    """Canonical columns from a raw table, plus `_row` (original row position) for error reporting.

    `symbol` (the symbol being imported) is checked against a `symbol` column and picks the base-currency
    volume column. What was adapted is listed in `attrs[INPUT_REPAIRS]` (with `read_table`'s own entries
    first), which `quality.assess` copies into the report's repairs.
    """
    repairs: list[str] = list(raw.attrs.get(INPUT_REPAIRS, []))
    _file_symbol(raw, symbol)
    cols = _resolve_columns(raw, mapping, symbol, repairs)
    out = pd.DataFrame({"time": _parse_time(raw, cols["time"], repairs)})
    for k in OHLCV:
        out[k] = _parse_number(raw, cols[k])
    out["time"] = out["time"].astype("datetime64[ns, UTC]")
    out[ROW] = np.arange(len(out), dtype=np.int64)
    out = out.reset_index(drop=True)
    out.attrs[INPUT_REPAIRS] = repairs
    return out


def parse_mapping(items: list[str] | None) -> dict[str, str]:
    """`["time=ts", "volume=qty"]` -> {"time": "ts", "volume": "qty"}, with a clear error on bad items."""
    out: dict[str, str] = {}
    for item in items or []:
        for part in item.split(","):
            if not part.strip():
                continue
            if "=" not in part:
                raise DataInputError(f"bad --map item {part!r}: use target=column, e.g. time=timestamp")
            k, v = part.split("=", 1)
            out[k.strip()] = v.strip()
    return out
