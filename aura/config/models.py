"""Model profiles: `.aura/config/models.json` (see `models.json.example` next to this module).

A profile names a provider, a model, limits and prices, and the *name* of the environment variable
holding the API key. Keys are read from the environment when a provider is built and handed to the
SDK client only: a profile cannot contain a key (unknown fields are rejected, and a field that looks
like a key is refused with a pointed message).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from aura.runtime.usage import Prices

ProviderKind = Literal["anthropic", "openai", "offline"]


class ModelProfile(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    provider: ProviderKind
    model: str = "offline"
    #: OpenAI only: "chat" (Chat Completions, also every OpenAI-compatible server) or "responses".
    api: Literal["chat", "responses"] = "chat"
    base_url: str | None = None
    #: Name of the environment variable that holds the key; None for keyless local servers.
    api_key_env: str | None = None
    context_window: int = Field(200_000, gt=0)
    max_output_tokens: int = Field(8_192, gt=0)
    prices: Prices = Prices()
    timeout_s: float = Field(600.0, gt=0)
    prompt_caching: bool = True
    #: OpenAI chat only: which OpenAI-compatible server this is (see `aura.config.compat`); "auto"
    #: guesses from `base_url` (no URL / api.openai.com -> openai, default ports of local servers)
    compat: Literal["auto", "openai", "vllm", "llamacpp", "ollama", "sglang", "lmstudio", "gemini", "generic"] = (
        "auto"
    )
    #: output-limit field name; "auto" = what `compat` says (max_completion_tokens only for OpenAI)
    token_param: Literal["auto", "max_completion_tokens", "max_tokens"] = "auto"

    @model_validator(mode="before")
    @classmethod
    def _no_inline_keys(cls, data: Any) -> Any:
        if isinstance(data, dict):
            bad = [
                k for k in data if k.lower() in {"api_key", "apikey", "key", "secret", "token", "auth_token"}
            ]
            if bad:
                raise ValueError(
                    f"profiles never hold keys ({', '.join(bad)}); name an env var in api_key_env"
                )
        return data


class ModelsConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    default: str
    profiles: dict[str, ModelProfile]

    @model_validator(mode="after")
    def _default_exists(self) -> ModelsConfig:
        if self.default not in self.profiles:
            raise ValueError(f"default profile {self.default!r} is not defined")
        return self

    def profile(self, name: str | None = None) -> ModelProfile:
        key = name or self.default
        if key not in self.profiles:
            raise KeyError(f"no model profile {key!r}; known: {', '.join(sorted(self.profiles))}")
        return self.profiles[key]


def load_models_config(path: Path | str) -> ModelsConfig:
    return ModelsConfig.model_validate(json.loads(Path(path).read_text(encoding="utf-8")))


def example_config_text() -> str:
    """The shipped example (what `auraquant init` may copy to `.aura/config/models.json`)."""
    return (Path(__file__).with_name("models.json.example")).read_text(encoding="utf-8")


class MissingApiKey(LookupError, RuntimeError):
    """The environment variable a profile names for its key is unset. A `LookupError` (a configured value
    could not be found), so front ends render it as a one-line user error without importing this module."""


def resolve_api_key(profile: ModelProfile, environ: dict[str, str] | None = None) -> str | None:
    """The key from the environment variable the profile names. Raises `MissingApiKey` (which names
    the variable, never a value) when it is named but unset."""
    if profile.api_key_env is None:
        return None
    env = os.environ if environ is None else environ
    value = env.get(profile.api_key_env)
    if not value:
        raise MissingApiKey(
            f"environment variable {profile.api_key_env} is not set (profile {profile.model})"
        )
    return value
