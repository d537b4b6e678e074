"""Typed tool registry: `@tool` turns a typed function into a `Tool`; `ToolRegistry` lists, exports and
calls tools. `ToolRegistry.call` never raises into the agent loop: every failure (bad JSON, bad
arguments, oversized arguments, permission, pre-flight, timeout, exception) comes back as a
`ToolOutcome` carrying a structured `ToolError` the model can read. Only cancellation propagates, so
Ctrl-C stays prompt. Tool traffic is bounded by the registry's `ToolLimits` (see `aura.tools.limits`):
oversized calls are refused before the tool runs, oversized results are cut with a note and kept in
`registry.outputs` for `tool_output_get`.
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import json
import threading
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any, Literal

from pydantic import BaseModel, ValidationError

from aura.tools.context import ToolContext
from aura.tools.errors import ToolError, ToolFailure
from aura.tools.limits import DEFAULT_LIMITS, OutputStore, ToolLimits, cap_text
from aura.tools.schema import SchemaFormat, ToolSchema, analyse_signature, input_json_schema, to_format

Permission = Literal["agent", "human"]

#: A pre-flight validator: `(ctx, args) -> None` to allow, or a reason string to refuse. May be async.
Preflight = Callable[[ToolContext[Any], BaseModel], "str | None | Awaitable[str | None]"]


@dataclass(frozen=True)
class Tool:
    """A registered-able tool. Build it with `@tool`; call it through `ToolRegistry.call`."""

    name: str
    fn: Callable[..., Any]
    description: str
    doc: str
    category: str
    permission: Permission
    exclusive: bool
    timeout_s: float | None
    preflight: tuple[Preflight, ...]
    input_model: type[BaseModel]
    output_schema: dict[str, Any] | None
    _takes_ctx: bool = field(repr=False)
    _takes_model: bool = field(repr=False)
    _output_adapter: Any = field(repr=False)
    _is_async: bool = field(repr=False)

    @property
    def schema(self) -> ToolSchema:
        return ToolSchema(
            name=self.name, description=self.description, parameters=input_json_schema(self.input_model)
        )

    def reference(self) -> str:
        """Full reference text (progressive disclosure): docstring, input and output schemas, rules."""
        lines = [
            f"# {self.name}  (category: {self.category}; permission: {self.permission}"
            + ("; runs alone" if self.exclusive else "")
            + ")",
            "",
            self.doc or self.description,
            "",
            "## Input schema",
            json.dumps(self.schema.parameters, indent=1, sort_keys=True),
        ]
        if self.output_schema is not None:
            lines += ["", "## Output schema", json.dumps(self.output_schema, indent=1, sort_keys=True)]
        if self.timeout_s is not None:
            lines += ["", f"Times out after {self.timeout_s:g} s."]
        return "\n".join(lines)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Direct call of the underlying function (for tests and composition); no validation."""
        return self.fn(*args, **kwargs)


def tool(
    fn: Callable[..., Any] | None = None,
    *,
    name: str | None = None,
    category: str = "general",
    permission: Permission = "agent",
    exclusive: bool = False,
    timeout_s: float | None = 60.0,
    preflight: Sequence[Preflight] = (),
) -> Any:
    """Decorate a typed function (sync or async) as a `Tool`.

    The first parameter may be a `ToolContext[Deps]` (detected by annotation, or by the name `ctx`).
    The rest are either one pydantic model, or annotated parameters turned into a model. The return
    annotation gives the output schema and the serializer (a `str` result is passed through verbatim).
    The docstring's first paragraph is the description the model always sees; the whole docstring is
    the reference text shown on demand. `exclusive` tools never run concurrently with another tool.
    """

    def wrap(f: Callable[..., Any]) -> Tool:
        tool_name = name or f.__name__
        sig = analyse_signature(f, tool_name)
        doc = inspect.cleandoc(f.__doc__ or "")
        return Tool(
            name=tool_name,
            fn=f,
            description=doc.split("\n\n", 1)[0].replace("\n", " ") or tool_name,
            doc=doc,
            category=category,
            permission=permission,
            exclusive=exclusive,
            timeout_s=timeout_s,
            preflight=tuple(preflight),
            input_model=sig.input_model,
            output_schema=sig.output_schema,
            _takes_ctx=sig.takes_ctx,
            _takes_model=sig.takes_model,
            _output_adapter=sig.output_adapter,
            _is_async=inspect.iscoroutinefunction(f),
        )

    return wrap(fn) if fn is not None else wrap


