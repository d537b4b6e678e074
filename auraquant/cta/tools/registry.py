"""The full CTA tool surface as one `ToolRegistry`: every tool group plus the progressive-disclosure meta
tools (`list_tools`, `tool_reference`). Tools get the workspace from `ctx.deps` (a `ResearchDeps`), so one
registry serves any workspace; build contexts with `research_context`."""

from __future__ import annotations

from dataclasses import replace

from aura.tools import Tool, ToolRegistry, disclosure_tools
from auraquant.cta.tools import cloud, data, experiment, governance, lifecycle, models, strategy, universe


def groups() -> dict[str, list[Tool]]:
    """Tool groups in research-phase order (the registry's categories)."""
    return {"data": data.TOOLS, "strategy": strategy.TOOLS, "experiment": experiment.TOOLS + models.TOOLS,
            "universe": universe.TOOLS, "governance": governance.TOOLS, "lifecycle": lifecycle.TOOLS,
            "cloud": cloud.TOOLS}


def all_tools() -> list[Tool]:
    """Every CTA tool, grouped in phase order (data, strategy, experiment, governance, lifecycle, cloud)."""
    return [t for group in groups().values() for t in group]


def build_registry() -> ToolRegistry:
    """A registry with every CTA tool and the `list_tools` / `tool_reference` meta tools. Every tool first
    resolves unique id prefixes in its `*_id` arguments (`auraquant/ids.py`), before its own checks."""
    from auraquant.ids import resolve_id_prefixes

    reg = ToolRegistry([replace(t, preflight=(resolve_id_prefixes, *t.preflight)) for t in all_tools()])
    reg.register(*disclosure_tools(reg))
    return reg
