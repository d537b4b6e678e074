"""The policy layers the domain injects (all plain text; aura does not know what they say).

`system_prompt` is sent as the system prompt of every model call. `agents_md` and `active_skill` are
sent as a context message at the start of a session and re-injected after every compaction, so a
summary can never lose them.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PromptLayers:
    system_prompt: str = ""
    agents_md: str = ""
    active_skill: str = ""

    def context_text(self) -> str:
        """The AGENTS.md + skill block ("" when both are empty)."""
        blocks = []
        if self.agents_md:
            blocks.append(f"<agents_md>\n{self.agents_md}\n</agents_md>")
        if self.active_skill:
            blocks.append(f"<active_skill>\n{self.active_skill}\n</active_skill>")
        return "\n".join(blocks)
