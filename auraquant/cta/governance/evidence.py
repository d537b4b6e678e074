"""What a record presents, pinned by its signature: sha256 of every artifact file and store row it shows.

An archive record's signed body carries `artifacts`: `{reference: sha256}`. A reference is one of
- a file path relative to the workspace root (absolute when outside it), hashed over its bytes;
- `store:<kind>/<id>`, a typed object row of the store, hashed over its canonical JSON body;
- `data:<data version id>`, the bars of a data version, whose value is the data content hash (the catalog
  row must carry it and the stored bars must hash to it, `content_hash.bars_content_hash`).
`collect` computes the map when a record is made; `problems` recomputes it before anything shown from the
record is trusted (archive list/show/verify, export, approve, report, patterns). Any difference means a file
or row was edited, replaced or deleted after signing.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from pathlib import Path

from auraquant.canonical import canonical_json
from auraquant.cta.data.access import stored_content_hash
from auraquant.store import NotFound, Store

STORE_PREFIX = "store:"
DATA_PREFIX = "data:"


def file_ref(root: Path, path: Path) -> str:
    """How `path` is named in a record: relative to the workspace root when inside it."""
    p = Path(path).resolve()
    try:
        return p.relative_to(Path(root).resolve()).as_posix()
    except ValueError:
        return str(p)


def _file_path(root: Path, ref: str) -> Path:
    p = Path(ref)
    return p if p.is_absolute() else Path(root) / p


def _object_digest(store: Store, ref: str) -> str | None:
    kind, _, oid = ref[len(STORE_PREFIX):].partition("/")
    with store.connect() as con:
        row = con.execute("SELECT body FROM objects WHERE kind = ? AND id = ?", [kind, oid]).fetchone()
    return None if row is None else hashlib.sha256(canonical_json(json.loads(row[0]))).hexdigest()


def _data_digest(store: Store, dv_id: str) -> str | None:
    try:
        dv = store.get_data_version(dv_id)
        actual = stored_content_hash(store, dv_id)  # the hash only: no sealed bar is served
    except (NotFound, OSError, ValueError):
        return None
    return actual if actual == dv.content_hash else f"catalog {dv.content_hash[:12]} != bars {actual[:12]}"


def digest(root: Path, store: Store, ref: str, cache: dict[str, str | None] | None = None) -> str | None:
    """The current sha256 behind `ref` (None when it no longer exists). `cache` memoizes within one
    verification pass (many records citing the same run or data), never across passes."""
    if cache is not None:
        if ref not in cache:
            cache[ref] = digest(root, store, ref)
        return cache[ref]
    if ref.startswith(STORE_PREFIX):
        return _object_digest(store, ref)
    if ref.startswith(DATA_PREFIX):
        return _data_digest(store, ref[len(DATA_PREFIX):])
    path = _file_path(root, ref)
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except (FileNotFoundError, IsADirectoryError):
        return None


def collect(root: Path, store: Store, files: Iterable[Path], objects: Iterable[tuple[str, str]] = (),
            data_version_id: str | None = None) -> dict[str, str]:
    """The `artifacts` map of a new record: existing `files`, store `objects` (kind, id) and the data."""
    out: dict[str, str] = {}
    for f in files:
        if Path(f).is_file():
            ref = file_ref(root, f)
            out[ref] = digest(root, store, ref) or ""
    for kind, oid in objects:
        ref = f"{STORE_PREFIX}{kind}/{oid}"
        value = digest(root, store, ref)
        if value is not None:
            out[ref] = value
    if data_version_id is not None:
        ref = f"{DATA_PREFIX}{data_version_id}"
        value = digest(root, store, ref)
        if value is None or len(value) != 64:
            raise ValueError(f"data version {data_version_id} is missing or its bars do not match its hash")
        out[ref] = value
    return dict(sorted(out.items()))


def problems(root: Path, store: Store, artifacts: Mapping[str, str],
             cache: dict[str, str | None] | None = None) -> list[str]:
    """Every artifact whose current content differs from the signed sha256 (empty: all intact)."""
    out = []
    for ref, expected in sorted(artifacts.items()):
        actual = digest(root, store, ref, cache)
        if actual is None:
            out.append(f"artifact {ref} is missing")
        elif actual != expected:
            out.append(f"artifact {ref} was altered after signing (sha256 {actual[:12]}, signed {expected[:12]})")
    return out


def covers(root: Path, artifacts: Mapping[str, str], files: Iterable[Path]) -> list[str]:
    """The files among `files` that the signed map does not cover (a reader must not show those)."""
    signed = set(artifacts)
    return [str(f) for f in files if file_ref(root, f) not in signed]