@dataclass(frozen=True)
class ToolOutcome:
    """Result of one call: `content` is what the model reads (capped at the registry's
    `max_result_chars`); `value` is the Python return value (never capped); `output_id` names the full
    text when `content` was cut; `duration_s` is this call's own wall time."""

    tool: str
    ok: bool
    content: str
    value: Any = None
    error: ToolError | None = None
    duration_s: float = 0.0
    output_id: str | None = None


class ToolRegistry:
    """Named tools, their schemas, and the one safe way to call them."""

    def __init__(self, tools: Iterable[Tool] = (), *, limits: ToolLimits = DEFAULT_LIMITS) -> None:
        self._tools: dict[str, Tool] = {}
        self.limits = limits
        #: full texts of capped results, by output id (read back with `tool_output_get`)
        self.outputs = OutputStore()
        self._export_cache: dict[tuple[Any, ...], tuple[Any, ...]] = {}
        for t in tools:
            self.register(t)

    # -- registration and listing -------------------------------------------------------------
    def register(self, *tools: Tool) -> None:
        for t in tools:
            if not isinstance(t, Tool):
                raise TypeError(f"{t!r} is not a Tool; decorate it with @tool")
            if t.name in self._tools:
                raise ValueError(f"tool {t.name!r} is already registered")
            self._tools[t.name] = t
        self._export_cache.clear()

    def get(self, name: str) -> Tool | None:
        return self._tools.get(name)

    def __contains__(self, name: object) -> bool:
        return name in self._tools

    def __len__(self) -> int:
        return len(self._tools)

    def names(self) -> list[str]:
        return list(self._tools)

    def categories(self) -> dict[str, list[str]]:
        """Category -> tool names, in registration order."""
        out: dict[str, list[str]] = {}
        for t in self._tools.values():
            out.setdefault(t.category, []).append(t.name)
        return out

    def tools(self, category: str | None = None, caller: Literal["agent", "human"] = "agent") -> list[Tool]:
        """Tools usable by `caller`, optionally of one category."""
        return [
            t
            for t in self._tools.values()
            if (category is None or t.category == category) and (caller == "human" or t.permission == "agent")
        ]

    def reference(self, name: str) -> str:
        t = self._tools.get(name)
        if t is None:
            raise KeyError(name)
        return t.reference()

    # -- schema export ------------------------------------------------------------------------
    def schemas(
        self,
        caller: Literal["agent", "human"] = "agent",
        categories: Iterable[str] | None = None,
    ) -> tuple[ToolSchema, ...]:
        """Neutral schemas of the tools `caller` may use (human-only tools are hidden from the agent)."""
        key = ("neutral", caller, None if categories is None else tuple(sorted(categories)))
        hit = self._export_cache.get(key)
        if hit is None:
            cats = None if categories is None else set(categories)
            hit = tuple(t.schema for t in self.tools(caller=caller) if cats is None or t.category in cats)
            self._export_cache[key] = hit
        return hit

    def export(
        self,
        fmt: SchemaFormat,
        caller: Literal["agent", "human"] = "agent",
        categories: Iterable[str] | None = None,
    ) -> list[dict[str, Any]]:
        """Schemas in a provider's wire format: "anthropic", "openai_chat" or "openai_responses"."""
        return [to_format(s, fmt) for s in self.schemas(caller, categories)]

    # -- calling ------------------------------------------------------------------------------
    async def call(self, name: str, raw_args: str | Mapping[str, Any], ctx: ToolContext[Any]) -> ToolOutcome:
        """Validate and run one call. Returns a failed outcome instead of raising (except cancellation).
        The outcome's `content` never exceeds `limits.max_result_chars`."""
        out = await self._call(name, raw_args, ctx)
        if len(out.content) <= self.limits.max_result_chars:
            return out
        content = cap_text(
            out.content, self.limits.max_result_chars, self.outputs, fetchable="tool_output_get" in self
        )
        return replace(out, content=content, output_id=self.outputs.put(out.content))

    async def _call(self, name: str, raw_args: str | Mapping[str, Any], ctx: ToolContext[Any]) -> ToolOutcome:
        start = time.perf_counter()
        t = self._tools.get(name)
        if t is None:
            known = ", ".join(sorted(self._tools)) or "none"
            return _fail(name, "unknown_tool", f"no tool named {name!r}; available: {known}", start)
        if t.permission == "human" and ctx.caller != "human":
            return _fail(
                name, "permission_denied", f"{name} is reserved for a human; ask the user to run it", start
            )
        too_large = _size_problem(raw_args, self.limits)
        if too_large is not None:
            return _fail(name, "too_large", too_large[0], start, too_large[1])
        try:
            payload = _parse_args(raw_args)
        except ValueError as exc:
            return _fail(name, "invalid_json", f"arguments are not a JSON object: {exc}", start)
        too_large = _argument_problem(payload, self.limits)
        if too_large is not None:
            return _fail(name, "too_large", too_large[0], start, too_large[1])
        try:
            args = t.input_model.model_validate(payload)
        except ValidationError as exc:
            details = [{"loc": list(e["loc"]), "msg": e["msg"]} for e in exc.errors(include_url=False)]
            return _fail(
                name, "invalid_arguments", f"arguments do not match the schema of {name}", start, details
            )
        try:
            for check in t.preflight:
                verdict = check(ctx, args)
                if inspect.isawaitable(verdict):
                    verdict = await verdict
                if verdict:
                    return _fail(name, "preflight_failed", str(verdict), start)
            result = await self._run(t, args, ctx)
        except TimeoutError:
            return _fail(name, "timeout", f"{name} did not finish within {t.timeout_s:g} s", start)
        except ToolFailure as exc:
            return _fail(name, "tool_failed", exc.message, start, exc.details)
        except Exception as exc:  # any tool bug becomes a tool error for the model
            return _fail(name, "exception", f"{type(exc).__name__}: {exc}", start)
        try:
            content = _serialize(t, result)
        except Exception as exc:  # a tool returning the wrong type is still a tool error
            return _fail(name, "exception", f"result does not match the declared output: {exc}", start)
        return ToolOutcome(
            tool=name, ok=True, content=content, value=result, duration_s=time.perf_counter() - start
        )

    async def _run(self, t: Tool, args: BaseModel, ctx: ToolContext[Any]) -> Any:
        pos: tuple[Any, ...] = (ctx,) if t._takes_ctx else ()
        kwargs: dict[str, Any] = {}
        if t._takes_model:
            pos = (*pos, args)
        else:
            kwargs = {k: getattr(args, k) for k in type(args).model_fields}
        work: Awaitable[Any] = (
            t.fn(*pos, **kwargs) if t._is_async else _in_daemon_thread(partial(t.fn, *pos, **kwargs))
        )
        if t.timeout_s is None:
            return await work
        return await asyncio.wait_for(work, t.timeout_s)


