"""Tool schemas: derived once from a typed signature, exported in each provider's format.

The typed signature is the single source of truth (no hand-written JSON): either one pydantic model
parameter (used as is), or plain annotated parameters (turned into a model with `extra="forbid"`).
"""

from __future__ import annotations

import inspect
import typing
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, TypeAdapter, create_model

from aura.tools.context import ToolContext

SchemaFormat = Literal["anthropic", "openai_chat", "openai_responses"]


class ToolSchema(BaseModel):
    """Provider-neutral description of one tool as the model sees it."""

    model_config = ConfigDict(frozen=True)
    name: str
    description: str
    parameters: dict[str, Any]


class _Signature(BaseModel):
    model_config = ConfigDict(arbitrary_types_allowed=True)
    takes_ctx: bool
    input_model: type[BaseModel]
    #: True when the function takes the model instance itself, False when it takes its fields as kwargs.
    takes_model: bool
    output_adapter: Any  # TypeAdapter | None
    output_schema: dict[str, Any] | None


def _is_ctx_annotation(annotation: Any) -> bool:
    origin = typing.get_origin(annotation) or annotation
    return inspect.isclass(origin) and issubclass(origin, ToolContext)


def analyse_signature(fn: Any, model_name: str) -> _Signature:
    """Derive the input model and output serializer of `fn`. Raises TypeError on an unusable signature
    (missing annotations, *args/**kwargs), at decoration time rather than at call time."""
    hints = typing.get_type_hints(fn, include_extras=True)
    params = list(inspect.signature(fn).parameters.values())
    takes_ctx = bool(params) and (_is_ctx_annotation(hints.get(params[0].name)) or params[0].name == "ctx")
    if takes_ctx:
        params = params[1:]
    for p in params:
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            raise TypeError(f"tool {model_name}: *args/**kwargs are not allowed")
        if p.name not in hints:
            raise TypeError(f"tool {model_name}: parameter {p.name!r} needs a type annotation")
    single = params[0] if len(params) == 1 else None
    if (
        single is not None
        and inspect.isclass(hints[single.name])
        and issubclass(hints[single.name], BaseModel)
    ):
        input_model, takes_model = hints[single.name], True
    else:
        fields: dict[str, Any] = {
            p.name: (hints[p.name], ... if p.default is p.empty else p.default) for p in params
        }
        input_model = create_model(  # type: ignore[call-overload]
            f"{model_name}_args", __config__=ConfigDict(extra="forbid"), **fields
        )
        takes_model = False
    ret = hints.get("return", inspect.Signature.empty)
    if ret in (inspect.Signature.empty, None, type(None)):
        adapter, out_schema = None, None
    else:
        adapter = TypeAdapter(ret)
        out_schema = _clean(adapter.json_schema())
    return _Signature(
        takes_ctx=takes_ctx,
        input_model=input_model,
        takes_model=takes_model,
        output_adapter=adapter,
        output_schema=out_schema,
    )


def _clean(schema: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in schema.items() if k != "title"}
    if out.get("type") == "object":
        out.setdefault("properties", {})
    return out


def input_json_schema(model: type[BaseModel]) -> dict[str, Any]:
    return _clean(model.model_json_schema())


def to_format(schema: ToolSchema, fmt: SchemaFormat) -> dict[str, Any]:
    """One tool in a provider's wire format."""
    if fmt == "anthropic":
        return {"name": schema.name, "description": schema.description, "input_schema": schema.parameters}
    if fmt == "openai_chat":
        return {
            "type": "function",
            "function": {
                "name": schema.name,
                "description": schema.description,
                "parameters": schema.parameters,
            },
        }
    if fmt == "openai_responses":
        return {
            "type": "function",
            "name": schema.name,
            "description": schema.description,
            "parameters": schema.parameters,
        }
    raise ValueError(f"unknown schema format {fmt!r}")
