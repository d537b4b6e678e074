"""AuraQuant: the CTA research domain (data, strategies, engine, experiments, governance) and its CLI."""

__version__ = "0.1.0"
