"""Build a `Provider` from a `ModelProfile`."""

from __future__ import annotations

from aura.config.compat import resolve_compat
from aura.config.models import ModelProfile, resolve_api_key
from aura.providers.offline import OfflineProvider, Policy
from aura.runtime.provider import ModelInfo, Provider

#: What the OpenAI SDK needs for keyless local servers (Ollama, llama.cpp): any non-empty string.
_NO_KEY = "no-key"


def model_info(profile: ModelProfile) -> ModelInfo:
    return ModelInfo(
        provider=profile.provider,
        model=profile.model,
        context_window=profile.context_window,
        max_output_tokens=profile.max_output_tokens,
        prices=profile.prices,
    )


def build_provider(
    profile: ModelProfile, *, policy: Policy | None = None, environ: dict[str, str] | None = None
) -> Provider:
    """The provider a profile describes. `policy` drives the offline provider (ignored otherwise);
    `environ` replaces `os.environ` for key lookup (tests)."""
    info = model_info(profile)
    if profile.provider == "offline":
        return OfflineProvider(policy=policy, info=info)
    key = resolve_api_key(profile, environ)
    if profile.provider == "anthropic":
        from aura.providers.anthropic_provider import AnthropicProvider

        if key is None:
            raise ValueError("the anthropic provider needs api_key_env")
        return AnthropicProvider(
            info,
            api_key=key,
            base_url=profile.base_url,
            timeout_s=profile.timeout_s,
            prompt_caching=profile.prompt_caching,
        )
    from aura.providers.openai_provider import OpenAIProvider

    return OpenAIProvider(
        info,
        api_key=key or _NO_KEY,
        base_url=profile.base_url,
        api=profile.api,
        timeout_s=profile.timeout_s,
        token_param=resolve_compat(profile.compat, profile.base_url, profile.token_param).token_param,
    )
