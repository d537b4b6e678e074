"""Token usage and its price. Prices are USD per million tokens, as providers publish them."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Prices(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    input_per_mtok: float = 0.0
    output_per_mtok: float = 0.0
    cache_write_per_mtok: float = 0.0
    cache_read_per_mtok: float = 0.0


class Usage(BaseModel):
    """Tokens of one model call. `input_tokens` excludes cached tokens (Anthropic semantics); providers
    that report cached tokens as a subset of the prompt (OpenAI) subtract them before building this."""

    model_config = ConfigDict(frozen=True)
    input_tokens: int = 0
    output_tokens: int = 0
    cache_write_tokens: int = 0
    cache_read_tokens: int = 0

    @property
    def prompt_tokens(self) -> int:
        """Everything the model read this call, cached or not."""
        return self.input_tokens + self.cache_write_tokens + self.cache_read_tokens

    def cost_usd(self, prices: Prices) -> float:
        return (
            self.input_tokens * prices.input_per_mtok
            + self.output_tokens * prices.output_per_mtok
            + self.cache_write_tokens * prices.cache_write_per_mtok
            + self.cache_read_tokens * prices.cache_read_per_mtok
        ) / 1e6

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            input_tokens=self.input_tokens + other.input_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
            cache_write_tokens=self.cache_write_tokens + other.cache_write_tokens,
            cache_read_tokens=self.cache_read_tokens + other.cache_read_tokens,
        )
