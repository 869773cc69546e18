"""The answer without a model: the stories' own sentences that match the question, quoted.

A sentence qualifies only when it actually matches: the question's comparison terms
(``bot.summarize.align.terms``: folded, stemmed, stop words and question filler removed,
common news synonyms merged; names weigh more) are weighted by how rare they are among the
stories' sentences, and a sentence must carry at least ``MATCH_THRESHOLD`` of that weight.
A term the sources never use weighs the most, so "the capital of Peru" matches nothing in a
story that never names Peru, however close its nearest sentence. A question of stop words
only ("what did they say about it?") matches nothing. Among matches, a sentence that gives
a figure wins for "how many" / "how much", one naming someone for "who", then the more
focused sentence (less else in it).

Wire and syndicated copies are quoted once: a sentence the same (or nearly the same) in
several articles is one quote citing all of them, and a near-repeat of a quote is skipped.
Sentences addressed to a model (``is_instruction``) and page furniture are never quoted;
every quoted text has its mass mentions defused (``defuse_mentions``).

Two entry points share the matcher:

- ``answer_in_thread(question, stories) -> ThreadAnswer``: the thread reply of
  ``bot.chat`` (sources numbered per story, like each story's briefing);
- ``extractive_answer(question, stories, now=...) -> Answer``: the ``QAEngine`` answer
  (sources numbered once across the stories, ``bot.qa.passages``), with the question's
  filters (an outlet, a time, "how do they differ": ``bot.qa.retrieve``), follow-ups
  resolved against the thread's history (``bot.qa.context``) and the honest refusals:
  not in the sources, speculation no source makes (``SPECULATIVE``), too long, empty.
"""

from __future__ import annotations

import asyncio
import math
import re
import threading
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import lru_cache
from typing import Protocol
from weakref import WeakKeyDictionary

from bot.domain import Article, SourceRef, Story
from bot.qa import MAX_QUESTION_CHARS, Answer, Claim, Refusal, Turn
from bot.qa.context import check_question, question_parts, resolve_question
from bot.qa.passages import StorySources, story_passages, text_sentences
from bot.qa.retrieve import FILLER, Filters, apply_filters, leads_first, parse_filters, spread
from bot.render.text import clean
from bot.summarize.align import Profile, SentenceSet, canonical, profile, sentence_similarity
from bot.summarize.extractive import clean_title, sentence_quality
from bot.text import normalize_whitespace, sentence_key, split_sentences

MAX_QUOTES = 3
MATCH_THRESHOLD = 0.5  # share of the question's weighted terms a quoted sentence must carry
# A further quote must score within this of the best one: a weaker match adds a citation
# that does not answer the question.
QUOTE_MARGIN = 0.2
_COPY_SIMILARITY = 0.8  # another article's sentence this similar is the same sentence (a copy)
_REPEAT = 0.6  # a match this similar to a quote already taken adds nothing new
_FOCUS_WEIGHT = 0.15
_KIND_WEIGHT = 0.2  # a figure for "how many", a name for "who"
_MAX_QUOTE_CHARS = 400
_MAX_ECHO_CHARS = 120

_LATEST = re.compile(
    r"\b(?:latest|newest|most\s+recent|anything\s+new|what['’]?s\s+new|new\s+developments?|"
    r"updates?)\b",
    re.IGNORECASE,
)
_HOW_MUCH = re.compile(r"\bhow\s+(?:many|much|big|large|long|far|high|old)\b", re.IGNORECASE)
_WHO = re.compile(r"\bwho(?:m|se)?\b", re.IGNORECASE)
# Questions about what has not happened yet ...
SPECULATIVE = re.compile(
    r"\b(?:will|won['’]t|going\s+to|gonna|next|soon|expect\w*|predict\w*|forecast\w*|likely|"
    r"future|outlook|chances?|odds|prospects?|eventually|later)\b",
    re.IGNORECASE,
)
# ... answered only by a sentence that itself looks ahead.
FORWARD = re.compile(
    r"\b(?:will|would|expect\w*|set\s+to|due\s+to|plans?\s+to|planned|forecast\w*|predict\w*|"
    r"could|may|might|likely|(?:is|are)\s+to|next|warn\w*|until|by\s+(?:the\s+)?end|"
    r"(?:agreed|voted|decided|promised|pledged|vowed|aims?|intends?|wants?)\s+to|"
    r"(?:from|in|by)\s+(?:next|20\d\d))\b",
    re.IGNORECASE,
)
# A question about the future that asks for a fact ("when will they return?", "how long will
# the route be?") rather than a yes or no ("will Aske resign?"): a source that states the plan
# answers it; a prediction needs a source that makes it.
_WH = re.compile(
    r"^\W*(?:and\s+|so\s+|but\s+)?(?:when|what|which|who|whom|whose|where|how|why)\b", re.IGNORECASE
)
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


def is_speculative(question: str) -> bool:
    """Does the question ask what will happen (rather than what the sources report)?"""
    return bool(SPECULATIVE.search(question))


def asks_prediction(question: str) -> bool:
    """A question about what will happen that asks for a yes or no ("will Aske resign?",
    "is there going to be another strike?"): only a source that says so answers it. A
    wh-question about the future ("when will the dockers return?") asks for a plan or a
    figure a source can state."""
    return is_speculative(question) and not _WH.match(question)


