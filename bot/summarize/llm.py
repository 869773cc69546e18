"""The LLM briefer: a written briefing whose every citation is checked against its source.

For one story ``LLMBriefer.brief_story``:

1. numbers the sources exactly like the extractive briefer (chronological, same ``SourceRef``);
2. reuses a stored LLM briefing of the same articles with the same texts (``content_key``,
   any channel), at no cost and without a request;
3. checks the daily token budgets (``bot.summarize.budget``);
4. builds the prompt from the story's most central passages, each independent report once
   (``bot.summarize.passages``), within ``BRIEFBOT_PROMPT_TOKEN_BUDGET``; when the story has
   an earlier LLM briefing and new articles joined since, the ``update`` prompt carries the
   earlier key points and only the new passages;
5. asks its ``ChatModel`` port for the ``story_briefing`` JSON (``complete_json``);
6. treats the reply as untrusted text: links that are not a source's URL and citation
   markers written into the text ("[3]", "[source 2]") are removed; citations live only in
   the ``sources`` lists, which are mapped back from report passages to every copy;
7. verifies every citation (``bot.summarize.verify``): unsupported citations are removed,
   missing ones added, unsupported points dropped; the headline and summary are kept only
   when the sources support them.

Whenever the model cannot give a usable briefing (timeout, rate limit or server error after
the client's retries, connection refused, invalid or truncated JSON, refusal, context length,
budget used up, nothing verified), the story gets the fallback (extractive) briefing with a
visible note "Written without the model: <cause>" and a log line; other stories carry on.
The note names the cause in plain words ("the model server did not answer in 60 s",
``LLMError.note``); the server's address and its message go only to the (redacted) log.

``brief_story`` is a coroutine: the model call is awaited, and the CPU work around it
(passages, verification, the extractive fallback) and the store reads run in worker threads,
so a story waiting for a slow model never stalls the event loop or the other stories.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime

from pydantic import ValidationError

from bot.domain import (
    Article,
    BriefingMode,
    Channel,
    KeyPoint,
    SourceRef,
    StoredBriefing,
    Story,
    StoryBriefing,
    TokenUsage,
    Verification,
    content_key,
    utcnow,
)
from bot.errors import LLMError, PromptError, SummarizerError
from bot.summarize.align import source_sentences, terms
from bot.summarize.briefers import ExtractiveBriefer
from bot.summarize.budget import Reservation, TokenBudget, settle_call
from bot.summarize.coverage import coverage
from bot.summarize.extractive import clean_title, number_sources
from bot.summarize.passages import PromptSources, defused, select_passages
from bot.summarize.ports import BrieferSettings, BriefingStore, ChatModel, Usage
from bot.summarize.prompts import ChatMessage, PromptSet, format_date, format_key_points
from bot.summarize.schema import BRIEFING_SCHEMA, BRIEFING_SCHEMA_NAME, BriefingOutput, CitedItem
from bot.summarize.tokens import count_message_tokens
from bot.summarize.verify import CitationVerifier, VerifiedPoints
from bot.text import normalize_whitespace

log = logging.getLogger(__name__)

FALLBACK_PREFIX = "Written without the model"

_URL = re.compile(
    r"\[([^\]\n]{0,200})\]\(\s*([^)\s]*)\s*\)"  # Markdown link: [text](url)
    r"|<((?:https?|ftp)://[^>\s]+)>"  # <https://...>
    r"|\b(?:(?:https?|ftp)://|www\.)[^\s<>\"'`]+"  # bare URL
    r"|\b(?:[a-z0-9-]+\.)+[a-z]{2,24}/[^\s<>\"'`]*",  # host/path without a scheme
    re.IGNORECASE,
)
_MARKER = re.compile(
    r"\s*\[\s*(?:(?:sources?|src|ref)\s*)?\d+(?:\s*(?:,|;|-|–|and)\s*\d+)*\s*\]"
    r"|\s*\(\s*(?:sources?|src|ref)\s*\d+(?:\s*(?:,|;|-|–|and)\s*\d+)*\s*\)",
    re.IGNORECASE,
)
_TRAILING = ".,;:!?)]}'\""


class LLMBriefer:
    """Briefs a story with an OpenAI-compatible model, verified; falls back per story."""

    mode = BriefingMode.LLM

    def __init__(
        self,
        model: ChatModel,
        prompts: PromptSet,
        briefings: BriefingStore | None,
        *,
        fallback: ExtractiveBriefer,
        budget: TokenBudget | None = None,
        settings: BrieferSettings | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.model = model
        self.prompts = prompts
        self.briefings = briefings
        self.fallback = fallback
        self.budget = budget
        settings = settings or BrieferSettings()
        self.prompt_token_budget = settings.prompt_token_budget
        self.max_points = settings.max_points
        self.completion_token_estimate = settings.completion_token_estimate
        self.clock = clock

    # ------------------------------------------------------------------ brief
    async def brief_story(
        self, story: Story, articles: Sequence[Article], channel: Channel
    ) -> StoryBriefing:
        """The story's briefing for ``channel`` (whose token budget pays for the model)."""
        if not articles:
            raise SummarizerError(f"story {story.id} has no articles to brief")
        ordered, sources = await asyncio.to_thread(number_sources, articles)
        key = _content_key(ordered)
        if key is not None and self.briefings is not None:
            stored = await asyncio.to_thread(self.briefings.with_content, story.id, key)
            if stored is not None:
                log.info("story %s: reusing the stored briefing of the same articles", story.id)
                return _reused(stored, story, ordered, sources)
        if self.budget is not None:  # over budget already: no prompt to build
            reason = await asyncio.to_thread(self.budget.exceeded, channel)
            if reason is not None:
                return await asyncio.to_thread(self._fall_back, story, ordered, reason)
        # Only a briefing the model writes needs the texts made safe to quote to it.
        by_source = await asyncio.to_thread(_defused_sources, sources, ordered)
        try:
            messages, prompt_sources = await asyncio.to_thread(
                self._prompt, story, ordered, sources, by_source
            )
        except SummarizerError as exc:
            log.warning("story %s: no prompt (%s): %s", story.id, type(exc).__name__, exc)
            cause = "the prompt could not be built" if isinstance(exc, PromptError) else str(exc)
            return await asyncio.to_thread(self._fall_back, story, ordered, cause)
        reservation: Reservation | None = None
        if self.budget is not None:
            estimate = count_message_tokens(messages) + self.completion_token_estimate
            held = await asyncio.to_thread(self.budget.reserve, channel, estimate)
            if isinstance(held, str):  # the stories in flight took the rest of the budget
                return await asyncio.to_thread(self._fall_back, story, ordered, held)
            reservation = held
        try:
            result = await self.model.complete_json(
                messages, schema_name=BRIEFING_SCHEMA_NAME, schema=BRIEFING_SCHEMA
            )
        except LLMError as exc:
            usage = await asyncio.to_thread(self._spend, exc.usage, exc.model, reservation)
            log.warning("story %s: model failed (%s): %s", story.id, type(exc).__name__, exc)
            return await asyncio.to_thread(
                self._fall_back, story, ordered, _cause(exc), usage=usage
            )
        except BaseException:
            if reservation is not None and self.budget is not None:
                self.budget.settle(reservation, 0)  # cancelled: nothing known to be spent
            raise
        usage = await asyncio.to_thread(self._spend, result.usage, result.model, reservation)
        try:
            output = BriefingOutput.model_validate(result.data)
        except ValidationError as exc:
            log.warning("story %s: model reply does not fit the briefing: %s", story.id, exc)
            return await asyncio.to_thread(
                self._fall_back,
                story,
                ordered,
                "the model's reply did not fit the briefing format",
                usage=usage,
            )
        return await asyncio.to_thread(
            self._written, story, ordered, sources, by_source, output, prompt_sources, usage
        )

    def _prompt(
        self,
        story: Story,
        ordered: Sequence[Article],
        sources: Sequence[SourceRef],
        by_source: Mapping[int, Article],
    ) -> tuple[list[ChatMessage], PromptSources]:
        return self._messages(story, sources, by_source, self._previous(story, ordered))

    # ------------------------------------------------------------------ steps
    def _previous(self, story: Story, ordered: Sequence[Article]) -> _Previous | None:
        """The story's earlier LLM briefing when new articles joined since (for an update)."""
        if self.briefings is None:
            return None
        stored = self.briefings.last_in_mode(story.id)
        if stored is None or not stored.article_ids:
            return None
        current = {a.id for a in ordered if a.id is not None}
        before = set(stored.article_ids)
        if not before <= current or before == current:
            return None
        return _Previous(stored, before)

    def _messages(
        self,
        story: Story,
        sources: Sequence[SourceRef],
        by_source: Mapping[int, Article],
        previous: _Previous | None,
    ) -> tuple[list[ChatMessage], PromptSources]:
        title = clean_title(story.title, "")
        common: dict[str, str | int] = {
            "topic": title,
            "story_title": title,
            "today": format_date(self.clock()),
            "max_points": self.max_points,
        }
        if previous is None:
            empty = self.prompts.briefing.render(sources="", source_count=len(sources), **common)
        else:
            points = previous.points_in(sources)
            common["previous_points"] = format_key_points(points)
            common["previous_date"] = format_date(previous.stored.generated_at)
            empty = self.prompts.update.render(sources="", source_count=0, **common)
        overhead = count_message_tokens(empty)
        room = self.prompt_token_budget - overhead
        if room <= 0:
            raise SummarizerError(
                f"the prompt alone exceeds BRIEFBOT_PROMPT_TOKEN_BUDGET "
                f"({self.prompt_token_budget} tokens)"
            )
        if previous is None:
            chosen = select_passages(sources, by_source, room, overhead_tokens=overhead)
            messages = self.prompts.briefing.render(
                sources=chosen.text, source_count=chosen.passage_count, **common
            )
        else:
            new_ids = [ref.id for ref in sources if ref.article_id not in previous.article_ids]
            old_text = [
                by_source[ref.id].text for ref in sources if ref.article_id in previous.article_ids
            ]
            chosen = select_passages(
                sources,
                by_source,
                room,
                only=new_ids,
                exclude_sentences=[s for text in old_text for s in source_sentences(text)],
                overhead_tokens=overhead,
            )
            messages = self.prompts.update.render(
                sources=chosen.text, source_count=chosen.passage_count, **common
            )
        if not chosen.text:
            raise SummarizerError("the sources carry no usable text for the model")
        log.debug(
            "story %s: prompt with %d passage(s), %d of %d naive source tokens",
            story.id,
            chosen.passage_count,
            chosen.tokens,
            chosen.naive_tokens,
        )
        return messages, chosen

    def _written(
        self,
        story: Story,
        ordered: Sequence[Article],
        sources: Sequence[SourceRef],
        by_source: Mapping[int, Article],
        output: BriefingOutput,
        prompt_sources: PromptSources,
        usage: TokenUsage,
    ) -> StoryBriefing:
        allowed_urls = {ref.url for ref in sources}
        verifier = CitationVerifier(sources, by_source)

        def items(raw: Sequence[CitedItem]) -> list[KeyPoint]:
            found: list[KeyPoint] = []
            for item in raw:
                text = clean_model_text(item.text, allowed_urls)
                cited = prompt_sources.expand(item.sources)
                if text:
                    found.append(KeyPoint(text, cited))
            return found

        points = verifier.verify(items(output.key_points)[: self.max_points])
        differ = verifier.verify(items(output.disagreements), rule="differ")
        new = verifier.verify(items(output.whats_new))
        verification = _merge(points, differ, new)
        if not points.key_points:
            log.warning("story %s: no key point of the model's survived verification", story.id)
            fallback = self._fall_back(
                story,
                ordered,
                "none of the model's key points was supported by the sources it cited",
                usage=usage,
            )
            fallback.verification = verification
            return fallback
        all_ids = [ref.id for ref in sources]
        headline = clean_model_text(output.headline, allowed_urls)
        summary = clean_model_text(output.summary, allowed_urls)
        # A headline may only use words of the verified points and of the sources' headlines.
        known_terms = {t for point in points.key_points for t in terms(point.text)}
        known_terms.update(t for ref in sources for t in terms(ref.title))
        if not headline or not (
            _supported(verifier, headline, all_ids) and set(terms(headline)) <= known_terms
        ):
            headline = ""
        if summary and not _supported(verifier, summary, all_ids):
            log.info("story %s: dropped a summary the sources do not support", story.id)
            summary = ""
        base = self.fallback.brief_now(story, ordered) if not headline else None
        notes = _teaser_notes(ordered)
        if verification.dropped:
            notes.append(
                f"{len(verification.dropped)} of the model's statements were left out: "
                "no source supports them."
            )
        return StoryBriefing(
            story_id=story.id,
            title=headline or (base.title if base is not None else story.title),
            updated_at=max(story.updated_at, max(a.when for a in ordered)),
            key_points=points.key_points,
            sources=list(sources),
            coverage=coverage(ordered),
            summary=summary or None,
            notes=notes,
            mode=BriefingMode.LLM,
            disagreements=differ.key_points,
            whats_new=new.key_points,
            verification=verification,
            usage=usage,
        )

    def _spend(
        self, usage: Usage | None, model: str | None, reservation: Reservation | None
    ) -> TokenUsage:
        return settle_call(self.model, self.budget, reservation, usage, model)

    def _fall_back(
        self,
        story: Story,
        ordered: Sequence[Article],
        cause: str,
        *,
        usage: TokenUsage | None = None,
    ) -> StoryBriefing:
        log.warning("story %s: written without the model: %s", story.id, cause)
        briefing = self.fallback.brief_now(story, ordered)
        briefing.notes = [f"{FALLBACK_PREFIX}: {cause}.", *briefing.notes]
        if usage is not None and (usage.prompt_tokens or usage.completion_tokens):
            briefing.usage = usage  # tokens were spent even though the reply was unusable
        return briefing


