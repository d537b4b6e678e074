"""The output contract of a strategy module, checked on sample bars before an agent-written module is saved.

One call with default params must return: for a baseline, an array of shape (n,) with values in {-1, 0, 1};
for a filter, a string `reject_reason` and a pair of bool arrays of shape (n,); for an execution or risk
module, a `KernelPart` whose series all have shape (n,). Runs wherever the module runs (for agent-written
modules: inside the sandbox worker).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from auraquant.cta.strategy.bars import Bars
from auraquant.cta.strategy.protocols import KernelPart, resolve_params


def contract_problem(kind: str, mod: Any, bars: Bars) -> str | None:
    """What breaks the output contract of one default-params call on `bars` (None when it holds)."""
    n = len(bars)
    p = resolve_params(mod.name, mod.params, {})
    if kind == "baselines":
        out = np.asarray(mod.candidates(bars, p))
        if out.shape != (n,):
            return f"candidates() returned shape {out.shape}, expected ({n},)"
        if not np.isin(out, (-1, 0, 1)).all():
            return "candidates() must only contain -1, 0, +1 (NaN warm-up must become 0)"
    elif kind == "filters":
        if not isinstance(getattr(mod, "reject_reason", None), str):
            return "a filter needs a string reject_reason"
        res = mod.allow(bars, p)
        if not (isinstance(res, tuple) and len(res) == 2):
            return "allow() must return (allow_long, allow_short)"
        for side, arr in zip(("allow_long", "allow_short"), res, strict=True):
            a = np.asarray(arr)
            if a.shape != (n,) or a.dtype != np.bool_:
                return f"{side} must be a bool array of shape ({n},), got {a.dtype} {a.shape}"
    else:
        part = mod.configure(bars, p)
        if not isinstance(part, KernelPart):
            return "configure() must return a KernelPart"
        for k, s in part.series.items():
            if np.asarray(s).shape != (n,):
                return f"series {k!r} must have shape ({n},)"
    return None