# ---------------------------------------------------------------------- the thread reply


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


def answer_in_thread(
    question: str, stories: ThreadStories, *, max_quotes: int = MAX_QUOTES
) -> ThreadAnswer:
    """Answer ``question`` from these stories' articles only (see the module docstring)."""
    question = normalize_whitespace(question)
    corpus = story_passages(stories)
    found = match_quotes(question, corpus, max_quotes=max_quotes)
    titles = _titles(stories, corpus)
    quotes = []
    for item in found:
        offset = corpus.offsets[item.story_id]
        local = [corpus.source(s) for s in item.sources]
        quotes.append(
            Quote(
                text=item.text,
                story_id=item.story_id,
                story_title=titles[item.story_id],
                sources=tuple(_local(ref, offset) for ref in local),
                score=item.score,
            )
        )
    return ThreadAnswer(question, tuple(quotes), _thread_text(question, quotes, len(stories)))


def _local(ref: SourceRef, offset: int) -> SourceRef:
    """A source renumbered as its own story's briefing numbers it."""
    return replace(
        ref,
        id=ref.id - offset,
        copy_of=ref.copy_of - offset if ref.copy_of is not None else None,
    )


# ---------------------------------------------------------------------- the matcher


@dataclass(frozen=True, slots=True)
class Found:
    """A matching sentence (already ``quotable``), its story and every source carrying it
    (ids of ``StorySources.sources``, the quoted one first)."""

    text: str
    story_id: str
    sources: tuple[int, ...]
    score: float


@dataclass(frozen=True, slots=True)
class _Sentence:
    story: int
    source: int  # id in StorySources.sources
    position: int
    text: str
    profile: Profile
    key: str  # sentence_key(text)
    weekday: int  # of its article's date (Monday 0), for "on Wednesday"
    # A sentence whose speaker is "she said" / "he told": the names of the sentence before
    # it, who the speaker is (matched, and quoted with it for sense).
    speaker: frozenset[str] = frozenset()
    before: str = ""


@dataclass(slots=True)
class _Index:
    """The quotable sentences of a ``StorySources``, built once per (cached) corpus:
    ``distinct`` holds the first of each sentence key; ``postings`` maps each term to the
    distinct sentences carrying it (``spoken``: by their speaker's name)."""

    sentences: list[_Sentence]
    distinct: list[_Sentence]
    postings: dict[str, list[int]]
    spoken: dict[str, list[int]]
    vocabulary: frozenset[str]
    carriers: dict[tuple[int, int], tuple[int, ...]] = field(default_factory=dict)
    by_story: dict[int, list[_Sentence]] = field(default_factory=dict)

    def carrying(self, term: str) -> set[int]:
        """The distinct sentences carrying ``term`` or one of its alternatives."""
        found: set[int] = set()
        for form in _forms(term):
            found.update(self.postings.get(form, ()))
        return found


_indexes: WeakKeyDictionary[StorySources, _Index] = WeakKeyDictionary()
_indexes_lock = threading.Lock()


def _index(corpus: StorySources) -> _Index:
    with _indexes_lock:
        found = _indexes.get(corpus)
    if found is None:
        found = _build_index(corpus)
        with _indexes_lock:
            _indexes[corpus] = found
    return found


def _build_index(corpus: StorySources) -> _Index:
    sentences = _sentences(corpus)
    distinct: list[_Sentence] = []
    seen: set[str] = set()
    postings: dict[str, list[int]] = {}
    spoken: dict[str, list[int]] = {}
    by_story: dict[int, list[_Sentence]] = {}
    for sentence in sentences:
        by_story.setdefault(sentence.story, []).append(sentence)
        if sentence.key in seen:
            continue  # a later copy of the same sentence: the earliest source carries it
        seen.add(sentence.key)
        n = len(distinct)
        distinct.append(sentence)
        for term in sentence.profile.weights:
            postings.setdefault(term, []).append(n)
        for term in sentence.speaker:
            spoken.setdefault(term, []).append(n)
    return _Index(sentences, distinct, postings, spoken, frozenset(postings), by_story=by_story)


def _sentences(corpus: StorySources) -> list[_Sentence]:
    order = {story: n for n, story in enumerate(corpus.offsets)}
    found: list[_Sentence] = []
    for ref in corpus.sources:
        article = corpus.articles[ref.id]
        weekday = article.when.weekday()
        previous: tuple[str, Profile] | None = None
        for p, text in enumerate(_quotable_sentences(article.text)):
            shaped = profile(text)
            speaker: frozenset[str] = frozenset()
            before = ""
            if previous is not None and _ATTRIBUTED.search(text):
                speaker = frozenset(t for entity in previous[1].entities for t in entity)
                before = previous[0] if speaker else ""
            found.append(
                _Sentence(
                    order[corpus.story_of[ref.id]], ref.id, p, text, shaped, _key(text),
                    weekday, speaker, before,
                )
            )  # fmt: skip
            previous = (text, shaped)
    return found


