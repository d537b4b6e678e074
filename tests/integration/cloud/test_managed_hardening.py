"""Hardening of the Managed Agents path, each item against the emulator through the real `anthropic` SDK.

Environment names (409), documented mount paths, Files betas, budget semantics, per-run in-flight records with
upload expiry, prompt-cache tokens in the cost, doctor pricing orphans and explaining 401/403/404/unreachable,
SIGTERM cleanup, the key check before anything is built, workspace modules shipped in the bundle.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import anthropic
import pandas as pd
import pytest
from typer.testing import CliRunner

from auraquant.cta.cloud import cli as cloud_cli
from auraquant.cta.cloud import tags
from auraquant.cta.cloud.bundle import make_job, open_bundle, write_bundle
from auraquant.cta.cloud.cost import session_cost_usd
from auraquant.cta.cloud.doctor import find_orphans
from auraquant.cta.cloud.errors import BundleError
from auraquant.cta.cloud.managed import FILES_BETAS, ManagedAgentsBackend, ManagedConfig
from auraquant.cta.cloud.runner import read_frame, run_job
from auraquant.cta.cloud.trust import accept_results
from auraquant.workspace import Workspace
from tests.support.dask_cluster import free_port
from tests.support.managed_agents_emulator import ManagedAgentsEmulator
from tests.support.specs import SWEEP_PARAM_SETS, SWEEP_SPEC

ROOT = Path(__file__).resolve().parents[3]


def _backend(client: anthropic.Anthropic, ws: Workspace, wheel: Path, **cfg: object) -> ManagedAgentsBackend:
    return ManagedAgentsBackend(client, workspace_tag=tags.workspace_tag(ws.root), wheel=wheel, store=ws.store,
                                config=ManagedConfig(smoke_bars=400, poll_s=0.1, **cfg))  # type: ignore[arg-type]


def _env_config() -> dict[str, object]:
    return {"type": "cloud", "networking": {"type": "unrestricted"}, "packages": {"type": "packages", "pip": []}}


def _cli_env(**extra: str) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), **extra}


def _wait_for_container(emulator: ManagedAgentsEmulator, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 120
    while not any(s.tool_uses for s in emulator.sessions.values()):  # the container is at work
        assert proc.poll() is None, "the run ended before reaching the container"
        assert time.monotonic() < deadline, "the run never reached the container"
        time.sleep(0.05)


# -- environment names ----------------------------------------------------------------------------------------------
def test_taken_environment_names_are_suffixed_or_reused_never_duplicated(
        workspace: Workspace, emulator: ManagedAgentsEmulator, client: anthropic.Anthropic, wheel: Path) -> None:
    base = f"auraquant-{tags.workspace_tag(workspace.root)}"
    # the service refuses a second environment of the same name
    client.beta.environments.create(name=base, config=_env_config())  # someone else's (no tags, other packages)
    with pytest.raises(anthropic.ConflictError):
        client.beta.environments.create(name=base, config=_env_config())
    # an archived one still holds its name
    archived = client.beta.environments.create(name=f"{base}-2", config=_env_config())
    client.beta.environments.archive(archived.id)

    kept = _backend(client, workspace, wheel)
    env_id, created = kept.ensure_environment()
    assert created and emulator.environments[env_id]["name"] == f"{base}-3"
    # the next kept run reuses it instead of creating anything
    assert kept.ensure_environment() == (env_id, False)
    # a throwaway environment (not kept) never takes over a kept one: it gets the next free name
    throwaway_id, created = _backend(client, workspace, wheel, keep_environment=False).ensure_environment()
    assert created and emulator.environments[throwaway_id]["name"] == f"{base}-4"
    names = [e["name"] for e in emulator.environments.values() if not e.get("_deleted")]
    assert len(names) == len(set(names)) == 4


def test_a_concurrent_creator_taking_the_name_moves_on_to_the_next(
        workspace: Workspace, emulator: ManagedAgentsEmulator, client: anthropic.Anthropic, wheel: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    base = f"auraquant-{tags.workspace_tag(workspace.root)}"
    envs = client.beta.environments
    real_create = envs.create
    raced: list[str] = []

    def racing_create(**kwargs: object) -> object:
        if not raced:  # another process creates the same name between our listing and our create
            raced.append(real_create(name=kwargs["name"], config=_env_config()).id)
        return real_create(**kwargs)

    monkeypatch.setattr(envs, "create", racing_create)
    env_id, created = _backend(client, workspace, wheel).ensure_environment()
    assert created and emulator.environments[env_id]["name"] == f"{base}-2"
    assert emulator.environments[raced[0]]["name"] == base
    assert ("POST", "/v1/environments", 409) in emulator.requests


# -- mounts, files betas, expiry, cache tokens, per-run record ------------------------------------------------------
def test_a_run_mounts_documented_paths_lists_files_with_betas_and_prices_cache_tokens(
        workspace: Workspace, emulator: ManagedAgentsEmulator, client: anthropic.Anthropic, bundle_path: Path,
        wheel: Path, tmp_path: Path) -> None:
    backend = _backend(client, workspace, wheel)
    run = backend.run(bundle_path, tmp_path / "remote")
    s = emulator.sessions[run.session_id]
    # relative mount paths as documented; the agent reads them under /mnt/session/uploads
    mounts = [r["mount_path"] for r in s.body["resources"]]
    assert len(mounts) == 3 and {"/" + bundle_path.name, "/" + wheel.name} <= set(mounts)
    assert all(m.startswith("/") and m.count("/") == 1 for m in mounts)
    assert any(c.startswith(f"pip install --no-deps /mnt/session/uploads/{wheel.name}") for c in emulator.commands)
    # every upload carries an expiry covering both turns, within the Files API's range
    expiry = ManagedConfig(turn_timeout_s=backend.config.turn_timeout_s).upload_expiry_s
    assert len(emulator.uploads) == 3 and {e for _, e in emulator.uploads} == {expiry}
    assert 3600 <= expiry <= 7_776_000
    # one in-flight record per run (not per job), listing the uploads with their expiry
    record = workspace.store.memory_get("cloud", tags.inflight_key(run.run_id))
    assert record["state"] == "cleaned" and record["run_id"] == run.run_id and len(record["files"]) == 3
    assert set(record["file_expiry"]) == set(record["files"]) and all(record["file_expiry"].values())
    assert workspace.store.memory_get("cloud", tags.inflight_key(open_bundle(bundle_path).job.id)) is None
    # prompt-cache tokens are billed: the recorded cost equals the service's own list cost
    u = s.body["usage"]
    assert run.cache_read_tokens == u["cache_read_input_tokens"] > 0
    assert run.cache_write_tokens == u["cache_creation"]["ephemeral_5m_input_tokens"] > 0
    rec = workspace.store.memory_get("cost", f"managed:{run.session_id}")
    assert rec["cost_usd"] == pytest.approx(emulator._cost_usd(s), rel=1e-9)
    without_cache = session_cost_usd(rec["active_seconds"], rec["input_tokens"], rec["output_tokens"],
                                     "claude-haiku-4-5")
    assert rec["cost_usd"] > without_cache
    # the Files listing needs the betas the docs show; the backend sent them on every listing
    listings = [r for r in emulator.requests if r[:2] == ("GET", "/v1/files")]
    assert len(listings) >= 2 and all(status == 200 for *_, status in listings)
    with pytest.raises(anthropic.BadRequestError, match="files-api-2025-04-14"):
        client.beta.files.list(scope_id=run.session_id)
    assert list(client.beta.files.list(scope_id=run.session_id, betas=FILES_BETAS)) == []


def test_the_emulator_validates_mount_paths_like_the_service(emulator: ManagedAgentsEmulator,
                                                             client: anthropic.Anthropic) -> None:
    env = client.beta.environments.create(name="e", config=_env_config())
    agent = client.beta.agents.create(model="claude-haiku-4-5", name="a")
    f = client.beta.files.upload(file=("x.tar", b"data", "application/octet-stream"))
    for bad in ("x.tar", "/../x.tar", "/a//x.tar", "/a/./x.tar"):
        with pytest.raises(anthropic.BadRequestError, match="mount_path"):
            client.beta.sessions.create(agent=agent.id, environment_id=env.id,
                                        resources=[{"type": "file", "file_id": f.id, "mount_path": bad}])
    with pytest.raises(anthropic.BadRequestError, match="already mounted"):
        client.beta.sessions.create(agent=agent.id, environment_id=env.id, resources=[
            {"type": "file", "file_id": f.id, "mount_path": "/x.tar"},
            {"type": "file", "file_id": f.id, "mount_path": "/x.tar"}])
    s = client.beta.sessions.create(agent=agent.id, environment_id=env.id, resources=[
        {"type": "file", "file_id": f.id, "mount_path": "/in/x.tar"}, {"type": "file", "file_id": f.id}])
    sandbox = emulator.sessions[s.id].sandbox / "mnt" / "session" / "uploads"
    assert (sandbox / "in" / "x.tar").read_bytes() == b"data" and (sandbox / f.id).read_bytes() == b"data"
    with pytest.raises(anthropic.BadRequestError, match="expires_in_seconds"):
        client.beta.files.upload(file=("y", b"y", "application/octet-stream"), expires_in_seconds=60)


# -- crash + retry: per-run records; doctor prices the orphan ------------------------------------------------------
def test_a_retry_never_hides_a_crashed_runs_uploads_and_doctor_records_what_orphans_cost(
        workspace: Workspace, emulator: ManagedAgentsEmulator, client: anthropic.Anthropic, bundle_path: Path,
        wheel: Path, tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "auraquant", "cloud", "run", str(bundle_path), "--backend", "managed",
         "--base-url", emulator.url, "--wheel", str(wheel), "--no-keep-environment", "--yes",
         "--workspace", str(workspace.root)], env=_cli_env(ANTHROPIC_API_KEY="test-key", TMPDIR=str(tmp_path)),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_for_container(emulator, proc)
    finally:
        proc.send_signal(signal.SIGKILL)  # a crash: nothing unwinds
        proc.wait()
    [crashed_sid] = emulator.live_sessions()
    crashed_uploads = sorted(f for f, v in emulator.files.items() if v["meta"]["scope"] is None)
    assert len(crashed_uploads) == 3

    # the same job again, to completion: its record is its own
    run = _backend(client, workspace, wheel, keep_environment=False).run(bundle_path, tmp_path / "retry")
    records = {k: v for k, v in workspace.store.memory_list("cloud").items() if k.startswith("inflight:")}
    assert len(records) == 2 and records[tags.inflight_key(run.run_id)]["state"] == "cleaned"
    [crashed] = [v for k, v in records.items() if k != tags.inflight_key(run.run_id)]
    assert crashed["state"] == "running" and crashed["session_id"] == crashed_sid
    found = find_orphans(client, tags.workspace_tag(workspace.root), workspace.store)
    assert sorted(found.files) == crashed_uploads and [s["id"] for s in found.sessions] == [crashed_sid]

    # one upload's expiry has passed: the service dropped it; doctor reports it as expired, not as an orphan
    gone = crashed_uploads[0]
    emulator.expire_file(gone)
    del emulator.files[gone]
    key = next(k for k, v in records.items() if v is crashed)
    workspace.store.memory_put("cloud", key, {**crashed, "file_expiry": {
        **crashed["file_expiry"], gone: "2000-01-01T00:00:00+00:00"}})
    found = find_orphans(client, tags.workspace_tag(workspace.root), workspace.store)
    assert found.expired == [gone] and sorted(found.files) == crashed_uploads[1:]

    res = CliRunner().invoke(cloud_cli.app, ["doctor", "--clean", "--base-url", emulator.url, "--workspace",
                                             str(workspace.root), "--json"], env={"ANTHROPIC_API_KEY": "test-key"})
    assert res.exit_code == 0, res.output
    body = json.loads(res.output)
    [orphan_cost] = body["orphan_costs"]
    assert orphan_cost["session_id"] == crashed_sid and orphan_cost["recorded_by"] == "doctor"
    assert orphan_cost["cost_usd"] == pytest.approx(emulator._cost_usd(emulator.sessions[crashed_sid]), rel=1e-9)
    assert orphan_cost["cost_usd"] > 0 and orphan_cost["cache_read_tokens"] > 0
    assert body["orphan_cost_usd"] == pytest.approx(orphan_cost["cost_usd"])
    assert workspace.store.memory_get("cost", f"managed:{crashed_sid}")["orphan"] is True
    status = CliRunner().invoke(cloud_cli.app, ["status", "--workspace", str(workspace.root), "--json"])
    spent = json.loads(status.output)
    assert spent["total_usd"] == pytest.approx(orphan_cost["cost_usd"] + run.cost_usd) and spent["inflight"] == {}
    assert emulator.live_sessions() == [] and emulator.live_environments() == []
    assert [f for f in emulator.files.values() if f["meta"]["scope"] is None] == []


# -- SIGTERM ---------------------------------------------------------------------------------------------------------
def test_sigterm_cleans_up_like_ctrl_c(workspace: Workspace, emulator: ManagedAgentsEmulator, bundle_path: Path,
                                       wheel: Path, tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "auraquant", "cloud", "run", str(bundle_path), "--backend", "managed",
         "--base-url", emulator.url, "--wheel", str(wheel), "--no-keep-environment", "--yes",
         "--workspace", str(workspace.root)], env=_cli_env(ANTHROPIC_API_KEY="test-key", TMPDIR=str(tmp_path)),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        _wait_for_container(emulator, proc)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=90)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    kinds_seen = [e["type"] for s in emulator.sessions.values() for e in s.events]
    assert proc.returncode == 128 + signal.SIGTERM, (proc.returncode, err.decode()[-2000:], kinds_seen)
    lines = err.decode().strip().splitlines()
    assert len(lines) == 1 and "interrupted by SIGTERM" in lines[0], err
    [s] = emulator.sessions.values()
    kinds = [e["type"] for e in s.events]
    assert "user.interrupt" in kinds and kinds[-1] == "session.deleted"
    assert emulator.live_sessions() == [] and emulator.live_environments() == [] and emulator.files == {}
    [record] = [v for k, v in workspace.store.memory_list("cloud").items() if k.startswith("inflight:")]
    assert record["state"] == "cleaned" and record["session_id"] == s.body["id"]
    assert workspace.store.memory_get("cost", f"managed:{s.body['id']}")["active_seconds"] > 0
    assert not list(tmp_path.glob("aq-managed-*"))  # its scratch directory went too


# -- doctor: one actionable line per refusal ------------------------------------------------------------------------
@pytest.mark.parametrize("case", ["401", "403", "404", "unreachable"])
def test_doctor_turns_api_refusals_into_one_actionable_line(case: str, workspace: Workspace,
                                                            emulator: ManagedAgentsEmulator) -> None:
    url = emulator.url
    if case == "401":
        emulator.reject_key = True
    elif case == "403":
        emulator.beta_disabled = True
    elif case == "404":
        url = f"{emulator.url}/not-the-api"
    else:
        url = f"http://127.0.0.1:{free_port()}"
    want = {"401": ["401", "ANTHROPIC_API_KEY"], "403": ["403", "managed-agents-2026-04-01", "--backend local"],
            "404": ["404", "does not serve the Managed Agents API", "--base-url"],
            "unreachable": ["cannot reach", url, "--base-url"]}[case]
    for as_json in (True, False):
        res = CliRunner().invoke(cloud_cli.app, ["doctor", "--base-url", url, "--workspace", str(workspace.root),
                                                 *(["--json"] if as_json else [])],
                                 env={"ANTHROPIC_API_KEY": "test-key"})
        assert res.exit_code == 1
        assert len(res.output.strip().splitlines()) == 1 and "Traceback" not in res.output
        text = json.loads(res.output)["error"] if as_json else res.output
        assert all(w in text for w in want), text
        if as_json:
            assert json.loads(res.output)["kind"] == "ApiUnavailable"


# -- key check first; nothing written into the source tree ----------------------------------------------------------
def test_cloud_run_checks_the_key_before_building_anything(workspace: Workspace, emulator: ManagedAgentsEmulator,
                                                           bundle_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    built: list[str] = []
    monkeypatch.setattr(cloud_cli, "build_wheel", lambda dest: built.append("wheel"))
    monkeypatch.setattr(cloud_cli, "_estimate", lambda *a, **k: built.append("calibration"))
    res = CliRunner().invoke(cloud_cli.app, ["run", str(bundle_path), "--backend", "managed", "--base-url",
                                             emulator.url, "--yes", "--workspace", str(workspace.root), "--json"])
    assert res.exit_code == 1 and "ANTHROPIC_API_KEY" in json.loads(res.output)["error"]
    assert built == [] and emulator.requests == []
    assert not (workspace.artifacts / "cloud").exists()


def _tree(root: Path) -> set[str]:
    """Every file and directory under `root`, but caches (numba and Python write those wherever code runs)."""
    skip = {"__pycache__", ".pytest_cache", ".git", ".ruff_cache"}
    out = set()
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d not in skip]
        out |= {str((Path(dirpath) / n).relative_to(root)) for n in [*dirnames, *filenames]}
    return out


@pytest.mark.slow
def test_cloud_run_builds_its_wheel_without_writing_into_the_source_tree_or_cwd(
        workspace: Workspace, emulator: ManagedAgentsEmulator, bundle_path: Path, tmp_path: Path) -> None:
    cwd = tmp_path / "read-only-cwd"
    cwd.mkdir()
    cwd.chmod(0o555)
    before = _tree(ROOT)
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "auraquant", "cloud", "run", str(bundle_path), "--backend", "managed",
             "--base-url", emulator.url, "--no-keep-environment", "--yes", "--workspace", str(workspace.root),
             "--json"], cwd=cwd, env=_cli_env(ANTHROPIC_API_KEY="test-key", TMPDIR=str(tmp_path)),
            capture_output=True, text=True, timeout=600)
    finally:
        cwd.chmod(0o755)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["verdict"]
    assert any(c.startswith("pip install --no-deps /mnt/session/uploads/auraquant-0.1.0-") for c in emulator.commands)
    assert _tree(ROOT) - before == set()  # no build/, no *.egg-info, nothing new
    assert list(cwd.iterdir()) == []
    assert not list(tmp_path.glob("aq-wheel-*"))  # the scratch wheel directory is removed after the run


# -- workspace (agent-written) modules -------------------------------------------------------------------------------
WS_SOURCE = (ROOT / "cta_runtime" / "baselines" / "ema_cross.py").read_text().replace(
    'name = "ema_cross"', 'name = "ws_cross"').replace("class EmaCross", "class WsCross").replace(
    "MODULE = EmaCross()", "MODULE = WsCross()").encode()


def _ws_spec_and_sets() -> tuple[object, list[dict[str, float]]]:
    spec = SWEEP_SPEC.model_copy(update={"baseline": SWEEP_SPEC.baseline.model_copy(update={"name": "ws_cross"})})
    return spec, SWEEP_PARAM_SETS  # parameter paths name the slot ("baseline.fast"), not the module


def test_a_workspace_module_is_bundled_with_its_digest_offloaded_and_reproduced(
        workspace: Workspace, emulator: ManagedAgentsEmulator, client: anthropic.Anthropic, bars: pd.DataFrame,
        wheel: Path, tmp_path: Path) -> None:
    from auraquant.cta.cloud.jobs import workspace_modules

    (workspace.runtime_dir / "baselines").mkdir(parents=True, exist_ok=True)
    (workspace.runtime_dir / "baselines" / "ws_cross.py").write_bytes(WS_SOURCE)
    spec, sets = _ws_spec_and_sets()
    modules = workspace_modules(workspace, spec)  # type: ignore[arg-type]
    assert modules == {("baselines", "ws_cross"): WS_SOURCE}
    job = make_job(bars, spec, param_sets=sets, seed=3, top_k=2, modules=modules)  # type: ignore[arg-type]
    path = write_bundle(job, bars, tmp_path / "bundles", modules=modules)
    [ref] = job.modules
    assert ref.member in tarfile.open(path).getnames() and len(ref.sha256) == 64

    run = _backend(client, workspace, wheel).run(path, tmp_path / "remote")
    # the module ran in the container's sandbox worker from the bundle: same numbers as its built-in twin
    twin = run_job(write_bundle(make_job(bars, SWEEP_SPEC, param_sets=SWEEP_PARAM_SETS, seed=3, top_k=2), bars,
                                tmp_path / "twin"), tmp_path / "twin-out")
    metric_cols = [c for c in read_frame(twin, "metrics.parquet").columns if not c.startswith(("baseline.", "exec"))]
    assert read_frame(run.result, "metrics.parquet")[metric_cols].equals(read_frame(twin, "metrics.parquet")[metric_cols])
    acc = accept_results(workspace, path, run.result.out_dir, backend="managed")
    assert acc.verification.reproduced_trials and acc.verification.job_id == job.id

    # an altered module does not open, wherever the bundle goes
    with tarfile.open(path) as tf:
        members = {m.name: tf.extractfile(m).read() for m in tf.getmembers()}  # type: ignore[union-attr]
    members[ref.member] = members[ref.member].replace(b"crossings(", b"crossings( ")
    from auraquant.cta.cloud.bundle import write_tar

    forged = tmp_path / "forged.tar"
    write_tar(forged, members)
    with pytest.raises(BundleError, match="was altered"):
        open_bundle(forged)
    extra = tmp_path / "extra.tar"
    write_tar(extra, {**members, ref.member: WS_SOURCE, "module.filters.sneaky.py": b"x = 1\n"})
    with pytest.raises(BundleError, match="not listed"):
        open_bundle(extra)


def test_the_agents_doctor_tool_gives_the_same_actionable_line(workspace: Workspace, emulator: ManagedAgentsEmulator,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    import asyncio

    from aura.tools import ToolRegistry
    from auraquant.cta.tools.cloud import TOOLS
    from auraquant.cta.tools.deps import research_context

    monkeypatch.setenv("ANTHROPIC_API_KEY", "revoked-key")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", emulator.url)
    emulator.reject_key = True
    out = asyncio.run(ToolRegistry(TOOLS).call("cloud_doctor", "{}", research_context(workspace, model_id="m")))
    assert not out.ok and "401" in out.content and "ANTHROPIC_API_KEY" in out.content
    assert "Traceback" not in out.content
