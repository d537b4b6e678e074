"""Model profiles (`.aura/config/models.json`)."""

from aura.config.models import (
    MissingApiKey,
    ModelProfile,
    ModelsConfig,
    example_config_text,
    load_models_config,
    resolve_api_key,
)

__all__ = [
    "MissingApiKey",
    "ModelProfile",
    "ModelsConfig",
    "example_config_text",
    "load_models_config",
    "resolve_api_key",
]
