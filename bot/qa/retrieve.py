"""Retrieval over a story's passages: BM25, narrowed by what the question itself says.

``Retriever`` is the port (``search(query, passages, k)``): ``BM25Retriever`` ranks with
``bm25s``, tokenising with ``bot.summarize.align.terms`` (folded, stemmed, common news
synonyms merged: "strikes" ~ "strike", "vessels" ~ "ships"), so an embedding retriever can
replace or join it later behind the same call. The index is built per call: a story has a few
hundred passages at most.

``parse_filters`` reads three kinds of filter from the question, and ``retrieve`` applies
them before ranking:

- an outlet: a source's outlet name ("what did Press TV say?") or its web domain
  ("presstv.ir", "presstv"), matched case-insensitively as whole words: only that outlet's
  passages;
- a time: "today", "this morning", "since yesterday", "in the last 24 hours", "past 3 days",
  "this week", "since 2025-03-03": only passages published after it (relative to an injected
  ``now``, midnight UTC for day words);
- a side: "how do the sources differ?", "do they disagree?", "compare the accounts": the
  passages are spread across outlets, a contradicting pair (the same terms with different
  figures, or one negating what the other asserts) first, then each other outlet's best.

The words of a filter are taken out of the query, so "what did Press TV say?" does not ask
for passages containing "press".
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Protocol
from urllib.parse import urlsplit

import bm25s
import numpy as np

from bot.domain import SourceRef, day_start
from bot.qa import Passage
from bot.summarize.align import canonical, profile, sentence_similarity, terms
from bot.text import fold, normalize_whitespace, sentence_key, split_sentences

DEFAULT_K = 8
_SAME_THING = 3  # shared terms that make two sentences about the same thing
_COPY = 0.8  # sentences this similar are one sentence copied
_PAIR_DEPTH = 4  # passages of each outlet tried for a contradicting pair
_PAIR_OUTLETS = 8  # outlets tried for a contradicting pair

# Words that shape a question but say nothing about what it asks.
FILLER = frozenset(
    canonical(word) or word
    for word in """many much tell know happen happened happening anything something
    everything story stories thread source sources article articles news latest please explain
    details detail info information update updates outlet outlets report reports reported
    differ difference differences disagree disagreement disagreements contradict contradiction
    compare comparison accounts account side sides version versions""".split()
)

_SIDE = re.compile(
    r"\b(?:differ\w*|disagree\w*|contradict\w*|conflict\w*|at odds|compare[sd]?|comparison|"
    r"sides?|versions?|accounts? (?:vary|varies)|agree)\b",
    re.IGNORECASE,
)
_UNITS = {"hour": timedelta(hours=1), "day": timedelta(days=1), "week": timedelta(weeks=1)}
_LAST_N = re.compile(
    r"\b(?:in\s+|over\s+|during\s+)?(?:the\s+)?(?:last|past)\s+(\d{1,3}\s+|an?\s+|one\s+)?"
    r"(hour|day|week)s?\b",
    re.IGNORECASE,
)
_SINCE_DATE = re.compile(r"\b(?:since|after)\s+(\d{4}-\d{2}-\d{2})\b", re.IGNORECASE)
_DAY_WORD = re.compile(
    r"\b(?:(?:since|from|after)\s+)?(yesterday|today|this\s+morning|tonight|this\s+week)\b",
    re.IGNORECASE,
)


class Retriever(Protocol):
    """Ranks passages for a query: the best ``k`` with a positive score, best first."""

    def search(
        self, query: str, passages: Sequence[Passage], k: int
    ) -> list[tuple[Passage, float]]: ...


def query_terms(text: str) -> list[str]:
    """The comparison terms of a question, without question filler."""
    return [t for t in terms(text) if t not in FILLER]


@lru_cache(maxsize=65536)
def passage_terms(text: str) -> tuple[str, ...]:
    """``terms`` of a passage (cached: a thread asks many questions of the same passages)."""
    return tuple(terms(text))


class BM25Retriever:
    """BM25 (Lucene variant, ``bm25s``) over the passages' comparison terms."""

    def __init__(self, *, k1: float = 1.5, b: float = 0.75) -> None:
        self.k1 = k1
        self.b = b

    def search(
        self, query: str, passages: Sequence[Passage], k: int
    ) -> list[tuple[Passage, float]]:
        wanted = query_terms(query)
        if not wanted or not passages or k < 1:
            return []
        corpus = [list(passage_terms(p.text)) or ["\u2205"] for p in passages]
        index = bm25s.BM25(k1=self.k1, b=self.b)
        index.index(corpus, show_progress=False)
        scores = np.asarray(index.get_scores(wanted), dtype=float)
        order = sorted(range(len(passages)), key=lambda i: (-scores[i], i))
        return [(passages[i], float(scores[i])) for i in order[:k] if scores[i] > 0]


