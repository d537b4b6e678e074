"""Job bundles are hashed and portable; `job run` writes hashed results equal to the engine's own sweep."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from auraquant.cta.backtest.engine import run_backtest, run_sweep
from auraquant.cta.cloud import batches, runner
from auraquant.cta.cloud.bundle import open_bundle, read_members, smoke_job, write_bundle, write_tar
from auraquant.cta.cloud.cli import job_app
from auraquant.cta.cloud.errors import BundleError
from auraquant.cta.strategy.spec import apply_params

from .conftest import PARAM_SETS, SPEC


def test_bundle_is_deterministic_and_content_addressed(tmp_path: Path, job, bars: pd.DataFrame) -> None:
    a = write_bundle(job, bars, tmp_path / "a")
    b = write_bundle(job, bars, tmp_path / "b")
    assert a.name == f"{job.id}.tar" and a.read_bytes() == b.read_bytes()
    opened = open_bundle(a)
    assert opened.job.id == job.id and opened.job.size == len(bars) * len(PARAM_SETS)
    d = write_bundle(job, bars, tmp_path / "d", tar=False)
    assert open_bundle(d).job == job


def test_bundle_with_altered_bars_does_not_open(tmp_path: Path, bundle_path: Path) -> None:
    members = read_members(bundle_path)
    frame = pd.read_parquet(io.BytesIO(members["bars.parquet"]))
    frame.loc[100, "close"] *= 1.0001
    buf = io.BytesIO()
    frame.to_parquet(buf, index=False)
    forged = tmp_path / "forged.tar"
    write_tar(forged, {**members, "bars.parquet": buf.getvalue()})
    with pytest.raises(BundleError, match="does not match the job's data hash"):
        open_bundle(forged)


def test_bundle_refuses_nested_members(tmp_path: Path) -> None:
    bad = tmp_path / "bad.tar"
    with tarfile.open(bad, "w") as tf:
        info = tarfile.TarInfo("../job.json")
        info.size = 2
        tf.addfile(info, io.BytesIO(b"{}"))
    with pytest.raises(BundleError, match="unexpected tar member"):
        open_bundle(bad)


def test_job_run_results_equal_the_engine(tmp_path: Path, bundle_path: Path, bars: pd.DataFrame) -> None:
    r = runner.run_job(bundle_path, tmp_path / "out", archive=tmp_path / "out.tar")
    metrics = runner.read_frame(r, runner.METRICS_FILE)
    expected = run_sweep(bars, SPEC, PARAM_SETS)
    assert runner.frame_digest(metrics.drop(columns="trial")) == runner.frame_digest(expected)
    trials = runner.read_frame(r, runner.TRIALS_FILE)
    best = int(trials.loc[trials["rank"] == 1, "trial"].iloc[0])
    assert metrics["sharpe"].iloc[best] == expected["sharpe"].max()
    full = run_backtest(bars, apply_params(SPEC, PARAM_SETS[best]), record=True)
    assert runner.frame_digest(runner.read_frame(r, runner.equity_file(1))) == runner.frame_digest(full.equity)
    assert runner.frame_digest(runner.read_frame(r, runner.trades_file(1))) == runner.frame_digest(full.trades)
    assert set(r.manifest["files"]) == {"metrics.parquet", "trials.parquet", "equity_top01.parquet",
                                        "trades_top01.parquet", "equity_top02.parquet", "trades_top02.parquet"}
    # the tar holds the same hashed files and opens as a result
    reopened = runner.open_results(tmp_path / "out.tar")
    assert reopened.manifest == json.loads((tmp_path / "out" / "manifest.json").read_text())


def test_open_results_refuses_a_file_edited_after_the_run(tmp_path: Path, bundle_path: Path) -> None:
    r = runner.run_job(bundle_path, tmp_path / "out")
    m = runner.read_frame(r, runner.METRICS_FILE)
    m.loc[0, "sharpe"] = 9.0
    m.to_parquet(r.out_dir / runner.METRICS_FILE, index=False)
    with pytest.raises(BundleError, match="metrics.parquet was altered"):
        runner.open_results(r.out_dir)


def test_batches_merge_to_the_one_call_table(bars: pd.DataFrame) -> None:
    whole = run_sweep(bars, SPEC, PARAM_SETS)
    spec_json = SPEC.model_dump_json()
    parts = batches.split(PARAM_SETS, 3)
    assert [len(p) for p in parts] == [3, 2, 3] and sum(parts, []) == PARAM_SETS
    merged = batches.merge_batches([batches.run_batch(bars, spec_json, p) for p in parts])
    assert runner.frame_digest(merged) == runner.frame_digest(whole)
    # the batch-local dsr differs (fewer trials): merging must really recompute it
    assert not batches.run_batch(bars, spec_json, parts[0])["dsr"].equals(whole["dsr"].iloc[:3])


def test_rank_trials_nan_last_ties_by_index() -> None:
    assert list(runner.rank_trials([0.5, float("nan"), 1.0, 0.5])) == [2, 4, 1, 3]


def test_smoke_job_is_tiny_and_valid(job, bars: pd.DataFrame) -> None:
    sjob, sbars = smoke_job(job, bars, max_bars=300)
    assert len(sbars) == 300 and sjob.param_sets == PARAM_SETS[:1] and sjob.spec == job.spec
    assert sjob.data.content_hash != job.data.content_hash


def test_job_run_cli_without_workspace(tmp_path: Path, bundle_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # no workspace anywhere up the tree is needed
    res = CliRunner().invoke(job_app, ["run", str(bundle_path), "--out", str(tmp_path / "o"), "--json"])
    assert res.exit_code == 0, res.output
    body = json.loads(res.output)
    assert body["job_id"] == open_bundle(bundle_path).job.id
    assert (tmp_path / "o" / "manifest.json").is_file()
    bad = CliRunner().invoke(job_app, ["run", str(tmp_path / "missing.tar"), "--out", str(tmp_path / "x"), "--json"])
    assert bad.exit_code == 1 and "no bundle" in json.loads(bad.output)["error"]
