"""Canonical JSON (RFC 8785) and the content-derived ids every persisted research object carries.

One owner for both: ids, signatures and replay all depend on the exact same bytes, so nothing else in
the code base serialises an object for hashing.
"""

from __future__ import annotations

import hashlib
from typing import Any

import rfc8785
from pydantic import BaseModel


def canonical_json(obj: Any) -> bytes:
    """RFC 8785 bytes of a JSON-able value or a pydantic model (dumped in JSON mode)."""
    if isinstance(obj, BaseModel):
        obj = obj.model_dump(mode="json")
    return rfc8785.dumps(obj)


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def content_id(prefix: str, obj: Any, length: int = 20) -> str:
    """`<prefix>_<first length hex chars of sha256(canonical_json(obj))>`: stable across runs and machines."""
    return f"{prefix}_{sha256_hex(canonical_json(obj))[:length]}"


class ContentModel(BaseModel):
    """A frozen pydantic model whose `id` is the hash of its canonical JSON (all fields but `id`).

    Subclasses set `_id_prefix` and may exclude volatile fields (timestamps, notes) from the identity
    by listing them in `_id_exclude`.
    """

    model_config = {"frozen": True, "extra": "forbid"}

    _id_prefix: str = "obj"
    _id_exclude: frozenset[str] = frozenset()

    @property
    def id(self) -> str:
        body = self.model_dump(mode="json", exclude=set(self._id_exclude) | {"id"})
        return content_id(self._id_prefix, body)