# ---------------------------------------------------------------------- filters


@dataclass(frozen=True, slots=True)
class Filters:
    """What the question narrows the passages to. ``outlets`` are folded outlet names;
    ``query`` is the question without the filters' words."""

    query: str
    outlets: frozenset[str] = frozenset()
    since: datetime | None = None
    sides: bool = False
    spans: tuple[str, ...] = field(default=())  # the words taken out, as written

    @property
    def any(self) -> bool:
        return bool(self.outlets) or self.since is not None or self.sides


def _outlet_names(ref: SourceRef) -> tuple[str, ...]:
    return _names_of(ref.outlet, ref.url)


@lru_cache(maxsize=8192)
def _names_of(outlet: str, url: str) -> tuple[str, ...]:
    """How a question may name an outlet: its name, its host, the host's first label."""
    names = [fold(normalize_whitespace(outlet))] if outlet.strip() else []
    host = (urlsplit(url).hostname or "").lower().removeprefix("www.")
    if host and "." in host:
        names.append(host)
        label = host.split(".")[0]
        if len(label) >= 4:
            names.append(label)
    return tuple(n for n in names if n)


def parse_filters(question: str, sources: Sequence[SourceRef], now: datetime) -> Filters:
    """Read the outlet, time and side filters out of ``question`` (see the module)."""
    text = question
    spans: list[str] = []
    outlets: set[str] = set()
    by_name: dict[str, str] = {}
    for ref in sources:
        for name in _outlet_names(ref):
            by_name.setdefault(name, fold(normalize_whitespace(ref.outlet)))
    for name in sorted(by_name, key=len, reverse=True):
        words = [re.escape(w) for w in name.split()]
        pattern = re.compile(
            r"(?<![\w.])(?:the\s+)?" + r"\s+".join(words) + r"(?:['’]s)?(?![\w])", re.IGNORECASE
        )
        match = pattern.search(fold(text))
        if match:
            outlets.add(by_name[name])
            spans.append(text[match.start() : match.end()])
            text = text[: match.start()] + " " + text[match.end() :]
    since: datetime | None = None
    for finder in (_SINCE_DATE, _LAST_N, _DAY_WORD):
        match = finder.search(text)
        if match is None:
            continue
        since = _moment(match, finder, now)
        if since is not None:
            spans.append(match.group(0))
            text = text[: match.start()] + " " + text[match.end() :]
            break
    sides = bool(_SIDE.search(text)) and not outlets
    return Filters(normalize_whitespace(text), frozenset(outlets), since, sides, tuple(spans))


def _moment(match: re.Match[str], finder: re.Pattern[str], now: datetime) -> datetime | None:
    if finder is _SINCE_DATE:
        try:
            return datetime.fromisoformat(match.group(1)).replace(tzinfo=now.tzinfo)
        except ValueError:
            return None
    if finder is _LAST_N:
        count_text = (match.group(1) or "").strip().lower()
        count = int(count_text) if count_text.isdigit() else 1
        return now - count * _UNITS[match.group(2).lower()]
    word = normalize_whitespace(match.group(1).lower())
    today = day_start(now)
    if word == "yesterday":
        return today - timedelta(days=1)
    if word == "this week":
        return today - timedelta(days=7)
    return today


def apply_filters(passages: Sequence[Passage], filters: Filters) -> list[Passage]:
    """The passages the outlet and time filters leave."""
    kept = list(passages)
    if filters.outlets:
        kept = [p for p in kept if fold(normalize_whitespace(p.outlet)) in filters.outlets]
    if filters.since is not None:
        since = filters.since
        kept = [p for p in kept if p.published_at is not None and p.published_at > since]
    return kept


