"""`auraquant chat` without an API key, in a real pseudo-terminal 80 columns wide (what a new user sees).

The offline question, then a prompt for the goal (no default goal is ever started), one summary line per tool
call and no raw JSON until `/verbose`; answering "n" to the offline question exits 0 with one line.
"""

from __future__ import annotations

import os
import re
import sys
from io import StringIO
from pathlib import Path

import pexpect
import pytest

ROOT = Path(__file__).resolve().parents[3]
WIDTH = 80
ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[()][0-9A-Za-z]|\x1b[=>]")
#: a line that is one label and a path (`tearsheet: /…`) is printed whole on purpose: the terminal wraps it, so
#: it stays copyable; it is the only kind of line allowed past the width
PATH_LINE = re.compile(r"^[\w ()+,-]*: /\S+$")


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY") and k != "AURAQUANT_DEBUG"}
    env.update(PYTHONPATH=str(ROOT), COLUMNS=str(WIDTH), LINES="40", PROMPT_TOOLKIT_NO_CPR="1", TERM="xterm",
               HOME=str(home))
    return env


def _screen_lines(raw: str) -> list[str]:
    """The transcript as the lines a person reads: escape sequences removed, carriage returns (spinner
    redraws) treated as line breaks."""
    text = ANSI.sub("", raw)
    return [ln.rstrip() for ln in re.split(r"\r\n|\n|\r", text) if ln.strip()]


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    import subprocess

    ws = tmp_path / "ws"
    out = subprocess.run([sys.executable, "-m", "auraquant", "init", str(ws), "--json"], capture_output=True,
                         text=True, env=_env(tmp_path), timeout=300)
    assert out.returncode == 0, out.stderr
    return ws


def _spawn(workspace: Path, home: Path) -> tuple[pexpect.spawn, StringIO]:
    argv = [sys.executable, "-m", "auraquant", "chat", "-w", str(workspace), "--max-iters", "1", "--windows", "2",
            "--trials", "4"]
    child = pexpect.spawn(argv[0], argv[1:], env=_env(home), encoding="utf-8", timeout=120,
                          dimensions=(40, WIDTH))
    log = StringIO()
    child.logfile_read = log
    return child, log


@pytest.mark.slow
@pytest.mark.timeout(400)
@pytest.mark.filterwarnings("ignore:This process.*multi-threaded:DeprecationWarning")
def test_chat_without_key_asks_for_a_goal_and_shows_summaries_at_80_columns(workspace: Path,
                                                                             tmp_path: Path) -> None:
    child, log = _spawn(workspace, tmp_path)
    child.expect("No API key")
    child.expect(r"offline autopilot instead\? \[Y/n\]")
    child.sendline("y")
    child.expect("What should the research aim for")
    child.expect("goal> ")
    child.sendline("make money")  # not a goal: said in one line, asked again
    child.expect("not a goal: ")
    child.expect("goal> ")
    child.sendline("SYNTH/USDT 1h Sharpe >= 9")
    child.expect("offline autopilot: researching toward 'SYNTH/USDT 1h Sharpe >= 9'")
    child.expect("experiment_run")
    child.expect("stop: ")
    child.expect("research>")
    default_view = log.getvalue()

    child.sendline("/verbose")
    child.expect("verbose: tool calls shown as raw JSON panels")
    child.expect("research>")
    mark = len(log.getvalue())
    child.sendline("SYNTH/USDT 1h Sharpe >= 8")
    child.expect("stop: ")
    child.expect("research>")
    verbose_view = log.getvalue()[mark:]
    child.sendline("/quit")
    child.expect("session saved")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0

    lines = _screen_lines(default_view)
    too_wide = [ln for ln in lines if len(ln) > WIDTH and not PATH_LINE.match(ln)]
    assert not too_wide, too_wide
    assert '{"' not in default_view and "⚙" not in default_view  # no raw JSON, no argument panels
    # every call is one summary line; the experiment's names its run, the list its first item
    assert any(re.match(r"\s*✓ data_version_list \S+ · 1 item \(first: dv_[0-9a-f]{20}\)", ln) for ln in lines)
    assert any(re.match(r"\s*✓ experiment_run [\d.]+m?s · run_[0-9a-f]{20} · state finished", ln) for ln in lines)
    assert any(ln.lstrip().startswith("⠋ running experiment_run") or "running experiment_run" in ln
               for ln in lines)  # the live status line while it ran
    # the summary table is readable: run ids whole on one row with their numbers
    assert any(re.match(r"\s*1\s+run_[0-9a-f]{20}\s+-?\d", ln) for ln in lines), lines[-40:]
    # /verbose: the raw JSON of the arguments and results
    assert '{"' in verbose_view and "⚙ experiment_run" in verbose_view


@pytest.mark.timeout(120)
@pytest.mark.filterwarnings("ignore:This process.*multi-threaded:DeprecationWarning")
def test_declining_the_offline_autopilot_exits_cleanly(workspace: Path, tmp_path: Path) -> None:
    child, log = _spawn(workspace, tmp_path)
    child.expect(r"offline autopilot instead\? \[Y/n\]")
    mark = len(log.getvalue())
    child.sendline("n")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    after = [ln for ln in _screen_lines(log.getvalue()[mark:]) if ln.strip() != "n"]
    assert after == ["nothing started: no model key and the offline autopilot was declined"]


@pytest.mark.timeout(120)
@pytest.mark.filterwarnings("ignore:This process.*multi-threaded:DeprecationWarning")
def test_no_goal_given_starts_nothing(workspace: Path, tmp_path: Path) -> None:
    child, log = _spawn(workspace, tmp_path)
    child.expect(r"\[Y/n\]")
    child.sendline("")  # the default answer is yes
    child.expect("goal> ")
    child.sendline("")
    child.expect("nothing started: no research goal given")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    assert "Round 1" not in log.getvalue() and "running" not in log.getvalue()
