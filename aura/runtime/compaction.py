"""Compaction: replace the older part of a history by a structured snapshot, keep the recent part.

Exactly (the compaction contract of aura/README.md):
- trigger: context tokens (system + tools + messages) >= `trigger_ratio` (80%) of the model's window;
- keep the most recent messages worth ~`keep_ratio` (20%) of the message tokens, never fewer than
  `min_keep_messages` (2); the cut moves earlier rather than separate a tool-result message from the
  assistant message whose calls it answers, so a tool batch is never split;
- the older part is summarised into `<overall_goal> <key_knowledge> <contract_memory>
  <spec_workflow_state>` by the model itself, rendered as plain text (no tool blocks, so the summary
  request can never hold an orphan), in chunks that each fit the window (the summary call must fit);
- the new history is one header message — AGENTS.md + active skill re-injected, the snapshot, the
  latest user request verbatim (when it was in the summarised part), then `<AUTO_CONTINUE>` — followed
  by the kept messages unchanged. The system prompt is re-sent with every call anyway.

When the summary alone cannot bring the context under the threshold (the kept part holds an oversized
message, or there is nothing old enough to summarise), oversized messages are replaced by stubs
(`stub_message`): same role, kind and part order, same call/result ids (so the no-orphans invariant
holds), each large part cut to a short head with a note of what was removed and, for tool results,
the output id under which the full text stays retrievable. Stubbing repeats, largest message first,
until the context is under the threshold or nothing large is left.

Everything here is pure bookkeeping except `summarize`, which calls the provider.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from importlib import resources

from pydantic import BaseModel, ConfigDict

from aura.runtime.layers import PromptLayers
from aura.runtime.messages import Message, Part, TextPart, ToolCallPart, ToolResultPart, user_text
from aura.runtime.replay import replay_arguments
from aura.runtime.tokens import estimate_message_tokens, estimate_text_tokens
from aura.tools.limits import clip_middle

SNAPSHOT_TAGS = ("overall_goal", "key_knowledge", "contract_memory", "spec_workflow_state")
AUTO_CONTINUE = "<AUTO_CONTINUE>"


class CompactionPolicy(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    trigger_ratio: float = 0.8
    keep_ratio: float = 0.2
    min_keep_messages: int = 2
    #: output budget of each summary call
    summary_max_output_tokens: int = 4_096
    #: a single message part longer than this is truncated in the summary transcript
    max_part_chars: int = 20_000
    #: `/compact` (a forced compaction) does not summarise fewer tokens than this: a snapshot plus the
    #: restated contract would cost more than it saves
    min_summarized_tokens: int = 1_000
    #: a message is a stub candidate when it is estimated above this many tokens
    stub_min_tokens: int = 1_000
    #: characters of a stubbed part's text that are kept (head and tail)
    stub_keep_chars: int = 1_200

    def threshold(self, context_window: int, max_output_tokens: int = 0) -> int:
        """The provider's token budget for the prompt: `trigger_ratio` of its window, but never so
        close to the window that the prompt plus the turn's `max_output_tokens` would not fit."""
        return min(int(self.trigger_ratio * context_window), context_window - max_output_tokens)


@dataclass(frozen=True)
class Split:
    """`messages[:cut]` are summarised, `messages[cut:]` are kept."""

    cut: int
    summarized_tokens: int
    kept_tokens: int


def plan_split(
    messages: Sequence[Message],
    policy: CompactionPolicy,
    token_counts: Sequence[int] | None = None,
) -> Split | None:
    """Where to cut, or None when nothing can be summarised (e.g. the whole history is one batch)."""
    n = len(messages)
    if n <= policy.min_keep_messages:
        return None
    counts = (
        list(token_counts) if token_counts is not None else [estimate_message_tokens(m) for m in messages]
    )
    total = sum(counts)
    target = policy.keep_ratio * total
    kept = 0
    cut = n
    while cut > 0 and (kept < target or n - cut < policy.min_keep_messages):
        cut -= 1
        kept += counts[cut]
    # Never open the kept part with tool results: their calls live in the message before.
    while cut > 0 and messages[cut].tool_results:
        cut -= 1
        kept += counts[cut]
    if cut <= 0:
        return None
    return Split(cut=cut, summarized_tokens=total - kept, kept_tokens=kept)