# "“...,” she said.", "he told reporters", "they added": a sentence whose speaker is named in
# the sentence before.
_ATTRIBUTED = re.compile(
    r"\b(?:he|she|they)\s+(?:said|says|told|added|warned|argued|insisted|wrote|explained)\b|"
    r"\b(?:said|says|added|told)\s+(?:he|she|they)\b",
    re.IGNORECASE,
)
_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_ON_DAY = re.compile(r"\b(?:on|by|this|last)\s+(" + "|".join(_WEEKDAYS) + r")\b", re.IGNORECASE)


def _day_fits(sentence: _Sentence, day: int | None) -> bool:
    """For "how many ships were waiting on Wednesday?": a sentence of that day's reporting,
    or one that names the day."""
    if day is None:
        return True
    return sentence.weekday == day or _WEEKDAYS[day] in sentence.text.casefold()


@lru_cache(maxsize=65536)
def _key(text: str) -> str:
    return sentence_key(text)


@lru_cache(maxsize=4096)
def _quotable_sentences(text: str) -> tuple[str, ...]:
    return tuple(s for s in text_sentences(text) if sentence_quality(s, relaxed=True) > 0)


def match_quotes(
    question: str,
    corpus: StorySources,
    *,
    keep: set[int] | None = None,
    max_quotes: int = MAX_QUOTES,
    forward_only: bool = False,
) -> list[Found]:
    """The sentences that answer ``question``, best first, each once with every source that
    carries it. ``keep``: only sentences of these sources may be quoted (rarity is still
    weighed over every source). ``forward_only`` (a question about the future): only
    sentences that look ahead, or, for a wh-question asking a figure, that give one; a yes-or-no
    prediction needs a forward sentence carrying all of its predicate (``Shape``)."""
    index = _index(corpus)
    vocabulary = index.vocabulary
    question = join_compounds(question, vocabulary)
    prediction = forward_only and asks_prediction(question)
    shape = Shape.of(question, speculative=forward_only)
    if forward_only and not all(_carries(vocabulary, t) for t in shape.predicate):
        return []  # "how much will it be fined?" where no source speaks of a fine
    ranked = _rank(question, index)
    on_day = _ON_DAY.search(question)
    day = _WEEKDAYS.index(on_day.group(1).casefold()) if on_day else None
    wants_figure = bool(_HOW_MUCH.search(question)) or shape.percent
    asked_names = frozenset(t for entity in profile(question).entities for t in entity)
    story_ids = list(corpus.offsets)
    found: list[Found] = []
    taken = SentenceSet()
    best: float | None = None
    for score, sentence in ranked:
        if len(found) >= max_quotes or (best is not None and score < best - QUOTE_MARGIN):
            break
        if keep is not None and sentence.source not in keep:
            continue
        if forward_only and not (
            FORWARD.search(sentence.text)
            or (not prediction and wants_figure and sentence.profile.numbers)
        ):
            continue  # a plan or a figure answers "how long will it be?"; a prediction, not
        if not shape.fits(sentence, asked_names, prediction=prediction):
            continue
        if not _day_fits(sentence, day):
            continue
        if taken.repeats(sentence.text, _REPEAT):
            continue
        taken.add(sentence.text)
        best = score if best is None else best
        found.append(
            Found(
                text=quotable(f"{sentence.before} {sentence.text}".strip()),
                story_id=story_ids[sentence.story],
                sources=_carriers(sentence, index),
                score=round(score, 6),
            )
        )
    return found


# Words a question uses for what the sources say in others (beyond the synonyms that
# ``bot.summarize.align`` merges for every comparison): each line one group, every form
# answers every other.
_QUESTION_ALTERNATIVES = """
lost loss lose loses losing
back return returned returning returns
share percent percentage proportion
fine fined fines penalty penalties
hired hire contracted appointed
left discharged released
operates operator operated runs
boss head chief leader
"""


@lru_cache(maxsize=1)
def _alternatives() -> dict[str, frozenset[str]]:
    table: dict[str, frozenset[str]] = {}
    for line in _QUESTION_ALTERNATIVES.strip().splitlines():
        group = frozenset(t for t in (canonical(w) for w in line.split()) if t)
        for term in group:
            table[term] = table.get(term, frozenset()) | group
    return table


def _forms(term: str) -> frozenset[str]:
    return _alternatives().get(term, frozenset((term,)))


def _carries(weights: dict[str, float] | frozenset[str], term: str) -> bool:
    return any(form in weights for form in _forms(term))


_PAIR = re.compile(r"\b([A-Za-z]{3,})\s+([A-Za-z]{3,})\b")


def join_compounds(question: str, vocabulary: frozenset[str]) -> str:
    """The question with two words the sources write as one joined ("dock workers" ->
    "dockworkers", "sea wall" -> "seawall") when the joined word is theirs."""

    def join(match: re.Match[str]) -> str:
        first, second = match.group(1), match.group(2)
        joined = canonical((first + second).casefold())
        if joined and joined in vocabulary and canonical(first.casefold()) != joined:
            return first + second
        return match.group(0)

    return _PAIR.sub(join, question)


