"""The Managed Agents backend through the real `anthropic` SDK against the local emulator.

The emulator really executes the agent's commands (`pip install` of the wheel through a checking shim, then
`python -m auraquant.cta.cloud job run ...`) in a subprocess sandbox and serves the results as files.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import anthropic
import pytest

from auraquant.cta.cloud import tags
from auraquant.cta.cloud.bundle import open_bundle
from auraquant.cta.cloud.cost import calibrate, estimate_job
from auraquant.cta.cloud.doctor import find_orphans
from auraquant.cta.cloud.errors import BudgetReached, RemoteJobFailed
from auraquant.cta.cloud.managed import ManagedAgentsBackend, ManagedConfig
from auraquant.cta.cloud.runner import read_frame
from auraquant.cta.cloud.trust import ATTESTATION_SCHEMA, accept_results
from auraquant.cta.governance.keys import TrustList
from auraquant.cta.governance.signing import parse_envelope, verify_envelope
from auraquant.workspace import Workspace
from tests.support.managed_agents_emulator import ManagedAgentsEmulator

ROOT = Path(__file__).resolve().parents[3]


def _backend(client: anthropic.Anthropic, ws: Workspace, wheel: Path, **cfg: object) -> ManagedAgentsBackend:
    return ManagedAgentsBackend(client, workspace_tag=tags.workspace_tag(ws.root), wheel=wheel, store=ws.store,
                                config=ManagedConfig(smoke_bars=400, poll_s=0.1, **cfg))  # type: ignore[arg-type]


def test_full_path_estimate_run_verify_sign_cleanup(workspace: Workspace, emulator: ManagedAgentsEmulator,
                                                    client: anthropic.Anthropic, bundle_path: Path, wheel: Path,
                                                    tmp_path: Path) -> None:
    b = open_bundle(bundle_path)
    est = estimate_job(b.job, calibrate(b.job, b.bars, sample_bars=1_000, sample_sets=2))
    assert est.units == len(b.bars) * len(b.job.param_sets) and est.total_usd > 0 and est.route == "local"

    backend = _backend(client, workspace, wheel)
    run = backend.run(bundle_path, tmp_path / "remote")
    # the agent installed the uploaded wheel, ran the smoke job, then the real job
    assert emulator.commands[0].startswith("pip install --no-deps /mnt/session/uploads/auraquant-")
    assert f"job run /mnt/session/uploads/{bundle_path.name} " in emulator.commands[2]
    assert len(emulator.commands) == 3 and run.stream_drops == 0
    assert run.result.job_id == b.job.id and (run.result.out_dir / "metrics.parquet").is_file()

    # usage is read back from the session and recorded in the cost namespace
    s_usage = emulator.sessions[run.session_id].body["usage"]
    assert run.input_tokens == s_usage["input_tokens"] > 0 and run.active_seconds > 0
    costs = workspace.store.memory_list("cost")
    rec = costs[f"managed:{run.session_id}"]
    assert rec["job_id"] == b.job.id and rec["input_tokens"] == run.input_tokens and rec["cost_usd"] > 0

    # eager cleanup: no session, no uploaded or output files; the environment is kept for reuse
    assert emulator.live_sessions() == [] and emulator.files == {}
    assert emulator.live_environments() == [run.environment_id]
    env = emulator.environments[run.environment_id]
    assert env["metadata"][tags.WORKSPACE] == tags.workspace_tag(workspace.root)
    assert "numba==0.61.2" in env["config"]["packages"]["pip"]
    record = workspace.store.memory_get("cloud", f"inflight:{run.run_id}")
    assert record["state"] == "cleaned" and record["job_id"] == b.job.id and record["session_id"] == run.session_id
    assert find_orphans(client, tags.workspace_tag(workspace.root), workspace.store).empty

    # trust: reproduced locally -> signed attestation that verifies against the pinned key, and archived
    from auraquant.cta.governance.record import GoalThresholds, Threshold

    acc = accept_results(workspace, bundle_path, run.result.out_dir, backend="managed",
                         goal=GoalThresholds(thresholds={"trades": Threshold(min=1)}), model_id="claude-haiku-4-5")
    env_obj = parse_envelope(acc.path.read_text())
    body = verify_envelope(env_obj, TrustList.load(workspace.aura), schema_name=ATTESTATION_SCHEMA)
    assert body["job_id"] == b.job.id and body["backend"] == "managed"
    assert len(acc.records) == 2

    # a second run reuses the environment (same pins) and the agent
    before_envs, before_agents = len(emulator.environments), len(emulator.agents)
    emulator.drop_stream_after_events = 2  # and survives a dropped event stream by paging the event list
    emulator.events_page_limit = 5
    run2 = backend.run(bundle_path, tmp_path / "remote2")
    assert (len(emulator.environments), len(emulator.agents)) == (before_envs, before_agents)
    assert run2.environment_id == run.environment_id
    assert emulator.streams_dropped == 1 and run2.stream_drops == 1
    assert read_frame(run2.result, "metrics.parquet").equals(read_frame(run.result, "metrics.parquet"))
    # the fallback really paged through the event log (5 events a page)
    pages = [t for t in emulator.targets if t.startswith(f"GET /v1/sessions/{run2.session_id}/events?")]
    assert any("page=p10" in t for t in pages), pages
    assert emulator.live_sessions() == []


def test_budget_reached_stops_the_session_and_cleans_up(workspace: Workspace, bundle_path: Path, wheel: Path,
                                                        tmp_path: Path) -> None:
    # one model request costs $1 of input tokens at haiku list price; the cap is $1.50
    with ManagedAgentsEmulator(input_tokens_per_turn=1_000_000, cache_read_tokens_per_turn=0,
                               cache_write_tokens_per_turn=0) as emu:
        client = anthropic.Anthropic(api_key="k", base_url=emu.url, max_retries=0)
        with pytest.raises(BudgetReached, match="budget"):
            _backend(client, workspace, wheel, budget_usd=1.5, keep_environment=False).run(bundle_path, tmp_path)
        [sid] = list(emu.sessions)
        events = emu.sessions[sid].events
        idle = [e for e in events if e["type"] == "session.status_idle"]
        assert idle[-1]["stop_reason"] == {"type": "budget_reached"}
        # $1.00 after the first request (< cap), $2.00 after the second: no third model request ...
        assert emu.sessions[sid].body["usage"]["input_tokens"] == 2_000_000
        assert sum(e["type"] == "span.model_request_start" for e in events) == 2
        # ... but the command running when the cap was crossed was not killed: it finished, with its result
        results = [e for e in events if e["type"] == "agent.tool_result"]
        assert len(results) == 2 and "Successfully installed" in results[0]["content"][0]["text"]
        assert results[1]["is_error"] is False and len(emu.commands) == 2 and "job run" in emu.commands[1]
        assert emu.live_sessions() == [] and emu.live_environments() == [] and emu.files == {}
        assert workspace.store.memory_get("cost", f"managed:{sid}")["input_tokens"] == 2_000_000


def test_session_error_event_fails_loudly_and_cleans_up(workspace: Workspace, emulator: ManagedAgentsEmulator,
                                                        client: anthropic.Anthropic, bundle_path: Path,
                                                        wheel: Path, tmp_path: Path) -> None:
    emulator.error_after_tool_uses = 1  # the model becomes unavailable after the wheel install
    with pytest.raises(RemoteJobFailed, match="smoke job: session error: model_overloaded_error"):
        _backend(client, workspace, wheel, keep_environment=False).run(bundle_path, tmp_path)
    assert emulator.commands == [emulator.commands[0]] and "pip install" in emulator.commands[0]
    assert emulator.live_sessions() == [] and emulator.live_environments() == [] and emulator.files == {}
    assert not (tmp_path / "result").exists()


def test_failed_command_is_reported_with_its_output(workspace: Workspace, emulator: ManagedAgentsEmulator,
                                                    client: anthropic.Anthropic, bundle_path: Path,
                                                    tmp_path: Path) -> None:
    not_a_wheel = tmp_path / "auraquant-0.1.0-py3-none-any.whl"
    not_a_wheel.write_bytes(b"garbage")
    with pytest.raises(RemoteJobFailed, match="not a valid wheel"):
        _backend(client, workspace, not_a_wheel).run(bundle_path, tmp_path / "out")
    assert emulator.live_sessions() == []


def test_crash_before_cleanup_is_found_and_cleaned_by_doctor(workspace: Workspace, emulator: ManagedAgentsEmulator,
                                                             client: anthropic.Anthropic, bundle_path: Path,
                                                             wheel: Path, tmp_path: Path) -> None:
    # TMPDIR: the killed process cannot remove its scratch directory; keep it inside the test's tmp_path
    env = {**os.environ, "ANTHROPIC_API_KEY": "test-key", "PYTHONPATH": str(ROOT), "TMPDIR": str(tmp_path)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "auraquant.cta.cloud", "cloud", "run", str(bundle_path), "--backend", "managed",
         "--base-url", emulator.url, "--wheel", str(wheel), "--no-keep-environment", "--yes",
         "--workspace", str(workspace.root)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 90
        while not any(s.tool_uses for s in emulator.sessions.values()):  # the container is at work
            assert proc.poll() is None and time.monotonic() < deadline, "the run never reached the container"
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGKILL)  # a crash: no finally blocks, no cleanup
        proc.wait()
    tag = tags.workspace_tag(workspace.root)
    found = find_orphans(client, tag, workspace.store)
    assert [s["id"] for s in found.sessions] == emulator.live_sessions()
    assert [e["id"] for e in found.environments] == emulator.live_environments()
    assert sorted(found.files) == sorted(emulator.files)  # the uploads, from the in-flight record
    # another workspace's resources are invisible to this doctor
    assert find_orphans(client, "ws_someone_else").empty

    from typer.testing import CliRunner

    from auraquant.cta.cloud.cli import app

    os.environ["ANTHROPIC_API_KEY"] = "test-key"
    try:
        res = CliRunner().invoke(app, ["doctor", "--clean", "--base-url", emulator.url, "--workspace",
                                       str(workspace.root), "--json"])
    finally:
        del os.environ["ANTHROPIC_API_KEY"]
    assert res.exit_code == 0, res.output
    removed = json.loads(res.output)["removed"]
    assert found.sessions[0]["id"] in removed and found.environments[0]["id"] in removed
    assert emulator.live_sessions() == [] and emulator.live_environments() == []
    assert [f for f in emulator.files.values() if f["meta"]["scope"] is None] == []
    assert find_orphans(client, tag, workspace.store).empty


def test_turn_timeout_interrupts_the_running_session_before_deleting_it(
        workspace: Workspace, emulator: ManagedAgentsEmulator, client: anthropic.Anthropic, bundle_path: Path,
        wheel: Path, tmp_path: Path) -> None:
    emulator.stall_commands = True  # the job outlives the timeout however fast or slow this machine is
    backend = _backend(client, workspace, wheel, turn_timeout_s=0.5)
    with pytest.raises(RemoteJobFailed, match="did not stop within"):
        backend.run(bundle_path, tmp_path)
    [s] = emulator.sessions.values()
    kinds = [e["type"] for e in s.events]
    # interrupt sent while running, the session went idle, then it was deleted; its container time was recorded
    assert kinds.index("user.interrupt") < len(kinds) - 1 - kinds[::-1].index("session.status_idle")
    assert kinds[-1] == "session.deleted" and emulator.live_sessions() == []
    assert workspace.store.memory_get("cost", f"managed:{s.body['id']}")["active_seconds"] > 0


def test_a_stream_that_misses_the_message_echo_falls_back_to_the_event_log(
        workspace: Workspace, emulator: ManagedAgentsEmulator, client: anthropic.Anthropic, bundle_path: Path,
        wheel: Path, tmp_path: Path) -> None:
    """The stream of the first turn starts after the message was sent: it never shows the message's echo, only
    the turn's later events and its end. The backend reads the turn from the event log instead of waiting out the
    turn timeout, and the run completes."""
    emulator.stream_starts_late = True
    t0 = time.monotonic()
    run = _backend(client, workspace, wheel, turn_timeout_s=120.0).run(bundle_path, tmp_path / "remote")
    assert time.monotonic() - t0 < 100  # not the timeout: the turn's end was seen
    assert run.stream_drops == 1 and (run.result.out_dir / "metrics.parquet").is_file()
    assert emulator.live_sessions() == []


def test_doctor_leaves_a_live_run_alone(workspace: Workspace, emulator: ManagedAgentsEmulator,
                                        client: anthropic.Anthropic, bundle_path: Path, wheel: Path,
                                        tmp_path: Path) -> None:
    import threading

    from auraquant.cta.cloud.doctor import clean_orphans

    backend = _backend(client, workspace, wheel, keep_environment=False)
    box: dict[str, object] = {}
    def work() -> None:
        try:
            box["run"] = backend.run(bundle_path, tmp_path)
        except BaseException as e:  # surfaced below: a failure in the thread must not look like a timeout
            box["error"] = e

    worker = threading.Thread(target=work)
    worker.start()
    try:
        deadline = time.monotonic() + 60
        while not any(s.tool_uses for s in emulator.sessions.values()):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        tag = tags.workspace_tag(workspace.root)
        found = clean_orphans(client, tag, workspace.store)
        assert found.sessions == [] and found.environments == [] and found.files == [] and found.removed == []
        assert [s["id"] for s in found.active] == emulator.live_sessions()
    finally:
        worker.join(300)
    assert "error" not in box, box.get("error")
    assert box["run"].result.job_id == open_bundle(bundle_path).job.id  # type: ignore[attr-defined]
    assert emulator.live_sessions() == [] and emulator.live_environments() == []
