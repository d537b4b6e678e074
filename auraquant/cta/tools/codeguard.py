"""Static validation of agent-written strategy modules (AST allow-list) and their confined write path.

An agent-written module is accepted only if every rule below holds; `check_source` reports every
violation it finds (line, rule, message) rather than stopping at the first, so the agent can fix them all
in one round.

- **Name**: `kind` is one of the four module kinds; `name` matches `^[a-z][a-z0-9_]{0,47}$` (no path
  separators, dots or traversal), is not a Python keyword, and becomes `<runtime>/<kind>/<name>.py`.
- **Size**: at most `MAX_BYTES` bytes, `MAX_LINES` lines and `MAX_NODES` AST nodes.
- **Imports**: absolute only, no `*`, and only from `ALLOWED_MODULES` (numpy, pandas, pandas_ta, math,
  typing, the AuraQuant strategy SDK, `numba.njit`, and `from __future__ import annotations`).
- **Names**: no dunder name (`__import__`, `__builtins__`, ...); builtins limited to `ALLOWED_BUILTINS`
  (so `open`, `eval`, `exec`, `compile`, `getattr`, `globals`, `vars`, `input`, `print` ... are refused
  whether called or merely referenced); `global` / `nonlocal` and `async` constructs are refused.
- **Attributes**: no attribute starting with `_` except on `self`, and never a dunder; no frame/code
  introspection attributes (`gi_frame`, `f_globals`, `tb_frame`, ...); no I/O, global-state or dynamic
  evaluation entry points of the allowed libraries (`read_*`, `to_csv`-like `to_*`, `load`, `save`,
  `fromfile`, `memmap`, `eval`, `query`, `set_option`, `random` ...). Attribute chains on imported
  modules are also resolved against the real libraries: reaching any module outside the allow-list
  (e.g. `pandas.io`, `numpy.lib.npyio`) is refused.
- **Strings**: no string constant containing `__` (defeats `"{0.__class__}".format(x)`-style tricks).
- **Hindsight**: no hard-coded dates, epoch times, literal tables or price tables (`hindsight.scan`).

Static rules cannot prove termination; the tool layer runs modules under a timeout. Behavioural checks
(the Protocol, `MODULE.name`, the look-ahead check) happen after this pass, in `strategy` tools.
"""

from __future__ import annotations

import ast
import importlib
import keyword
import os
import re
import tempfile
import types
from pathlib import Path

from pydantic import BaseModel

from auraquant.cta.tools import hindsight

KINDS = ("baselines", "filters", "executions", "risks")
MAX_BYTES = 32_000
MAX_LINES = 600
MAX_NODES = 6_000
NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,47}$")

#: Importable modules. For `numba`, only the names in `_FROM_ONLY` may be imported.
ALLOWED_MODULES = frozenset({
    "numpy", "numpy.linalg", "numpy.lib.stride_tricks",
    "pandas", "pandas_ta", "math", "typing", "__future__", "numba",
    "auraquant.cta.strategy.protocols", "auraquant.cta.strategy.indicators", "auraquant.cta.strategy.bars",
})
_FROM_ONLY = {"numba": frozenset({"njit"}), "__future__": frozenset({"annotations"})}
#: Modules an attribute chain may pass through (submodules reached as attributes, e.g. `np.linalg`).
_TRAVERSABLE_MODULES = ALLOWED_MODULES | {"numpy.emath", "numpy.ma", "numpy.polynomial", "numpy.exceptions",
                                          "pandas.offsets", "pandas.errors", "pandas.arrays",
                                          "pandas_ta.overlap", "pandas_ta.momentum", "pandas_ta.trend",
                                          "pandas_ta.volatility", "pandas_ta.volume", "pandas_ta.statistics",
                                          "pandas_ta.cycle", "pandas_ta.candle"}

