"""Every CLI command with missing, malformed and wrong-kind arguments, through the real root app (the same
error boundary `auraquant` runs): exit code != 0, no traceback, the message is one line, and with `--json`
stdout is exactly one parseable JSON object `{"error", "kind"}` (nothing else on stdout or stderr).

Bad input must never look like a bug, so no case may be reported as `kind: internal` (the unexpected-error
path, covered separately below with --debug)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from auraquant.cli import app
from auraquant.cta.workspace_init import init_workspace
from auraquant.workspace import Workspace


@dataclass(frozen=True)
class Env:
    ws: Path
    dv: str
    tmp: Path


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Env:
    from auraquant.cta.data.service import synth

    tmp = tmp_path_factory.mktemp("errors")
    init_workspace(tmp / "ws", demo_data=False)
    dv, _ = synth(Workspace.open(tmp / "ws").store, n=400, seed=2)
    (tmp / "not_json.json").write_text("{this is not json", encoding="utf-8")
    (tmp / "not_a_spec.json").write_text(json.dumps({"baseline": 3, "filters": "x"}), encoding="utf-8")
    (tmp / "bad_ts.csv").write_text("time,open,high,low,close,volume\n2024-01-01 00:00,1,2,0.5,1.5,10\n"
                                    "not-a-time,1,2,0.5,1.5,10\n2024-01-01 02:00,1,2,0.5,1.5,10\n", encoding="utf-8")
    (tmp / "plain.txt").write_text("not a workspace", encoding="utf-8")
    (tmp / "plain.txt").chmod(0o644)
    (tmp / "passphrase").write_text("not the approver's\n", encoding="utf-8")
    (tmp / "passphrase").chmod(0o600)
    return Env(tmp / "ws", dv.id, tmp)


# (case id, argv with {ws}, {dv}, {tmp} placeholders). Grouped by the kind of mistake.
CASES: list[tuple[str, list[str]]] = [
    # missing file
    ("backtest-missing-data-file", ["backtest", "--data", "{tmp}/missing.csv", "--baseline", "ema_cross"]),
    ("backtest-missing-spec-file", ["backtest", "--spec", "{tmp}/missing.json", "--data-version", "{dv}",
                                    "--workspace", "{ws}"]),
    ("data-import-missing-file", ["data", "import", "{tmp}/missing.csv", "--symbol", "BTC/USDT", "--timeframe",
                                  "1h", "-w", "{ws}"]),
    ("experiment-run-missing-spec", ["experiment", "run", "--data", "{dv}", "--spec", "{tmp}/missing.json",
                                     "--train", "100", "--target", "50", "-w", "{ws}"]),
    ("cloud-estimate-missing-bundle", ["cloud", "estimate", "{tmp}/missing.tar"]),
    ("cloud-run-missing-bundle", ["cloud", "run", "{tmp}/missing.tar", "-w", "{ws}"]),
    ("cloud-verify-missing-files", ["cloud", "verify", "{tmp}/missing.tar", "{tmp}/missing-results", "-w",
                                    "{ws}"]),
    ("job-run-missing-bundle", ["job", "run", "{tmp}/missing.tar", "--out", "{tmp}/out"]),
    ("archive-verify-missing-file", ["archive", "verify", "--file", "{tmp}/missing.json", "-w", "{ws}"]),
    # wrong id
    ("backtest-wrong-dv", ["backtest", "--data-version", "dv_0000000000", "--workspace", "{ws}", "--baseline",
                           "ema_cross"]),
    ("data-show-wrong-id", ["data", "show", "dv_nope", "-w", "{ws}"]),
    ("data-slice-wrong-id", ["data", "slice", "dv_nope", "-w", "{ws}", "--start", "2022-01-01"]),
    ("data-features-wrong-id", ["data", "features", "ds_nope", "--indicator", "ema", "-w", "{ws}"]),
    ("experiment-status-wrong-id", ["experiment", "status", "run_nope", "-w", "{ws}"]),
    ("experiment-show-wrong-id", ["experiment", "show", "run_nope", "-w", "{ws}"]),
    ("experiment-resume-wrong-id", ["experiment", "resume", "run_nope", "-w", "{ws}"]),
    ("experiment-compare-wrong-ids", ["experiment", "compare", "run_a", "run_b", "-w", "{ws}"]),
    ("experiment-run-wrong-spec-id", ["experiment", "run", "--data", "{dv}", "--spec", "spec_nope", "--train",
                                      "100", "--target", "50", "-w", "{ws}"]),
    ("experiment-run-wrong-dv", ["experiment", "run", "--data", "dv_nope", "--spec", "spec_nope", "--train",
                                 "100", "--target", "50", "-w", "{ws}"]),
    ("archive-show-wrong-id", ["archive", "show", "rec_nope", "-w", "{ws}"]),
    ("archive-export-wrong-id", ["archive", "export", "rec_nope", "-w", "{ws}", "--out", "{tmp}/x.json"]),
    ("approve-wrong-id", ["approve", "rec_nope", "--yes", "-w", "{ws}"]),
    ("reject-wrong-id", ["reject", "rec_nope", "--yes", "--passphrase-file", "{tmp}/passphrase", "-w", "{ws}"]),
    ("reject-open-passphrase-file", ["reject", "rec_nope", "--yes", "--passphrase-file", "{tmp}/plain.txt",
                                     "-w", "{ws}"]),
    ("report-wrong-id", ["report", "run_nope", "-w", "{ws}"]),
    ("cloud-bundle-no-job-kind", ["cloud", "bundle", "--spec", "spec_nope", "--data", "dv_nope", "-w",
                                "{ws}"]),
    ("keys-revoke-wrong-id", ["keys", "revoke", "key_nope", "--yes", "-w", "{ws}"]),
    # malformed Spec JSON
    ("backtest-spec-not-json", ["backtest", "--spec", "{tmp}/not_json.json", "--data-version", "{dv}",
                                "--workspace", "{ws}"]),
    ("backtest-spec-wrong-shape", ["backtest", "{tmp}/not_a_spec.json", "--data-version", "{dv}",
                                   "--workspace", "{ws}"]),
    ("experiment-run-spec-not-json", ["experiment", "run", "--data", "{dv}", "--spec", "{tmp}/not_json.json",
                                      "--train", "100", "--target", "50", "-w", "{ws}"]),
    ("backtest-bad-param", ["backtest", "--data-version", "{dv}", "--workspace", "{ws}", "--baseline",
                            "ema_cross", "--param", "no-equals-sign"]),
    ("backtest-unknown-module", ["backtest", "--data-version", "{dv}", "--workspace", "{ws}", "--baseline",
                                 "nope"]),
    # bad timestamp in a CSV
    ("data-import-bad-timestamp", ["data", "import", "{tmp}/bad_ts.csv", "--symbol", "BTC/USDT", "--timeframe",
                                   "1h", "-w", "{ws}"]),
    ("backtest-csv-bad-timestamp", ["backtest", "--data", "{tmp}/bad_ts.csv", "--baseline", "ema_cross"]),
    # wrong-kind arguments
    ("data-synth-bars-not-int", ["data", "synth", "--bars", "many", "-w", "{ws}"]),
    ("data-synth-bars-too-few", ["data", "synth", "--bars", "1", "-w", "{ws}"]),
    ("data-synth-bad-timeframe", ["data", "synth", "--timeframe", "7x", "--bars", "100", "-w", "{ws}"]),
    ("data-slice-bad-date", ["data", "slice", "{dv}", "--start", "yesterday-ish", "-w", "{ws}"]),
    ("backtest-commission-not-number", ["backtest", "--data-version", "{dv}", "--workspace", "{ws}",
                                        "--baseline", "ema_cross", "--commission-bps", "cheap"]),
    ("backtest-data-wrong-suffix", ["backtest", "--data", "{tmp}/plain.txt", "--baseline", "ema_cross"]),
    ("backtest-no-data", ["backtest", "--baseline", "ema_cross"]),
    ("backtest-two-specs", ["backtest", "{tmp}/not_a_spec.json", "--spec", "{tmp}/not_json.json",
                            "--data-version", "{dv}", "--workspace", "{ws}"]),
    ("experiment-run-trials-not-int", ["experiment", "run", "--data", "{dv}", "--spec", "x", "--train",
                                       "many", "--target", "50", "-w", "{ws}"]),
    ("data-list-not-a-workspace", ["data", "list", "-w", "{tmp}"]),
    ("data-list-workspace-is-a-file", ["data", "list", "-w", "{tmp}/plain.txt"]),
    ("experiment-list-not-a-workspace", ["experiment", "list", "-w", "{tmp}/nowhere"]),
    ("archive-list-not-a-workspace", ["archive", "list", "-w", "{tmp}/nowhere"]),
    ("keys-show-not-a-workspace", ["keys", "show", "-w", "{tmp}/nowhere"]),
    ("cloud-status-not-a-workspace", ["cloud", "status", "-w", "{tmp}/nowhere"]),
    ("mcp-not-a-workspace", ["mcp", "--workspace", "{tmp}/nowhere"]),
    ("mcp-negative-budget", ["mcp", "--workspace", "{ws}", "--max-tool-calls", "-1"]),
    ("init-on-a-file", ["init", "{tmp}/plain.txt"]),
    ("data-fetch-bad-timeframe", ["data", "fetch", "--symbol", "BTC/USDT", "--timeframe", "7x", "-w", "{ws}"]),
    ("data-import-header-only", ["data", "import", "{tmp}/plain.txt", "--symbol", "X", "--timeframe", "1h",
                                 "-w", "{ws}"]),
    ("experiment-run-bad-mode", ["experiment", "run", "--data", "{dv}", "--spec", "x", "--train", "10",
                                 "--target", "5", "--mode", "sideways", "-w", "{ws}"]),
    ("keys-trust-not-a-key", ["keys", "trust", "notakey", "-w", "{ws}"]),
    ("keys-rotate-not-a-workspace", ["keys", "rotate", "-w", "{tmp}/nowhere"]),
    ("cloud-doctor-not-a-workspace", ["cloud", "doctor", "-w", "{tmp}/nowhere"]),
    ("chat-not-a-workspace", ["chat", "-w", "{tmp}/nowhere"]),
    ("chat-unreadable-goal", ["chat", "-w", "{ws}", "--goal", "nonsense goal"]),
    ("demo-on-a-file", ["demo", "{tmp}/plain.txt"]),
    ("research-max-iters-not-int", ["research", "--goal", "sharpe > 1", "--max-iters", "lots", "-w", "{ws}"]),
    # missing arguments, unknown commands and options
    ("data-show-missing-id", ["data", "show", "-w", "{ws}"]),
    ("data-import-missing-symbol", ["data", "import", "{tmp}/bad_ts.csv", "-w", "{ws}"]),
    ("report-missing-id", ["report"]),
    ("experiment-compare-one-id", ["experiment", "compare", "run_a"]),
    ("research-missing-goal", ["research", "-w", "{ws}"]),
    ("unknown-command", ["bactest"]),
    ("unknown-option", ["data", "list", "--nope"]),
]


def _argv(args: list[str], env: Env) -> list[str]:
    return [a.format(ws=env.ws, dv=env.dv, tmp=env.tmp) for a in args]


@pytest.mark.parametrize(("case", "args"), CASES, ids=[c for c, _ in CASES])
def test_error_is_one_line_without_traceback(case: str, args: list[str], env: Env) -> None:
    res = CliRunner().invoke(app, _argv(args, env))
    assert res.exit_code not in (0, None), res.output
    assert res.exception is None or isinstance(res.exception, SystemExit), repr(res.exception)
    assert "Traceback" not in res.output
    assert not res.stdout.strip(), res.stdout  # the message goes to stderr; stdout stays clean for pipes
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), res.stderr
    assert "unexpected" not in lines[0], lines[0]


@pytest.mark.parametrize(("case", "args"), CASES, ids=[c for c, _ in CASES])
def test_json_error_is_one_parseable_object(case: str, args: list[str], env: Env) -> None:
    res = CliRunner().invoke(app, [*_argv(args, env), "--json"])
    assert res.exit_code not in (0, None), res.output
    assert isinstance(res.exception, SystemExit | None), repr(res.exception)
    assert res.stderr == "", res.stderr
    lines = res.stdout.splitlines()
    assert len(lines) == 1, res.stdout
    body = json.loads(lines[0])
    assert isinstance(body, dict) and body["error"] and "\n" not in body["error"]
    assert body["kind"] != "internal", body


def test_an_unexpected_error_is_one_line_with_a_hint_and_debug_shows_it(env: Env, monkeypatch) -> None:
    def boom(*_a, **_k):
        raise RuntimeError("boom\nsecond line")

    monkeypatch.setattr(Workspace, "open", boom)
    plain = CliRunner().invoke(app, ["data", "list", "-w", str(env.ws)])
    assert plain.exit_code == 1 and isinstance(plain.exception, SystemExit)
    assert plain.stderr.strip().splitlines() == [
        "error: unexpected RuntimeError: boom; second line (re-run with --debug or AURAQUANT_DEBUG=1 for the "
        "traceback)"]
    as_json = CliRunner().invoke(app, ["data", "list", "-w", str(env.ws), "--json"])
    assert json.loads(as_json.stdout)["kind"] == "internal"
    for debug_args, debug_env in ((["--debug"], {}), ([], {"AURAQUANT_DEBUG": "1"})):
        loud = CliRunner().invoke(app, ["data", "list", "-w", str(env.ws), *debug_args], env=debug_env)
        assert isinstance(loud.exception, RuntimeError) and str(loud.exception).startswith("boom")


def test_version_and_backtest_spec_option(env: Env) -> None:
    from auraquant import __version__
    from auraquant.cta.strategy.spec import Spec

    res = CliRunner().invoke(app, ["--version"])
    assert res.exit_code == 0 and res.stdout.strip() == f"auraquant {__version__}"
    spec = Spec(baseline={"name": "ema_cross", "params": {"fast": 5, "slow": 20}})
    path = env.tmp / "spec.json"
    path.write_text(spec.model_dump_json(), encoding="utf-8")
    base = ["backtest", "--data-version", env.dv, "--workspace", str(env.ws), "--no-artifacts", "--json"]
    by_option = CliRunner().invoke(app, [*base, "--spec", str(path)])
    by_argument = CliRunner().invoke(app, [*base, str(path)])
    assert by_option.exit_code == 0, by_option.output
    assert json.loads(by_option.stdout) == json.loads(by_argument.stdout)
    assert json.loads(by_option.stdout)["spec_id"] == spec.id
