"""The two ``QAEngine``s and their factory.

``ExtractiveQA`` answers without a model (``bot.qa.extractive``). ``LLMQA`` has a model
write the answer from retrieved passages only:

1. the question is checked (empty, too long) and resolved against the thread's history;
2. its filters are read (an outlet, a time, a side) and the best passages retrieved
   (``bot.qa.retrieve``, BM25 by default); none retrieved -> the honest refusal, no call;
   a question about what will happen, with no matching passage that looks ahead -> refused
   as speculative, no call;
3. the ``qa`` prompt carries the passages grouped by source (``<source id="3" ...>``, the
   ids of ``Answer.sources``) and the model replies with ``story_qa`` JSON: the answer, its
   claims each citing source ids, and the outcome ("answered" / "not_in_sources");
4. every claim is cleaned (every link, citation markers and mass mentions removed: the
   sources are listed with their own URLs) and its citations checked by the briefings'
   ``CitationVerifier``: unsupported citations removed, missing ones added, unsupported
   claims dropped; then a supported claim that does not answer the question (shares none of
   its content words, or gives no figure for "how many", no time for "when", no reason for
   "why": ``bot.qa.extractive.answers``) is dropped too (a true sentence is no answer);
5. only the verified claims are posted, in our own format (the model's free "answer" text
   is never posted, so neither the question nor an article can change the format or slip in
   a link); no claim left, or "not_in_sources" -> the honest refusal.

Any model failure (``LLMError``: timeout, refusal, server error, invalid JSON after the repair
round), a reply that does not fit the schema, or the token budget used up gives the
extractive answer with a note "Written without the model: <cause>." (never an exception).
The token budget is the briefer's ``TokenBudget``: a call reserves its estimate against the
engine's channel and settles what the server reports.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Literal

from pydantic import ValidationError

from bot.domain import (
    Article,
    BriefingMode,
    Channel,
    KeyPoint,
    Story,
    TokenUsage,
    terminal,
    utcnow,
)
from bot.errors import LLMError, PromptError
from bot.qa import Answer, Claim, Passage, QAEngine, Refusal, Turn
from bot.qa.context import check_question, resolve_question
from bot.qa.extractive import (
    answer_text,
    answers,
    defuse_mentions,
    extractive_answer,
    find_quotes,
    is_speculative,
    question_filters,
    refused,
)
from bot.qa.passages import StorySources, story_passages
from bot.qa.retrieve import DEFAULT_K, Filters, Retriever, rank
from bot.summarize.budget import Reservation, TokenBudget, settle_call
from bot.summarize.extractive import clean_title
from bot.summarize.llm import FALLBACK_PREFIX, clean_model_text
from bot.summarize.passages import defused
from bot.summarize.ports import ChatModel, Usage
from bot.summarize.prompts import ChatMessage, PromptSet, SourcePassage, format_date, format_sources
from bot.summarize.schema import QA_SCHEMA, QA_SCHEMA_NAME, QAOutput
from bot.summarize.tokens import count_message_tokens
from bot.summarize.verify import CitationVerifier
from bot.text import normalize_whitespace, split_sentences

log = logging.getLogger(__name__)

COMPLETION_TOKEN_ESTIMATE = 600  # held against the budget while an answer is due
Mode = Literal["extractive", "llm"]


class ExtractiveQA:
    """Answers from the stories' own sentences (no model); CPU work in a worker thread."""

    mode = BriefingMode.EXTRACTIVE

    def __init__(self, *, now: Callable[[], datetime] = utcnow) -> None:
        self.now = now

    async def answer(
        self,
        question: str,
        stories: Sequence[tuple[Story, list[Article]]],
        *,
        history: Sequence[Turn] = (),
        since: datetime | None = None,
    ) -> Answer:
        return await asyncio.to_thread(self.answer_now, question, stories, history, since)

    def answer_now(
        self,
        question: str,
        stories: Sequence[tuple[Story, list[Article]]],
        history: Sequence[Turn] = (),
        since: datetime | None = None,
    ) -> Answer:
        return extractive_answer(question, stories, now=self.now(), history=history, since=since)


