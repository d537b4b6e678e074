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
- **Code reached implicitly**: decorators only `staticmethod`, `classmethod`, `property` (and its
  `.setter`/`.getter`/`.deleter`) and `numba.njit`; class statements take no keywords (no `metaclass=`)
  and their bases are plain names/attributes (`object` is allowed only there); annotations are type
  expressions only (names, attributes, subscripts, `|`, `None`; no strings, calls or lambdas, which
  `typing.get_type_hints` would evaluate); dunder methods only from `_DUNDER_METHODS` (no `__getattr__`,
  `__init_subclass__`, `__set_name__`, `__reduce__`, `__format__`...); `match` class patterns may not
  name private attributes.
- **Indirection**: an imported module may only be used as the base of an attribute chain (`x = np` or
  `f(np.linalg)` would hide later accesses from the chain resolver); from `typing` only `_TYPING_OK`;
  no `allow_pickle=` keyword; calls of pandas' name-dispatching methods (`agg`, `aggregate`, `apply`,
  `transform`, `pipe`, `applymap`) must pass a lambda, a function defined in the module or a
  library function (never a string naming a method, e.g. `df.agg("to_pickle", path)`), and the
  pandas_ta accessor `df.ta(kind=...)` (dispatch by name) is refused.

An AST allow-list is a first filter, not a wall: modules that pass it still run only inside the sandbox
worker (`auraquant.cta.sandbox`), which also bounds time, memory and output. Behavioural checks
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
    "auraquant.cta.strategy.learned_baseline",
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
    "reversed", "round", "set", "slice", "sorted", "str", "sum", "tuple", "zip", "property",
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
    "asyncio", "signal", "selectors", "mmap", "concurrent", "shelve", "dill", "cloudpickle",
    "codecs", "base64", "zlib", "tempfile", "glob", "urllib", "http", "ftplib", "webbrowser", "atexit", "resource",
    "cffi", "numpy_distutils", "environ", "getenv", "putenv", "dumps", "get_type_hints", "ForwardRef",
    "set_string_function", "targetctx", "typingctx", "library", "overloads", "get_overload", "inspect_llvm",
    "inspect_asm", "globals", "locals", "vars", "getattr", "setattr", "delattr", "modules", "import_module",
    "exec_module", "load_module", "find_spec",
})
#: Dunder methods a module class may define (called implicitly, but their code is visible to this pass).
_DUNDER_METHODS = frozenset({"__init__", "__call__", "__repr__", "__str__", "__len__", "__eq__", "__hash__",
                             "__lt__", "__le__", "__gt__", "__ge__", "__iter__", "__next__", "__getitem__",
                             "__contains__", "__bool__"})
#: Names usable from `typing` (no `get_type_hints`/`ForwardRef`, which evaluate strings).
_TYPING_OK = frozenset({"Any", "Callable", "ClassVar", "Final", "Literal", "Mapping", "MutableMapping", "Optional",
                        "Sequence", "Iterable", "Iterator", "Tuple", "List", "Dict", "Set", "FrozenSet", "Union",
                        "TYPE_CHECKING", "Protocol", "NamedTuple", "cast"})
