"""Static validation of agent-written modules: the AST allow-list refuses escapes, accepts clean code."""

from __future__ import annotations

from pathlib import Path

import pytest

from auraquant.cta.tools.codeguard import (
    MAX_BYTES,
    WriteRefused,
    check_source,
    module_path,
    write_module,
)

CLEAN = '''"""Sign of the close-over-close change, a clean state-style baseline."""
import math

import numpy as np
import pandas as pd
from numpy.lib.stride_tricks import sliding_window_view

from auraquant.cta.strategy.indicators import ema
from auraquant.cta.strategy.protocols import Param


class Mom:
    name = "mom"
    params = {"lookback": Param(24, "int", 1, 10_000, "bars")}

    def candidates(self, bars, params):
        n = int(params["lookback"])
        c = pd.Series(bars.close)
        ch = c.diff(n).to_numpy()
        _ = ema(bars.close, n), math.sqrt(4), sliding_window_view(bars.close, 2)
        out = np.zeros(len(bars), dtype=np.int8)
        out[np.nan_to_num(ch) > 0] = 1
        return out


MODULE = Mom()
'''


def rules(src: str, name: str = "mom", kind: str = "baselines") -> list[str]:
    return [v.rule for v in check_source(src, kind, name).violations]


def test_clean_module_passes() -> None:
    report = check_source(CLEAN, "baselines", "mom")
    assert report.ok, report.violations
    assert report.lines > 10 and report.bytes == len(CLEAN.encode())


@pytest.mark.parametrize(("snippet", "rule"), [
    ("import os", "import"),
    ("import subprocess as sp", "import"),
    ("from os import path", "import"),
    ("import numpy.ctypeslib", "import"),
    ("from . import x", "import"),
    ("from numpy import *", "import"),
    ("from numba import objmode", "import"),
    # the predictor registry stays out of reach: a module could register a look-ahead "model"
    ("from auraquant.cta.strategy.learned import register", "import"),
    ("from auraquant.cta.strategy import learned", "import"),
    ("import auraquant.cta.strategy.learned", "import"),
    ("import auraquant.cta.strategy.learned_baseline as lb\nx = lb.np.load('f.npy')", "attribute"),
    ("x = open('/etc/passwd').read()", "builtin"),
    ("__import__('os')", "dunder"),
    ("eval('1+1')", "builtin"),
    ("exec('x=1')", "builtin"),
    ("compile('1', 'f', 'eval')", "builtin"),
    ("x = getattr(1, 'real')", "builtin"),
    ("x = globals()", "builtin"),
    ("x = vars()", "builtin"),
    ("x = ().__class__.__mro__", "dunder"),
    ("x = (1).__class__", "dunder"),
    ("x = __builtins__", "dunder"),
    ("x = '{0.__class__}'.format(1)", "dunder"),
    ("g = (i for i in [1])\nx = g.gi_frame", "attribute"),
    ("import numpy as np\nx = np.load('f.npy')", "attribute"),
    ("import numpy as np\nx = np.fromfile('f')", "attribute"),
    ("import numpy as np\nx = np.random.rand(3)", "attribute"),
    ("import pandas as pd\nx = pd.read_csv('f.csv')", "attribute"),
    ("import pandas as pd\npd.DataFrame().to_csv('f.csv')", "attribute"),
    ("import pandas as pd\npd.eval('1+1')", "attribute"),
    ("import pandas as pd\npd.set_option('x', 1)", "attribute"),
    ("import numpy as np\nx = np.rec", "attribute"),
    ("import pandas_ta as ta\nta.create_dir('/tmp/x')", "attribute"),
    ("from pandas_ta import import_dir", "import"),
    ("import pandas as pd\npd.options.display.max_rows = 1", "attribute"),
    ("import numpy as np\nx = np.lib.format.open_memmap('f')", "attribute"),
    ("import numpy as np\nx = np._core", "private"),
    ("def f():\n    global y\n    y = 1", "construct"),
    ("async def f():\n    pass", "construct"),
    ("x = print", "builtin"),
    ("x = (", "syntax"),
])
def test_refusals(snippet: str, rule: str) -> None:
    assert rule in rules(snippet)


def test_learned_baseline_subclass_passes() -> None:
    src = ("from auraquant.cta.strategy.learned_baseline import LearnedBaseline\n\n\n"
           "class MyModel(LearnedBaseline):\n    name = \"my_model\"\n\n\nMODULE = MyModel()\n")
    report = check_source(src, "baselines", "my_model")
    assert report.ok, report.violations


def test_violation_lines_and_all_reported() -> None:
    report = check_source("import os\nx = 1\neval('2')\n", "baselines", "mom")
    assert not report.ok
    assert [(v.line, v.rule) for v in report.violations] == [(1, "import"), (3, "builtin")]


def test_size_limit() -> None:
    big = "x = 1\n" + "# pad\n" * (MAX_BYTES // 6 + 10)
    assert "size" in rules(big)


@pytest.mark.parametrize("name", ["../evil", "a/b", "Evil", "x.y", "", "_hidden", "class", "a" * 60])
def test_bad_names_refused(name: str, tmp_path: Path) -> None:
    assert "name" in rules(CLEAN, name=name)
    with pytest.raises(WriteRefused):
        module_path(tmp_path, "baselines", name)


def test_bad_kind_refused(tmp_path: Path) -> None:
    assert "kind" in rules(CLEAN, kind="../baselines")
    with pytest.raises(WriteRefused):
        module_path(tmp_path, "../x", "mom")


def test_write_confined_and_symlink_refused(tmp_path: Path) -> None:
    runtime = tmp_path / "cta_runtime"
    path = write_module(runtime, "baselines", "mom", CLEAN)
    assert path == (runtime / "baselines" / "mom.py").resolve() and path.read_text() == CLEAN
    assert [p.name for p in path.parent.iterdir()] == ["mom.py"]  # no temp file left behind
    outside = tmp_path / "outside"
    outside.mkdir()
    (runtime / "filters").symlink_to(outside)
    with pytest.raises(WriteRefused):
        write_module(runtime, "filters", "mom", CLEAN)
    (runtime / "baselines" / "link.py").symlink_to(outside / "target.py")
    with pytest.raises(WriteRefused):
        write_module(runtime, "baselines", "link", CLEAN)
    assert not (outside / "target.py").exists()