def _in_daemon_thread(fn: Callable[[], Any]) -> asyncio.Future[Any]:
    """Run a blocking tool in its own daemon thread. Not a pool: a pool's size would serialise a large
    batch, and its non-daemon threads would keep a Ctrl-C'd process alive while a tool hangs."""
    loop = asyncio.get_running_loop()
    fut: asyncio.Future[Any] = loop.create_future()
    context = contextvars.copy_context()

    def settle(ok: bool, value: Any) -> None:
        if fut.done():  # cancelled or timed out meanwhile
            return
        if ok:
            fut.set_result(value)
        else:
            fut.set_exception(value)

    def runner() -> None:
        try:
            result = context.run(fn)
        except BaseException as exc:  # delivered to the awaiting coroutine
            outcome: tuple[bool, Any] = (False, exc)
        else:
            outcome = (True, result)
        try:
            loop.call_soon_threadsafe(settle, *outcome)
        except RuntimeError:
            pass  # the loop is gone (the run was interrupted); nobody waits for this result

    threading.Thread(target=runner, name=f"aura-tool-{getattr(fn, '__name__', 'call')}", daemon=True).start()
    return fut


def _parse_args(raw: str | Mapping[str, Any]) -> Mapping[str, Any]:
    if isinstance(raw, Mapping):
        return raw
    if not raw.strip():
        return {}  # OpenAI-compatible servers send "" for tools without parameters
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        # `exc.msg` may itself end in "at" ("Unterminated string starting at"): the location follows a colon.
        raise ValueError(f"{exc.msg}: line {exc.lineno} column {exc.colno} (char {exc.pos})") from None
    if not isinstance(value, dict):
        raise ValueError(f"expected an object, got {type(value).__name__}")
    return value


