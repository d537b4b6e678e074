"""`lazy_module`: bind a module name now, execute the module on first attribute access.

Why: the CLI must start fast (`auraquant --help`, `data list`), but modules such as the store and the data
CLI use pandas in most functions and other helpers keep adding such functions. A lazily executed module keeps
the ordinary `pd.read_parquet(...)` spelling everywhere while a command that never touches a DataFrame never
pays for importing pandas. Semantics are those of `importlib.util.LazyLoader`: the first attribute access
runs the module's code in full (thread-safe), after which the object is the ordinary module.
"""

from __future__ import annotations

import importlib.util
import sys
from types import ModuleType


def lazy_module(name: str) -> ModuleType:
    """The module `name`: the already imported one if any, else a lazy one registered in `sys.modules` (so a
    later plain `import name` anywhere shares it). Parent packages are imported eagerly; a missing module
    raises `ModuleNotFoundError` now, not at first use."""
    module = sys.modules.get(name)
    if module is not None:
        return module
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None:
        raise ModuleNotFoundError(f"no module named {name!r}", name=name)
    loader = importlib.util.LazyLoader(spec.loader)
    spec.loader = loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    loader.exec_module(module)
    return module