class LLMQA:
    """Answers with a model from retrieved passages, verified; falls back to ``fallback``."""

    mode = BriefingMode.LLM

    def __init__(
        self,
        model: ChatModel,
        prompts: PromptSet,
        *,
        fallback: ExtractiveQA | None = None,
        retriever: Retriever | None = None,
        budget: TokenBudget | None = None,
        channel: Channel | None = None,
        k: int = DEFAULT_K,
        now: Callable[[], datetime] = utcnow,
    ) -> None:
        self.model = model
        self.prompts = prompts
        self.fallback = fallback or ExtractiveQA(now=now)
        self.retriever = retriever
        self.budget = budget
        self.channel = channel or terminal()
        self.k = k
        self.now = now

    async def answer(
        self,
        question: str,
        stories: Sequence[tuple[Story, list[Article]]],
        *,
        history: Sequence[Turn] = (),
        since: datetime | None = None,
    ) -> Answer:
        refusal = check_question(question)
        if refusal is not None:
            return refused(question, refusal, [], None)
        now = self.now()
        prepared = await asyncio.to_thread(self._prepare, question, stories, history, since, now)
        if isinstance(prepared, Answer):
            return prepared
        corpus, filters, messages, new = prepared
        reservation: Reservation | None = None
        if self.budget is not None:
            estimate = count_message_tokens(messages) + COMPLETION_TOKEN_ESTIMATE
            held = await asyncio.to_thread(self.budget.reserve, self.channel, estimate)
            if isinstance(held, str):
                return await self._fall_back(question, stories, history, since, held)
            reservation = held
        try:
            result = await self.model.complete_json(
                messages, schema_name=QA_SCHEMA_NAME, schema=QA_SCHEMA
            )
        except LLMError as exc:
            usage = self._spend(exc.usage, exc.model, reservation)
            log.warning("question answered without the model (%s): %s", type(exc).__name__, exc)
            cause = normalize_whitespace(exc.note).rstrip(".") or type(exc).__name__
            return await self._fall_back(question, stories, history, since, cause, usage)
        except BaseException:
            if reservation is not None and self.budget is not None:
                self.budget.settle(reservation, 0)
            raise
        usage = self._spend(result.usage, result.model, reservation)
        try:
            output = QAOutput.model_validate(result.data)
        except ValidationError as exc:
            log.warning("the model's answer does not fit the schema: %s", exc)
            cause = "the model's reply did not fit the answer format"
            return await self._fall_back(question, stories, history, since, cause, usage)
        return await asyncio.to_thread(self._written, question, corpus, filters, output, usage, new)

    # ------------------------------------------------------------------ steps
    def _prepare(
        self,
        question: str,
        stories: Sequence[tuple[Story, list[Article]]],
        history: Sequence[Turn],
        since: datetime | None,
        now: datetime,
    ) -> Answer | tuple[StorySources, Filters, list[ChatMessage], list[int]]:
        corpus = story_passages(stories)
        story_id = next(iter(corpus.offsets), None)
        if not corpus.sources:
            return refused(question, Refusal.NO_STORY, [], story_id)
        resolved = resolve_question(question, history)
        filters, new = question_filters(resolved, corpus, now, since)
        speculative = is_speculative(filters.query)
        if speculative and not find_quotes(filters, corpus, speculative=True):
            return self._refused(question, Refusal.SPECULATIVE, corpus, story_id, filters, new)
        ranked = rank(filters, corpus.passages, retriever=self.retriever, k=self.k)
        if not ranked:
            return self._refused(question, Refusal.NOT_IN_SOURCES, corpus, story_id, filters, new)
        try:
            messages = self._messages(resolved, stories, corpus, [p for p, _ in ranked])
        except PromptError as exc:
            log.warning("no qa prompt: %s", exc)
            fallback = self.fallback.answer_now(question, stories, history, since)
            return _noted(fallback, "the prompt could not be built")
        return corpus, filters, messages, new

    def _messages(
        self,
        question: str,
        stories: Sequence[tuple[Story, list[Article]]],
        corpus: StorySources,
        passages: Sequence[Passage],
    ) -> list[ChatMessage]:
        chosen: dict[int, list[str]] = {}
        for passage in passages:
            sentences = chosen.setdefault(passage.source_id, [])
            for sentence in split_sentences(passage.text):
                if sentence not in sentences:
                    sentences.append(sentence)
        blocks = []
        for source_id in sorted(chosen):
            ref = corpus.source(source_id)
            blocks.append(
                SourcePassage(
                    id=source_id,
                    outlet=ref.outlet,
                    text=" ".join(chosen[source_id]),
                    title=ref.title,
                    published_at=ref.published_at,
                    full_text=ref.full_text,
                )
            )
        story = stories[0][0]
        title = clean_title(story.title, "")
        return self.prompts.qa.render(
            question=question,
            story_title=title,
            topic=title,
            today=format_date(self.now()),
            source_count=len(blocks),
            sources=format_sources(blocks),
        )

    def _written(
        self,
        question: str,
        corpus: StorySources,
        filters: Filters,
        output: QAOutput,
        usage: TokenUsage,
        new: list[int],
    ) -> Answer:
        story_id = next(iter(corpus.offsets), None)
        if output.outcome == "not_in_sources" or not output.claims:
            answer = self._refused(question, Refusal.NOT_IN_SOURCES, corpus, story_id, filters, new)
            answer.usage = usage
            return answer
        points = []
        for item in output.claims:
            # Every link goes: the claim's sources are listed with their own URLs.
            text = defuse_mentions(clean_model_text(item.text, frozenset()))
            if text:
                points.append(KeyPoint(text, list(item.sources)))
        articles = {source_id: defused(a) for source_id, a in corpus.articles.items()}
        verified = CitationVerifier(corpus.sources, articles).verify(points)
        if not verified.key_points:
            log.warning("no claim of the model's answer survived verification")
            answer = self._refused(question, Refusal.NOT_IN_SOURCES, corpus, story_id, filters, new)
            answer.verification = verified.verification
            answer.usage = usage
            return answer
        relevant = [p for p in verified.key_points if answers(p.text, filters.query)]
        off_topic = len(verified.key_points) - len(relevant)
        if not relevant:
            log.warning("no verified claim of the model's answer answers the question")
            answer = self._refused(question, Refusal.NOT_IN_SOURCES, corpus, story_id, filters, new)
            answer.verification = verified.verification
            answer.usage = usage
            return answer
        claims = [Claim(point.text, list(point.sources)) for point in relevant]
        first = corpus.story_of[claims[0].sources[0]] if claims[0].sources else story_id
        answer = Answer(
            question=question,
            text="",
            claims=claims,
            sources=corpus.sources,
            story_id=first,
            refused=False,
            mode=BriefingMode.LLM,
            verification=verified.verification,
            new_sources=new,
            usage=usage,
        )
        if verified.verification.dropped:
            answer.notes.append(
                f"{len(verified.verification.dropped)} of the model's statements were left "
                "out: no source supports them."
            )
        if off_topic:
            answer.notes.append(
                f"{off_topic} of the model's statements were left out: true to the sources, "
                "but not an answer to the question."
            )
        answer.text = answer_text(answer, multi_story=len(corpus.offsets) > 1, quoted=False)
        return answer

    def _refused(
        self,
        question: str,
        reason: Refusal,
        corpus: StorySources,
        story_id: str | None,
        filters: Filters,
        new: list[int],
    ) -> Answer:
        answer = refused(question, reason, corpus.sources, story_id, filters=filters)
        answer.mode = BriefingMode.LLM
        answer.new_sources = new
        return answer

    def _spend(
        self, usage: Usage | None, model: str | None, reservation: Reservation | None
    ) -> TokenUsage:
        return settle_call(self.model, self.budget, reservation, usage, model)

    async def _fall_back(
        self,
        question: str,
        stories: Sequence[tuple[Story, list[Article]]],
        history: Sequence[Turn],
        since: datetime | None,
        cause: str,
        usage: TokenUsage | None = None,
    ) -> Answer:
        answer = await self.fallback.answer(question, stories, history=history, since=since)
        if usage is not None and (usage.prompt_tokens or usage.completion_tokens):
            answer.usage = usage
        return _noted(answer, cause)


