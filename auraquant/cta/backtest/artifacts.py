"""Saving a BacktestResult as deterministic files: same inputs -> byte-identical bytes.

Layout of the output directory:
- `report.json`: the Report as canonical JSON (RFC 8785), with its content id;
- `equity.parquet`, `trades.parquet`, `steps.parquet`, `filter_decisions.parquet`, `risk_decisions.parquet`:
  fixed column order, no pandas index, zstd compression, written by pyarrow (no timestamps inside);
- `manifest.json`: canonical JSON of {file: sha256} in sorted order.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from auraquant.canonical import canonical_json, sha256_hex
from auraquant.cta.backtest.engine import BacktestResult

TABLES = ("equity", "trades", "steps", "filter_decisions", "risk_decisions")


def _write_parquet(frame: pd.DataFrame, path: Path) -> None:
    table = pa.Table.from_pandas(frame, preserve_index=False)
    # Drop the pandas metadata blob: it embeds library versions, which are not part of the result.
    table = table.replace_schema_metadata(None)
    pq.write_table(table, path, compression="zstd", write_statistics=False)


def save_artifacts(result: BacktestResult, out_dir: Path | str) -> dict[str, str]:
    """Write the result's artifacts under `out_dir` (created); returns {file name: sha256}."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files: dict[str, str] = {}
    body = result.report.model_dump(mode="json") | {"id": result.report.id}
    data = canonical_json(body)
    (out / "report.json").write_bytes(data)
    files["report.json"] = sha256_hex(data)
    for name in TABLES:
        frame = getattr(result, name)
        if frame is None:
            continue
        path = out / f"{name}.parquet"
        _write_parquet(frame, path)
        files[path.name] = sha256_hex(path.read_bytes())
    manifest = canonical_json(dict(sorted(files.items())))
    (out / "manifest.json").write_bytes(manifest)
    return files
