"""aura: a general agent runtime kernel. It knows nothing about trading and never imports auraquant.

Subpackages: `aura.tools` (typed tool registry), `aura.providers` (model providers behind one
Protocol), `aura.runtime` (the async engine, compaction, sessions), `aura.config` (model profiles).
See README.md next to this file.
"""
