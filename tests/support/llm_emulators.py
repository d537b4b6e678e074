"""Local HTTP servers on 127.0.0.1 that speak the Anthropic Messages and OpenAI (Chat Completions,
Responses) streaming wire formats, for driving the real SDKs in tests.

A *brain* decides each reply: `brain(request_body, index) -> Turn | Fail | Drop | Stall`. The servers
validate requests the way the real APIs do where it matters to us (tool pairing), record every
request, and answer invalid ones with the real error shapes.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tests.support.http_harness import Exchange, HttpHarness


@dataclass(frozen=True)
class Turn:
    text: str = ""
    tool_calls: tuple[tuple[str, str], ...] = ()  # (name, raw JSON arguments, possibly malformed)


@dataclass(frozen=True)
class Fail:
    status: int
    err_type: str
    message: str = "emulated failure"
    retry_after: float | None = None


@dataclass(frozen=True)
class Drop:
    """Send `after_events` events, then cut the connection (`clean_eof=False`: no terminating chunk,
    like a reset) or end the body cleanly before the end-of-message event (`clean_eof=True`)."""

    after_events: int = 3
    clean_eof: bool = False
    text: str = "this text will be lost because the stream drops"


@dataclass(frozen=True)
class Stall:
    seconds: float


Reply = Turn | Fail | Drop | Stall
Brain = Callable[[dict[str, Any], int], Reply]


def tokens_of(obj: Any) -> int:
    return len(json.dumps(obj, separators=(",", ":"))) // 4 + 1


@dataclass
class Recorded:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    status: int = 200


class EmulatorBase(HttpHarness):
    """Every request is recorded (with its arrival index) and handed to `handle`; streams go out as chunked
    server-sent events."""

    thread_name = "llm-emulator"

    def __init__(self, brain: Brain) -> None:
        super().__init__()
        self.brain = brain
        self.requests: list[Recorded] = []
        self.rejections: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._count = 0
        self._cache_prefixes: set[str] = set()

    def respond(self, ex: Exchange) -> None:
        rec = Recorded(ex.target, dict(ex.headers), ex.json())
        with self._lock:
            self.requests.append(rec)
            index = self._count
            self._count += 1
        self.handle(ex, rec, index)

    # -- shared wire helpers ------------------------------------------------------------------
    def handle(self, ex: Exchange, rec: Recorded, index: int) -> None:  # pragma: no cover
        raise NotImplementedError

    def error_body(self, err_type: str, message: str) -> dict[str, Any]:  # pragma: no cover
        """The provider's JSON error envelope."""
        raise NotImplementedError

    def answer(self, ex: Exchange, rec: Recorded, index: int,
               problem: str | None) -> tuple[Turn, Reply] | None:
        """Reject an invalid request (400), or ask the brain and act out a stall or an error reply. Returns
        (turn to stream, the brain's reply: a Turn or a Drop), or None when the response was already sent or
        the connection cut."""
        if problem is not None:
            rec.status = 400
            self.rejections.append({"index": index, "message": problem})
            ex.send_json(400, self.error_body("invalid_request_error", problem))
            return None
        reply = self.brain(rec.body, index)
        if isinstance(reply, Stall):
            time.sleep(reply.seconds)
            ex.cut()
            return None
        if isinstance(reply, Fail):
            rec.status = reply.status
            hdrs = {"retry-after": str(reply.retry_after)} if reply.retry_after is not None else {}
            ex.send_json(reply.status, self.error_body(reply.err_type, reply.message), hdrs)
            return None
        return (reply if isinstance(reply, Turn) else Turn(text=reply.text)), reply

    def stream_events(self, ex: Exchange, events: list[bytes], reply: Reply) -> None:
        ex.start_stream()
        limit = reply.after_events if isinstance(reply, Drop) else len(events)
        for ev in events[:limit]:
            ex.chunk(ev)
        if isinstance(reply, Drop):
            if reply.clean_eof:
                ex.end_stream()
            else:
                ex.cut()
            return
        ex.end_stream()

    def cache_split(self, prefix: Any, total: int) -> tuple[int, int, int]:
        """(uncached input, cache write, cache read) for a request whose cacheable prefix is `prefix`."""
        key = hashlib.sha256(json.dumps(prefix, sort_keys=True).encode()).hexdigest()
        n = tokens_of(prefix)
        with self._lock:
            hit = key in self._cache_prefixes
            self._cache_prefixes.add(key)
        return max(0, total - n), (0 if hit else n), (n if hit else 0)

    @staticmethod
    def pieces(s: str, k: int = 3) -> list[str]:
        if not s:
            return []
        step = max(1, -(-len(s) // k))
        return [s[i : i + step] for i in range(0, len(s), step)]


def _sse(event: str | None, data: Any) -> bytes:
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {json.dumps(data) if not isinstance(data, str) else data}\n\n".encode()


# ------------------------------------------------------------------------------------------------
class AnthropicEmulator(EmulatorBase):
    """POST /v1/messages with `stream: true`, Anthropic SSE events. With `context_window`, a request
    whose prompt plus `max_tokens` exceeds it is refused like the real API ("prompt is too long")."""

    def __init__(self, brain: Brain, context_window: int | None = None) -> None:
        super().__init__(brain)
        self.context_window = context_window

    def error_body(self, err_type: str, message: str) -> dict[str, Any]:
        return {"type": "error", "error": {"type": err_type, "message": message}}

    def handle(self, ex: Exchange, rec: Recorded, index: int) -> None:
        if ex.path.rstrip("/") != "/v1/messages":
            ex.send_json(404, self.error_body("not_found_error", rec.path))
            return
        problem = validate_anthropic(rec.body)
        prompt = anthropic_prompt_tokens(rec.body)
        if (
            problem is None
            and self.context_window is not None
            and prompt + rec.body["max_tokens"] > self.context_window
        ):
            max_out = rec.body["max_tokens"]
            problem = f"prompt is too long: {prompt} tokens + max_tokens {max_out} > {self.context_window}"
        answered = self.answer(ex, rec, index, problem)
        if answered is None:
            return
        turn, reply = answered
        prefix = {"system": rec.body.get("system"), "tools": rec.body.get("tools")}
        plain, write, read = self.cache_split(prefix, prompt)
        self.stream_events(ex, self._events(rec.body, index, turn, plain, write, read), reply)

    def _events(
        self, body: dict[str, Any], index: int, turn: Turn, plain: int, write: int, read: int
    ) -> list[bytes]:
        evs = [
            _sse(
                "message_start",
                {
                    "type": "message_start",
                    "message": {
                        "id": f"msg_{index:05d}",
                        "type": "message",
                        "role": "assistant",
                        "model": body.get("model"),
                        "content": [],
                        "stop_reason": None,
                        "stop_sequence": None,
                        "usage": {
                            "input_tokens": plain,
                            "output_tokens": 1,
                            "cache_creation_input_tokens": write,
                            "cache_read_input_tokens": read,
                        },
                    },
                },
            ),
            _sse("ping", {"type": "ping"}),
        ]
        i = 0
        out_chars = 0
        if turn.text:
            evs.append(
                _sse(
                    "content_block_start",
                    {
                        "type": "content_block_start",
                        "index": i,
                        "content_block": {"type": "text", "text": ""},
                    },
                )
            )
            for p in self.pieces(turn.text):
                evs.append(
                    _sse(
                        "content_block_delta",
                        {
                            "type": "content_block_delta",
                            "index": i,
                            "delta": {"type": "text_delta", "text": p},
                        },
                    )
                )
            evs.append(_sse("content_block_stop", {"type": "content_block_stop", "index": i}))
            out_chars += len(turn.text)
            i += 1
        for j, (name, args) in enumerate(turn.tool_calls):
            evs.append(
                _sse(
                    "content_block_start",
                    {
                        "type": "content_block_start",
                        "index": i,
                        "content_block": {
                            "type": "tool_use",
                            "id": f"toolu_{index:05d}_{j}",
                            "name": name,
                            "input": {},
                        },
                    },
                )
            )
            for p in self.pieces(args):
                evs.append(
                    _sse(
                        "content_block_delta",
                        {
                            "type": "content_block_delta",
                            "index": i,
                            "delta": {"type": "input_json_delta", "partial_json": p},
                        },
                    )
                )
            evs.append(_sse("content_block_stop", {"type": "content_block_stop", "index": i}))
            out_chars += len(args) + len(name)
            i += 1
        stop = "tool_use" if turn.tool_calls else "end_turn"
        evs.append(
            _sse(
                "message_delta",
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": stop, "stop_sequence": None},
                    "usage": {"output_tokens": out_chars // 4 + 1},
                },
            )
        )
        evs.append(_sse("message_stop", {"type": "message_stop"}))
        return evs


def anthropic_prompt_tokens(body: dict[str, Any]) -> int:
    """Prompt size the way a tokenizer sees it (content characters / 4, small per-block overhead), not
    the JSON envelope."""
    chars = sum(len(b.get("text", "")) for b in body.get("system") or [] if isinstance(b, dict))
    chars += len(json.dumps(body.get("tools") or []))
    blocks = 0
    for m in body.get("messages") or []:
        content = m["content"] if isinstance(m["content"], list) else [{"type": "text", "text": m["content"]}]
        for b in content:
            blocks += 1
            if b["type"] == "text":
                chars += len(b["text"])
            elif b["type"] == "tool_use":
                chars += len(json.dumps(b["input"])) + len(b["name"]) + len(b["id"])
            elif b["type"] == "tool_result":
                c = b["content"]
                chars += len(c if isinstance(c, str) else json.dumps(c)) + len(b["tool_use_id"])
    return chars // 4 + 3 * blocks + 4 * len(body.get("messages") or [])


def validate_anthropic(body: dict[str, Any]) -> str | None:
    """The checks of the real Messages API that tool pairing can violate (wording as the real API)."""
    msgs = body.get("messages")
    if not isinstance(msgs, list) or not msgs:
        return "messages: at least one message is required"
    if msgs[0].get("role") != "user":
        return 'messages: first message must use the "user" role'
    for i, m in enumerate(msgs):
        content = m.get("content")
        blocks = content if isinstance(content, list) else [{"type": "text", "text": content}]
        if not blocks:
            return f"messages.{i}: all messages must have non-empty content"
        if i > 0 and msgs[i - 1].get("role") == m.get("role"):
            return f'messages.{i}: roles must alternate between "user" and "assistant"'
        if m.get("role") == "user":
            prev = msgs[i - 1] if i > 0 else None
            prev_ids = (
                {
                    b.get("id")
                    for b in (prev or {}).get("content", [])
                    if isinstance(b, dict) and b.get("type") == "tool_use"
                }
                if prev is not None and prev.get("role") == "assistant"
                else set()
            )
            for j, b in enumerate(blocks):
                if b.get("type") == "tool_result" and b.get("tool_use_id") not in prev_ids:
                    return (
                        f"messages.{i}.content.{j}: unexpected `tool_use_id` found in `tool_result` blocks: "
                        f"{b.get('tool_use_id')}. Each `tool_result` block must have a corresponding "
                        "`tool_use` "
                        "block in the previous message."
                    )
        if m.get("role") == "assistant":
            ids = [b.get("id") for b in blocks if b.get("type") == "tool_use"]
            if ids:
                nxt = msgs[i + 1] if i + 1 < len(msgs) else None
                answered = (
                    {
                        b.get("tool_use_id")
                        for b in (nxt or {}).get("content", [])
                        if isinstance(b, dict) and b.get("type") == "tool_result"
                    }
                    if nxt is not None
                    else set()
                )
                missing = [x for x in ids if x not in answered]
                if missing:
                    return (
                        f"messages.{i}: `tool_use` ids were found without `tool_result` blocks immediately "
                        f"after: {', '.join(missing)}. Each `tool_use` block must have a corresponding "
                        "`tool_result` block in the next message."
                    )
    return None


# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ServerQuirks:
    """How one OpenAI-compatible server deviates from OpenAI's own streaming and request checks.

    Streaming (Chat Completions): `tool_index` — "per_call" (OpenAI), "zero" (every call index 0) or
    "absent"; `whole_calls` — each call's id, name and full arguments in one chunk; `one_chunk` — all
    calls of the turn in a single delta; `repeat_id` — id and name repeated on every argument chunk;
    `finish_with_tools` — the finish_reason of a turn with calls; `usage` — "separate" (a last chunk
    with no choices), "in_finish" (on the finish chunk) or "absent"; `reasoning_field` — a delta field
    streamed before the answer (`reasoning_content`, `reasoning`).
    Responses: `responses_same_index` — every output item at output_index 0.
    Request checks (HTTP 400 like the real servers): `token_params` — the output-limit fields
    accepted; `tool_choice` — whether `tool_choice` is accepted; `validates_history` — past tool-call
    arguments must be JSON objects (vLLM, llama.cpp, SGLang parse them to render the chat template)."""

    name: str = "openai"
    tool_index: str = "per_call"
    whole_calls: bool = False
    one_chunk: bool = False
    repeat_id: bool = False
    finish_with_tools: str = "tool_calls"
    usage: str = "separate"
    reasoning_field: str | None = None
    responses_same_index: bool = False
    token_params: frozenset[str] = frozenset({"max_tokens", "max_completion_tokens"})
    tool_choice: bool = True
    validates_history: bool = False


#: The compatibility matrix as emulated (the README's models section documents the same rows).
SERVER_PROFILES: dict[str, ServerQuirks] = {
    "vllm": ServerQuirks(name="vllm", reasoning_field="reasoning_content", validates_history=True),
    "llamacpp": ServerQuirks(name="llamacpp", usage="in_finish", reasoning_field="reasoning_content",
                             validates_history=True),
    "ollama": ServerQuirks(name="ollama", tool_index="zero", whole_calls=True, finish_with_tools="stop",
                           usage="in_finish", reasoning_field="reasoning", token_params=frozenset({"max_tokens"}),
                           tool_choice=False),
    "sglang": ServerQuirks(name="sglang", tool_index="zero", repeat_id=True, reasoning_field="reasoning_content",
                           validates_history=True),
    "lmstudio": ServerQuirks(name="lmstudio", usage="absent", reasoning_field="reasoning_content",
                             token_params=frozenset({"max_tokens"})),
    "gemini": ServerQuirks(name="gemini", tool_index="absent", whole_calls=True, one_chunk=True,
                           finish_with_tools="stop", usage="in_finish"),
}


def history_argument_problem(body: dict[str, Any]) -> str | None:
    """A 400 message if any past tool call (Chat `tool_calls` or Responses `function_call` items) has
    arguments that are not a JSON object, like servers that parse them to render a chat template."""
    found: list[tuple[str, str]] = []
    for m in body.get("messages") or []:
        if m.get("role") == "assistant":
            found += [(c["id"], c["function"]["arguments"]) for c in m.get("tool_calls") or []]
    for item in body.get("input") or []:
        if item.get("type") == "function_call":
            found.append((item["call_id"], item["arguments"]))
    for call_id, args in found:
        try:
            ok = isinstance(json.loads(args), dict)
        except (TypeError, ValueError):
            ok = False
        if not ok:
            return f"tool call {call_id}: arguments are not valid JSON: {str(args)[:60]!r}"
    return None


class OpenAIEmulator(EmulatorBase):
    """POST /v1/chat/completions and /v1/responses with `stream: true`, optionally with the `quirks`
    of a particular OpenAI-compatible server."""

    def __init__(self, brain: Brain, quirks: ServerQuirks | None = None, context_window: int | None = None) -> None:
        super().__init__(brain)
        self.quirks = quirks or ServerQuirks()
        #: refuse (400) requests whose prompt (JSON chars / 4) plus requested output exceed this
        self.context_window = context_window
        #: the largest prompt seen, in the emulator's token count
        self.max_prompt_tokens = 0

    def error_body(self, err_type: str, message: str) -> dict[str, Any]:
        return {"error": {"type": err_type, "message": message, "code": None}}

    def request_problem(self, body: dict[str, Any], responses: bool) -> str | None:
        q = self.quirks
        problem = validate_openai_responses(body) if responses else validate_openai_chat(body)
        if problem is None and not responses:
            for field_name in ("max_tokens", "max_completion_tokens"):
                if field_name in body and field_name not in q.token_params:
                    problem = f"Unrecognized request argument supplied: {field_name}"
            if "tool_choice" in body and not q.tool_choice:
                problem = f"{q.name} does not support tool_choice"
        if problem is None and q.validates_history:
            problem = history_argument_problem(body)
        prompt = tokens_of(body)
        self.max_prompt_tokens = max(self.max_prompt_tokens, prompt)
        if problem is None and self.context_window is not None:
            out = body.get("max_tokens") or body.get("max_completion_tokens") or body.get("max_output_tokens") or 0
            if prompt + out > self.context_window:
                problem = (f"This model's maximum context length is {self.context_window} tokens. However, you "
                           f"requested {prompt + out} tokens ({prompt} in the messages, {out} in the completion).")
        return problem

    def handle(self, ex: Exchange, rec: Recorded, index: int) -> None:
        path = ex.path.rstrip("/")
        if path not in ("/v1/chat/completions", "/v1/responses"):
            ex.send_json(404, self.error_body("invalid_request_error", rec.path))
            return
        responses = path.endswith("responses")
        problem = self.request_problem(rec.body, responses)
        answered = self.answer(ex, rec, index, problem)
        if answered is None:
            return
        turn, reply = answered
        total = tokens_of(rec.body)
        prefix = (
            {"instructions": rec.body.get("instructions"), "tools": rec.body.get("tools")}
            if responses
            else {
                "system": [m for m in rec.body.get("messages", []) if m.get("role") == "system"],
                "tools": rec.body.get("tools"),
            }
        )
        _, _, cached = self.cache_split(prefix, total)
        events = (self._responses_events if responses else self._chat_events)(
            rec.body, index, turn, total, cached
        )
        self.stream_events(ex, events, reply)

    def _chat_events(
        self, body: dict[str, Any], index: int, turn: Turn, total: int, cached: int
    ) -> list[bytes]:
        base = {
            "id": f"chatcmpl-{index:05d}",
            "object": "chat.completion.chunk",
            "created": 1700000000,
            "model": body.get("model"),
        }

        def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
            return _sse(None, {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})

        q = self.quirks
        evs = [chunk({"role": "assistant", "content": ""})]
        if q.reasoning_field is not None:
            evs += [chunk({q.reasoning_field: p}) for p in self.pieces("REASONING-NOT-ANSWER thinking it over")]
        evs += [chunk({"content": p}) for p in self.pieces(turn.text)]
        out_chars = len(turn.text)

        def call(j: int, **fields: Any) -> dict[str, Any]:
            if q.tool_index == "per_call":
                fields["index"] = j
            elif q.tool_index == "zero":
                fields["index"] = 0
            return fields

        whole: list[dict[str, Any]] = []
        for j, (name, args) in enumerate(turn.tool_calls):
            cid = f"call_{index:05d}_{j}"
            out_chars += len(args) + len(name)
            if q.whole_calls:
                whole.append(call(j, id=cid, type="function", function={"name": name, "arguments": args}))
                continue
            evs.append(chunk({"tool_calls": [call(j, id=cid, type="function",
                                                  function={"name": name, "arguments": ""})]}))
            for p in self.pieces(args):
                extra: dict[str, Any] = {"id": cid, "type": "function"} if q.repeat_id else {}
                fn = {"name": name, "arguments": p} if q.repeat_id else {"arguments": p}
                evs.append(chunk({"tool_calls": [call(j, **extra, function=fn)]}))
        if whole and q.one_chunk:
            evs.append(chunk({"tool_calls": whole}))
        else:
            evs += [chunk({"tool_calls": [w]}) for w in whole]
        out = out_chars // 4 + 1
        usage = {
            "prompt_tokens": total,
            "completion_tokens": out,
            "total_tokens": total + out,
            "prompt_tokens_details": {"cached_tokens": cached},
        }
        finish = (q.finish_with_tools if turn.tool_calls else "stop")
        final = {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": finish}]}
        if q.usage == "in_finish":
            final["usage"] = usage
        evs.append(_sse(None, final))
        if q.usage == "separate":
            evs.append(_sse(None, {**base, "choices": [], "usage": usage}))
        evs.append(_sse(None, "[DONE]"))
        return evs

    def _responses_events(
        self, body: dict[str, Any], index: int, turn: Turn, total: int, cached: int
    ) -> list[bytes]:
        rid = f"resp_{index:05d}"
        seq = iter(range(10_000))

        def ev(kind: str, **data: Any) -> bytes:
            return _sse(kind, {"type": kind, "sequence_number": next(seq), **data})

        resp = {
            "id": rid,
            "object": "response",
            "created_at": 1700000000,
            "model": body.get("model"),
            "status": "in_progress",
            "output": [],
            "tool_choice": "auto",
            "tools": [],
            "parallel_tool_calls": True,
        }
        evs = [ev("response.created", response=resp), ev("response.in_progress", response=resp)]
        out_index = 0
        output: list[dict[str, Any]] = []
        if turn.text:
            mid = f"msg_{index:05d}"
            item = {"id": mid, "type": "message", "role": "assistant", "status": "in_progress", "content": []}
            evs.append(ev("response.output_item.added", output_index=out_index, item=item))
            evs.append(
                ev(
                    "response.content_part.added",
                    item_id=mid,
                    output_index=out_index,
                    content_index=0,
                    part={"type": "output_text", "text": "", "annotations": []},
                )
            )
            for p in self.pieces(turn.text):
                evs.append(
                    ev(
                        "response.output_text.delta",
                        item_id=mid,
                        output_index=out_index,
                        content_index=0,
                        delta=p,
                        logprobs=[],
                    )
                )
            evs.append(
                ev(
                    "response.output_text.done",
                    item_id=mid,
                    output_index=out_index,
                    content_index=0,
                    text=turn.text,
                    logprobs=[],
                )
            )
            done = {
                **item,
                "status": "completed",
                "content": [{"type": "output_text", "text": turn.text, "annotations": []}],
            }
            evs.append(ev("response.output_item.done", output_index=out_index, item=done))
            output.append(done)
            out_index += 1
        for j, (name, args) in enumerate(turn.tool_calls):
            fid = f"fc_{index:05d}_{j}"
            oi = 0 if self.quirks.responses_same_index else out_index
            item = {
                "id": fid,
                "type": "function_call",
                "call_id": f"call_{index:05d}_{j}",
                "name": name,
                "arguments": "",
                "status": "in_progress",
            }
            evs.append(ev("response.output_item.added", output_index=oi, item=item))
            for p in self.pieces(args):
                evs.append(
                    ev("response.function_call_arguments.delta", item_id=fid, output_index=oi, delta=p)
                )
            evs.append(
                ev(
                    "response.function_call_arguments.done",
                    item_id=fid,
                    output_index=oi,
                    arguments=args,
                )
            )
            done = {**item, "arguments": args, "status": "completed"}
            evs.append(ev("response.output_item.done", output_index=oi, item=done))
            output.append(done)
            out_index += 1
        out = (len(turn.text) + sum(len(a) for _, a in turn.tool_calls)) // 4 + 1
        final = {
            **resp,
            "status": "completed",
            "output": output,
            "usage": {
                "input_tokens": total,
                "output_tokens": out,
                "total_tokens": total + out,
                "input_tokens_details": {"cached_tokens": cached},
                "output_tokens_details": {"reasoning_tokens": 0},
            },
        }
        evs.append(ev("response.completed", response=final))
        return evs


def validate_openai_chat(body: dict[str, Any]) -> str | None:
    msgs = body.get("messages") or []
    pending: list[str] = []
    for i, m in enumerate(msgs):
        role = m.get("role")
        if role == "tool":
            if m.get("tool_call_id") not in pending:
                return (
                    "Invalid parameter: messages with role 'tool' must be a response to a preceeding "
                    "message "
                    f"with 'tool_calls'. (messages.[{i}])"
                )
            pending.remove(m["tool_call_id"])
            continue
        if pending:
            return (
                "An assistant message with 'tool_calls' must be followed by tool messages responding to each "
                "'tool_call_id'. The following tool_call_ids did not have response messages: "
                f"{', '.join(pending)}"
            )
        if role == "assistant":
            pending = [c["id"] for c in m.get("tool_calls") or []]
    if pending:
        return (
            "An assistant message with 'tool_calls' must be followed by tool messages responding to each "
            "'tool_call_id'. The following tool_call_ids did not have response messages: "
            f"{', '.join(pending)}"
        )
    return None


def validate_openai_responses(body: dict[str, Any]) -> str | None:
    calls: set[str] = set()
    for item in body.get("input") or []:
        if item.get("type") == "function_call":
            calls.add(item["call_id"])
        elif item.get("type") == "function_call_output" and item.get("call_id") not in calls:
            return f"No tool call found for function call output with call_id {item.get('call_id')}."
    return None


@dataclass
class ScriptBrain:
    """Replies in order; after the script, `then` (default: a final text)."""

    script: list[Reply]
    then: Reply = field(default_factory=lambda: Turn(text="all done"))

    def __call__(self, body: dict[str, Any], index: int) -> Reply:
        return self.script.pop(0) if self.script else self.then
