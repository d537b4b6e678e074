"""Module discovery: built-ins from the `cta_runtime` package, plus an optional extra directory.

A module file `<root>/<kind>/<name>.py` (kind in baselines, filters, executions, risks) defines a
module-level `MODULE` object implementing the kind's Protocol with `MODULE.name == <name>`.
The extra directory (a workspace's `cta_runtime/`) is for agent-written modules; validating their
code (AST allow-list) is the tool surface's job and happens before they reach this loader. Agent-written
code never runs in the research process: `load_module` executes a non-built-in file only inside the
sandbox worker (`auraquant.cta.sandbox`, which calls `allow_untrusted_in_process`) or when a caller passes
`in_process=True` explicitly (tests of the loader itself); otherwise it raises `UntrustedModule`. An unmodified
copy of a built-in in the extra directory (older workspaces had them) resolves to the built-in; a *modified*
file under a built-in's name is refused rather than silently shadowing it.
"""

from __future__ import annotations

import hashlib
import importlib.util
import sys
from pathlib import Path
from typing import Any

from auraquant.cta.strategy.protocols import KIND_PROTOCOL

KINDS = tuple(KIND_PROTOCOL)
# The shipped `cta_runtime` package sits beside `auraquant` (site-packages, or the checkout when editable).
# It is found by location, not by import: a workspace's own `cta_runtime/` folder is a namespace package
# that would shadow it whenever the workspace directory is on sys.path (`python -m auraquant` run there).
_BUILTIN_ROOT = Path(importlib.util.find_spec("auraquant").origin).resolve().parents[1] / "cta_runtime"  # type: ignore[arg-type, union-attr]
_cache: dict[tuple[str, str, str], Any] = {}
_untrusted_ok = False


class UntrustedModule(PermissionError):
    """A non-built-in module was about to be executed in the research process."""


def allow_untrusted_in_process() -> None:
    """Let `load_module` execute non-built-in files in this process. Only the sandbox worker calls it."""
    global _untrusted_ok
    _untrusted_ok = True


def is_builtin(kind: str, name: str) -> bool:
    """Whether `kind/name` is a shipped built-in module (trusted, runs in-process)."""
    return (_BUILTIN_ROOT / kind / f"{name}.py").is_file()


def check_module_object(kind: str, name: str, obj: Any, origin: str) -> Any:
    """`obj` if it is a `kind` module named `name` (a MODULE object implementing the Protocol), else raise."""
    if obj is None:
        raise ImportError(f"{origin} defines no MODULE object")
    if not isinstance(obj, KIND_PROTOCOL[kind]):
        raise TypeError(f"{origin}: MODULE does not implement the {KIND_PROTOCOL[kind].__name__} protocol")
    if obj.name != name:
        raise ValueError(f"{origin}: MODULE.name {obj.name!r} != file name {name!r}")
    return obj


def _load_file(kind: str, name: str, path: Path, module_name: str | None = None) -> Any:
    """Execute a module file once per content digest and return its checked `MODULE`. Built-ins keep their
    canonical dotted name (registered in sys.modules so `inspect` finds their source)."""
    digest = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
    key = (kind, name, f"{path}:{digest}")
    if key not in _cache:
        mod_name = module_name or f"_aq_ws_{kind}_{name}_{digest}"
        spec = importlib.util.spec_from_file_location(mod_name, path)
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot load {path}")
        mod = importlib.util.module_from_spec(spec)
        if module_name is not None:
            sys.modules[module_name] = mod
        spec.loader.exec_module(mod)
        _cache[key] = check_module_object(kind, name, getattr(mod, "MODULE", None), module_name or str(path))
    return _cache[key]


def load_module(kind: str, name: str, extra_dir: Path | str | None = None, *, in_process: bool = False) -> Any:
    """The module object `kind/name`: a built-in, or `<extra_dir>/<kind>/<name>.py` (never both).

    A non-built-in file is executed only in the sandbox worker or with `in_process=True`; elsewhere this
    raises `UntrustedModule` (run it through `auraquant.cta.sandbox` instead)."""
    if kind not in KINDS:
        raise ValueError(f"unknown module kind {kind!r}; expected one of {KINDS}")
    builtin = _BUILTIN_ROOT / kind / f"{name}.py"
    extra = Path(extra_dir) / kind / f"{name}.py" if extra_dir is not None else None
    if (extra is not None and extra.is_file() and builtin.is_file() and extra.resolve() != builtin.resolve()
            and extra.read_bytes() != builtin.read_bytes()):
        raise ValueError(f"module {kind}/{name} exists both as a built-in and, modified, in {extra_dir}; "
                         "give the modified module a new name")
    if builtin.is_file():
        return _load_file(kind, name, builtin, f"cta_runtime.{kind}.{name}")
    if extra is not None and extra.is_file():
        if not (_untrusted_ok or in_process):
            raise UntrustedModule(f"{kind}/{name} is not a built-in module; agent-written modules run only in "
                                  "the sandbox worker (auraquant.cta.sandbox), never in the research process")
        return _load_file(kind, name, extra)
    raise LookupError(f"no module {kind}/{name} (built-ins: {list_modules(kind)})")


def list_modules(kind: str, extra_dir: Path | str | None = None) -> list[str]:
    """Sorted names of the modules of `kind` available built-in and (if given) in `extra_dir`."""
    roots = [_BUILTIN_ROOT / kind] + ([Path(extra_dir) / kind] if extra_dir is not None else [])
    names = {p.stem for r in roots if r.is_dir() for p in r.glob("*.py") if not p.stem.startswith("_")}
    return sorted(names)
