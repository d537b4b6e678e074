"""`auraquant modules …`, `auraquant spec …` and `auraquant tools …`: what a Spec can be made of, what a Spec
is, and what the agent can call, read from the same owners the agent's tools use (the module catalog in
`auraquant/cta/tools/modules.py`, the `Spec` model, the tool registry) so the CLI and the agent never disagree.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Annotated, Any

import typer

from auraquant.console import cli_errors, console, print_json, say, table

WorkspaceOpt = Annotated[Path | None, typer.Option("--workspace", "-w", help="Workspace directory (its own "
                                                   "agent-written modules are included; default: the current "
                                                   "directory when it is a workspace, else built-ins only).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]

modules_app = typer.Typer(no_args_is_help=True, help="Strategy modules: built-in and workspace, kinds, params.")
spec_app = typer.Typer(no_args_is_help=True, help="Strategy Specs: an example, the JSON schema, validation.")
tools_app = typer.Typer(no_args_is_help=True, help="The research tools the agent calls (the real registry).")

#: module kinds as a Spec names its fields -> the catalog's kind directories
KIND_ALIASES = {"baseline": "baselines", "filter": "filters", "execution": "executions", "risk": "risks"}


#: the module root when there is no workspace: a directory that does not exist, so only built-ins are found
_BUILTINS_ONLY = Path("/nonexistent-auraquant-runtime")


def _runtime(workspace: Path | None) -> Path:
    """The module root: the workspace's `cta_runtime/` (agent-written modules), or `_BUILTINS_ONLY`. An
    explicit `--workspace` must be one; the current directory is used only when it is one."""
    from auraquant.workspace import NotAWorkspace, Workspace

    try:
        return Workspace.open(workspace or Path(".")).runtime_dir
    except NotAWorkspace:
        if workspace is not None:
            raise
        return _BUILTINS_ONLY


def _kind(kind: str) -> str:
    from auraquant.cta.tools.codeguard import KINDS

    k = KIND_ALIASES.get(kind, kind)
    if k not in KINDS:
        raise typer.BadParameter(f"unknown module kind {kind!r}; one of {', '.join(KINDS)}")
    return k


def _catalog(root: Path, kind: str | None) -> list[dict[str, Any]]:
    from auraquant.cta.tools import modules
    from auraquant.cta.tools.strategy import _summary

    out = []
    for k, name, where in modules.catalog(root, kind):
        try:
            params = modules.describe_params(modules.load(root, k, name))
        except (ValueError, LookupError, OSError) as exc:  # a broken workspace module must not hide the others
            where, params = f"invalid: {exc}", {}
        out.append({"kind": k, "name": name, "origin": where, "summary": _summary(modules.source_of(root, k, name)),
                    "params": params})
    return out


def _param_text(params: dict[str, dict[str, Any]]) -> str:
    return ", ".join(f"{n}={p['default']}" for n, p in params.items()) or "-"


@modules_app.command("list")
@cli_errors
def modules_list(
    kind: Annotated[str | None, typer.Option("--kind", help="baselines | filters | executions | risks")] = None,
    workspace: WorkspaceOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Every module a Spec can use: kind, name, origin (builtin / workspace) and params with defaults."""
    rows = _catalog(_runtime(workspace), _kind(kind) if kind else None)
    if json_out:
        print_json(rows)
        return
    console.print(table("modules", ["kind", "name", "origin", "params (defaults)", "summary"],
                        [(r["kind"], r["name"], r["origin"], _param_text(r["params"]), r["summary"]) for r in rows]))


@modules_app.command("show")
@cli_errors
def modules_show(
    name: Annotated[str, typer.Argument(help="NAME or KIND/NAME, e.g. ema_cross or executions/atr_stop")],
    source: Annotated[bool, typer.Option("--source", help="Also print the module's code.")] = False,
    workspace: WorkspaceOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """One module: kind, origin, summary and each param's default, type, bounds and meaning."""
    from auraquant.cta.tools import modules

    runtime = _runtime(workspace)
    kind, _, short = name.rpartition("/")
    matches = [r for r in _catalog(runtime, _kind(kind) if kind else None) if r["name"] == short]
    if not matches:
        raise LookupError(f"no module {name!r}; `auraquant modules list` shows what exists")
    if len(matches) > 1:
        raise LookupError(f"{short!r} names {len(matches)} modules ({', '.join(m['kind'] + '/' + short for m in matches)}); "
                          "give KIND/NAME")
    m = matches[0]
    if source:
        m = m | {"source": modules.source_of(runtime, m["kind"], m["name"])}
    if json_out:
        print_json(m)
        return
    say(f"{m['kind']}/{m['name']} ({m['origin']}): {m['summary']}")
    console.print(table("params", ["param", "default", "type", "low", "high", "meaning"],
                        [(p, d["default"], d["kind"], d["low"], d["high"], d["doc"]) for p, d in m["params"].items()]))
    if source:
        say(m["source"])


def example_spec() -> Any:
    """A complete, valid Spec that runs: EMA crossover entries, an ATR stop, fixed-fraction sizing, realistic
    costs and a search space over the EMA periods (the starting point `auraquant spec example` prints)."""
    from auraquant.cta.strategy.spec import Spec

    return Spec.model_validate({
        "name": "ema_cross_atr_stop",
        "description": "Trend following: long/short on EMA crossovers, exits by a 2.5 ATR stop.",
        "baseline": {"name": "ema_cross", "params": {"fast": 12, "slow": 48}},
        "filters": [],
        "execution": [{"name": "atr_stop", "params": {"period": 14, "sl_mult": 2.5}}],
        "risk": [{"name": "fixed_fraction", "params": {"fraction": 1.0}}],
        "search_space": {"baseline.fast": {"kind": "int", "low": 5, "high": 30},
                         "baseline.slow": {"kind": "int", "low": 40, "high": 200, "step": 10}},
        "engine": {"commission_bps": 5.0, "slippage_bps": 2.0},
    })


@spec_app.command("example")
@cli_errors
def spec_example(
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Write it to this file instead of stdout.")] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing --out file.")] = False,
    json_out: JsonOpt = False,
) -> None:
    """Print an example Spec (JSON) that validates and runs: edit it, then `auraquant spec validate FILE` and
    `auraquant backtest --spec FILE --data-version ID`."""
    spec = example_spec()
    text = json.dumps(spec.model_dump(mode="json"), indent=2) + "\n"
    if out is None:
        typer.echo(text, nl=False)  # the Spec itself is the JSON output
        return
    if out.is_dir():
        raise typer.BadParameter(f"--out {out} is a directory; give a file name")
    if out.exists() and not force:
        raise typer.BadParameter(f"--out {out} exists; pass --force to overwrite it")
    out.write_text(text, encoding="utf-8")
    if json_out:
        print_json({"path": str(out), "spec_id": spec.id})
    else:
        say(f"wrote {out} (Spec {spec.id})")