def _question_weights(question: str, index: _Index) -> dict[str, float]:
    """The question's terms, each weighted by its kind (names weigh more) and its rarity
    among the distinct sentences (a term none of them uses weighs the most); a term counts
    as used where one of its ``_QUESTION_ALTERNATIVES`` is."""
    asked = {
        t: w for t, w in profile(_HOW_MUCH.sub(" ", question)).weights.items() if t not in FILLER
    }
    count = len(index.distinct)
    return {
        term: weight * math.log((count + 1) / (len(index.carrying(term)) + 0.5))
        for term, weight in asked.items()
    }


def has_content(question: str) -> bool:
    """Does the question ask about something (a term that is not filler)?"""
    return any(t not in FILLER for t in profile(question).weights)


_DATE_TERMS = frozenset(
    t
    for t in (
        canonical(w)
        for w in "monday tuesday wednesday thursday friday saturday sunday january february "
        "march april may june july august september october november december".split()
    )
    if t
)


def _names_someone_new(sentence: _Sentence, named: Collection[str]) -> bool:
    """Does the sentence (or its speaker) name someone the question does not? A name sharing
    a term with the question ("Port of Halvern" for "Halvern") is not new, nor is a date
    ("Monday")."""
    return any(
        not set(entity) & set(named) and not set(entity) <= _DATE_TERMS
        for entity in sentence.profile.entities
    ) or bool(sentence.speaker - set(named))


def _rank(question: str, index: _Index) -> list[tuple[float, _Sentence]]:
    """The sentences that match the question, best first (each distinct sentence once)."""
    weights = _question_weights(question, index)
    total = math.fsum(weights.values())
    if total <= 0:
        return []
    wants_figure = bool(_HOW_MUCH.search(question))
    wants_name = bool(_WHO.search(question))
    asked = profile(question)
    named = {t for entity in asked.entities for t in entity}
    denied = asked.negated
    candidates: set[int] = set()
    for term in weights:  # only a sentence sharing a term can match
        candidates |= index.carrying(term)
        candidates.update(index.spoken.get(term, ()))
    ranked: list[tuple[float, int, int, int, _Sentence]] = []
    for n in candidates:
        sentence = index.distinct[n]
        shared = [
            t for t in weights if (_carries(sentence.profile.weights, t) or t in sentence.speaker)
        ]
        if any(t in sentence.profile.negated and t not in denied for t in shared):
            continue  # "it did not cover 300 workers" does not say how many the deal covers
        coverage = math.fsum(weights[t] for t in shared) / total
        if not shared or coverage < MATCH_THRESHOLD - 1e-9:
            continue
        focus = len(shared) / max(len(sentence.profile.weights), 1)
        score = coverage + _FOCUS_WEIGHT * focus
        if wants_figure and sentence.profile.numbers:
            score += _KIND_WEIGHT
        if wants_name and _names_someone_new(sentence, named):
            score += _KIND_WEIGHT  # names someone the question does not
        elif wants_name:
            score -= _KIND_WEIGHT  # "who?" asks a name: "a former judge" only if none names
        rank = (-round(score, 9), sentence.story, sentence.source, sentence.position)
        ranked.append((*rank, sentence))
    ranked.sort(key=lambda item: item[:4])
    return [(-item[0], item[4]) for item in ranked]


# "how many ships", "which trains", "what price": the thing the question asks about (and the
# word after it, for a compound: "how many dock workers").
_HEAD = re.compile(
    r"\b(?:how\s+many|which|what)\s+([a-z][a-z'’-]+)(?:\s+([a-z][a-z'’-]+))?", re.IGNORECASE
)
_NUMBER_WORD = re.compile(
    r"^(?:\d[\d,.]*|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|dozens?|"
    r"hundreds?|thousands?|scores?|twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety)$",
    re.IGNORECASE,
)
_WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9,.'’-]*")
_COUNT_REACH = 4  # "52 dead fish", "about 1,400 of the port's workers"
_COUNT_AFTER = 6  # "the number of ships waiting offshore rose to 52"
# "what share", "what proportion": answered by a percentage or a fraction, not the word.
_SHARE_HEADS = frozenset({"share", "proportion", "percentage", "fraction", "percent"})
_SHARE = re.compile(
    r"\d\s*(?:%|per\s*cent|percent)|\b(?:half|a\s+third|two[- ]thirds|a\s+quarter|"
    r"three[- ]quarters|a\s+fifth|a\s+tenth|majority|minority)\b",
    re.IGNORECASE,
)
# "which company", "which agency": answered by the name of one, whether or not it says
# "company".
_NAMED_HEADS = frozenset(
    """company companies firm firms group organisation organization agency agencies operator
    owner owners authority body union party minister official officials outlet newspaper
    broadcaster""".split()
)
_FOLLOWING = frozenset(
    """is are was were will would did does do has have had the a an of to in on for by at
    and or""".split()
)


