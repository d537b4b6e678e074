"""Profile `compat`: which OpenAI-compatible server a profile talks to, and the output-limit field sent."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from aura.config.compat import SERVERS, detect_server, resolve_compat
from aura.config.models import ModelProfile


@pytest.mark.parametrize(("url", "server"), [
    (None, "openai"),
    ("https://api.openai.com/v1", "openai"),
    ("https://generativelanguage.googleapis.com/v1beta/openai/", "gemini"),
    ("http://127.0.0.1:11434/v1", "ollama"),
    ("http://localhost:1234/v1", "lmstudio"),
    ("http://gpu-box:30000/v1", "sglang"),
    ("http://10.0.0.5:8000/v1", "vllm"),
    ("http://127.0.0.1:8080/v1", "llamacpp"),
    ("https://my-proxy.example.com/v1", "generic"),
])
def test_auto_detection_from_the_base_url(url: str | None, server: str) -> None:
    assert detect_server(url) == server
    wire = resolve_compat("auto", url)
    assert wire.server == server
    assert wire.token_param == ("max_completion_tokens" if server == "openai" else "max_tokens")


def test_explicit_compat_and_token_param_override() -> None:
    assert resolve_compat("vllm", "https://api.openai.com/v1").token_param == "max_tokens"
    assert resolve_compat("ollama", None, "max_completion_tokens").token_param == "max_completion_tokens"
    assert set(SERVERS) == {"openai", "vllm", "llamacpp", "ollama", "sglang", "lmstudio", "gemini", "generic"}


def test_profiles_validate_compat() -> None:
    assert ModelProfile(provider="openai", compat="sglang").compat == "sglang"
    assert ModelProfile(provider="openai").token_param == "auto"
    with pytest.raises(ValidationError):
        ModelProfile(provider="openai", compat="tgi")  # type: ignore[arg-type]
