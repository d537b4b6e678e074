"""The one converter from Python, numpy and pydantic values to plain JSON data.

`json_safe(value)` returns data that `json.dumps(..., allow_nan=False)` accepts and that means what `value`
meant: numpy scalars become Python numbers, non-finite floats become None (JSON has no NaN or infinity, and a
missing number is what they mean in a table of metrics), containers are converted element by element.
`python_scalar(value)` is its primitive: a numpy scalar as the equal Python scalar, anything else unchanged.

numpy and pydantic are never imported here: a numpy value can only exist once numpy is loaded, and a pydantic
model is recognised by its `model_dump` method, so the CLI pays nothing for this module.
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Mapping
from datetime import date, datetime
from pathlib import PurePath
from typing import Any


def _numpy_generic() -> type | None:
    np = sys.modules.get("numpy")
    return None if np is None else np.generic


def python_scalar(value: Any) -> Any:
    """`value` as a Python scalar when it is a numpy scalar (`np.int64(3)` -> `3`, `np.bool_(True)` -> `True`,
    `np.float32(0.5)` -> `0.5`, `np.datetime64` -> `datetime`/int per numpy's `item()`); anything else as is."""
    generic = _numpy_generic()
    if generic is not None and isinstance(value, generic):
        return value.item()
    return value


def _key(k: Any) -> str:
    """A mapping key as JSON spells it (`json.dumps` rules: True -> "true", None -> "null", 1 -> "1")."""
    k = python_scalar(k)
    if isinstance(k, str):
        return k
    if k is None or isinstance(k, bool | int | float):
        return json.dumps(json_safe(k))
    return str(json_safe(k))


def json_safe(value: Any) -> Any:
    """`value` as plain JSON data, recursively.

    - None, bool, int, str: unchanged; numpy scalars: the equal Python scalar (then these rules);
    - float: unchanged when finite, else None; pandas' NA and NaT: None;
    - pydantic models: `model_dump(mode="json")`, converted; datetimes and dates: ISO 8601 text
      (`pd.Timestamp` is a datetime); paths: their string;
    - mappings: dicts with keys as JSON spells them; lists, tuples and numpy arrays: lists.
    Anything else raises TypeError (so it can serve as `json.dumps(default=json_safe)`)."""
    value = python_scalar(value)
    if value is None or isinstance(value, bool | int | str):
        return value
    if type(value).__name__ in ("NAType", "NaTType"):  # pandas' missing value and missing time
        return None
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if hasattr(value, "model_dump"):
        return json_safe(value.model_dump(mode="json"))
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, Mapping):
        return {_key(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if hasattr(value, "tolist") and hasattr(value, "dtype"):  # numpy arrays
        return json_safe(value.tolist())
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
