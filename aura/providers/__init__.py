"""Model providers behind one `Provider` Protocol: Anthropic, OpenAI (+ compatible servers), offline.

The SDK-backed providers are imported lazily by `build_provider`, so `import aura.providers` stays
cheap; import them from their modules when constructing them directly.
"""

from aura.providers.factory import build_provider, model_info
from aura.providers.offline import OfflineProvider, PolicyState, ScriptedTurn
from aura.runtime.provider import (
    ModelInfo,
    Provider,
    ProviderError,
    ProviderEvent,
    TextDelta,
    ToolCallStarted,
    TurnCompleted,
    TurnRequest,
)

__all__ = [
    "ModelInfo",
    "OfflineProvider",
    "PolicyState",
    "Provider",
    "ProviderError",
    "ProviderEvent",
    "ScriptedTurn",
    "TextDelta",
    "ToolCallStarted",
    "TurnCompleted",
    "TurnRequest",
    "build_provider",
    "model_info",
]
