"""Model profiles (keys only from the environment) and the retry backoff."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from aura.config import MissingApiKey, ModelProfile, example_config_text, load_models_config, resolve_api_key
from aura.providers import OfflineProvider, build_provider
from aura.providers.anthropic_provider import AnthropicProvider
from aura.providers.openai_provider import OpenAIProvider
from aura.runtime import RetryPolicy


def test_example_config_loads_and_builds_every_provider(tmp_path: Path) -> None:
    path = tmp_path / "models.json"
    path.write_text(example_config_text())
    cfg = load_models_config(path)
    env = {
        "ANTHROPIC_API_KEY": "a-key",
        "OPENAI_API_KEY": "o-key",
        "GEMINI_API_KEY": "g",
        "VLLM_API_KEY": "v",
    }
    kinds = {name: type(build_provider(cfg.profile(name), environ=env)) for name in cfg.profiles}
    assert kinds["claude"] is AnthropicProvider and kinds["codex"] is OpenAIProvider
    assert kinds["ollama"] is OpenAIProvider and kinds["offline"] is OfflineProvider
    assert cfg.profile().model == "claude-sonnet-4-5"
    assert build_provider(cfg.profile("gemini"), environ=env).info.context_window == 1048576


def test_profiles_cannot_hold_keys() -> None:
    with pytest.raises(ValidationError, match="never hold keys"):
        ModelProfile.model_validate({"provider": "anthropic", "model": "m", "api_key": "sk-secret"})
    with pytest.raises(ValidationError):
        ModelProfile.model_validate({"provider": "openai", "model": "m", "password": "x"})


def test_missing_key_names_the_variable_only() -> None:
    p = ModelProfile(provider="openai", model="m", api_key_env="MY_KEY_VAR")
    with pytest.raises(MissingApiKey, match="MY_KEY_VAR"):
        resolve_api_key(p, environ={})
    assert resolve_api_key(p, environ={"MY_KEY_VAR": "v"}) == "v"
    assert resolve_api_key(ModelProfile(provider="openai", model="m"), environ={}) is None


def test_key_is_not_in_repr_or_info() -> None:
    p = ModelProfile(provider="anthropic", model="m", api_key_env="K")
    provider = build_provider(p, environ={"K": "sk-very-secret"})
    assert "sk-very-secret" not in repr(provider) and "sk-very-secret" not in provider.info.model_dump_json()
    assert "sk-very-secret" not in json.dumps(p.model_dump())


def test_retry_delays_grow_are_seeded_and_honour_retry_after() -> None:
    policy = RetryPolicy(base_delay_s=1.0, multiplier=2.0, max_delay_s=10.0, jitter=0.2, seed=3)
    a = [policy.delays().delay(i) for i in range(1, 6)]
    d = policy.delays()
    b = [d.delay(i) for i in range(1, 6)]
    d2 = policy.delays()
    c = [d2.delay(i) for i in range(1, 6)]
    assert b == c  # same seed, same sequence
    for i, x in enumerate(b, start=1):
        base = min(10.0, 2.0 ** (i - 1))
        assert 0.8 * base - 1e-9 <= x <= min(10.0, 1.2 * base) + 1e-9
    assert a[0] == b[0]
    assert policy.delays().delay(1, retry_after_s=7.0) == 7.0
    assert policy.delays().delay(1, retry_after_s=99.0) == 10.0  # capped