#: Methods that resolve a *string* argument to a method by name (pandas' agg/apply family).
_DISPATCH_METHODS = frozenset({"agg", "aggregate", "apply", "transform", "pipe", "applymap"})
_PLAIN_DECORATORS = frozenset({"staticmethod", "classmethod", "property"})
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
        self.functions: set[str] = set()  # names bound only by `def` or `name = lambda ...`
        self.attr_bases: set[int] = set()  # ids of nodes that are the `.value` of an Attribute
        self.class_bases: set[int] = set()  # ids of Name nodes used as class bases

    def run(self) -> list[Violation]:
        nodes = list(ast.walk(self.tree))
        if len(nodes) > MAX_NODES:
            return [Violation(line=0, rule="size", message=f"{len(nodes)} AST nodes > limit {MAX_NODES}")]
        self.bound = _bound_names(nodes)
        self.functions = _function_names(nodes)
        self.attr_bases = {id(n.value) for n in nodes if isinstance(n, ast.Attribute)}
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
            elif mod == "typing" and a.name not in _TYPING_OK:
                self._bad(node, "import", f"typing.{a.name} is not allowed; allowed: {sorted(_TYPING_OK)}")
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
        elif n == "object" and id(node) in self.class_bases:
            pass
        elif isinstance(node.ctx, ast.Load) and n not in self.bound and n not in ALLOWED_BUILTINS:
            self._bad(node, "builtin", f"name {n!r} is not allowed (not defined here and not an allowed builtin)")
        elif (isinstance(node.ctx, ast.Load) and n in self.aliases and id(node) not in self.attr_bases
              and isinstance(_resolve(self.aliases[n]), types.ModuleType)):
            self._bad(node, "indirection", f"module {n!r} may only be used as `{n}.<attribute>` (not passed or "
                                           "assigned, which hides later accesses)")

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
                dotted = ".".join([self.aliases[chain[0]], *chain[1:]])
                if dotted.startswith("typing.") and dotted.split(".")[1] not in _TYPING_OK:
                    self._bad(node, "attribute", f"{dotted} is not allowed; from typing only {sorted(_TYPING_OK)}")
                elif (self._resolve_ok(node, dotted) and id(node) not in self.attr_bases
                      and isinstance(_resolve(dotted), types.ModuleType)):
                    self._bad(node, "indirection", f"module {dotted} may only be used as the base of an attribute "
                                                   "access")
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

    # -- code reached implicitly: decorators, classes, annotations, dispatch ---------------------------
    def _decorators(self, node: ast.FunctionDef | ast.ClassDef) -> None:
        for d in node.decorator_list:
            target = d.func if isinstance(d, ast.Call) else d
            ok = False
            if isinstance(target, ast.Name):
                ok = (target.id in _PLAIN_DECORATORS and not isinstance(d, ast.Call)) or (
                    self.aliases.get(target.id) == "numba.njit" and isinstance(node, ast.FunctionDef))
            elif isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name):
                ok = (target.attr in ("setter", "getter", "deleter") and not isinstance(d, ast.Call)) or (
                    self.aliases.get(target.value.id) == "numba" and target.attr == "njit")
            if ok and isinstance(d, ast.Call):
                ok = not d.args and all(k.arg is not None and isinstance(k.value, ast.Constant) for k in d.keywords)
            if not ok:
                self._bad(d, "decorator", "decorators are limited to staticmethod, classmethod, property(.setter) "
                                          "and numba.njit with constant options")

    def _annotation(self, ann: ast.expr | None) -> None:
        if ann is None:
            return
        for sub in ast.walk(ann):
            if not isinstance(sub, ast.Name | ast.Attribute | ast.Subscript | ast.Tuple | ast.List | ast.BinOp
                              | ast.BitOr | ast.Load | ast.Constant) or (
                    isinstance(sub, ast.Constant) and sub.value not in (None, Ellipsis)) or (
                    isinstance(sub, ast.BinOp) and not isinstance(sub.op, ast.BitOr)):
                self._bad(ann, "annotation", "annotations must be plain type expressions (names, attributes, "
                                             "subscripts, |, None): no strings, calls or other code")
                return

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        self._decorators(node)
        if node.name.startswith("__") and node.name not in _DUNDER_METHODS:
            self._bad(node, "dunder", f"method {node.name!r} is not allowed; dunder methods are limited to "
                                      f"{sorted(_DUNDER_METHODS)}")
        a = node.args
        for arg in (*a.posonlyargs, *a.args, *a.kwonlyargs, a.vararg, a.kwarg):
            if arg is not None:
                self._annotation(arg.annotation)
        self._annotation(node.returns)
        self.generic_visit(node)

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        self._decorators(node)
        if node.keywords:
            self._bad(node, "class", "class keywords (metaclass=..., **kwargs) are not allowed")
        for b in node.bases:
            if isinstance(b, ast.Name):
                self.class_bases.add(id(b))
            elif not isinstance(b, ast.Attribute | ast.Subscript):
                self._bad(b, "class", "class bases must be names or attributes")
        self.generic_visit(node)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        self._annotation(node.annotation)
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        for k in node.keywords:
            if k.arg == "allow_pickle":
                self._bad(node, "attribute", "allow_pickle is not allowed (unpickling runs code)")
        f = node.func
        if isinstance(f, ast.Attribute) and f.attr == "ta":
            self._bad(node, "dispatch", "calling the pandas_ta accessor (df.ta(kind=...)) dispatches by name; "
                                        "call df.ta.<indicator>(...) instead")
        elif isinstance(f, ast.Attribute) and f.attr in _DISPATCH_METHODS:
            funcs = [*node.args[:1], *(k.value for k in node.keywords if k.arg in ("func", "arg"))]
            for fn in funcs:
                if not self._callable_ref(fn):
                    self._bad(node, "dispatch", f".{f.attr}() must be given a lambda, a function defined in this "
                                                "module or a library function, never a name to look up")
        self.generic_visit(node)

    def _callable_ref(self, fn: ast.expr) -> bool:
        if isinstance(fn, ast.Lambda):
            return True
        if isinstance(fn, ast.Name):
            return fn.id in self.functions or (fn.id in self.aliases and callable(_resolve(self.aliases[fn.id])))
        chain = _chain(fn) if isinstance(fn, ast.Attribute) else []
        if chain and chain[0] in self.aliases:
            obj = _resolve(".".join([self.aliases[chain[0]], *chain[1:]]))
            return callable(obj) and not isinstance(obj, str | type(None))
        return False

    def visit_MatchClass(self, node: ast.MatchClass) -> None:
        for a in node.kwd_attrs:
            if a.startswith("_") or self._denied_attr(a):
                self._bad(node, "dunder" if a.startswith("__") else "private",
                          f"match pattern attribute {a!r} is not allowed")
        self.generic_visit(node)

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


def _function_names(nodes: list[ast.AST]) -> set[str]:
    """Names bound only by `def` or by assigning a lambda (safe to hand to a dispatching method)."""
    defs: set[str] = set()
    other: set[str] = set()
    for n in nodes:
        if isinstance(n, ast.FunctionDef):
            defs.add(n.name)
        elif isinstance(n, ast.Assign) and isinstance(n.value, ast.Lambda):
            defs.update(t.id for t in n.targets if isinstance(t, ast.Name))
        elif isinstance(n, ast.Assign | ast.AugAssign | ast.AnnAssign | ast.For | ast.With | ast.NamedExpr):
            for t in ast.walk(n.target if not isinstance(n, ast.Assign | ast.With) else n):
                if isinstance(t, ast.Name) and isinstance(t.ctx, ast.Store) and not (
                        isinstance(n, ast.Assign) and isinstance(n.value, ast.Lambda)):
                    other.add(t.id)
        elif isinstance(n, ast.arg):
            other.add(n.arg)
    return defs - other


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