ALLOWED_BUILTINS = frozenset({
    "abs", "all", "any", "bool", "dict", "divmod", "enumerate", "filter", "float", "frozenset", "int",
    "isinstance", "issubclass", "iter", "len", "list", "map", "max", "min", "next", "pow", "range",
    "reversed", "round", "set", "slice", "sorted", "str", "sum", "tuple", "zip", "object", "property",
    "staticmethod", "classmethod", "super", "True", "False", "None", "NotImplemented", "Ellipsis",
    "ArithmeticError", "Exception", "IndexError", "KeyError", "NotImplementedError", "RuntimeError",
    "TypeError", "ValueError", "ZeroDivisionError", "FloatingPointError", "OverflowError",
})

#: Attribute names refused everywhere: I/O, dynamic evaluation, global state, introspection, randomness.
_DENIED_ATTRS = frozenset({
    "load", "loads", "save", "savez", "savez_compressed", "savetxt", "loadtxt", "genfromtxt", "fromfile",
    "tofile", "memmap", "open_memmap", "fromregex", "DataSource", "ctypeslib", "f2py", "distutils",
    "testing", "compat", "core", "lib", "io", "api", "util", "utils", "plotting", "plot", "savefig",
    "eval", "query", "exec", "compile", "system", "popen", "spawn", "fork",
    "set_option", "reset_option", "option_context", "seterr", "seterrcall", "set_printoptions",
    "setbufsize", "show_config", "info", "random", "strategy", "Strategy", "import_dir", "ExcelWriter",
    "HDFStore", "ExcelFile", "dump", "create_dir", "category_files", "Imports", "cores", "options",
    "set_eng_float_format", "show_versions", "show_runtime", "format", "format_map", "mro", "objmode", "cfunc", "jit_module",
    "os", "sys", "subprocess", "shutil", "builtins", "importlib", "socket", "pathlib", "pickle", "ctypes",
    "multiprocessing", "threading", "inspect", "gc", "types", "marshal", "runpy", "code",
})
_DENIED_ATTR_PREFIXES = ("read_", "gi_", "cr_", "ag_", "f_", "tb_", "co_", "func_")
#: `to_*` conversions that stay in memory; every other `to_*` (to_csv, to_pickle, ...) may write.
_ALLOWED_TO = frozenset({"to_numpy", "to_list", "to_frame", "to_dict", "to_records", "to_datetime",
                         "to_timedelta", "to_numeric", "to_period", "to_timestamp", "to_series",
                         "to_flat_index", "to_offset", "to_pydatetime"})


class Violation(BaseModel):
    """One broken rule: where (1-based line, 0 when not tied to a line), which rule, and why."""

    line: int
    rule: str
    message: str


class GuardReport(BaseModel):
    """Outcome of the static pass over one module's source."""

    kind: str
    name: str
    ok: bool
    bytes: int
    lines: int
    violations: list[Violation]


class WriteRefused(ValueError):
    """A module path would escape `<runtime>/<kind>/`, or the name/kind is invalid."""


def check_name(kind: str, name: str) -> list[Violation]:
    """Violations of the kind/name rules (empty when the pair is valid)."""
    out: list[Violation] = []
    if kind not in KINDS:
        out.append(Violation(line=0, rule="kind", message=f"unknown module kind {kind!r}; use one of {KINDS}"))
    if not NAME_RE.match(name) or keyword.iskeyword(name):
        out.append(Violation(line=0, rule="name", message=(
            f"module name {name!r} must match {NAME_RE.pattern} (lowercase identifier, no paths or dots)")))
    return out


def module_path(runtime_dir: Path, kind: str, name: str) -> Path:
    """The only place `kind/name` may be written: `<runtime_dir>/<kind>/<name>.py`, after checking that the
    resolved path stays inside `<runtime_dir>/<kind>/` (symlinked directories or files cannot redirect it)."""
    bad = check_name(kind, name)
    if bad:
        raise WriteRefused("; ".join(v.message for v in bad))
    base = (runtime_dir / kind).resolve()
    path = base / f"{name}.py"
    if path.is_symlink() or not path.resolve().is_relative_to(base) or not base.is_relative_to(
            runtime_dir.resolve()):
        raise WriteRefused(f"{kind}/{name}.py resolves outside {runtime_dir}/{kind}/; refusing to write")
    return path