def _noted(answer: Answer, cause: str) -> Answer:
    note = f"{FALLBACK_PREFIX}: {cause.rstrip('.')}."
    answer.notes.insert(0, note)
    answer.text = f"{answer.text}\n({note})"
    return answer


def build_qa_engine(
    mode: Mode | BriefingMode | str,
    model: ChatModel | None = None,
    prompts: PromptSet | None = None,
    *,
    budget: TokenBudget | None = None,
    channel: Channel | None = None,
    retriever: Retriever | None = None,
    now: Callable[[], datetime] = utcnow,
) -> QAEngine:
    """The engine for a briefing mode: ``llm`` (needs ``model`` and ``prompts``) or
    ``extractive``."""
    value = mode.value if isinstance(mode, BriefingMode) else str(mode)
    extractive = ExtractiveQA(now=now)
    if value == BriefingMode.EXTRACTIVE.value:
        return extractive
    if value != BriefingMode.LLM.value:
        raise ValueError(f"unknown Q&A mode {mode!r}: use 'extractive' or 'llm'")
    if model is None or prompts is None:
        raise ValueError("the llm Q&A mode needs a model and the prompts")
    return LLMQA(
        model,
        prompts,
        fallback=extractive,
        retriever=retriever,
        budget=budget,
        channel=channel,
        now=now,
    )
