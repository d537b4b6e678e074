"""The research tool surface: the only place where the agent meets the CTA domain.

`build_registry()` returns every typed tool (data, strategy, experiment, governance, lifecycle, plus the
progressive-disclosure meta tools); `research_context(workspace)` makes the `ToolContext` they need.
"""

from auraquant.cta.tools.deps import ResearchDeps, ResearchLimits, research_context
from auraquant.cta.tools.registry import build_registry

__all__ = ["ResearchDeps", "ResearchLimits", "build_registry", "research_context"]
