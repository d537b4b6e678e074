"""Typed, content-addressed data objects: `DataVersion`, `DataSlice`, `FeatureSlice`, holdouts and the quality
report: the records of the workspace catalog.

They live here, below both the store that persists them (`auraquant.store`) and the data service that makes
them (`auraquant.cta.data`), so the store never imports the domain; `auraquant.cta.data.models` re-exports them.

Identity rules (what makes two objects "the same"):
- A `DataVersion` is identified by symbol, timeframe and the hash of its bars. Importing the same bars twice,
  from any file, yields the same id; where they came from is provenance (`source`), not identity.
- A `DataSlice` is a version plus a half-open time range `[start, end)` and a role.
- A `FeatureSlice` is an indicator with params over a slice (optionally computed on a higher timeframe and
  aligned back onto closed bars), tagged with the indicator library's version.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from auraquant.canonical import ContentModel

SliceRole = Literal["train", "validation", "target", "holdout", "full"]


class QualityIssue(BaseModel):
    """One class of problem found in a bar set, with a few example rows (0-based row index and time)."""

    model_config = {"frozen": True}

    kind: str
    count: int
    message: str
    examples: list[dict[str, str | float | int | None]] = Field(default_factory=list)


class QualityReport(BaseModel):
    """What an ingest found. `errors` block the ingest; `repairs` were applied and are listed, never silent."""

    model_config = {"frozen": True}

    rows_in: int
    bars: int
    gaps: int = 0
    missing_bars: int = 0
    largest_gap_bars: int = 0
    largest_gap_start: str | None = None
    duplicates_identical: int = 0
    duplicates_conflicting: int = 0
    nan: dict[str, int] = Field(default_factory=dict)
    non_monotonic: int = 0
    ohlc_inconsistent: int = 0
    non_positive_prices: int = 0
    zero_volume: int = 0
    repairs: list[str] = Field(default_factory=list)
    errors: list[QualityIssue] = Field(default_factory=list)
    warnings: list[QualityIssue] = Field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    def summary(self) -> dict[str, object]:
        """The compact form printed by `data import --json` under `quality`."""
        return {
            "gaps": self.gaps,
            "missing_bars": self.missing_bars,
            "largest_gap_bars": self.largest_gap_bars,
            "duplicates": {"identical": self.duplicates_identical, "conflicting": self.duplicates_conflicting},
            "nan": self.nan,
            "non_monotonic": self.non_monotonic,
            "ohlc_inconsistent": self.ohlc_inconsistent,
            "non_positive_prices": self.non_positive_prices,
            "zero_volume": self.zero_volume,
            "repairs": list(self.repairs),
            "errors": [e.model_dump() for e in self.errors],
            "warnings": [w.model_dump() for w in self.warnings],
        }


class DataVersion(ContentModel):
    """An immutable set of OHLCV bars for one symbol and timeframe, with provenance and quality."""

    _id_prefix = "dv"
    # Identity is the data itself; provenance and bookkeeping are not part of it.
    _id_exclude = frozenset({"source", "created_at", "quality", "first", "last", "bars", "exchange"})

    symbol: str
    timeframe: str
    content_hash: str
    bars: int
    first: datetime
    last: datetime
    source: str
    exchange: str | None = None
    quality: QualityReport
    created_at: datetime


class DataSlice(ContentModel):
    """A time range `[start, end)` of a DataVersion with a research role."""

    _id_prefix = "ds"
    _id_exclude = frozenset({"created_at", "bars"})

    data_version_id: str
    start: datetime
    end: datetime
    role: SliceRole = "full"
    bars: int
    created_at: datetime


class FeatureSlice(ContentModel):
    """An indicator over a DataSlice. `timeframe` set means: computed on that higher timeframe from closed
    bars, then aligned so each value becomes visible only after its higher bar has closed."""

    _id_prefix = "fs"
    _id_exclude = frozenset({"created_at", "columns"})

    data_slice_id: str
    indicator: str
    params: dict[str, float | int | str | bool]
    timeframe: str | None = None
    library: str
    columns: list[str]
    created_at: datetime


class Holdout(ContentModel):
    """A sealed holdout declared on data content: the bars of the content `content_hash` from `holdout_start`
    on (`sealed_bars` bars hashing to `sealed_hash`). Identity is the content and the start; who declared it,
    when and on which DataVersion id is bookkeeping."""

    _id_prefix = "ho"
    _id_exclude = frozenset({"declared_at", "declared_by", "data_version_id", "sealed_bars", "sealed_hash"})

    content_hash: str
    holdout_start: datetime
    sealed_hash: str
    sealed_bars: int
    data_version_id: str
    declared_at: datetime
    declared_by: str


class HoldoutRead(BaseModel):
    """One audited read of sealed bars (the k-th `look` at that holdout content)."""

    model_config = {"frozen": True, "extra": "forbid"}

    seq: int
    look: int = Field(ge=1, description="1 + earlier reads of the same sealed bars (any run, any DataVersion)")
    content_hash: str = Field(description="bars_content_hash of the bars read")
    holdout_ids: list[str] = Field(description="the declared holdouts whose sealed bars this read contains")
    data_version_id: str
    start: datetime
    bars: int
    reader: str
    run_id: str | None = None
    read_at: datetime
