"""Fetch checkpoints: where an exchange download stages its pages, and cleaning what interrupted runs left.

A checkpoint directory belongs to one download *request*: exchange id, the server it talks to (the
`api_base_url` or `hostname` override, or the exchange's own endpoint), symbol, timeframe and requested start
(`since`). Only a fetch with the same request resumes from it, so a resumed fetch never mixes bars of two
servers or of two start dates. Names stay readable (`binance_BTC-USDT_1h_<key>.parquet`); the key is a short
hash of the whole request.

Interrupted writes leave hidden temporary files (`.<name>.<pid>.tmp`, the naming of
`store.write_parquet_atomic`). `remove_stale_temp_files` deletes those whose writing process is gone.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

_TEMP_RE = re.compile(r"^\..+\.(\d+)\.tmp$")


def server_of(exchange: str, exchange_options: Mapping[str, Any] | None) -> str:
    """The server a ccxt client built with these options talks to (`exchange:default` when not overridden)."""
    opts = exchange_options or {}
    url = opts.get("api_base_url") or opts.get("hostname")
    return str(url).rstrip("/") if url else f"{exchange}:default"


def checkpoint_dir(staging_root: Path, *, exchange: str, server: str, symbol: str, timeframe: str,
                   since_ms: int | None) -> Path:
    """The checkpoint directory of one download request (see the module docstring)."""
    request = {"exchange": exchange, "server": server, "symbol": symbol, "timeframe": timeframe,
               "since_ms": since_ms}
    key = hashlib.sha256(json.dumps(request, sort_keys=True).encode()).hexdigest()[:12]
    return staging_root / f"{exchange}_{symbol.replace('/', '-').replace(':', '-')}_{timeframe}_{key}.parquet"


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True  # our own write may be in flight in another thread
    try:
        os.kill(pid, 0)  # signal 0: existence check only, nothing is sent
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    return True


def remove_stale_temp_files(root: Path) -> list[Path]:
    """Delete temporary files under `root` left by writers that no longer run; returns what was removed."""
    removed: list[Path] = []
    if not root.is_dir():
        return removed
    for path in sorted(root.rglob(".*.tmp")):
        m = _TEMP_RE.match(path.name)
        if m and path.is_file() and not _alive(int(m.group(1))):
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed


__all__ = ["checkpoint_dir", "remove_stale_temp_files", "server_of"]
