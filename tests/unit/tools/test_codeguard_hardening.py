"""The static guard refuses code reachable through implicit execution, reflection, indirection and library
escape hatches, naming the rule; clean idioms modules need keep passing."""

from __future__ import annotations

import pytest

from auraquant.cta.tools.codeguard import check_source

HEAD = "import numpy as np\nimport pandas as pd\nimport typing\nfrom numba import njit\n"


def rules(snippet: str) -> list[str]:
    return [v.rule for v in check_source(HEAD + snippet, "baselines", "mom").violations]


@pytest.mark.parametrize(("snippet", "rule"), [
    # annotations: forward-reference strings and code are evaluated by typing.get_type_hints / at def time
    ("def f(x: 'os.system') -> None:\n    pass", "annotation"),
    ("def f(x: np.asarray([1])) -> None:\n    pass", "annotation"),
    ("y: (lambda: 1) = 2", "annotation"),
    ("def f() -> 'int':\n    pass", "annotation"),
    # decorators run at load time on the decorated object
    ("@np.vectorize\ndef f(x):\n    return x", "decorator"),
    ("def deco(f):\n    return f\n@deco\ndef g():\n    pass", "decorator"),
    ("@property()\ndef g():\n    pass", "decorator"),
    ("@njit(cache=np.zeros(1))\ndef g():\n    pass", "decorator"),
    # metaclasses and class keywords
    ("class Meta:\n    pass\nclass A(metaclass=Meta):\n    pass", "class"),
    ("class A(**{}):\n    pass", "class"),
    ("def make():\n    return int\nclass A(make()):\n    pass", "class"),
    ("class A:\n    def __init_subclass__(cls):\n        pass", "dunder"),
    ("class A:\n    def __reduce__(self):\n        pass", "dunder"),
    ("class A:\n    def __getattr__(self, n):\n        pass", "dunder"),
    ("class A:\n    def __set_name__(self, o, n):\n        pass", "dunder"),
    # format-string attribute walks
    ("x = '{0.__class__}'.format(1)", "dunder"),
    ("s = '{0.' + '_' + '_class_' + '_}'\nx = s.format(1)", "attribute"),
    ("x = str.format('{0.real}', 1)", "attribute"),
    ("x = f'{(1).__class__!r}'", "dunder"),
    ("x = '{a}'.format_map({})", "attribute"),
    # reflection builtins
    ("x = getattr(np, 'load')", "builtin"),
    ("x = vars(np)", "builtin"),
    ("x = globals()", "builtin"),
    ("x = locals()", "builtin"),
    ("x = dir(np)", "builtin"),
    ("x = type('A', (), {})", "builtin"),
    ("x = object", "builtin"),
    ("x = setattr", "builtin"),
    ("x = breakpoint", "builtin"),
    # imports of dangerous modules
    ("import importlib", "import"),
    ("import sys\nx = sys.modules", "import"),
    ("import builtins", "import"),
    ("import pickle", "import"),
    ("import marshal", "import"),
    ("import ctypes", "import"),
    ("import shelve", "import"),
    ("import dill", "import"),
    ("import codecs", "import"),
    ("import base64", "import"),
    ("import threading", "import"),
    ("import asyncio", "import"),
    ("import signal", "import"),
    ("import os", "import"),
    ("import subprocess", "import"),
    ("import socket", "import"),
    ("from typing import get_type_hints", "import"),
    ("from typing import ForwardRef", "import"),
    ("x = typing.get_type_hints", "attribute"),
    ("x = typing.TypeVar", "attribute"),
    # numpy / pandas escape hatches
    ("x = np.load('f.npy')", "attribute"),
    ("np.save('f.npy', np.zeros(1))", "attribute"),
    ("x = np.fromfile('f')", "attribute"),
    ("np.zeros(1).tofile('f')", "attribute"),
    ("x = np.memmap('f')", "attribute"),
    ("x = np.ctypeslib", "attribute"),
    ("x = np.zeros(1).ctypes", "attribute"),
    ("x = np.asarray([1], allow_pickle=True)", "attribute"),
    ("x = np.zeros(1).dumps()", "attribute"),
    ("x = pd.read_pickle('f')", "attribute"),
    ("pd.Series([1]).to_pickle('f')", "attribute"),
    ("x = pd.DataFrame({'a': [1]}).eval('a + 1')", "attribute"),
    ("x = pd.DataFrame({'a': [1]}).query('a > 0')", "attribute"),
    ("x = pd.eval('1 + 1')", "attribute"),
    ("x = np.lib.format", "attribute"),
    ("import numpy.distutils", "import"),
    ("x = np.f2py", "attribute"),
    ("x = pd.io", "attribute"),
    ("x = np.set_string_function", "attribute"),
    # indirection that would hide later accesses from the chain resolver
    ("m = np", "indirection"),
    ("def f(m):\n    return m\nx = f(pd)", "indirection"),
    ("m = np.linalg", "indirection"),
    # name dispatch: a string naming a method (e.g. to_pickle) resolved by pandas
    ("s = pd.Series([1.0])\nx = s.agg('sum')", "dispatch"),
    ("s = pd.Series([1.0])\nname = 'to_' + 'pickle'\ns.apply(name)", "dispatch"),
    ("df = pd.DataFrame({'a': [1]})\ndf.transform(func='cumsum')", "dispatch"),
    ("df = pd.DataFrame({'a': [1]})\ndf.ta(kind='ema')", "dispatch"),
    ("s = pd.Series([1.0])\ns.pipe((len, 'x'))", "dispatch"),
    # pattern matching reads attributes without an Attribute node
    ("match 1:\n    case int(_x=v):\n        pass", "private"),
])
def test_hardened_refusals(snippet: str, rule: str) -> None:
    got = rules(snippet)
    assert rule in got, got


@pytest.mark.parametrize("snippet", [
    "from typing import Any, Mapping\n\ndef f(x: Mapping[str, Any] | None = None) -> np.ndarray:\n    return np.zeros(1)",
    "@njit(cache=True)\ndef f(x):\n    return x",
    "@njit\ndef f(x):\n    return x",
    "class A(object):\n    def __init__(self):\n        self._x = 1\n\n    @property\n    def x(self):\n        return self._x",
    "s = pd.Series([1.0, 2.0])\nx = s.rolling(2).apply(lambda w: w[-1], raw=True)",
    "def last(w):\n    return w[-1]\ns = pd.Series([1.0])\nx = s.rolling(1).apply(last, raw=True)",
    "s = pd.Series([1.0])\nx = s.agg(np.mean)",
    "s = pd.Series([1])\nx = s.map({1: 2})",
    "x = np.select([np.ones(2, bool)], [np.ones(2)])",
    "x = np.linalg.norm(np.ones(2))",
    "x: int = 3",
])
def test_clean_idioms_still_pass(snippet: str) -> None:
    report = check_source(HEAD + snippet, "baselines", "mom")
    assert report.ok, report.violations
