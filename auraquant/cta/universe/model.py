"""The persisted Universe: which data versions, of which symbols, at which timeframe."""

from __future__ import annotations

from pydantic import BaseModel, Field, field_validator, model_validator

from auraquant.canonical import ContentModel


class UniverseMember(BaseModel):
    """One instrument of a universe: its symbol and the data version its bars come from."""

    model_config = {"frozen": True, "extra": "forbid"}

    symbol: str
    data_version_id: str


class Universe(ContentModel):
    """A named set of data versions with one timeframe (`uv_…`, the hash of name, timeframe and members).

    Members keep the order they were given in (it is the column order of every per-instrument table);
    symbols are unique. The bars are aligned on the union of the members' bar times by
    `auraquant.cta.universe.align`; nothing of the alignment is stored (it is a pure function of the bars).
    """

    _id_prefix = "uv"

    name: str = Field(min_length=1, max_length=80)
    timeframe: str
    members: list[UniverseMember] = Field(min_length=1)

    @field_validator("members")
    @classmethod
    def _unique(cls, v: list[UniverseMember]) -> list[UniverseMember]:
        seen: set[str] = set()
        for m in v:
            if m.symbol in seen:
                raise ValueError(f"symbol {m.symbol!r} appears twice in the universe")
            seen.add(m.symbol)
        return v

    @model_validator(mode="after")
    def _nonempty_name(self) -> Universe:
        if not self.name.strip():
            raise ValueError("a universe needs a name")
        return self

    @property
    def symbols(self) -> list[str]:
        return [m.symbol for m in self.members]
