"""Follow-up questions in a briefing's thread, answered from that thread's stories only.

A question asked in the thread of a briefing the bot posted is about that briefing's
stories. ``answer_in_thread`` answers it without a model: it quotes the stories' own
sentences that match the question, each with the sources that carry it, numbered like the
briefing numbers them (``number_sources``: chronological, 1..n per story).

A sentence qualifies only when it actually matches: the question's comparison terms
(``bot.summarize.align.terms``: folded, stemmed, stop words and question filler removed,
common news synonyms merged; names weigh more) are weighted by how rare they are among the
thread's sentences, and a sentence must carry at least ``MATCH_THRESHOLD`` of that weight.
A term the sources never use weighs the most, so "the capital of Peru" matches nothing in a
story that never names Peru, however close its nearest sentence. A question of stop words
only ("what did they say about it?") matches nothing. Among matches, a sentence that gives
a figure wins for "how many" / "how much", one naming someone for "who", then the more
focused sentence (less else in it).

Wire and syndicated copies are quoted once: a sentence the same (or nearly the same) in
several articles is one quote citing all of them, and a near-repeat of a quote is skipped.
Sentences addressed to a model (``is_instruction``) and page furniture are never quoted.

Nothing here knows outside facts, calls a model or imports a platform SDK; the Q&A path
with a model can replace ``answer_in_thread`` behind the same ``Answerer`` call.
"""

from __future__ import annotations

import asyncio
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from bot.domain import Article, SourceRef, Story
from bot.render.text import clean
from bot.summarize.align import (
    Profile,
    SentenceSet,
    canonical,
    profile,
    sentence_similarity,
    source_sentences,
)
from bot.summarize.extractive import clean_title, number_sources, sentence_quality
from bot.summarize.passages import is_instruction
from bot.text import normalize_whitespace, sentence_key

MAX_QUOTES = 3
MATCH_THRESHOLD = 0.5  # share of the question's weighted terms a quoted sentence must carry
_COPY_SIMILARITY = 0.8  # another article's sentence this similar is the same sentence (a copy)
_REPEAT = 0.6  # a match this similar to a quote already taken adds nothing new
_FOCUS_WEIGHT = 0.15
_KIND_WEIGHT = 0.2  # a figure for "how many", a name for "who"
_MAX_QUOTE_CHARS = 400
_MAX_ECHO_CHARS = 120

# Words that shape a question but say nothing about what it asks.
_FILLER = frozenset(
    canonical(word) or word
    for word in """many much tell know happen happened happening anything something
    everything story stories thread source sources article articles news latest please explain
    details detail info information update updates""".split()
)
_HOW_MUCH = re.compile(r"\bhow\s+(?:many|much|big|large|long|far|high|old)\b", re.IGNORECASE)
_WHO = re.compile(r"\bwho(?:m|se)?\b", re.IGNORECASE)
# Mass mentions: "@everyone", "@here", "@channel" (Slack and Discord) and Slack's
# "<!channel>", "<!here>", "<!everyone>" (with an optional "|label").
_MASS_MENTION = re.compile(
    r"<!(channel|here|everyone)(?:\|[^>]*)?>|@(channel|here|everyone)\b", re.IGNORECASE
)


def defuse_mentions(text: str) -> str:
    """Text with its mass mentions made inert: "@everyone" becomes "＠everyone" (a full-width
    at sign), Slack's "<!here>" becomes "＠here". A platform renderer escapes further."""
    return _MASS_MENTION.sub(lambda m: "＠" + (m.group(1) or m.group(2)), text)


def quotable(text: str) -> str:
    """Untrusted source text fit for a chat reply: one clean line, mass mentions defused."""
    return defuse_mentions(clean(text))


@dataclass(frozen=True, slots=True)
class Quote:
    """One quoted sentence of a story and every source that carries it (the quoted one
    first), numbered like the story's briefing. ``text`` and ``story_title`` are already
    ``quotable``; the ``sources`` are as stored (a renderer cleans their fields)."""

    text: str
    story_id: str
    story_title: str
    sources: tuple[SourceRef, ...]
    score: float


@dataclass(frozen=True, slots=True)
class ThreadAnswer:
    """The answer to one question in a thread: the quotes that answer it (none when the
    sources do not say) and its plain text."""

    question: str
    quotes: tuple[Quote, ...]
    text: str

    @property
    def found(self) -> bool:
        return bool(self.quotes)


ThreadStories = Sequence[tuple[Story, Sequence[Article]]]


class Answerer(Protocol):
    """What ``ChatCore`` asks a thread question of (the model's Q&A path will be another)."""

    async def __call__(self, question: str, stories: ThreadStories) -> ThreadAnswer: ...


async def answer_extractively(question: str, stories: ThreadStories) -> ThreadAnswer:
    """``answer_in_thread`` in a worker thread (it is CPU work)."""
    return await asyncio.to_thread(answer_in_thread, question, stories)


@dataclass(frozen=True, slots=True)
class _Sentence:
    story: int
    source: int  # index into the story's numbered sources
    position: int
    text: str
    profile: Profile


