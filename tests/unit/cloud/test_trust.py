"""The trust gate: outside results are signed and archived only if they reproduce locally bit for bit."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from auraquant.canonical import sha256_hex
from auraquant.cta.cloud import runner
from auraquant.cta.cloud.errors import TrustRefused
from auraquant.cta.cloud.trust import ATTESTATION_SCHEMA, accept_results, verify_results
from auraquant.cta.governance.archive import Archive
from auraquant.cta.governance.errors import SignatureInvalid
from auraquant.cta.governance.keys import TrustList
from auraquant.cta.governance.record import GoalThresholds, Threshold
from auraquant.cta.governance.signing import parse_envelope, verify_envelope
from auraquant.workspace import Workspace

GOAL = GoalThresholds(thresholds={"trades": Threshold(min=1)})
SECRET = b"s" * 32  # injected so the audited rows are known to the test (never how a workspace draws them)


def _forge(result_dir: Path, name: str, edit) -> None:
    """Edit one result file AND rewrite its manifest hashes: a consistent forgery only reproduction catches."""
    frame = pd.read_parquet(result_dir / name)
    edit(frame)
    frame.to_parquet(result_dir / name, index=False)
    manifest = json.loads((result_dir / runner.MANIFEST).read_text())
    manifest["files"][name]["sha256"] = sha256_hex((result_dir / name).read_bytes())
    manifest["files"][name]["digest"] = runner.frame_digest(frame)
    (result_dir / runner.MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True))


def trials_even(result_dir: Path, trial: int) -> bool:
    return int(pd.read_parquet(result_dir / runner.METRICS_FILE)["trades"].iloc[trial]) % 4 == 0


@pytest.fixture
def honest(tmp_path: Path, bundle_path: Path) -> Path:
    return runner.run_job(bundle_path, tmp_path / "honest").out_dir


def test_honest_results_are_signed_verify_against_the_pinned_key_and_archived(
        workspace: Workspace, bundle_path: Path, honest: Path) -> None:
    acc = accept_results(workspace, bundle_path, honest, backend="local", goal=GOAL, audit_n=2)
    assert acc.verification.reproduced_trials == runner.top_trials(
        pd.read_parquet(honest / runner.TRIALS_FILE), 2)
    assert len(acc.verification.audited_trials) == 2
    env = parse_envelope(acc.path.read_text())
    body = verify_envelope(env, TrustList.load(workspace.aura), schema_name=ATTESTATION_SCHEMA)
    assert body["files"]["metrics.parquet"] == sha256_hex((honest / "metrics.parquet").read_bytes())
    # the signature covers the body: an edited attestation does not verify
    forged = env.model_copy(update={"body": {**env.body, "backend": "elsewhere"}})
    with pytest.raises(SignatureInvalid):
        verify_envelope(forged, TrustList.load(workspace.aura))
    archive = Archive(workspace.store, workspace.aura)
    assert sorted(r.record.id for r in archive.list_records()) == sorted(acc.records) and len(acc.records) == 2
    assert all(archive.verify(rid).ok for rid in acc.records)
    # Each record carries buy and hold over the bundle's bars, computed locally, and its excess.
    from auraquant.cta.backtest.engine import buy_and_hold_of
    from auraquant.cta.cloud.bundle import open_bundle

    bundle = open_bundle(bundle_path)
    bh = buy_and_hold_of(bundle.bars, bundle.job.spec)
    for rid in acc.records:
        rec = archive.get(rid).record
        assert rec.buy_and_hold is not None and rec.buy_and_hold["total_return"] == bh.total_return
        assert rec.metrics["excess_return"] == rec.metrics["total_return"] - bh.total_return


@pytest.mark.parametrize("what", ["top_metric", "audited_metric", "equity", "rank_swap", "dsr"])
def test_altered_results_are_refused_and_nothing_is_archived(workspace: Workspace, bundle_path: Path,
                                                             honest: Path, tmp_path: Path, what: str) -> None:
    bad = tmp_path / "bad"
    shutil.copytree(honest, bad)
    trials = pd.read_parquet(bad / runner.TRIALS_FILE)
    best = runner.top_trials(trials, 1)[0]
    if what == "top_metric":
        _forge(bad, runner.METRICS_FILE, lambda f: f.__setitem__("max_drawdown", f["max_drawdown"].where(
            f["trial"] != best, f["max_drawdown"] * 0.5)))
        match = "calmar does not follow"  # the row's own metrics already contradict it
    elif what == "audited_metric":
        # win_rate 0.5 on a row with an even trade count: consistent on its own, caught only by the audit
        # (every other row is audited here: which rows a default draw picks depends on the forged files)
        audited = next(t for t in range(len(trials)) if t not in runner.top_trials(trials, 2) and trials_even(bad, t))
        _forge(bad, runner.METRICS_FILE, lambda f: f.__setitem__("win_rate", f["win_rate"].where(
            f["trial"] != audited, 0.5 if f["win_rate"].iloc[audited] != 0.5 else 0.25)))
        match = f"audited trial {audited} does not reproduce"
    elif what == "equity":
        _forge(bad, runner.equity_file(1), lambda f: f.__setitem__("equity", f["equity"] * 1.000001))
        match = "equity_top01.parquet .* does not reproduce"
    elif what == "rank_swap":  # claim another trial is the best
        worst = int(trials.sort_values("rank")["trial"].iloc[-1])
        _forge(bad, runner.METRICS_FILE, lambda f: f.__setitem__("sharpe", f["sharpe"].where(
            f["trial"] != worst, 99.0)))
        match = "sharpe does not follow"
    else:
        _forge(bad, runner.METRICS_FILE, lambda f: f.__setitem__("dsr", f["dsr"] * 0 + 0.999))
        match = "dsr column"
    with pytest.raises(TrustRefused, match=match):
        accept_results(workspace, bundle_path, bad, backend="managed", goal=GOAL, secret=SECRET, audit_n=len(trials))
    assert not (workspace.artifacts / "cloud").exists()
    assert Archive(workspace.store, workspace.aura).list_records() == []


def test_file_edited_without_updating_the_manifest_is_refused(bundle_path: Path, honest: Path) -> None:
    frame = pd.read_parquet(honest / runner.METRICS_FILE)
    frame.loc[0, "sharpe"] += 1.0
    frame.to_parquet(honest / runner.METRICS_FILE, index=False)
    with pytest.raises(TrustRefused, match="altered after the run"):
        verify_results(bundle_path, honest)


def test_results_of_another_job_are_refused(tmp_path: Path, bars, bundle_path: Path) -> None:
    from auraquant.cta.cloud.bundle import make_job, write_bundle

    from .conftest import PARAM_SETS, SPEC

    other = make_job(bars, SPEC, param_sets=PARAM_SETS[:4], seed=3, top_k=2)
    other_result = runner.run_job(write_bundle(other, bars, tmp_path / "o"), tmp_path / "other").out_dir
    with pytest.raises(TrustRefused, match="manifest job_id"):
        verify_results(bundle_path, other_result)


def test_cli_run_prints_the_escape_probability_and_takes_the_audit_count(workspace: Workspace,
                                                                        bundle_path: Path) -> None:
    from typer.testing import CliRunner

    from auraquant.cta.cloud.cli import app

    res = CliRunner().invoke(app, ["run", str(bundle_path), "--backend", "local", "--audit", "6",
                                   "--workspace", str(workspace.root), "--json"])
    assert res.exit_code == 0, res.output
    body = json.loads(res.output)
    # 8 sets, top 2 re-run, all 6 others audited: nothing can hide
    assert sorted(body["audited_trials"]) == sorted(set(range(8)) - set(body["reproduced_trials"]))
    assert body["auditable"] == 6 and body["escape_probability"] == 0.0
    assert [t["trial"] for t in body["top"]] == body["reproduced_trials"]
    res = CliRunner().invoke(app, ["run", str(bundle_path), "--backend", "local", "--workspace", str(workspace.root)])
    assert res.exit_code == 0, res.output
    assert "[VERIFIED]" in res.output and "escape probability: 0.667" in res.output
    assert "1 - k/n" in res.output and "C(n-m,k)/C(n,k)" in res.output


def test_cli_verify_accepts_honest_results_and_refuses_a_forgery_in_one_line(workspace: Workspace,
                                                                              bundle_path: Path, honest: Path,
                                                                              tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from auraquant.cta.cloud.cli import app

    bad = tmp_path / "bad"
    shutil.copytree(honest, bad)
    manifest = json.loads((bad / runner.MANIFEST).read_text())
    manifest["top"][0]["metrics"]["sharpe"] = 9.99  # the archived forgery
    (bad / runner.MANIFEST).write_text(json.dumps(manifest))
    for args in ([], ["--json"]):
        res = CliRunner().invoke(app, ["verify", str(bundle_path), str(bad), "--workspace", str(workspace.root),
                                       *args])
        assert res.exit_code == 1 and "Traceback" not in res.output
        text = json.loads(res.output)["error"] if args else res.output
        assert "[REFUSED]" in text and "differ from the local recomputation" in text
        assert "\n" not in text.strip()  # one line (the JSON form is an indented object holding it)
        assert args or len(res.output.strip().splitlines()) == 1
    assert not (workspace.artifacts / "cloud").exists()
    res = CliRunner().invoke(app, ["verify", str(bundle_path), str(honest), "--audit", "6", "--workspace",
                                   str(workspace.root), "--json"])
    assert res.exit_code == 0, res.output
    body = json.loads(res.output)
    assert body["escape_probability"] == 0.0 and len(body["audited_trials"]) == 6
    assert body["top"][0]["metrics"]["sharpe"] != 9.99 and Path(body["attestation"]).is_file()
