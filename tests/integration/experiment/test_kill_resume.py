"""A walk-forward process killed midway (SIGKILL) and resumed gives exactly the results of an
uninterrupted run with the same seed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
from typer.testing import CliRunner

from auraquant.cta.data.service import synth
from auraquant.cta.experiment.cli import app
from auraquant.cta.experiment.config import SearchConfig
from auraquant.cta.experiment.runner import (
    resume_experiment,
    run_dir,
    run_experiment,
    run_from_store,
    run_status,
)
from auraquant.cta.workspace_init import init_workspace
from auraquant.workspace import Workspace
from tests.integration.experiment.wf_fixtures import HOLDOUT, N_BARS, WF, ema_atr_spec

ROOT = Path(__file__).resolve().parents[3]
# More trials per window than the other tests, so the kill lands inside a window's search (a batch of 10
# takes milliseconds, so a window needs many of them to still be running when the kill arrives).
SEARCH = SearchConfig(n_trials=200, batch_size=10, n_startup_trials=5, top_k=4)

_CHILD = """
import sys
from auraquant.cta.experiment.runner import run_experiment, run_from_store
from auraquant.cta.experiment.config import SearchConfig, WalkForwardConfig
from auraquant.cta.strategy.spec import Spec
from auraquant.workspace import Workspace
ws = Workspace.open(sys.argv[1])
spec = Spec.model_validate_json(sys.argv[3])
run, bars = run_from_store(ws, spec, sys.argv[2], WalkForwardConfig.model_validate_json(sys.argv[4]),
                           SearchConfig.model_validate_json(sys.argv[5]), seed=9, holdout_bars=int(sys.argv[6]))
print(run.id, flush=True)
run_experiment(ws, run, bars, executor="threads:1")
"""


def _workspace(path: Path) -> tuple[Workspace, str]:
    init_workspace(path, demo_data=False)
    ws = Workspace.open(path)
    dv, _ = synth(ws.store, n=N_BARS, seed=21)
    return ws, dv.id


def test_killed_and_resumed_equals_uninterrupted(tmp_path: Path) -> None:
    ws, dv = _workspace(tmp_path / "killed")
    spec = ema_atr_spec()
    proc = subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(ws.root), dv, spec.model_dump_json(), WF.model_dump_json(),
         SEARCH.model_dump_json(), str(HOLDOUT)],
        cwd=ROOT, stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    run_id = proc.stdout.readline().strip()
    journal = ws.aura / "optuna" / f"{run_id}.journal"
    first_window = run_dir(ws, run_id) / "windows" / "w000.json"
    deadline = time.monotonic() + 120
    # Kill once the first window is complete and the second window's study holds some trials.
    while time.monotonic() < deadline and proc.poll() is None:
        if first_window.is_file() and journal.is_file() and f"{run_id}-w001".encode() in journal.read_bytes():
            time.sleep(0.05)
            break
        time.sleep(0.02)
    assert proc.poll() is None, "the run finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)

    before = run_status(ws, run_id)
    assert before["state"] != "finished" and 1 <= before["windows_complete"] < 4
    cli = CliRunner().invoke(app, ["resume", run_id, "-w", str(ws.root), "--executor", "threads:1", "--json"])
    assert cli.exit_code == 0, cli.output
    assert json.loads(cli.output)["executed_windows"] == 4 - before["windows_complete"]
    resumed = resume_experiment(ws, run_id, executor="threads:1")  # everything done: loads, executes nothing
    assert resumed.executed_windows == 0

    ws2, dv2 = _workspace(tmp_path / "clean")
    assert dv2 == dv
    run, bars = run_from_store(ws2, spec, dv2, WF, SEARCH, seed=9, holdout_bars=HOLDOUT)
    assert run.id == run_id
    clean = run_experiment(ws2, run, bars, executor="threads:1")

    a, b = resumed.result, clean.result
    assert [(w.params, w.train_score, w.validation_score) for w in a.windows] == \
        [(w.params, w.train_score, w.validation_score) for w in b.windows]
    assert a.oos == b.oos and a.robustness == b.robustness
    for name in ("oos_equity.parquet", "selection.parquet"):
        pd.testing.assert_frame_equal(pd.read_parquet(Path(a.artifacts) / name),
                                      pd.read_parquet(Path(b.artifacts) / name))
    ta = pd.read_parquet(Path(a.artifacts) / "trials.parquet").drop(columns="optuna_number")
    tb = pd.read_parquet(Path(b.artifacts) / "trials.parquet").drop(columns="optuna_number")
    pd.testing.assert_frame_equal(ta, tb)
