"""Follow-up answers grounded in one story's sources: retrieval over its passages, an
answer written from them (by a model, verified like briefings, or quoted without one), and
an honest refusal when the sources do not say.

The types every part shares live here: ``Passage`` (a window of a source's sentences),
``Claim`` and ``Answer`` (what is posted, and what ``briefbot ask --format json`` prints),
``Turn`` (an earlier question and answer of the thread) and ``QAEngine``, the one call the
service makes. The core never imports a platform SDK, the store or the model client: the
model comes in through ``bot.summarize.ports.ChatModel``.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from bot.domain import Article, BriefingMode, SourceRef, Story, TokenUsage, Verification

MAX_QUESTION_CHARS = 500  # longer questions are refused politely


class Refusal(enum.StrEnum):
    """Why a question was not answered."""

    NOT_IN_SOURCES = "not_in_sources"  # no passage supports an answer
    SPECULATIVE = "speculative"  # asks what will happen, and no source says
    TOO_LONG = "too_long"  # over MAX_QUESTION_CHARS
    NO_STORY = "no_story"  # nothing to answer from (no briefing, no matching story)
    EMPTY = "empty"  # no question


@dataclass(frozen=True, slots=True)
class Passage:
    """A window of consecutive sentences of one source of a story, the unit retrieval
    ranks and an answer cites. ``source_id`` is the source's id in the answer's numbering
    (``Answer.sources``)."""

    id: int
    story_id: str
    source_id: int
    text: str
    outlet: str
    published_at: datetime | None
    article_id: int | None = None
    copy_of: int | None = None  # the source this one's article copies (a wire copy)


@dataclass(slots=True)
class Claim:
    """One statement of an answer and the sources (``SourceRef.id``) that support it."""

    text: str
    sources: list[int]


@dataclass(slots=True)
class Answer:
    """An answer to a question about a story, or an honest refusal.

    ``text`` is what is posted (for a refusal: that this story's sources don't cover it,
    and what to do instead). ``claims`` are the answer's verified statements, each citing
    ids of ``sources``. ``new_sources`` are the ids of sources that arrived since the thread's
    last briefing ("what's the latest?")."""

    question: str
    text: str
    claims: list[Claim]
    sources: list[SourceRef]
    story_id: str | None
    refused: bool
    reason: Refusal | None = None
    mode: BriefingMode = BriefingMode.EXTRACTIVE
    verification: Verification | None = None
    new_sources: list[int] = field(default_factory=list)
    usage: TokenUsage | None = None
    notes: list[str] = field(default_factory=list)  # e.g. "Written without the model: ..."
    topic: str | None = None  # the topic asked about (``ask TOPIC``), kept with its post


@dataclass(frozen=True, slots=True)
class Turn:
    """An earlier question of the thread and the answer it got."""

    question: str
    answer: str
    asked_at: datetime
    story_id: str | None = None


class QAEngine(Protocol):
    """Answers a question from the given stories only (their articles as stored now)."""

    async def answer(
        self,
        question: str,
        stories: Sequence[tuple[Story, list[Article]]],
        *,
        history: Sequence[Turn] = (),
        since: datetime | None = None,
    ) -> Answer:
        """``since``: only passages of articles published (or fetched) after it count as
        new (for "what's the latest?"; ``Answer.new_sources``). ``history``: the thread's
        earlier turns, oldest first, to resolve follow-ups ("and Germany?")."""
        ...
