"""Every CLI command with missing, malformed and wrong-kind arguments, through the real root app (the same
error boundary `auraquant` runs): exit code != 0, no traceback, the message is one line, and with `--json`
stdout is exactly one parseable JSON object `{"error", "kind"}` (nothing else on stdout or stderr).

Bad input must never look like a bug, so no case may be reported as `kind: internal` (the unexpected-error
path, covered separately below with --debug)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

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
    spec: str = ""


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


# ---------------------------------------------------------------------------------------------------------------
# The generated matrix: every leaf command of the real command tree (lazy commands loaded, so a command added
# tomorrow is covered without editing this file) x every parameter x the malformed values of its kind, with and
# without --json. Required parameters other than the one under attack get a plausible filler (a real workspace,
# data version and Spec where the name asks for one) so the attack reaches the command's own checks.
# ---------------------------------------------------------------------------------------------------------------

import typer  # noqa: E402
from typer._click.core import Command as ClickCommand  # noqa: E402
from typer._click.core import Context as ClickContext  # noqa: E402
from typer.core import TyperGroup  # noqa: E402

PNG = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4"
       b"\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00\x00\x00\x00IEND\xaeB`\x82")


def leaf_commands() -> list[tuple[tuple[str, ...], ClickCommand]]:
    """Every runnable command under the root app, as (path, command), walking groups recursively."""
    out: list[tuple[tuple[str, ...], ClickCommand]] = []

    def walk(cmd: ClickCommand, path: tuple[str, ...]) -> None:
        if isinstance(cmd, TyperGroup):
            ctx = ClickContext(cmd)
            for name in cmd.list_commands(ctx):
                sub = cmd.get_command(ctx, name)
                assert sub is not None, (path, name)
                walk(sub, (*path, name))
        else:
            out.append((path, cmd))

    walk(typer.main.get_command(app), ())
    return out


LEAVES = leaf_commands()

# Parameters that name an object in the store, by parameter name -> the kind of id expected.
DV_PARAMS = {"data_version", "dv_id", "data"}
SPEC_PARAMS = {"spec", "spec_opt", "spec_file", "spec_id"}
ID_PARAMS = {"run_id", "record_run_or_record_id", "run_or_record_id", "record_id", "key_id", "ds_id", "slice_",
             "a", "b", "resume", "public_key", "session_id"}
DATE_PARAMS = {"start", "end", "since", "until"}
WORKSPACE_PARAMS = {"workspace", "directory"}

# (command path, parameter, attack) that are *valid* input the command accepts and then does real, slow work
# with (a new directory for `demo` runs the whole demo): not errors, so not part of the error matrix.
ACCEPTED: set[tuple[str, str, str]] = {
    ("demo", "directory", "missing-path"), ("demo", "directory", "directory"),
    ("init", "directory", "missing-path"), ("init", "directory", "directory"),
    ("backtest", "out", "missing-path"), ("backtest", "out", "directory"),  # created / written into
    ("mcp", "session_id", "bad-id"), ("mcp", "session_id", "wrong-kind-id"),  # names a new session log
    ("keys approver init", "name", "bogus"),  # any display name; the command then asks for a passphrase
    ("backtest", "modules_dir", "directory"),  # an empty module root is a module root
    ("chat", "model", "bogus"),  # a model id override; without a key chat asks first (and gets end of input)
}


def _annotation(p: Any) -> Any:
    return p.type_descriptor.annotation


def _is_flag(p: Any) -> bool:
    return bool(getattr(p, "is_flag", False)) or _annotation(p) is bool


def _filler(path: tuple[str, ...], p: Any, env: Env) -> str:
    """A plausible value for a required parameter that is not under attack."""
    name, ann = p.name, _annotation(p)
    if name in DV_PARAMS:
        return env.dv
    if name in SPEC_PARAMS:
        return env.spec
    if name == "goal":
        return "not a readable goal"  # refused at once: nothing long starts whatever else is given
    if ann is int:
        return "50"
    if ann is float:
        return "1.0"
    if ann is Path:
        return str(env.tmp / "missing-input")
    if name == "timeframe":
        return "1h"
    if name == "symbol":
        return "BTC/USDT"
    if name == "indicator":
        return "ema"
    return "zz_nope_1234"


def _attacks(p: Any, env: Env) -> list[tuple[str, str]]:
    """The malformed values for `p`, by its type and name, as (attack id, value)."""
    name, ann = p.name, _annotation(p)
    if _is_flag(p):
        return []
    if ann is int:
        return [("not-a-number", "many"), ("fraction", "1.5")]
    if ann is float:
        return [("not-a-number", "cheap")]
    if ann is datetime or name in DATE_PARAMS:
        return [("bad-date", "yesterday-ish"), ("impossible-date", "2024-13-45")]
    if ann is Path:
        return [("missing-path", str(env.tmp / "missing" / "file.json")), ("directory", str(env.tmp / "a-dir")),
                ("png-file", str(env.tmp / "image.png")), ("png-as-csv", str(env.tmp / "image.csv")),
                ("png-as-json", str(env.tmp / "image.json"))]
    if name in DV_PARAMS:
        return [("bad-id", "dv_0000000000"), ("wrong-kind-id", env.spec), ("empty", "")]
    if name in SPEC_PARAMS:
        return [("bad-id", "spec_0000000000"), ("wrong-kind-id", env.dv), ("png-file", str(env.tmp / "image.png"))]
    if name in ID_PARAMS:
        return [("bad-id", "zz_0000000000"), ("wrong-kind-id", env.dv)]
    if name == "symbol":
        return [("empty", ""), ("bogus", "not a symbol")]
    if name == "timeframe":
        return [("bogus", "7x")]
    return [("bogus", "zz_bogus_value")]


def _opt(p: Any) -> str:
    return max(p.opts, key=len)  # the long spelling


# Each command's base arguments beyond its required parameters, so an attack reaches deep code paths; and
# the parameters that exclude each other (an attack on one drops the others from the base).
BASE: dict[tuple[str, ...], dict[str, str]] = {
    ("backtest",): {"data_version": "{dv}", "baseline": "ema_cross", "no_artifacts": ""},
    ("data", "fetch"): {"exchange": "zz_no_such_exchange"},  # refused before any network call
    ("experiment", "run"): {"data_version": "{dv}"},
    ("cloud", "bundle"): {"data_version": "{dv}"},
}
EXCLUSIVE: dict[tuple[str, ...], set[str]] = {
    ("backtest",): {"spec_file", "spec_opt", "data", "data_version", "slice_", "baseline"},
    ("experiment", "run"): {"data_version", "data"},  # `--data` is the hidden old name of --data-version
    ("cloud", "bundle"): {"data_version", "data"},
}


def _argv_for(path: tuple[str, ...], cmd: ClickCommand, env: Env, target: Any | None, value: str) -> list[str]:
    args: list[str] = []
    positional: list[str] = []
    base = {k: v.format(dv=env.dv, spec=env.spec) for k, v in BASE.get(path, {}).items()}
    excl = EXCLUSIVE.get(path, set())
    if target is not None and target.name in excl:
        base = {k: v for k, v in base.items() if k not in excl or k == target.name}
    for p in cmd.params:
        if p.name == "help":
            continue
        if target is not None and p.name == target.name:
            val: str | None = value
        elif p.name in base:
            val = base[p.name]
        elif p.required:
            val = _filler(path, p, env)
        elif p.name == "workspace":
            val = str(env.ws)  # never the current directory
        else:
            continue
        if p.param_type_name == "argument":
            positional.append(val)
        elif _is_flag(p):
            args.append(_opt(p))
        else:
            args += [_opt(p), val]
    return [*path, *positional, *args]


def _matrix(env_placeholder: bool = True) -> list[tuple[str, tuple[str, ...], str | None, str | None]]:
    """(case id, command path, parameter name or None for 'missing arguments', attack id)."""
    cases: list[tuple[str, tuple[str, ...], str | None, str | None]] = []
    for path, cmd in LEAVES:
        if any(p.required for p in cmd.params):
            cases.append((f"{' '.join(path)}:missing-arguments", path, None, None))
        cases.append((f"{' '.join(path)}:unknown-option", path, None, "unknown-option"))
        for p in cmd.params:
            if p.name == "help" or _is_flag(p):
                continue
            for attack, _ in _attacks(p, _DUMMY_ENV):
                if (" ".join(path), p.name, attack) in ACCEPTED:
                    continue
                cases.append((f"{' '.join(path)}:{p.name}:{attack}", path, p.name, attack))
    return cases


_DUMMY_ENV = Env(Path("/ws"), "dv_x", Path("/tmp"))
MATRIX = _matrix()


@pytest.fixture(scope="module")
def matrix_env(env: Env, tmp_path_factory: pytest.TempPathFactory) -> Env:
    from auraquant.cta.strategy.spec import Spec

    spec = Spec(baseline={"name": "ema_cross", "params": {"fast": 5, "slow": 20}})
    Workspace.open(env.ws).store.put_object("spec", spec)
    (env.tmp / "a-dir").mkdir(exist_ok=True)
    for name in ("image.png", "image.csv", "image.json"):  # a picture, also under a data file's name
        (env.tmp / name).write_bytes(PNG)
    return Env(env.ws, env.dv, env.tmp, spec.id)


@pytest.fixture
def isolated(matrix_env: Env, monkeypatch: pytest.MonkeyPatch) -> Env:
    """No command may touch the real home, the current directory or a provider."""
    home = matrix_env.tmp / "home"
    home.mkdir(exist_ok=True)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    for key in ("ANTHROPIC_API_KEY", "OPENAI_API_KEY", "GEMINI_API_KEY", "AURAQUANT_DEBUG"):
        monkeypatch.delenv(key, raising=False)
    cwd = matrix_env.tmp / "cwd"
    cwd.mkdir(exist_ok=True)
    monkeypatch.chdir(cwd)
    return matrix_env


def _run_case(path: tuple[str, ...], param: str | None, attack: str | None, env: Env, as_json: bool) -> Any:
    cmd = dict(LEAVES)[path]
    target = None if param is None else next(p for p in cmd.params if p.name == param)
    value = "" if target is None else dict(_attacks(target, env))[attack]
    argv = _argv_for(path, cmd, env, target, value)
    if param is None and attack == "unknown-option":  # otherwise valid arguments plus an option nobody has
        argv = [*argv, "--zz-no-such-option"]
    elif param is None:  # missing arguments: nothing but the workspace
        argv = [*path, *(["--workspace", str(env.ws)] if any(p.name == "workspace" for p in cmd.params) else [])]
    argv += ["--json"] if as_json else []
    return argv, CliRunner().invoke(app, argv, input="")


def test_the_matrix_covers_every_command() -> None:
    covered = {path for _, path, _, _ in MATRIX}
    assert covered == {path for path, _ in LEAVES}
    assert len(LEAVES) >= 40 and len(MATRIX) > 300


@pytest.mark.slow
@pytest.mark.parametrize(("case", "path", "param", "attack"), MATRIX, ids=[c[0] for c in MATRIX])
def test_matrix_error_is_one_line(case: str, path: tuple[str, ...], param: str | None, attack: str | None,
                                  isolated: Env) -> None:
    argv, res = _run_case(path, param, attack, isolated, as_json=False)
    shown = f"{argv}\n--stdout--\n{res.stdout}\n--stderr--\n{res.stderr}"
    assert res.exception is None or isinstance(res.exception, SystemExit), f"{res.exception!r}\n{shown}"
    assert "Traceback" not in res.stdout + res.stderr, shown
    assert res.exit_code != 0, shown
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), shown
    assert "unexpected" not in lines[0], shown


@pytest.mark.slow
@pytest.mark.parametrize(("case", "path", "param", "attack"), MATRIX, ids=[c[0] for c in MATRIX])
def test_matrix_json_error_is_one_object(case: str, path: tuple[str, ...], param: str | None, attack: str | None,
                                         isolated: Env) -> None:
    argv, res = _run_case(path, param, attack, isolated, as_json=True)
    shown = f"{argv}\n--stdout--\n{res.stdout}\n--stderr--\n{res.stderr}"
    assert res.exception is None or isinstance(res.exception, SystemExit), f"{res.exception!r}\n{shown}"
    assert "Traceback" not in res.stdout + res.stderr, shown
    assert res.exit_code != 0, shown
    lines = res.stdout.splitlines()
    assert len(lines) == 1, shown
    body = json.loads(lines[0])
    assert isinstance(body, dict) and body["error"] and "\n" not in body["error"], shown
    assert body["kind"] != "internal", shown


SUBPROCESS_CASES = [
    ["data", "show", "dv_0000000000", "-w", "{ws}"],
    ["backtest", "--data", "{tmp}/image.csv", "--baseline", "ema_cross"],
    ["backtest", "--spec", "{tmp}/image.json", "--data-version", "{dv}", "-w", "{ws}"],
    ["experiment", "run", "--data", "{spec}", "--spec", "{dv}", "--train", "10", "--target", "5", "-w", "{ws}"],
    ["bactest"],
]


@pytest.mark.parametrize("args", SUBPROCESS_CASES, ids=lambda a: " ".join(a[:2]))
@pytest.mark.parametrize("as_json", [False, True], ids=["text", "json"])
def test_a_real_process_fails_in_one_line(args: list[str], as_json: bool, matrix_env: Env) -> None:
    """The installed entry point (`python -m auraquant`), not the in-process runner: exit code, streams."""
    import os
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[3]
    argv = [a.format(ws=matrix_env.ws, dv=matrix_env.dv, tmp=matrix_env.tmp, spec=matrix_env.spec) for a in args]
    env = {k: v for k, v in os.environ.items() if k != "AURAQUANT_DEBUG"} | {"PYTHONPATH": str(root)}
    res = subprocess.run([sys.executable, "-m", "auraquant", *argv, *(["--json"] if as_json else [])],
                         capture_output=True, text=True, env=env, cwd=matrix_env.tmp, timeout=120)
    assert res.returncode not in (0, None) and "Traceback" not in res.stdout + res.stderr, res
    if as_json:
        lines = res.stdout.splitlines()
        assert len(lines) == 1 and json.loads(lines[0])["kind"] != "internal", res
    else:
        assert res.stdout == "" and len(res.stderr.strip().splitlines()) == 1, res
        assert res.stderr.startswith("error: "), res
