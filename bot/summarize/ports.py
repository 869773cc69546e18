"""The ports of the summarizer: what it needs from the outside, as small Protocols.

``bot.summarize`` never imports the store, the settings or the openai SDK. It is given:

- a ``BriefingStore`` (saved briefings: the reuse cache and the last model briefing),
- a ``SpendLedger`` (the tokens model calls spent, for the daily budgets),
- a ``ChatModel`` (one JSON reply checked against a schema; ``bot.llm.client`` wraps the
  openai SDK as one),
- its settings as a plain ``BrieferSettings``.

``StoryBriefer`` is the one briefer Protocol: what the pipeline calls for each story.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol

from bot.domain import (
    MAX_POINTS,
    Article,
    BriefingMode,
    Channel,
    StoredBriefing,
    Story,
    StoryBriefing,
    TokenUsage,
)
from bot.summarize.prompts import ChatMessage

Strategy = Literal["json_schema", "json_object", "text"]


@dataclass(frozen=True, slots=True)
class Usage:
    """Tokens of one or more calls, from the server's ``usage`` (or estimated if it sent none)."""

    prompt_tokens: int
    completion_tokens: int
    estimated: bool = False

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.prompt_tokens + other.prompt_tokens,
            self.completion_tokens + other.completion_tokens,
            self.estimated or other.estimated,
        )


# --- Results ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LLMResult:
    """A checked reply.

    ``data`` is the parsed JSON object (``complete_json``; None for ``stream_text``).
    ``usage`` adds up every call made for it, the repair round included; ``repaired`` tells
    whether that round was needed. ``strategy`` is how the output was constrained.
    """

    content: str
    data: dict[str, Any] | None
    usage: Usage
    model: str
    strategy: Strategy
    finish_reason: str
    repaired: bool = False


@dataclass(frozen=True, slots=True)
class BrieferSettings:
    """What the briefers need of the settings."""

    max_points: int = MAX_POINTS
    prompt_token_budget: int = 6000
    completion_token_estimate: int = 1200  # held against the budgets while a reply is due
    daily_token_budget: int | None = None
    channel_daily_token_budget: int | None = None


class StoryBriefer(Protocol):
    """Turns one story into a briefing for a channel (extractive or LLM)."""

    mode: BriefingMode

    async def brief_story(
        self, story: Story, articles: Sequence[Article], channel: Channel
    ) -> StoryBriefing: ...


class BriefingStore(Protocol):
    """Saved briefings, as the LLM briefer reads them."""

    def with_content(
        self, story_id: str, key: str, *, mode: BriefingMode = BriefingMode.LLM
    ) -> StoredBriefing | None: ...

    def last_in_mode(
        self, story_id: str, *, mode: BriefingMode = BriefingMode.LLM
    ) -> StoredBriefing | None: ...


class SpendLedger(Protocol):
    """Tokens spent by model calls, kept where every process sees them."""

    def record_spend(self, tokens: int, channel: Channel, at: datetime) -> None: ...

    def tokens_spent_since(self, since: datetime, channel: Channel | None = None) -> int: ...


class ChatModel(Protocol):
    """An OpenAI-compatible chat model that answers with JSON matching a schema."""

    async def complete_json(
        self,
        messages: Sequence[ChatMessage],
        *,
        schema_name: str,
        schema: dict[str, Any],
        max_tokens: int | None = None,
    ) -> LLMResult: ...

    def token_usage(self, usage: Usage, model: str | None = None) -> TokenUsage: ...