# ---------------------------------------------------------------------- untrusted text


def clean_model_text(text: str, allowed_urls: set[str] | frozenset[str]) -> str:
    """Model-written text made safe to post: links that are not one of ``allowed_urls`` and
    citation markers ("[3]", "[source 2]", "(source 4)") removed, whitespace collapsed."""

    def link(match: re.Match[str]) -> str:
        if match.group(1) is not None:  # Markdown link: keep the words, check the target
            target = match.group(2) or ""
            words = match.group(1)
            return f"{words} {target}" if _allowed(target, allowed_urls) else words
        url = match.group(3) or match.group(0)
        stripped = url.rstrip(_TRAILING)
        tail = url[len(stripped) :]
        return url if _allowed(stripped, allowed_urls) else tail

    text = _URL.sub(link, text)
    text = _MARKER.sub("", text)
    text = normalize_whitespace(text)
    text = re.sub(r"\s+([.,;:!?])", r"\1", text)
    text = re.sub(r"\(\s*\)|\[\s*\]", "", text)
    return normalize_whitespace(text)


def _allowed(url: str, allowed: set[str] | frozenset[str]) -> bool:
    return bool(url) and url in allowed


# ---------------------------------------------------------------------- helpers


class _Previous:
    """An earlier LLM briefing of the story and the articles it covered."""

    def __init__(self, stored: StoredBriefing, article_ids: set[int]) -> None:
        self.stored = stored
        self.article_ids = article_ids

    def points_in(self, sources: Sequence[SourceRef]) -> list[KeyPoint]:
        """The earlier key points with their citations renumbered to today's sources."""
        article_of = {
            ref.id: ref.article_id
            for ref in self.stored.briefing.sources
            if ref.article_id is not None
        }
        number_of = {ref.article_id: ref.id for ref in sources if ref.article_id is not None}
        points = []
        for point in self.stored.briefing.key_points:
            cited = {
                number_of[article_of[s]] for s in point.sources if article_of.get(s) in number_of
            }
            points.append(KeyPoint(point.text, sorted(cited)))
        return points