def latest_request_to_carry(messages: Sequence[Message], cut: int) -> str | None:
    """The latest genuine user request, verbatim, when it is in the part being summarised (`[:cut]`);
    None when it is kept anyway. A request carried by an earlier compaction header is carried again,
    so the request survives any number of compactions."""
    for i in range(len(messages) - 1, -1, -1):
        m = messages[i]
        if m.role == "user" and m.kind == "request":
            return None if i >= cut else m.text
        if m.kind == "compaction":
            return _carried_request(m.text)
    return None


_OPEN, _CLOSE = "<latest_user_request>\n", "\n</latest_user_request>"


def _carried_request(header_text: str) -> str | None:
    start = header_text.find(_OPEN)
    if start < 0:
        return None
    end = header_text.rfind(_CLOSE)
    return header_text[start + len(_OPEN) : end] if end > start else None


def render_transcript(messages: Sequence[Message], max_part_chars: int) -> list[str]:
    """One plain-text entry per message. Tool calls and results become text, so the summary request
    has no tool blocks (and thus no pairing constraints)."""
    out: list[str] = []
    for m in messages:
        lines: list[str] = []
        label = {"request": "user request", "context": "context", "compaction": "earlier snapshot"}.get(
            m.kind, m.role
        )
        for p in m.parts:
            if isinstance(p, TextPart):
                lines.append(f"[{label}] {_clip(p.text, max_part_chars)}")
            elif isinstance(p, ToolCallPart):
                lines.append(f"[tool call {p.id}] {p.name}({_clip(p.arguments, max_part_chars)})")
            elif isinstance(p, ToolResultPart):
                status = "error" if p.is_error else "ok"
                lines.append(f"[tool result {p.tool_call_id} {status}] {_clip(p.content, max_part_chars)}")
        out.append("\n".join(lines))
    return out


def chunk_entries(entries: Sequence[str], budget_tokens: int) -> list[str]:
    """Greedy chunks of whole entries, each within `budget_tokens` (an entry larger than the budget is
    cut to fit, so every chunk fits)."""
    chunks: list[str] = []
    cur: list[str] = []
    cur_tokens = 0
    for e in entries:
        t = estimate_text_tokens(e) + 1
        if t > budget_tokens:
            e = _clip(e, budget_tokens * 4 - 64)
            t = estimate_text_tokens(e) + 1
        if cur and cur_tokens + t > budget_tokens:
            chunks.append("\n\n".join(cur))
            cur, cur_tokens = [], 0
        cur.append(e)
        cur_tokens += t
    if cur:
        chunks.append("\n\n".join(cur))
    return chunks


def summary_system_prompt() -> str:
    return (
        resources.files("aura.runtime").joinpath("prompts/compaction_system.md").read_text(encoding="utf-8")
    )


def summary_user_text(chunk: str, previous_snapshot: str | None) -> str:
    prev = f"<previous_snapshot>\n{previous_snapshot}\n</previous_snapshot>\n\n" if previous_snapshot else ""
    return f"{prev}<transcript>\n{chunk}\n</transcript>\n\nWrite the snapshot now."


async def summarize(
    entries: Sequence[str],
    call_model: Callable[[str, str], Awaitable[str]],
    *,
    input_budget_tokens: int,
) -> tuple[str, int]:
    """Fold the transcript into one snapshot with as many calls as needed for each to fit
    `input_budget_tokens`. `call_model(system, user_text) -> text`. Returns (snapshot, calls)."""
    system = summary_system_prompt()
    # Leave room for the system prompt, the previous snapshot (bounded by the summary output size)
    # and the wrapper text.
    chunk_budget = max(256, input_budget_tokens - estimate_text_tokens(system) - 64)
    snapshot: str | None = None
    calls = 0
    for chunk in chunk_entries(entries, chunk_budget):
        if snapshot is not None:
            chunk_tokens = chunk_budget - estimate_text_tokens(snapshot)
            chunk = _clip(chunk, max(1_000, chunk_tokens * 4))
        snapshot = normalize_snapshot(await call_model(system, summary_user_text(chunk, snapshot)))
        calls += 1
    return snapshot or normalize_snapshot(""), calls