@spec_app.command("schema")
@cli_errors
def spec_schema(json_out: JsonOpt = False) -> None:
    """The JSON schema of a Spec (from the model the engine validates against)."""
    from auraquant.cta.strategy.spec import Spec

    typer.echo(json.dumps(Spec.model_json_schema(), indent=2))


def check_spec(spec: Any, root: Path) -> None:
    """Every module of `spec` exists and validates, its params are declared and within bounds, and every
    search-space path names a declared param with in-bound ranges (the checks `spec_put` makes). Raises
    ValueError starting with the Spec field path at fault (`execution[0].params: …`, `search_space: …`)."""
    from aura.tools import ToolFailure
    from auraquant.cta.strategy.protocols import resolve_params
    from auraquant.cta.tools import modules
    from auraquant.cta.tools.strategy import _check_params

    for field, kind in modules.SPEC_FIELDS:
        refs = [spec.baseline] if field == "baseline" else getattr(spec, field)
        for i, ref in enumerate(refs):
            where = field if field == "baseline" else f"{field}[{i}]"
            try:
                mod = modules.load(root, kind, ref.name)
            except LookupError:
                raise ValueError(f"{where}.name: no {kind} module {ref.name!r} (`auraquant modules list --kind "
                                 f"{kind}`)") from None
            try:
                resolve_params(ref.name, mod.params, ref.params)
            except ValueError as exc:
                raise ValueError(f"{where}.params: {exc}") from None
    ctx = SimpleNamespace(deps=SimpleNamespace(runtime_dir=root))  # _check_params reads only the module root
    try:
        _check_params(ctx, spec)  # type: ignore[arg-type]  # the search space, as spec_put checks it
    except ToolFailure as exc:
        raise ValueError(f"search_space: {exc}") from None


@spec_app.command("validate")
@cli_errors
def spec_validate(
    file: Annotated[Path, typer.Argument(help="Spec JSON file.")],
    workspace: WorkspaceOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Check a Spec file: JSON, fields (errors name the field path), modules, params and search space."""
    from auraquant.cta.strategy.spec import Spec

    if file.is_dir():
        raise typer.BadParameter(f"{file} is a directory; give a Spec JSON file")
    try:
        text = file.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ValueError(f"{file} is not a text file (a Spec is JSON)") from None
    spec = Spec.model_validate_json(text)
    check_spec(spec, _runtime(workspace))
    if json_out:
        print_json({"ok": True, "file": str(file), "spec_id": spec.id})
    else:
        say(f"valid: {file} (Spec {spec.id}: {spec.baseline.name}"
            + "".join(f" + {r.name}" for r in (*spec.filters, *spec.execution, *spec.risk))
            + f"; {len(spec.search_space)} search dimensions)")


@tools_app.command("list")
@cli_errors
def tools_list(
    category: Annotated[str | None, typer.Option("--category", help="Only this group (data, strategy, …).")] = None,
    json_out: JsonOpt = False,
) -> None:
    """Every tool of the research registry (what `chat` and `auraquant mcp` expose): name, group, summary."""
    from auraquant.cta.tools.registry import build_registry

    tools = build_registry().tools()
    if category is not None:
        known = sorted({t.category for t in tools})
        if category not in known:
            raise typer.BadParameter(f"unknown category {category!r}; one of {', '.join(known)}")
        tools = [t for t in tools if t.category == category]
    rows = [{"name": t.name, "category": t.category, "description": t.description,
             "permission": str(getattr(t.permission, "value", t.permission))} for t in tools]
    if json_out:
        print_json(rows)
        return
    console.print(table(f"tools ({len(rows)})", ["name", "group", "summary"],
                        [(r["name"], r["category"], r["description"]) for r in rows]))