# "when", "what time", "by when": answered by a time (a day, a date, a clock time, a season).
_WHEN = re.compile(
    r"^\W*(?:and\s+|so\s+|but\s+)?(?:by\s+|since\s+|until\s+)?when\b|"
    r"\bwhat\s+(?:time|date|day|year|month|hour)\b|\bhow\s+soon\b|\bwhich\s+(?:day|date|year|month)\b",
    re.IGNORECASE,
)
_TIME = re.compile(
    r"\b(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday|weekend|"
    r"january|february|march|april|may|june|july|august|september|october|november|december|"
    r"jan|feb|mar|apr|jun|jul|aug|sept?|oct|nov|dec|"
    r"today|tonight|yesterday|tomorrow|overnight|midnight|noon|midday|dawn|dusk|"
    r"morning|afternoon|evening|night|week|weeks|month|months|year|years|spring|summer|"
    r"autumn|winter|hours?|days?|decades?|shift)\b|"
    r"\b(?:1[89]|20)\d\d\b|\b\d{1,2}(?::\d\d)?\s*(?:a\.?m\.?|p\.?m\.?)|\b\d{1,2}:\d\d\b",
    re.IGNORECASE,
)


# "how old", "how long", "how far": a figure of the right kind, not any number.
_UNIT = r"(?:\s*|-)(?:kilomet\w*|km|metres?|meters?|miles?|feet|foot|nautical)"
_DURATION = r"(?:\s*|-)(?:seconds?|minutes?|hours?|days?|weeks?|months?|years?|decades?)"
_MEASURE = (
    r"(?:\d[\d,.]*|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|"
    r"twenty|thirty|forty|fifty|sixty|hundred|a|an|several)"
)
_FIGURE_KINDS = {
    "old": re.compile(
        r"\b\d+[- ]years?[- ]old\b|\baged\s+\d+|,\s*\d{1,3},|\b(?:built|installed|opened|"
        r"founded|dat(?:es|ing)|since|made)\s+(?:in\s+|back\s+to\s+)?(?:1[5-9]|20)\d\d\b|"
        rf"\b{_MEASURE}{_DURATION}\b",
        re.IGNORECASE,
    ),
    "long": re.compile(rf"\b{_MEASURE}(?:{_UNIT}|{_DURATION})\b|\buntil\b", re.IGNORECASE),
    "far": re.compile(rf"\b{_MEASURE}{_UNIT}\b", re.IGNORECASE),
}
_HOW_KIND = re.compile(r"\bhow\s+(old|long|far)\b", re.IGNORECASE)
_WHY = re.compile(
    r"^\W*(?:and\s+|so\s+|but\s+)?(?:why|what\s+(?:caused|led\s+to|is\s+behind))\b", re.IGNORECASE
)
# What a sentence giving a reason says: "because", "over", "blamed", "after", "to protest".
_REASON = re.compile(
    r"\b(?:because|due\s+to|owing\s+to|as\s+a\s+result|result\s+of|after|since|"
    r"over(?!\s+(?:\d|one|two|three|four|five|six|seven|eight|nine|ten|several|many|recent|"
    r"the\s+(?:past|next|last|weekend|years?|months?|weeks?)))|"
    r"citing|cited|blam\w*|caus\w*|reasons?|so\s+that|in\s+protest|to\s+protest|"
    r"in\s+order\s+to|fears?|feared|concerns?|worried|wants?|wanted|demand\w*|"
    r"accus\w*|said\s+(?:it|that)\s+(?:would|could|had|was)|led\s+to|triggered|"
    r"sparked|prompt\w*)\b",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class Shape:
    """What a sentence must carry, beyond the question's words, to answer it:

    - ``head``: the thing asked about: "which *trains*" needs a sentence naming trains (any of
      ``heads``: "how many *dock workers*" is answered by "1,400 dockworkers"); for "which
      company" (``_NAMED_HEADS``), a name the question does not give also answers;
    - ``counted``: for "how many X", a figure; where the sentence names X, a number at most
      ``_COUNT_REACH`` words before it (a sentence about the fish that counts kilometres
      does not say how many fish);
    - ``percent``: for "what share", a percentage or a fraction;
    - ``figure``: for "how many / much / long / big ...", a number (a sentence that names
      the thing but gives no figure does not say how much); for "how old / long / far", a
      figure of that kind (an age or a year built, a duration or a length, a distance);
    - ``when``: for "when" / "what time", a time (a day, a date, a clock time, a season);
    - ``why``: for "why" / "what caused", a sentence that gives a reason (``_REASON``);
    - ``predicate``: for a question about what will happen, its terms that are not names
      ("will Aske *resign*"). A yes-or-no prediction needs a sentence carrying all of them (a
      sentence about Aske that does not say he will resign does not answer it); any question
      about the future is refused when the sources never use one of them ("how much will it
      be *fined*?").
    """

    head: str | None = None  # the asked-about word's root, e.g. "worker" (in "dockworkers")
    counted: bool = False
    predicate: frozenset[str] = frozenset()
    heads: tuple[str, ...] = ()  # every accepted root: the head, its compound, the word after
    percent: bool = False
    named: bool = False  # a name answers ("which company")
    figure: bool = False
    when: bool = False
    figure_kind: str | None = None  # "old", "long", "far": the kind of figure asked
    why: bool = False  # "why": a sentence giving a reason

    @classmethod
    def of(cls, question: str, *, speculative: bool) -> Shape:
        match = _HEAD.search(question)
        word = match.group(1).casefold() if match else ""
        term = canonical(word) if word else None
        head = _root(word) if term is not None and term not in FILLER else None
        counted = bool(match and head and re.match(r"how\s+many", match.group(0), re.I))
        percent = head in _SHARE_HEADS
        heads: tuple[str, ...] = ()
        if head is not None and not percent:
            heads = (head,)
            after = (match.group(2) or "").casefold() if match else ""
            if after and after not in _FOLLOWING and canonical(after) not in FILLER:
                heads = (head, _root(after), _root(word + after))  # "dock workers"
        predicate: frozenset[str] = frozenset()
        if speculative:
            asked = profile(_HOW_MUCH.sub(" ", question))
            named = {t for entity in asked.entities for t in entity}
            predicate = frozenset(
                t for t in asked.weights if t not in FILLER and t not in named and t != term
            )
            predicate -= {canonical(w) for w in ("will", "going", "next", "soon", "likely")}
        return cls(
            None if percent else head,
            counted,
            predicate,
            heads,
            percent,
            head in _NAMED_HEADS,
            bool(_HOW_MUCH.search(question)),
            bool(_WHEN.search(question)),
            kind.group(1).casefold() if (kind := _HOW_KIND.search(question)) else None,
            bool(_WHY.match(question)),
        )

    def kind_fits(self, text: str, shaped: Profile | None = None) -> bool:
        """Whether ``text`` gives the kind of answer asked: a percentage for "what share",
        a figure (of the asked kind) for "how many / old / long", a time for "when", a reason
        for "why". (What ``fits`` asks of a quoted sentence, and ``answers`` of a model's
        claim.)"""
        shaped = shaped if shaped is not None else profile(text)
        if self.percent:
            return bool(_SHARE.search(text))
        if self.figure and not shaped.numbers:
            return False
        if self.figure_kind and not _FIGURE_KINDS[self.figure_kind].search(text):
            return False  # "how old was the tank?" is not answered by "eight tonnes"
        if self.when and not _TIME.search(text):
            return False
        return not (self.why and not _REASON.search(text))  # "why" needs a reason

    def fits(
        self,
        sentence: _Sentence,
        asked_names: frozenset[str] = frozenset(),
        *,
        prediction: bool = False,
    ) -> bool:
        if prediction and not all(_carries(sentence.profile.weights, t) for t in self.predicate):
            return False
        if not self.kind_fits(sentence.text, sentence.profile):
            return False
        if self.percent:
            return True
        if self.head is None:
            return True
        words = [w.casefold().strip(".,") for w in _WORD.findall(sentence.text)]
        if not self.counted:  # "which trains": a sentence naming no train does not say
            if any(h in w for h in self.heads for w in words):
                return True
            return self.named and _names_someone_new(sentence, asked_names)
        heads = [i for i, w in enumerate(words) if _root(w) in self.heads]  # the word itself
        if not heads:  # "how many workers" ~ "3,200 of its members": a figure suffices
            return bool(sentence.profile.numbers)
        return (
            any(  # but where the thing is named, the figure must count it
                _NUMBER_WORD.match(w) for i in heads for w in words[max(0, i - _COUNT_REACH) : i]
            )
            or any(  # "the number of ships waiting offshore rose to 52"
                words[i - 2 : i] == ["number", "of"]
                and any(_NUMBER_WORD.match(w) for w in words[i + 1 : i + 1 + _COUNT_AFTER])
                for i in heads
            )
        )


def answers(claim: str, question: str) -> bool:
    """Whether a model's (already verified) claim answers the question rather than merely
    being true: it shares one of the question's content words (or, for a question of only
    names, one of its names) and gives the kind of answer asked (``Shape.kind_fits``). "What
    is the population of Brannock?" is not answered by "the ship is stuck outside Brannock",
    however well a source supports that."""
    asked = profile(_HOW_MUCH.sub(" ", question))
    names = {t for entity in asked.entities for t in entity}
    content = [t for t in asked.weights if t not in FILLER and t not in names]
    said = profile(claim)
    wanted = content or sorted(names)
    if wanted and not any(_carries(said.weights, t) for t in wanted):
        return False
    return Shape.of(question, speculative=False).kind_fits(claim, said)


def _root(word: str) -> str:
    """A word without its plural ending, to find it inside compounds ("workers" in
    "dockworkers", "ship" in "ships")."""
    for ending in ("ies", "es", "s"):
        if word.endswith(ending) and len(word) - len(ending) >= 3:
            return word[: -len(ending)] + ("y" if ending == "ies" else "")
    return word


def _carriers(quoted: _Sentence, index: _Index) -> tuple[int, ...]:
    """The quoted sentence's source and every other source of its story carrying the same
    sentence (an exact or near copy), in source order (cached in the index)."""
    cached = index.carriers.get((quoted.source, quoted.position))
    if cached is not None:
        return cached
    found = {quoted.source}
    for other in index.by_story.get(quoted.story, ()):
        if other.source in found:
            continue
        if other.key == quoted.key or (
            other.profile.weights.keys() & quoted.profile.weights.keys()
            and sentence_similarity(quoted.text, other.text) >= _COPY_SIMILARITY
        ):
            found.add(other.source)
    carriers = (quoted.source, *sorted(found - {quoted.source}))
    index.carriers[(quoted.source, quoted.position)] = carriers
    return carriers


def _titles(stories: ThreadStories, corpus: StorySources) -> dict[str, str]:
    titles: dict[str, str] = {}
    for story, _ in stories:
        if story.id in titles:
            continue
        if story.title:
            titles[story.id] = quotable(story.title)
            continue
        first = next((r for r in corpus.sources if corpus.story_of[r.id] == story.id), None)
        titles[story.id] = quotable(clean_title(first.title, first.outlet)) if first else ""
    return titles


# ---------------------------------------------------------------------- the QA answer


def extractive_answer(
    question: str,
    stories: Sequence[tuple[Story, Sequence[Article]]],
    *,
    now: datetime,
    history: Sequence[Turn] = (),
    since: datetime | None = None,
    max_quotes: int = MAX_QUOTES,
) -> Answer:
    """Answer ``question`` from the stories' sentences only, or refuse (see the module)."""
    refusal = check_question(question)
    if refusal is not None:
        return refused(question, refusal, [], None)
    corpus = story_passages(stories)
    story_id = next(iter(corpus.offsets), None)
    if not corpus.sources:
        return refused(question, Refusal.NO_STORY, [], story_id)
    resolved = resolve_question(question, history)
    filters, new = question_filters(resolved, corpus, now, since)
    parts = question_parts(filters.query)
    speculative = all(is_speculative(part) for part in parts)
    found, unanswered = _answer_parts(filters, parts, corpus, max_quotes)
    if not found:
        reason = Refusal.SPECULATIVE if speculative else Refusal.NOT_IN_SOURCES
        answer = refused(question, reason, corpus.sources, story_id, filters=filters)
        answer.new_sources = new
        return answer
    claims = [Claim(item.text, list(item.sources)) for item in found]
    answer = Answer(
        question=question,
        text="",
        claims=claims,
        sources=corpus.sources,
        story_id=found[0].story_id,
        refused=False,
        new_sources=new,
    )
    titles = _titles(stories, corpus) if len(corpus.offsets) > 1 else {}
    answer.text = answer_text(
        answer,
        multi_story=len(corpus.offsets) > 1,
        story_titles={ref.id: titles.get(corpus.story_of[ref.id], "") for ref in corpus.sources},
    )
    for part in unanswered:
        note = f"The sources don't say: “{echo(part)}”."
        answer.notes.append(note)
        answer.text += f"\n{note}"
    return answer


def _answer_parts(
    filters: Filters, parts: Sequence[str], corpus: StorySources, max_quotes: int
) -> tuple[list[Found], list[str]]:
    """The quotes answering each part of the question (``question_parts``), and the parts
    nothing answers."""
    if len(parts) == 1:
        speculative = is_speculative(parts[0])
        return find_quotes(filters, corpus, max_quotes=max_quotes, speculative=speculative), []
    found: list[Found] = []
    unanswered: list[str] = []
    each = max(1, max_quotes - 1)
    for part in parts:
        narrowed = replace(filters, query=part)
        quotes = find_quotes(narrowed, corpus, max_quotes=each, speculative=is_speculative(part))
        fresh = [q for q in quotes if all(q.text != f.text for f in found)]
        if not quotes:
            unanswered.append(part)
        found.extend(fresh)
    return found[: max_quotes + len(parts) - 1], unanswered


def question_filters(
    resolved: str, corpus: StorySources, now: datetime, since: datetime | None
) -> tuple[Filters, list[int]]:
    """The (resolved) question's filters, and the sources new since ``since``. With
    ``since`` (the thread's last briefing), a question of only "anything new?" or one asking
    for the latest ("what's the latest on the strike?") is answered from what came since."""
    filters = parse_filters(resolved, corpus.sources, now)
    new = new_sources(corpus, since)
    if (
        filters.since is None
        and since is not None
        and (not has_content(filters.query) or (new and _LATEST.search(resolved)))
    ):
        filters = Filters(filters.query, filters.outlets, since, filters.sides, filters.spans)
    return filters, new


def new_sources(corpus: StorySources, since: datetime | None) -> list[int]:
    """The sources that arrived after ``since`` (published, else fetched)."""
    if since is None:
        return []
    return [ref.id for ref in corpus.sources if corpus.articles[ref.id].when > since]


def find_quotes(
    filters: Filters,
    corpus: StorySources,
    *,
    max_quotes: int = MAX_QUOTES,
    speculative: bool = False,
) -> list[Found]:
    """The quotes that answer the filtered question (none when nothing matches)."""
    kept = {p.source_id for p in apply_filters(corpus.passages, filters)}
    if not (filters.outlets or filters.since is not None):
        kept = {ref.id for ref in corpus.sources}
    if not kept:
        return []
    if has_content(filters.query):
        limit = max_quotes * 4 if filters.sides else max_quotes
        matched = match_quotes(
            filters.query, corpus, keep=kept, max_quotes=limit, forward_only=speculative
        )
        return _one_per_outlet(matched, corpus, max_quotes) if filters.sides else matched
    if speculative or not filters.any:
        return []
    # Only a filter ("what did Press TV say?", "anything new today?", "how do they differ?"):
    # the openings of the passages the filters leave, spread across outlets for a side.
    ranked = [(p, 0.0) for p in leads_first(apply_filters(corpus.passages, filters))]
    if filters.sides:
        ranked = spread(ranked, max_quotes * 4)
    found: list[Found] = []
    taken = SentenceSet()
    for passage, _score in ranked:
        if len(found) >= max_quotes:
            break
        first = next(
            (s for s in split_sentences(passage.text) if sentence_quality(s, relaxed=True) > 0),
            None,
        )
        if first is None or taken.repeats(first, _REPEAT):
            continue
        taken.add(first)
        found.append(Found(quotable(first), passage.story_id, (passage.source_id,), 0.0))
    return found


def _one_per_outlet(found: Sequence[Found], corpus: StorySources, limit: int) -> list[Found]:
    chosen: list[Found] = []
    outlets: set[str] = set()
    for item in found:
        ref = corpus.source(item.sources[0])
        if ref.copy_of is not None or ref.outlet in outlets:
            continue
        outlets.add(ref.outlet)
        chosen.append(item)
    return chosen[:limit]


# ---------------------------------------------------------------------- text


def echo(question: str) -> str:
    text = quotable(question)
    if len(text) > _MAX_ECHO_CHARS:
        text = text[: _MAX_ECHO_CHARS - 1].rstrip() + "…"
    return text


def shorten(text: str) -> str:
    if len(text) <= _MAX_QUOTE_CHARS:
        return text
    cut = text[: _MAX_QUOTE_CHARS - 1]
    return (cut.rsplit(" ", 1)[0] if " " in cut else cut) + "…"


def source_label(ref: SourceRef) -> str:
    return f"{quotable(ref.outlet) or 'unknown outlet'} [{ref.id}]"


def refusal_text(question: str, reason: Refusal, filters: Filters | None = None) -> str:
    """The honest refusal: what was not found, and what to do instead."""
    instead = (
        "I answer only from this story's sources, never from elsewhere; for more, ask for a "
        "fresh briefing with /brief <topic>, or search the news."
    )
    if reason is Refusal.TOO_LONG:
        return (
            f"That question is too long for me to take on (over {MAX_QUESTION_CHARS} characters). "
            "Please ask it in fewer words."
        )
    if reason is Refusal.EMPTY:
        return "Ask me a question about this story, for example “what did the union say?”"
    if reason is Refusal.NO_STORY:
        return f"I have no story to answer from. {instead}"
    if reason is Refusal.SPECULATIVE:
        return (
            "This story's sources don't say what will happen, and I don't guess "
            f"(you asked: “{echo(question)}”). {instead}"
        )
    narrowed = ""
    if filters is not None and filters.outlets:
        narrowed = "; nothing from that outlet covers it"
    elif filters is not None and filters.since is not None:
        narrowed = "; nothing in that time covers it"
    return f"This story's sources don't say (you asked: “{echo(question)}”){narrowed}. {instead}"


def refused(
    question: str,
    reason: Refusal,
    sources: list[SourceRef],
    story_id: str | None,
    *,
    filters: Filters | None = None,
) -> Answer:
    return Answer(
        question=question,
        text=refusal_text(question, reason, filters),
        claims=[],
        sources=sources,
        story_id=story_id,
        refused=True,
        reason=reason,
    )


def answer_text(
    answer: Answer,
    *,
    multi_story: bool,
    quoted: bool = True,
    story_titles: dict[int, str] | None = None,
) -> str:
    """An answer's claims as posted: each quoted (or, ``quoted=False``, stated as a model
    wrote it) with the sources it cites (and, from a thread of several stories, the story
    of each, by source id in ``story_titles``), then the sources new since ``since``."""
    by_id = {ref.id: ref for ref in answer.sources}
    lines = ["From this thread's sources:" if multi_story else "From this story's sources:"]
    for claim in answer.claims:
        cited = [by_id[s] for s in claim.sources if s in by_id]
        lines.append(f"• “{shorten(claim.text)}”" if quoted else f"• {shorten(claim.text)}")
        if cited:
            lead, *copies = cited
            title = (story_titles or {}).get(lead.id, "") if multi_story else ""
            where = f" ({title})" if title else ""
            cite = f"   — {source_label(lead)}{where} {quotable(lead.url)}"
            if copies:
                cite += "; also " + ", ".join(source_label(ref) for ref in copies)
            lines.append(cite)
    if answer.new_sources:
        fresh = ", ".join(source_label(by_id[s]) for s in answer.new_sources if s in by_id)
        lines.append(f"New since the last briefing: {fresh}.")
    return "\n".join(lines)


def _thread_text(question: str, quotes: Sequence[Quote], story_count: int) -> str:
    if not quotes:
        return (
            f"This story's sources don't say (you asked: “{echo(question)}”). I answer only "
            "from the articles of this thread's briefing; for more, ask for a fresh one with "
            "brief <topic>."
        )
    opening = "From this thread's sources:" if story_count > 1 else "From this story's sources:"
    lines = [opening]
    for quote in quotes:
        lead, *copies = quote.sources
        where = f" ({quote.story_title})" if story_count > 1 else ""
        lines.append(f"• “{shorten(quote.text)}”")
        cite = f"   — {source_label(lead)}{where} {quotable(lead.url)}"
        if copies:
            cite += "; also " + ", ".join(source_label(ref) for ref in copies)
        lines.append(cite)
    return "\n".join(lines)
