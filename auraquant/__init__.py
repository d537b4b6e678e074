"""AuraQuant: the CTA research domain (data, strategies, engine, experiments, governance) and its CLI."""

from auraquant._syspath import drop_cwd_from_path, running_as_module

__version__ = "0.1.0"

if running_as_module():  # `python -m auraquant…` inside a workspace: built-ins are never shadowed
    drop_cwd_from_path()