def retrieve(
    question: str,
    passages: Sequence[Passage],
    sources: Sequence[SourceRef],
    *,
    now: datetime,
    retriever: Retriever | None = None,
    k: int = DEFAULT_K,
) -> tuple[list[tuple[Passage, float]], Filters]:
    """The passages that answer ``question`` best, filtered as it says (see the module).

    A question that is only a filter ("what did Press TV say?", "anything new today?") gets
    the filtered passages in source order (score 0): each source's opening first."""
    filters = parse_filters(question, sources, now)
    return rank(filters, passages, retriever=retriever, k=k), filters


def rank(
    filters: Filters,
    passages: Sequence[Passage],
    *,
    retriever: Retriever | None = None,
    k: int = DEFAULT_K,
) -> list[tuple[Passage, float]]:
    """``retrieve`` for filters already read from the question."""
    retriever = retriever or BM25Retriever()
    pool = apply_filters(passages, filters)
    if not query_terms(filters.query):
        ranked = [(p, 0.0) for p in leads_first(pool)] if filters.any else []
    else:
        ranked = retriever.search(filters.query, pool, len(pool) if filters.sides else k)
    if filters.sides:
        ranked = spread(ranked, k)
    return ranked[:k]


def leads_first(passages: Sequence[Passage]) -> list[Passage]:
    """Each source's first passage, then each source's second, and so on."""
    position: dict[int, int] = {}
    keyed = []
    for passage in passages:
        n = position.get(passage.source_id, 0)
        position[passage.source_id] = n + 1
        keyed.append((n, passage.source_id, passage.id, passage))
    return [item[3] for item in sorted(keyed, key=lambda item: item[:3])]


# ---------------------------------------------------------------------- sides


def conflicting(a: str, b: str) -> bool:
    """Two passages that disagree: a sentence of each about the same thing (three or more
    shared terms, not a copy of the other) with figures that do not match, or a term one
    negates and the other asserts."""
    for one in split_sentences(a):
        for other in split_sentences(b):
            if sentence_key(one) == sentence_key(other):
                continue
            x, y = profile(one), profile(other)
            shared = x.weights.keys() & y.weights.keys()
            if len(shared) < _SAME_THING or sentence_similarity(one, other) >= _COPY:
                continue
            if (
                x.numbers
                and y.numbers
                and not any(m.matches(n) for m in x.numbers for n in y.numbers)
            ):
                return True
            if ((x.negated - y.scoped) | (y.negated - x.scoped)) & shared:
                return True
    return False


def spread(ranked: Sequence[tuple[Passage, float]], k: int) -> list[tuple[Passage, float]]:
    """Passages across outlets: the best contradicting pair of two outlets first, then the
    best passage of each other outlet (each outlet once), best first. Wire and syndicated
    copies (``copy_of``) and passages repeating one already taken are not another side."""
    per_outlet: dict[str, list[tuple[Passage, float]]] = {}
    seen: set[str] = set()
    for passage, score in ranked:
        key = sentence_key(passage.text)
        if passage.copy_of is not None or key in seen:
            continue
        seen.add(key)
        per_outlet.setdefault(fold(passage.outlet), []).append((passage, score))
    if len(per_outlet) < 2:
        return list(ranked[:k])
    best_pair: tuple[float, int, tuple[Passage, float], tuple[Passage, float]] | None = None
    outlets = sorted(per_outlet, key=lambda o: (-per_outlet[o][0][1], per_outlet[o][0][0].id))
    outlets = outlets[:_PAIR_OUTLETS]  # the best outlets only: pairs grow with their square
    for i, one in enumerate(outlets):
        for other in outlets[i + 1 :]:
            for a in per_outlet[one][:_PAIR_DEPTH]:
                for b in per_outlet[other][:_PAIR_DEPTH]:
                    if conflicting(a[0].text, b[0].text):
                        pair = (a[1] + b[1], -min(a[0].id, b[0].id), a, b)
                        if best_pair is None or pair[:2] > best_pair[:2]:
                            best_pair = pair
    chosen: list[tuple[Passage, float]] = []
    used: set[str] = set()
    if best_pair is not None:
        first, second = sorted(best_pair[2:], key=lambda item: item[0].source_id)
        chosen = [first, second]
        used = {fold(first[0].outlet), fold(second[0].outlet)}
    rest = [items[0] for outlet, items in per_outlet.items() if outlet not in used]
    rest.sort(key=lambda item: (-item[1], item[0].id))
    return (chosen + rest)[:k]
