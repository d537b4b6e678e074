"""The one JSON-safe converter: numpy, pandas, pydantic, dates and paths to plain JSON data."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pydantic import BaseModel

from auraquant.console import print_json
from auraquant.jsonsafe import json_safe, python_scalar


class M(BaseModel):
    x: float
    when: datetime


def test_scalars() -> None:
    assert python_scalar(np.int64(3)) == 3 and type(python_scalar(np.int64(3))) is int
    assert type(python_scalar(np.bool_(True))) is bool
    assert type(python_scalar(np.float32(0.5))) is float
    assert python_scalar("s") == "s" and python_scalar(x := object()) is x
    assert json_safe(np.float64("nan")) is None and json_safe(float("inf")) is None and json_safe(-np.inf) is None
    assert json_safe(np.int8(-2)) == -2 and json_safe(True) is True and json_safe(None) is None
    assert json_safe(pd.NaT) is None and json_safe(pd.NA) is None
    assert json_safe(pd.Timestamp("2024-01-02", tz="UTC")) == "2024-01-02T00:00:00+00:00"
    assert json_safe(date(2024, 1, 2)) == "2024-01-02"
    assert json_safe(Path("/a/b")) == "/a/b"


def test_containers_models_and_keys() -> None:
    when = datetime(2024, 1, 1, tzinfo=UTC)
    value = {"m": M(x=float("nan"), when=when), np.int64(1): (np.float32(1.5), [np.nan]), np.bool_(False): None,
             "arr": np.array([[1, 2], [3, 4]], dtype=np.int32)}
    out = json_safe(value)
    assert out == {"m": {"x": None, "when": "2024-01-01T00:00:00Z"}, "1": [1.5, [None]], "false": None,
                   "arr": [[1, 2], [3, 4]]}
    json.dumps(out, allow_nan=False)  # plain JSON, nothing left to convert
    keys = {2: 0, True: 0, None: 0, 1.5: 0}
    assert list(json.loads(json.dumps(keys))) == list(json_safe(keys))  # keys spelled as json.dumps does
    with pytest.raises(TypeError, match="not JSON serialisable: set"):
        json_safe({1, 2})


def test_the_cli_prints_through_it(capsys: pytest.CaptureFixture[str]) -> None:
    print_json({"n": np.int64(7), "f": np.float32(np.nan), "p": Path("x"), "m": M(x=1.0, when=datetime(2024, 1, 1))})
    assert json.loads(capsys.readouterr().out) == {"n": 7, "f": None, "p": "x",
                                                   "m": {"x": 1.0, "when": "2024-01-01T00:00:00"}}