def normalize_snapshot(text: str) -> str:
    """The four elements in order. A missing element is left empty; text outside any element (a model
    that ignored the format) is kept inside `<key_knowledge>` rather than lost."""
    found = {tag: _element(text, tag) for tag in SNAPSHOT_TAGS}
    if all(v is None for v in found.values()) and text.strip():
        found["key_knowledge"] = text.strip()
    return "\n".join(f"<{tag}>\n{(found[tag] or '').strip()}\n</{tag}>" for tag in SNAPSHOT_TAGS)


def header_message(layers: PromptLayers, snapshot: str, latest_request_text: str | None) -> Message:
    """The first message of a compacted history."""
    blocks = [
        "<compacted_context>",
        "The earlier part of this session was compacted. The project contract and the active skill "
        "are restated below, followed by a snapshot of the work so far.",
    ]
    ctx = layers.context_text()
    if ctx:
        blocks.append(ctx)
    blocks.append(f"<state_snapshot>\n{snapshot}\n</state_snapshot>")
    if latest_request_text is not None:
        blocks.append(f"{_OPEN}{latest_request_text}{_CLOSE}")
    blocks.append("</compacted_context>")
    blocks.append(
        f"{AUTO_CONTINUE}\nContinue the task from where it stopped, using the snapshot and the "
        "messages that follow. Do not ask the user to repeat anything."
    )
    return Message(role="user", parts=(TextPart(text="\n".join(blocks)),), kind="compaction")


def context_message(layers: PromptLayers) -> Message | None:
    text = layers.context_text()
    return user_text(text, kind="context") if text else None


def _element(text: str, tag: str) -> str | None:
    m = re.search(rf"<{tag}>(.*?)</{tag}>", text, flags=re.S)
    return m.group(1) if m else None


def _clip(text: str, max_chars: int) -> str:
    if len(text) <= max_chars:
        return text
    return (
        text[: max_chars // 2]
        + f"\n…[{len(text) - max_chars} characters elided]…\n"
        + text[-max_chars // 2 :]
    )


def stub_message(message: Message, keep_chars: int, keep_output: Callable[[str], str] | None = None) -> Message:
    """`message` with every part longer than `keep_chars` cut to its head and tail plus a note; ids,
    roles, kinds and part order are unchanged. `keep_output(text) -> output_id` stores a tool
    result's full text so the note can say how to fetch it."""
    parts: list[Part] = []
    for p in message.parts:
        if isinstance(p, TextPart) and len(p.text) > keep_chars:
            parts.append(TextPart(text=_stub_text(p.text, keep_chars, None)))
        elif isinstance(p, ToolCallPart) and len(replay_arguments(p.arguments).text) > keep_chars:
            note = (
                f"{len(p.arguments)} characters of arguments removed by compaction to make room; "
                "the result of this call follows"
            )
            parts.append(p.model_copy(update={"arguments": json.dumps({"_omitted": note})}))
        elif isinstance(p, ToolResultPart) and len(p.content) > keep_chars:
            oid = keep_output(p.content) if keep_output is not None else None
            parts.append(p.model_copy(update={"content": _stub_text(p.content, keep_chars, oid)}))
        else:
            parts.append(p)
    return message.model_copy(update={"parts": tuple(parts)})


def _stub_text(text: str, keep_chars: int, output_id: str | None) -> str:
    where = (
        f' The full text is output_id "{output_id}" (tool_output_get reads it).' if output_id else ""
    )
    note = f"[compacted: {len(text)} characters, cut to make room in the context.{where}]\n"
    return note + clip_middle(text, keep_chars)


def stub_candidates(messages: Sequence[Message], counts: Sequence[int], policy: CompactionPolicy) -> list[int]:
    """Indices of messages worth stubbing, largest first (older first among equals). Compaction
    headers are never stubbed (their size is bounded by the summary output)."""
    idx = [
        i
        for i, m in enumerate(messages)
        if counts[i] > policy.stub_min_tokens and m.kind != "compaction"
    ]
    return sorted(idx, key=lambda i: (-counts[i], i))