def _size_problem(raw: str | Mapping[str, Any], limits: ToolLimits) -> tuple[str, dict[str, Any]] | None:
    """The whole call's raw text against `max_call_chars` (checked before parsing: a huge text is
    refused without being parsed)."""
    if not isinstance(raw, str) or len(raw) <= limits.max_call_chars:
        return None
    return (
        f"the call's arguments are {len(raw)} characters; the limit is {limits.max_call_chars} per call "
        f"({limits.max_argument_chars} per argument). Send less data per call: split the work, or pass "
        "ids of stored objects instead of their content",
        {"size_chars": len(raw), "limit_chars": limits.max_call_chars, "scope": "call"},
    )


def _argument_problem(payload: Mapping[str, Any], limits: ToolLimits) -> tuple[str, dict[str, Any]] | None:
    """The first top-level argument whose JSON size exceeds `max_argument_chars` (a string counts its
    characters; other values their compact JSON text)."""
    total = 0
    for key, value in payload.items():
        size = len(value) if isinstance(value, str) else len(_compact_json(value))
        total += size
        if size > limits.max_argument_chars:
            return (
                f"argument {key!r} is {size} characters; the limit is {limits.max_argument_chars} per "
                f"argument ({limits.max_call_chars} per call). Send less data: split it over several "
                "calls, or pass the id of a stored object instead of its content",
                {"argument": key, "size_chars": size, "limit_chars": limits.max_argument_chars,
                 "scope": "argument"},
            )
    if total > limits.max_call_chars:  # a mapping passed directly (no raw text to measure)
        return (
            f"the call's arguments are {total} characters; the limit is {limits.max_call_chars} per call",
            {"size_chars": total, "limit_chars": limits.max_call_chars, "scope": "call"},
        )
    return None


def _compact_json(value: Any) -> str:
    try:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
    except (TypeError, ValueError):
        return str(value)


def _serialize(t: Tool, result: Any) -> str:
    """Check the result against the declared return type (strictly), then render it for the model:
    strings verbatim, everything else as JSON."""
    if t._output_adapter is not None:
        result = t._output_adapter.validate_python(result, strict=True)
        return result if isinstance(result, str) else t._output_adapter.dump_json(result).decode()
    if isinstance(result, str):
        return result
    if isinstance(result, BaseModel):
        return result.model_dump_json()
    return json.dumps(result, ensure_ascii=False, default=str)


def _fail(name: str, kind: Any, message: str, start: float, details: Any = None) -> ToolOutcome:
    err = ToolError(tool=name, kind=kind, message=message, details=details)
    return ToolOutcome(
        tool=name, ok=False, content=err.to_model_text(), error=err, duration_s=time.perf_counter() - start
    )