def _defused_sources(
    sources: Sequence[SourceRef], ordered: Sequence[Article]
) -> dict[int, Article]:
    """Each source's defused article (its text safe to quote to a model)."""
    return {ref.id: defused(article) for ref, article in zip(sources, ordered, strict=True)}


def _content_key(ordered: Sequence[Article]) -> str | None:
    if not ordered or any(a.id is None for a in ordered):
        return None
    return content_key((a.id, a.content_hash) for a in ordered if a.id is not None)


def _reused(
    stored: StoredBriefing, story: Story, ordered: Sequence[Article], sources: list[SourceRef]
) -> StoryBriefing:
    writer = stored.briefing.usage.model if stored.briefing.usage is not None else None
    return replace(
        stored.briefing,
        story_id=story.id,
        updated_at=max(story.updated_at, max(a.when for a in ordered)),
        sources=sources,
        usage=TokenUsage(0, 0, 0.0, cached=True, model=writer),
        notes=list(stored.briefing.notes),
    )


def _supported(verifier: CitationVerifier, text: str, source_ids: Sequence[int]) -> bool:
    check = verifier.check(text)
    return check.covered_by(source_ids)


def _merge(*results: VerifiedPoints) -> Verification:
    merged = Verification()
    for result in results:
        merged.checked += result.verification.checked
        merged.removed.extend(result.verification.removed)
        merged.added.extend(result.verification.added)
        merged.dropped.extend(result.verification.dropped)
    return merged


def _teaser_notes(ordered: Sequence[Article]) -> list[str]:
    teasers = sum(1 for a in ordered if not a.full_text)
    if not teasers:
        return []
    return [
        f"{teasers} of {len(ordered)} sources could only be read as feed teasers "
        "(the full article could not be fetched)."
    ]


def _cause(exc: LLMError) -> str:
    """The failure as a short clause for the visible note: the cause in plain words, without
    the server's address or its text (those go to the log)."""
    return normalize_whitespace(exc.note).rstrip(".") or type(exc).__name__
