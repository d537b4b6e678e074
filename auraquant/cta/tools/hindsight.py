"""Static hindsight check: hard-coded knowledge of the data in an agent-written module.

The dynamic look-ahead check (`auraquant.cta.backtest.lookahead`) cannot see a module that *knows* the
future because its author typed it in: a table of dates to be long on, the prices of past tops, the
epoch times of crashes. Such a module is causal by construction and passes every prefix comparison, so
this pass flags the literals that carry that knowledge. `scan(tree)` returns (line, message) pairs;
`codeguard.check_source` reports them under the rule `hindsight`.

Flagged (docstrings are ignored: they are never executed; the numbers inside `Param(...)` declarations
are ignored: defaults and bounds of parameters are how a module legitimately states numbers):
- **date or time strings**: any string constant holding a calendar date (`2021-11-10`, `2021/11/10`,
  `10.11.2021`, `20211110`, `Nov 10 2021`, ...): a module sees times through its bars, never by a literal;
- **epoch timestamps**: an integer or float literal in the range of seconds, milliseconds, microseconds
  or nanoseconds since 1970 between 2000 and 2100 that is not a round number (at most two significant
  digits, e.g. `1_000_000_000`, allowed as a bound);
- **literal tables**: a list, tuple, set or dict display with at least `TABLE_MIN` constant elements
  (numbers, strings, booleans), or a string holding at least `TABLE_MIN` numbers (a table to be split);
- **many price-like numbers**: at least `MANY_NUMBERS` distinct non-round numeric literals in the module
  (values with three or more significant digits, e.g. 43567.2 or 0.06541), which is how a price table
  spread over comparisons looks.
"""

from __future__ import annotations

import ast
import math
import re

TABLE_MIN = 8
MANY_NUMBERS = 6

_MONTHS = r"(jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*"
_DATE_RES = [
    re.compile(r"(?<!\d)(19[7-9]\d|20\d\d|2100)[-/.](0?[1-9]|1[0-2])([-/.](0?[1-9]|[12]\d|3[01]))?(?!\d)"),
    re.compile(r"(?<!\d)(0?[1-9]|[12]\d|3[01])[-/.](0?[1-9]|1[0-2])[-/.](19[7-9]\d|20\d\d)(?!\d)"),
    re.compile(r"(?<!\d)(19[7-9]\d|20\d\d)(0[1-9]|1[0-2])(0[1-9]|[12]\d|3[01])(?!\d)"),
    re.compile(rf"\b{_MONTHS}\.?\s+\d{{1,2}},?\s+(19[7-9]\d|20\d\d)\b", re.IGNORECASE),
    re.compile(rf"\b\d{{1,2}}\s+{_MONTHS}\.?,?\s+(19[7-9]\d|20\d\d)\b", re.IGNORECASE),
    re.compile(r"\d{1,2}:\d{2}(:\d{2})?\s*(utc|z|[+-]\d{2}:?\d{2})", re.IGNORECASE),
]
_NUMBER_RE = re.compile(r"[-+]?(\d+\.\d*|\.\d+|\d+)([eE][-+]?\d+)?")
# Seconds since 1970 of 2000-01-01 and 2100-01-01; x1e3 / 1e6 / 1e9 for ms, us, ns.
_EPOCH_S = (946_684_800, 4_102_444_800)


def _significant_digits(x: float) -> int:
    """Significant digits of a literal's value (15 at most): 1_000_000 -> 1, 0.05 -> 1, 43567.2 -> 6."""
    if x == 0 or not math.isfinite(x):
        return 1
    text = f"{abs(x):.15g}"
    mantissa = text.split("e")[0].replace(".", "").lstrip("0").rstrip("0")
    return max(len(mantissa), 1)


def is_round(x: float) -> bool:
    """At most two significant digits (0.5, 20, 250, 10_000, 1e-6): thresholds, not data."""
    return _significant_digits(x) <= 2


def looks_like_epoch(x: float) -> bool:
    """In the range of a timestamp between 2000 and 2100 in s, ms, us or ns, and not a round number."""
    ax = abs(x)
    return not is_round(x) and any(_EPOCH_S[0] * f <= ax <= _EPOCH_S[1] * f for f in (1, 1e3, 1e6, 1e9))


def has_date(text: str) -> bool:
    return any(r.search(text) for r in _DATE_RES)


def _docstring_ids(tree: ast.AST) -> set[int]:
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
                    and isinstance(body[0].value.value, str):
                out.add(id(body[0].value))
    return out


def _param_call_ids(tree: ast.AST) -> set[int]:
    """Constants inside `Param(...)` calls (parameter declarations)."""
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            f = node.func
            fname = f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else ""
            if fname == "Param":
                out.update(id(n) for n in ast.walk(node) if isinstance(n, ast.Constant))
    return out


def _number(node: ast.AST) -> float | None:
    """The value of a numeric literal, including a negated one (`-1.5`)."""
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        v = _number(node.operand)
        return None if v is None else (-v if isinstance(node.op, ast.USub) else v)
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float) and not isinstance(node.value, bool):
        return float(node.value)
    return None


def _is_constant(node: ast.AST) -> bool:
    return _number(node) is not None or (isinstance(node, ast.Constant) and isinstance(node.value, str | bool))


def scan(tree: ast.Module) -> list[tuple[int, str]]:
    """(line, message) for every hard-coded hindsight pattern in a parsed module (see the docstring)."""
    skip = _docstring_ids(tree)
    params = _param_call_ids(tree)
    out: list[tuple[int, str]] = []
    price_like: dict[float, int] = {}
    for node in ast.walk(tree):
        line = getattr(node, "lineno", 0)
        if isinstance(node, ast.List | ast.Tuple | ast.Set | ast.Dict):
            elts = (list(node.keys) + list(node.values)) if isinstance(node, ast.Dict) else list(node.elts)
            consts = sum(1 for e in elts if e is not None and _is_constant(e))
            if consts >= TABLE_MIN:
                out.append((line, f"a literal table of {consts} constants: hard-coded data (hindsight) is not "
                                  "allowed; derive values from the bars"))
        if not isinstance(node, ast.Constant) or id(node) in skip:
            continue
        if isinstance(node.value, str):
            if has_date(node.value):
                out.append((line, f"date/time literal {node.value[:40]!r}: modules see time only through "
                                  "their bars (hard-coded dates are hindsight)"))
            elif len(_NUMBER_RE.findall(node.value)) >= TABLE_MIN:
                out.append((line, "a string holding a table of numbers: hard-coded data (hindsight)"))
            continue
        if id(node) in params:
            continue
        v = _number(node)
        if v is None:
            continue
        if looks_like_epoch(v):
            out.append((line, f"{node.value!r} looks like an epoch timestamp: hard-coded times are hindsight"))
        elif not is_round(v) and _significant_digits(v) >= 3:
            price_like.setdefault(abs(v), line)
    if len(price_like) >= MANY_NUMBERS:
        first = min(price_like.values())
        sample = ", ".join(f"{v:g}" for v in sorted(price_like)[:4])
        out.append((first, f"{len(price_like)} distinct price-like numeric literals ({sample}, ...): a "
                           "hard-coded price table is hindsight; use parameters and the bars"))
    return sorted(set(out))