def answer_in_thread(
    question: str, stories: ThreadStories, *, max_quotes: int = MAX_QUOTES
) -> ThreadAnswer:
    """Answer ``question`` from these stories' articles only (see the module docstring)."""
    question = normalize_whitespace(question)
    numbered = [(story, *number_sources(articles)) for story, articles in stories]
    sentences = [
        _Sentence(s, i, p, text, profile(text))
        for s, (_, ordered, _) in enumerate(numbered)
        for i, article in enumerate(ordered)
        for p, text in enumerate(_quotable_sentences(article))
    ]
    ranked = _rank(question, sentences)
    quotes: list[Quote] = []
    taken = SentenceSet()
    for score, sentence in ranked:
        if len(quotes) >= max_quotes:
            break
        if taken.repeats(sentence.text, _REPEAT):
            continue
        taken.add(sentence.text)
        story, _, sources = numbered[sentence.story]
        carriers = _carriers(sentence, sentences)
        quotes.append(
            Quote(
                text=quotable(sentence.text),
                story_id=story.id,
                story_title=quotable(_story_title(story, numbered[sentence.story][1])),
                sources=tuple(sources[i] for i in carriers),
                score=round(score, 6),
            )
        )
    return ThreadAnswer(question, tuple(quotes), _answer_text(question, quotes, len(stories)))


def _quotable_sentences(article: Article) -> list[str]:
    return [
        sentence
        for sentence in dict.fromkeys(source_sentences(article.text))
        if not is_instruction(sentence) and sentence_quality(sentence, relaxed=True) > 0
    ]


def _question_weights(question: str, sentences: Sequence[_Sentence]) -> dict[str, float]:
    """The question's terms, each weighted by its kind (names weigh more) and its rarity
    among the thread's distinct sentences (a term none of them uses weighs the most)."""
    asked = {t: w for t, w in profile(question).weights.items() if t not in _FILLER}
    distinct = {sentence_key(s.text): s.profile for s in sentences}
    count = len(distinct)
    frequency = dict.fromkeys(asked, 0)
    for found in distinct.values():
        for term in asked:
            if term in found.weights:
                frequency[term] += 1
    return {
        term: weight * math.log((count + 1) / (frequency[term] + 0.5))
        for term, weight in asked.items()
    }


def _rank(question: str, sentences: Sequence[_Sentence]) -> list[tuple[float, _Sentence]]:
    """The sentences that match the question, best first (each distinct sentence once)."""
    weights = _question_weights(question, sentences)
    total = math.fsum(weights.values())
    if total <= 0:
        return []
    wants_figure = bool(_HOW_MUCH.search(question))
    wants_name = bool(_WHO.search(question))
    named = {t for entity in profile(question).entities for t in entity}
    seen: set[str] = set()
    ranked: list[tuple[float, int, int, int, _Sentence]] = []
    for sentence in sentences:
        key = sentence_key(sentence.text)
        if key in seen:
            continue  # a later copy of the same sentence: the earliest source carries it
        seen.add(key)
        shared = [t for t in weights if t in sentence.profile.weights]
        coverage = math.fsum(weights[t] for t in shared) / total
        if not shared or coverage < MATCH_THRESHOLD - 1e-9:
            continue
        focus = len(shared) / max(len(sentence.profile.weights), 1)
        score = coverage + _FOCUS_WEIGHT * focus
        if wants_figure and sentence.profile.numbers:
            score += _KIND_WEIGHT
        if wants_name and any(set(e) - named for e in sentence.profile.entities):
            score += _KIND_WEIGHT  # names someone the question does not
        rank = (-round(score, 9), sentence.story, sentence.source, sentence.position)
        ranked.append((*rank, sentence))
    ranked.sort(key=lambda item: item[:4])
    return [(-item[0], item[4]) for item in ranked]


def _carriers(quoted: _Sentence, sentences: Sequence[_Sentence]) -> list[int]:
    """The quoted sentence's source and every other source of its story carrying the same
    sentence (an exact or near copy), in source order."""
    key = sentence_key(quoted.text)
    found = {quoted.source}
    for other in sentences:
        if other.story != quoted.story or other.source in found:
            continue
        if sentence_key(other.text) == key or (
            other.profile.weights.keys() & quoted.profile.weights.keys()
            and sentence_similarity(quoted.text, other.text) >= _COPY_SIMILARITY
        ):
            found.add(other.source)
    return [quoted.source, *sorted(found - {quoted.source})]


def _story_title(story: Story, ordered: Sequence[Article]) -> str:
    if story.title:
        return story.title
    return clean_title(ordered[0].title, ordered[0].outlet) if ordered else ""


# ---------------------------------------------------------------------- text
def _echo(question: str) -> str:
    text = quotable(question)
    if len(text) > _MAX_ECHO_CHARS:
        text = text[: _MAX_ECHO_CHARS - 1].rstrip() + "…"
    return text


def _shorten(text: str) -> str:
    if len(text) <= _MAX_QUOTE_CHARS:
        return text
    cut = text[: _MAX_QUOTE_CHARS - 1]
    return (cut.rsplit(" ", 1)[0] if " " in cut else cut) + "…"


def _source_label(ref: SourceRef) -> str:
    return f"{quotable(ref.outlet) or 'unknown outlet'} [{ref.id}]"


def _answer_text(question: str, quotes: Sequence[Quote], story_count: int) -> str:
    if not quotes:
        return (
            f"This story's sources don't say (you asked: “{_echo(question)}”). I answer only "
            "from the articles of this thread's briefing; for more, ask for a fresh one with "
            "brief <topic>."
        )
    opening = "From this thread's sources:" if story_count > 1 else "From this story's sources:"
    lines = [opening]
    for quote in quotes:
        lead, *copies = quote.sources
        where = f" ({quote.story_title})" if story_count > 1 else ""
        lines.append(f"• “{_shorten(quote.text)}”")
        cite = f"   — {_source_label(lead)}{where} {quotable(lead.url)}"
        if copies:
            cite += "; also " + ", ".join(_source_label(ref) for ref in copies)
        lines.append(cite)
    return "\n".join(lines)
