"""Reading bar files (CSV, Parquet) into the canonical frame: time (UTC bar open), open, high, low, close, volume.

Timestamps may be epoch numbers (seconds, ms, us or ns, told apart by magnitude), ISO-8601 strings (with or
without an offset; naive ones are taken as UTC), or Parquet timestamps (naive = UTC, aware = converted).
Malformed input raises `DataInputError` naming the column and example rows; nothing is written by this module.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from auraquant.cta.data.quality import ROW
from auraquant.cta.data.timeframes import OHLCV


class DataInputError(ValueError):
    """The input cannot be read as bars; the message says what and where."""


_ALIASES: dict[str, tuple[str, ...]] = {
    "time": ("time", "timestamp", "date", "datetime", "open_time", "opentime", "ts", "t"),
    "open": ("open", "o"),
    "high": ("high", "h"),
    "low": ("low", "l"),
    "close": ("close", "c"),
    "volume": ("volume", "vol", "v", "base_volume"),
}


def read_table(path: str | Path) -> pd.DataFrame:
    """Load a CSV or Parquet file as-is (no interpretation yet)."""
    p = Path(path)
    if not p.is_file():
        raise DataInputError(f"{p}: no such file")
    if p.stat().st_size == 0:
        raise DataInputError(f"{p}: the file is empty")
    suffix = p.suffix.lower()
    try:
        if suffix in {".parquet", ".pq"}:
            raw = pd.read_parquet(p)
        elif suffix in {".csv", ".txt", ".gz"}:
            raw = pd.read_csv(p, dtype=str, keep_default_na=False, na_values=["", "NaN", "nan", "NA", "null"])
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
    return raw


def _resolve_columns(raw: pd.DataFrame, mapping: Mapping[str, str] | None) -> dict[str, str]:
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
        if found is None:
            raise DataInputError(
                f"missing column {target!r}: file has {list(map(str, raw.columns))}; "
                f"map it with --map {target}=<column>")
        resolved[target] = found
    return resolved


def _parse_time(col: pd.Series, name: str) -> pd.Series:
    if isinstance(col.dtype, pd.DatetimeTZDtype):
        return col.dt.tz_convert("UTC")
    if pd.api.types.is_datetime64_any_dtype(col):
        return col.dt.tz_localize("UTC")
    if pd.api.types.is_numeric_dtype(col):
        return _epoch_to_utc(col.astype("float64"), name)
    s = col.astype("string").str.strip()
    numeric = pd.to_numeric(s, errors="coerce")
    if numeric.notna().all():
        return _epoch_to_utc(numeric.astype("float64"), name)
    try:
        return pd.to_datetime(s, utc=True, format="ISO8601")
    except (ValueError, TypeError):
        parsed = pd.to_datetime(s, utc=True, errors="coerce", format="ISO8601")
        bad = parsed.isna() & s.notna()
        rows = list(np.flatnonzero(bad.to_numpy())[:5])
        raise DataInputError(
            f"column {name!r}: cannot parse timestamps at rows {rows} "
            f"(e.g. {s.iloc[rows[0]]!r} ); use epoch numbers or ISO-8601") from None


def _epoch_to_utc(x: pd.Series, name: str) -> pd.Series:
    finite = x[np.isfinite(x)]
    if finite.empty:
        return pd.Series(pd.NaT, index=x.index, dtype="datetime64[ns, UTC]")
    peak = float(np.abs(finite).max())
    unit = "s" if peak < 1e11 else "ms" if peak < 1e14 else "us" if peak < 1e17 else "ns"
    return pd.to_datetime(x, unit=unit, utc=True)


def _parse_number(col: pd.Series, name: str) -> pd.Series:
    if pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col):
        return col.astype("float64")
    s = col.astype("string").str.strip()
    num = pd.to_numeric(s, errors="coerce")
    bad = num.isna() & s.notna() & (s != "")
    if bad.any():
        rows = list(np.flatnonzero(bad.to_numpy())[:5])
        examples = ", ".join(f"row {r}: {s.iloc[r]!r}" for r in rows)
        raise DataInputError(f"column {name!r} has non-numeric values ({int(bad.sum())}): {examples}")
    return num.astype("float64")


def normalize(raw: pd.DataFrame, mapping: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Canonical columns from a raw table, plus `_row` (original row position) for error reporting."""
    cols = _resolve_columns(raw, mapping)
    out = pd.DataFrame({"time": _parse_time(raw[cols["time"]], cols["time"])})
    for k in OHLCV:
        out[k] = _parse_number(raw[cols[k]], cols[k])
    out["time"] = out["time"].astype("datetime64[ns, UTC]")
    out[ROW] = np.arange(len(out), dtype=np.int64)
    return out.reset_index(drop=True)


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
