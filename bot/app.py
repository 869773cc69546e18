"""Composition root: settings -> store -> model client -> briefer -> service.

The only module that chooses concrete classes. Entry points (CLI, Slack, Discord,
scheduler) ask it for a ready ``BriefingService`` and never wire anything themselves.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from bot.config import Settings
from bot.domain import BriefingMode, utcnow
from bot.errors import ConfigError
from bot.qa import QAEngine
from bot.qa.engine import build_qa_engine
from bot.service import BriefingService
from bot.store import Store
from bot.summarize.briefers import ExtractiveBriefer
from bot.summarize.budget import TokenBudget
from bot.summarize.ports import BrieferSettings, StoryBriefer

log = logging.getLogger(__name__)


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
    dates briefings and is the token budgets' day. ``qa`` answers questions (default: the
    settings' mode's engine of ``bot.qa.engine``, the model's verified answers or the
    extractive ones)."""
    mode = resolve_mode(settings, force_llm)
    store = open_store(settings, database_url=database_url)
    options = briefer_settings(settings)
    extractive = ExtractiveBriefer(max_points=options.max_points)
    briefer: StoryBriefer = extractive
    engine: QAEngine = qa or build_qa_engine(BriefingMode.EXTRACTIVE, now=clock)
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
        if qa is None:
            engine = build_qa_engine(
                BriefingMode.LLM, client, client.prompts, budget=budget, now=clock
            )
        on_close = client.close
    return BriefingService(settings, store, briefer, qa=engine, clock=clock, on_close=on_close)
