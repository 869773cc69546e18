"""Composition root: settings -> store -> model client -> briefer -> service.

The only module that chooses concrete classes. Entry points (CLI, Slack, Discord,
scheduler) ask it for a ready ``BriefingService`` and never wire anything themselves.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime

from bot.chat.followup import answer_extractively
from bot.config import Settings
from bot.domain import Article, BriefingMode, SourceRef, Story, utcnow
from bot.errors import ConfigError
from bot.qa import Answer, Claim, QAEngine, Refusal, Turn
from bot.service import BriefingService
from bot.store import Store
from bot.summarize.briefers import ExtractiveBriefer
from bot.summarize.budget import TokenBudget
from bot.summarize.ports import BrieferSettings, StoryBriefer

log = logging.getLogger(__name__)


class FollowupQA:
    """The ``QAEngine`` over today's extractive thread answers (``bot.chat.followup``):
    each quote is a claim citing the sources that carry it; nothing matched is a refusal.

    Sources keep their story's numbering when the answer draws on one story; across
    several they are numbered 1..n in the order the answer cites them. ``history`` is not
    used (the extractive answer resolves nothing against earlier turns)."""

    async def answer(
        self,
        question: str,
        stories: Sequence[tuple[Story, list[Article]]],
        *,
        history: Sequence[Turn] = (),
        since: datetime | None = None,
    ) -> Answer:
        found = await answer_extractively(question, stories)
        one_story = len({quote.story_id for quote in found.quotes}) <= 1
        numbered: dict[tuple[str, int], SourceRef] = {}
        claims = []
        for quote in found.quotes:
            ids = []
            for ref in quote.sources:
                key = (quote.story_id, ref.id)
                if key not in numbered:
                    new_id = ref.id if one_story else len(numbered) + 1
                    numbered[key] = replace(
                        ref, id=new_id, copy_of=ref.copy_of if one_story else None
                    )
                ids.append(numbered[key].id)
            claims.append(Claim(quote.text, ids))
        sources = sorted(numbered.values(), key=lambda ref: ref.id)
        story_id = found.quotes[0].story_id if found.quotes else None
        if story_id is None and stories:
            story_id = stories[0][0].id
        new = [
            ref.id
            for ref in sources
            if since is not None and ref.published_at is not None and ref.published_at > since
        ]
        return Answer(
            question=found.question,
            text=found.text,
            claims=claims,
            sources=sources,
            story_id=story_id,
            refused=not found.found,
            reason=None if found.found else Refusal.NOT_IN_SOURCES,
            new_sources=new,
        )


def resolve_mode(settings: Settings, force_llm: bool | None = None) -> BriefingMode:
    """Which briefer runs: ``--llm``/``--no-llm`` win, then ``BRIEFBOT_MODE``; ``auto`` uses
    the LLM when a key or base URL is configured and the extractive briefer otherwise."""
    wanted = settings.mode if force_llm is None else ("llm" if force_llm else "extractive")
    if wanted == "extractive":
        return BriefingMode.EXTRACTIVE
    if settings.llm_configured:
        return BriefingMode.LLM
    if wanted == "llm":
        raise ConfigError(
            "LLM mode needs a model: set OPENAI_API_KEY, or OPENAI_BASE_URL for a local "
            "OpenAI-compatible server (Ollama, vLLM); or drop --llm / BRIEFBOT_MODE=llm."
        )
    return BriefingMode.EXTRACTIVE


def briefer_settings(settings: Settings) -> BrieferSettings:
    return BrieferSettings(
        max_points=settings.max_points,
        prompt_token_budget=settings.prompt_token_budget,
        completion_token_estimate=settings.max_completion_tokens,
        daily_token_budget=settings.daily_token_budget,
        channel_daily_token_budget=settings.channel_daily_token_budget,
    )


def open_store(settings: Settings, *, database_url: str | None = None) -> Store:
    """The configured store, its schema brought up to date."""
    return Store.open(database_url or settings.resolved_database_url)


def build_service(
    settings: Settings,
    *,
    database_url: str | None = None,
    clock: Callable[[], datetime] = utcnow,
    force_llm: bool | None = None,
    qa: QAEngine | None = None,
) -> BriefingService:
    """A service on the configured store with the briefer the settings ask for; ``clock``
    dates briefings and is the token budgets' day. ``qa`` answers questions (default
    ``FollowupQA``)."""
    mode = resolve_mode(settings, force_llm)
    store = open_store(settings, database_url=database_url)
    options = briefer_settings(settings)
    extractive = ExtractiveBriefer(max_points=options.max_points)
    briefer: StoryBriefer = extractive
    on_close = None
    if mode is BriefingMode.LLM:
        from bot.llm.client import LLMClient  # imported here: the openai SDK is heavy
        from bot.summarize.llm import LLMBriefer

        try:
            client = LLMClient(settings)
        except BaseException:
            store.close()
            raise
        budget = TokenBudget(
            store.spend,
            daily=options.daily_token_budget,
            per_channel=options.channel_daily_token_budget,
            clock=clock,
        )
        briefer = LLMBriefer(
            client,
            client.prompts,
            store.briefings,
            fallback=extractive,
            budget=budget,
            settings=options,
            clock=clock,
        )
        on_close = client.close
    return BriefingService(
        settings, store, briefer, qa=qa or FollowupQA(), clock=clock, on_close=on_close
    )
