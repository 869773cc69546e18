"""Composition root: settings -> store -> briefer -> pipeline.

The only module that chooses concrete classes. Entry points (CLI, Slack,
Discord, scheduler) ask it for a ready ``Pipeline`` and never wire anything
themselves.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from bot.config import Settings
from bot.domain import BriefingMode, utcnow
from bot.errors import ConfigError
from bot.pipeline import Pipeline, StoryBriefer
from bot.store.repository import Repository
from bot.summarize.briefers import ExtractiveBriefer

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


def build_briefer(
    settings: Settings,
    repo: Repository,
    mode: BriefingMode,
    *,
    clock: Callable[[], datetime] = utcnow,
) -> StoryBriefer:
    """The briefer for ``mode``, on the pipeline's ``clock`` (the token budgets' day)."""
    if mode is BriefingMode.LLM:
        from bot.summarize.llm import LLMBriefer  # imported here: the openai SDK is heavy

        return LLMBriefer.from_settings(settings, repo, fallback=ExtractiveBriefer(), clock=clock)
    return ExtractiveBriefer()


def open_store(settings: Settings, *, database_url: str | None = None) -> Repository:
    """The configured store, its schema brought up to date."""
    return Repository.open(database_url or settings.resolved_database_url)


def build_pipeline(
    settings: Settings,
    *,
    database_url: str | None = None,
    clock: Callable[[], datetime] = utcnow,
    force_llm: bool | None = None,
) -> Pipeline:
    """A pipeline on the configured store with the briefer the settings ask for."""
    mode = resolve_mode(settings, force_llm)
    repo = open_store(settings, database_url=database_url)
    briefer = build_briefer(settings, repo, mode, clock=clock)
    return Pipeline(settings, repo, briefer, clock=clock)