def write_module(runtime_dir: Path, kind: str, name: str, source: str) -> Path:
    """Atomically write an already validated source to its confined path; returns the path."""
    path = module_path(runtime_dir, kind, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(source)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def check_source(source: str, kind: str, name: str) -> GuardReport:
    """Run every static rule over `source` (the future `<kind>/<name>.py`)."""
    size = len(source.encode("utf-8"))
    n_lines = source.count("\n") + 1
    violations = check_name(kind, name)
    if size > MAX_BYTES:
        violations.append(Violation(line=0, rule="size", message=f"{size} bytes > limit {MAX_BYTES}"))
    if n_lines > MAX_LINES:
        violations.append(Violation(line=0, rule="size", message=f"{n_lines} lines > limit {MAX_LINES}"))
    try:
        tree = ast.parse(source, filename=f"{kind}/{name}.py")
    except SyntaxError as exc:
        violations.append(Violation(line=exc.lineno or 0, rule="syntax", message=f"syntax error: {exc.msg}"))
        tree = None
    if tree is not None:
        violations.extend(_Visitor(tree).run())
        violations.extend(Violation(line=line, rule="hindsight", message=msg) for line, msg in hindsight.scan(tree))
    violations.sort(key=lambda v: (v.line, v.rule, v.message))
    return GuardReport(kind=kind, name=name, ok=not violations, bytes=size, lines=n_lines, violations=violations)


class _Visitor(ast.NodeVisitor):
    def __init__(self, tree: ast.Module) -> None:
        self.tree = tree
        self.out: list[Violation] = []
        self.aliases: dict[str, str] = {}  # local name -> module path or "module.attr" it was imported as
        self.bound: set[str] = set()

    def run(self) -> list[Violation]:
        nodes = list(ast.walk(self.tree))
        if len(nodes) > MAX_NODES:
            return [Violation(line=0, rule="size", message=f"{len(nodes)} AST nodes > limit {MAX_NODES}")]
        self.bound = _bound_names(nodes)
        self.visit(self.tree)
        return self.out

    def _bad(self, node: ast.AST, rule: str, message: str) -> None:
        self.out.append(Violation(line=getattr(node, "lineno", 0), rule=rule, message=message))

    # -- imports ---------------------------------------------------------------------------------
    def visit_Import(self, node: ast.Import) -> None:
        for a in node.names:
            if a.name not in ALLOWED_MODULES or a.name in _FROM_ONLY:
                self._bad(node, "import", f"import of {a.name!r} is not allowed; allowed: "
                                          f"{sorted(ALLOWED_MODULES - set(_FROM_ONLY))}")
                continue
            local = a.asname or a.name.split(".")[0]
            self.aliases[local] = a.name if a.asname else a.name.split(".")[0]

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        mod = node.module or ""
        if node.level:
            self._bad(node, "import", "relative imports are not allowed")
            return
        if mod not in ALLOWED_MODULES:
            self._bad(node, "import", f"import from {mod!r} is not allowed")
            return
        for a in node.names:
            if a.name == "*":
                self._bad(node, "import", "star imports are not allowed")
            elif mod in _FROM_ONLY and a.name not in _FROM_ONLY[mod]:
                self._bad(node, "import", f"from {mod} only {sorted(_FROM_ONLY[mod])} may be imported")
            elif self._denied_attr(a.name) or a.name.startswith("_"):
                self._bad(node, "import", f"{mod}.{a.name} is not allowed")
            elif not self._resolve_ok(node, f"{mod}.{a.name}"):
                pass
            else:
                self.aliases[a.asname or a.name] = f"{mod}.{a.name}"

    # -- names and attributes ----------------------------------------------------------------------
    def visit_Name(self, node: ast.Name) -> None:
        n = node.id
        if n.startswith("__"):
            self._bad(node, "dunder", f"name {n!r} is not allowed (no dunder names)")
        elif isinstance(node.ctx, ast.Load) and n not in self.bound and n not in ALLOWED_BUILTINS:
            self._bad(node, "builtin", f"name {n!r} is not allowed (not defined here and not an allowed builtin)")

    def visit_Attribute(self, node: ast.Attribute) -> None:
        a = node.attr
        if a.startswith("__"):
            self._bad(node, "dunder", f"attribute {a!r} is not allowed (no dunder access)")
        elif a.startswith("_") and not (isinstance(node.value, ast.Name) and node.value.id == "self"):
            self._bad(node, "private", f"private attribute {a!r} is only allowed on self")
        elif self._denied_attr(a):
            self._bad(node, "attribute", f"attribute {a!r} is not allowed (I/O, eval, global state or "
                                         "introspection)")
        else:
            chain = _chain(node)
            if chain and chain[0] in self.aliases:
                self._resolve_ok(node, ".".join([self.aliases[chain[0]], *chain[1:]]))
        self.generic_visit(node)

    @staticmethod
    def _denied_attr(a: str) -> bool:
        return (a in _DENIED_ATTRS or a.startswith(_DENIED_ATTR_PREFIXES)
                or (a.startswith("to_") and a not in _ALLOWED_TO))

    def _resolve_ok(self, node: ast.AST, dotted: str) -> bool:
        """Resolve `dotted` against the real libraries; refuse reaching a module off the allow-list."""
        obj = _resolve(dotted)
        if isinstance(obj, types.ModuleType) and obj.__name__ not in _TRAVERSABLE_MODULES:
            self._bad(node, "attribute", f"{dotted} reaches module {obj.__name__!r}, which is not allowed")
            return False
        return True

    # -- constructs --------------------------------------------------------------------------------
    def visit_Constant(self, node: ast.Constant) -> None:
        if isinstance(node.value, str | bytes) and ("__" in str(node.value)):
            self._bad(node, "dunder", "string constants may not contain '__'")

    def visit_Global(self, node: ast.Global) -> None:
        self._bad(node, "construct", "global statements are not allowed")

    def visit_Nonlocal(self, node: ast.Nonlocal) -> None:
        self._bad(node, "construct", "nonlocal statements are not allowed")

    def visit_AsyncFunctionDef(self, node: ast.AsyncFunctionDef) -> None:
        self._bad(node, "construct", "async code is not allowed")

    def visit_Await(self, node: ast.Await) -> None:
        self._bad(node, "construct", "async code is not allowed")


def _bound_names(nodes: list[ast.AST]) -> set[str]:
    """Every name the module binds anywhere (a deliberately coarse scope model: static names only)."""
    out: set[str] = set()
    for n in nodes:
        if isinstance(n, ast.Name) and not isinstance(n.ctx, ast.Load):
            out.add(n.id)
        elif isinstance(n, ast.FunctionDef | ast.ClassDef | ast.AsyncFunctionDef):
            out.add(n.name)
        elif isinstance(n, ast.arg):
            out.add(n.arg)
        elif isinstance(n, ast.alias) and n.name != "*":
            out.add(n.asname or n.name.split(".")[0])
        elif isinstance(n, ast.ExceptHandler) and n.name:
            out.add(n.name)
        elif isinstance(n, ast.MatchAs | ast.MatchStar) and n.name:
            out.add(n.name)
    return out


def _chain(node: ast.Attribute) -> list[str]:
    parts: list[str] = []
    cur: ast.AST = node
    while isinstance(cur, ast.Attribute):
        parts.append(cur.attr)
        cur = cur.value
    if not isinstance(cur, ast.Name):
        return []
    parts.append(cur.id)
    return parts[::-1]


def _resolve(dotted: str) -> object | None:
    """The object `dotted` names in the allowed libraries (None when it does not resolve)."""
    parts = dotted.split(".")
    for i in range(len(parts), 0, -1):
        head = ".".join(parts[:i])
        if head not in ALLOWED_MODULES:
            continue
        try:
            obj: object = importlib.import_module(head)
        except ImportError:
            return None
        for p in parts[i:]:
            try:
                obj = getattr(obj, p)
            except AttributeError:
                return None
        return obj
    return None
