"""`auraquant model …`: show (and reload-check) a fitted model, train one on a data version, store a
feature set. Learned baselines themselves run through `auraquant experiment run` (a Spec whose
baseline is `model_lstm`, `model_transformer`, `model_nbeats` or `model_lightgbm`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from auraquant.console import cli_errors, console, fail, print_json, table
from auraquant.workspace import Workspace

app = typer.Typer(no_args_is_help=True, help="Learned baselines: fitted models, training, feature sets.")

WorkspaceOpt = Annotated[Path, typer.Option("--workspace", "-w", help="Workspace directory (default: current).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]


def _guard(fn: Any, json_out: bool) -> Any:
    """Run `fn`; model-layer refusals (unknown id, tampered weights, missing ml extra) become one line."""
    from auraquant.cta.models.artifacts import ModelArtifactError, ModelNotFound
    from auraquant.cta.models.training import MissingDependency
    from auraquant.cta.models.window import ModelWindowError

    try:
        return fn()
    except (ModelNotFound, ModelArtifactError, MissingDependency, ModelWindowError) as e:
        fail(str(e), as_json=json_out, kind=type(e).__name__)


def _fmt(v: Any) -> str:
    return f"{v:.4g}" if isinstance(v, float) else ("-" if v is None else str(v))


@app.command("show")
@cli_errors
def show_cmd(model_id: Annotated[str, typer.Argument(help="Model id (model_…).")], workspace: WorkspaceOpt = Path("."),
             verify: Annotated[bool, typer.Option(help="Reload the weights and re-predict the stored reference.")] = True,
             json_out: JsonOpt = False) -> None:
    """A fitted model: config, features, data hash, weights sha256, hyperparameter trials and the reload check."""
    from auraquant.cta.models.service import model_show

    out = _guard(lambda: model_show(Workspace.open(workspace), model_id, verify=verify), json_out)
    if json_out:
        print_json(out)
        return
    rows = [(k, _fmt(out.get(k))) for k in ("model_id", "kind", "config_id", "feature_set_id", "n_features", "label",
                                             "horizon", "n_train", "val_logloss", "val_accuracy", "train_data_hash",
                                             "weights_sha256", "run_id", "window", "reload_identical")]
    console.print(table(f"model {model_id}", ["field", "value"], rows))
    console.print(table("files (sha256)", ["file", "sha256"], sorted(out["files"].items())))


@app.command("train")
@cli_errors
def train_cmd(data: Annotated[str, typer.Option(help="Data version id.")],
              kind: Annotated[str, typer.Option(help="lstm | transformer | nbeats | lightgbm")],
              train: Annotated[int, typer.Option(help="Train bars (the last ones before the holdout).")] = 2000,
              validation: Annotated[int, typer.Option(help="Validation bars after them.")] = 500,
              param: Annotated[list[str] | None, typer.Option(help="Baseline param NAME=VALUE (repeatable).")] = None,
              seed: Annotated[int, typer.Option(help="Training and search seed.")] = 0,
              workspace: WorkspaceOpt = Path("."), json_out: JsonOpt = False) -> None:
    """Train one model (Optuna search on validation) on a data version and store its artifacts."""
    from auraquant.cta.models.service import train_on_data

    params: dict[str, int | float] = {}
    for p in param or []:
        k, sep, v = p.partition("=")
        if not sep:
            raise ValueError(f"--param {p!r}: expected NAME=VALUE")
        params[k.strip()] = float(v) if any(c in v for c in ".eE") else int(v)
    out = _guard(lambda: train_on_data(Workspace.open(workspace), data, kind, params, train_bars=train,
                                       validation_bars=validation, seed=seed), json_out)
    if json_out:
        print_json(out)
        return
    console.print(table("model trained", ["field", "value"], [(k, _fmt(v)) for k, v in out.items()]))


@app.command("feature-set")
@cli_errors
def feature_set_cmd(file: Annotated[Path, typer.Argument(help="FeatureSet JSON file.")],
                    workspace: WorkspaceOpt = Path("."), json_out: JsonOpt = False) -> None:
    """Store a feature set; its `key` is the value of a model baseline's `features` parameter.
    Fields left out of the file keep the default set's values."""
    from auraquant.cta.models.features import FeatureSet
    from auraquant.cta.models.service import put_feature_set

    fs = FeatureSet.model_validate(json.loads(file.read_text()))
    out = put_feature_set(Workspace.open(workspace), fs)
    if json_out:
        print_json(out)
        return
    console.print(f"{out['feature_set_id']}  key={out['key']}  columns: {', '.join(out['columns'])}")
