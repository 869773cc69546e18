"""The offline briefer: key points chosen from the sources' own sentences, no model needed.

For one story:

- sources are numbered 1..n in chronological order (ties by URL);
- the title is the headline most representative of what the independent reports say;
- key points are source sentences, ranked by how many *independent* reports carry them
  (wire and syndicated copies count once), by how close they are to the story's common
  vocabulary, and by how early they appear in their article; near-repeats are skipped
  (maximal marginal relevance);
- each key point cites every source that reports it, found by sentence alignment across the
  story's articles (``bot.summarize.align``), not only the article it was taken from.

The output depends only on the articles, never on the order they are given in.
"""

from __future__ import annotations

import logging
import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from bot.domain import MAX_POINTS, Article, KeyPoint, SourceRef, Story, StoryBriefing
from bot.errors import SummarizerError
from bot.summarize.align import (
    Alignment,
    Profile,
    SentenceRef,
    best_support,
    profile,
    sentence_similarity,
    terms,
)
from bot.summarize.coverage import chronological_key, coverage, independent_roots
from bot.text import fold, normalize_whitespace, sentence_key

log = logging.getLogger(__name__)

MIN_POINTS = 3
_SUPPORT_WEIGHT, _CENTRAL_WEIGHT, _LEAD_WEIGHT = 0.5, 0.35, 0.15
_MMR_LAMBDA = 0.7
_REDUNDANT = 0.5  # a candidate this similar to (or this contained in) a chosen point is skipped
_DEVELOPMENT_GAP = timedelta(hours=12)  # a report this much later than the first may be news
_FIGURE_CONTEXT = 3  # content terms that, with one shared figure, make two sentences one fact
_KEEP_RATIO = 0.45  # beyond MIN_POINTS, only points scoring at least this share of the best
_LEAD_SPAN = 8  # sentences after this position get no lead bonus
_MAX_CANDIDATES = 200  # sentences aligned across the story, chosen by centrality and position

_ANAPHORIC_START = re.compile(
    r"^(?:he|she|it|they|this|that|these|those|but|and|so|also|however|meanwhile|still|"
    r"instead|then|there)\b",
    re.IGNORECASE,
)
# '..." she said.' / '..., they added.': a quote whose speaker is only a pronoun.
_PRONOUN_ATTRIBUTION = re.compile(
    r"[,\"”'’]\s*(?:he|she|they|it|we)\s+(?:said|says|added|told \w+|warned|insisted)\.?\s*$",
    re.IGNORECASE,
)
_TERMINAL = re.compile(r"[.!][\"'”’)\]]*$")
_LINK = re.compile(r"https?://|www\.|\S+@\S+\.\w")
_TITLE_SUFFIX = re.compile(r"\s+[-|–—:]\s+([^-|–—:]{2,60})$")


def sentence_quality(sentence: str, *, relaxed: bool = False) -> float:
    """How fit a sentence is to stand alone as a key point: 0 (unusable) to 1.

    Strict mode wants a complete declarative sentence of 8-55 words with balanced quotes;
    relaxed mode (used when a story has too few strict candidates) takes 5-80 words and no
    closing punctuation. Questions and links are never used. Sentences opening with a pronoun
    or connective ("He said...", "But...") lean on context and score lower, and a quote
    attributed only to a pronoun ('..." she said.') lower still.
    """
    text = normalize_whitespace(sentence)
    count = len(text.split())
    if "?" in text or _LINK.search(text):
        return 0.0
    if relaxed:
        if not 5 <= count <= 80:
            return 0.0
    else:
        if not 8 <= count <= 55 or len(text) > 320:
            return 0.0
        if not _TERMINAL.search(text) or text.endswith("!"):
            return 0.0
        first = text.lstrip("\"'“‘(")[:1]
        if not (first.isupper() or first.isdigit()):
            return 0.0
        if fold(text).count('"') % 2:
            return 0.0
    if _PRONOUN_ATTRIBUTION.search(text):
        return 0.5  # the reader cannot tell who is speaking
    return 0.8 if _ANAPHORIC_START.match(text.lstrip("\"'“‘(")) else 1.0


def clean_title(title: str, outlet: str) -> str:
    """A headline without the outlet's name tacked on ("... - Coastal Daily Record")."""
    title = normalize_whitespace(title)
    match = _TITLE_SUFFIX.search(title)
    if match and outlet and fold(match.group(1)).strip() == fold(outlet).strip():
        return title[: match.start()].rstrip()
    return title


@dataclass(slots=True)
class _Candidate:
    ref: SentenceRef
    profile: Profile
    sources: tuple[int, ...]  # article indices that report it
    score: float


class _StoryModel:
    """The per-story numbers key points and titles are ranked by."""

    def __init__(self, articles: Sequence[Article]) -> None:
        self.articles = articles
        self.alignment = Alignment(articles)
        self.roots = independent_roots(articles)
        self.report_count = len(set(self.roots))
        # How many independent reports use each term: the story's common vocabulary.
        per_report: dict[int, set[str]] = {}
        for index, article in enumerate(articles):
            vocabulary = per_report.setdefault(self.roots[index], set())
            vocabulary.update(terms(article.title))
            for sentence in self.alignment.sources[index].sentences:
                vocabulary.update(terms(sentence))
        self.report_frequency = Counter(t for vocab in per_report.values() for t in vocab)
        self._norm = math.sqrt(math.fsum(c * c for c in self.report_frequency.values())) or 1.0

    def centrality(self, words: Sequence[str]) -> float:
        """Cosine between a text's terms and the story's report-frequency vector."""
        unique = sorted(set(words))
        if not unique:
            return 0.0
        dot = math.fsum(self.report_frequency.get(t, 0) for t in unique)
        return dot / (math.sqrt(len(unique)) * self._norm)

    def report_share(self, articles: Sequence[int]) -> float:
        return len({self.roots[a] for a in articles}) / self.report_count


def _candidates(model: _StoryModel, *, relaxed: bool) -> list[_Candidate]:
    seen: set[str] = set()
    raw: list[tuple[SentenceRef, float, float]] = []
    for ref in model.alignment.sentences():
        key = sentence_key(ref.text)
        if key in seen:
            continue  # the same sentence in a later copy: the earliest article carries it
        quality = sentence_quality(ref.text, relaxed=relaxed)
        if quality == 0:
            continue
        seen.add(key)
        raw.append((ref, quality, model.centrality(terms(ref.text))))
    top_centrality = max((c for _, _, c in raw), default=0.0) or 1.0

    def prescore(item: tuple[SentenceRef, float, float]) -> float:
        ref, quality, central = item
        lead = max(0.0, 1.0 - ref.index / _LEAD_SPAN)
        return quality * (_CENTRAL_WEIGHT * central / top_centrality + _LEAD_WEIGHT * lead)

    if len(raw) > _MAX_CANDIDATES:
        # Big stories: only the most central and prominent sentences are worth aligning.
        ranked = sorted(
            raw, key=lambda item: (-round(prescore(item), 9), item[0].article, item[0].index)
        )
        raw = ranked[:_MAX_CANDIDATES]
    model.alignment.prepare(ref.text for ref, _, _ in raw)
    found: list[_Candidate] = []
    for item in raw:
        ref = item[0]
        supporters = set(model.alignment.supporters(ref.text)) | {ref.article}
        score = prescore(item) + item[1] * _SUPPORT_WEIGHT * model.report_share(sorted(supporters))
        found.append(_Candidate(ref, profile(ref.text), tuple(sorted(supporters)), round(score, 9)))
    found.sort(key=lambda c: (-c.score, c.ref.article, c.ref.index))
    return found


def _shared_figures(a: Profile, b: Profile) -> int:
    """Figures two sentences both give (a year or a count under ten does not count: too
    common to mark a fact)."""
    return sum(
        1
        for x in a.numbers
        if (x.percent or x.value >= 10)
        and not _looks_like_year(x.value)
        and any(x.matches(y) for y in b.numbers)
    )


def _looks_like_year(value: Decimal) -> bool:
    return value == value.to_integral_value() and 1900 <= value <= 2100


def _repetition(candidate: _Candidate, point: _Candidate) -> float:
    """How much a candidate repeats a chosen point: similar to it, contained in it, or giving
    the same figures about the same things ("87 percent ... turnout of 74 percent" twice in
    other words; "60,000 ... told not to drink tap water" and "told some 60,000 residents
    that tap water was unsafe to drink")."""
    similar = sentence_similarity(candidate.ref.text, point.ref.text)
    total = candidate.profile.total
    if total == 0:
        return similar
    weights = candidate.profile.weights
    common = weights.keys() & point.profile.weights.keys()
    shared = math.fsum(weights[t] for t in common)
    score = max(similar, shared / total)
    figures = _shared_figures(candidate.profile, point.profile)
    if figures >= 2 or (figures == 1 and len(common) >= _FIGURE_CONTEXT):
        score = max(score, _REDUNDANT)
    return score


def _select(candidates: list[_Candidate], max_points: int) -> list[_Candidate]:
    """Maximal marginal relevance: important first, skipping what repeats a chosen point."""
    chosen: list[_Candidate] = []
    pool = list(candidates)
    redundancy = [0.0] * len(pool)
    top = candidates[0].score if candidates else 0.0
    while pool and len(chosen) < max_points:
        if chosen:
            redundancy = [
                max(r, _repetition(c, chosen[-1])) for c, r in zip(pool, redundancy, strict=True)
            ]
            kept = [i for i, r in enumerate(redundancy) if r < _REDUNDANT]
            pool = [pool[i] for i in kept]
            redundancy = [redundancy[i] for i in kept]
        if not pool:
            break
        best = min(
            range(len(pool)),
            key=lambda i: (
                -round(_MMR_LAMBDA * pool[i].score - (1 - _MMR_LAMBDA) * redundancy[i], 9),
                pool[i].ref.article,
                pool[i].ref.index,
            ),
        )
        if len(chosen) >= MIN_POINTS and pool[best].score < _KEEP_RATIO * top:
            break
        chosen.append(pool.pop(best))
        redundancy.pop(best)
    return chosen


def _with_latest_development(
    model: _StoryModel, candidates: list[_Candidate], chosen: list[_Candidate], max_points: int
) -> list[_Candidate]:
    """Make room for what the newest report adds.

    Points rank by how many reports carry them, so a developing story's latest development,
    reported by one outlet so far, would never make the briefing. When the newest article is
    an independent report that came ``_DEVELOPMENT_GAP`` or more after the story began and
    no chosen point is one it alone carries (it may well repeat the background), its best
    sentence that repeats no other point takes the last place (or a free one).
    """
    newest = len(model.articles) - 1  # the articles are in chronological order
    if (
        newest < 1
        or model.roots[newest] != newest
        or max_points <= MIN_POINTS
        or len(chosen) < MIN_POINTS
        or model.articles[newest].when - model.articles[0].when < _DEVELOPMENT_GAP
        or any(c.sources == (newest,) for c in chosen)
    ):
        return chosen
    kept = chosen if len(chosen) < max_points else chosen[:-1]
    for candidate in candidates:
        if candidate.ref.article == newest and all(
            _repetition(candidate, point) < _REDUNDANT for point in kept
        ):
            return [*kept, candidate]
    return chosen


def _choose_title(model: _StoryModel, fallback: str) -> str:
    """The headline most representative of the story, by independent reports carrying it."""
    best: tuple[float, int] | None = None
    chosen = fallback
    seen: set[str] = set()
    model.alignment.prepare(clean_title(a.title, a.outlet) for a in model.articles)
    for index, article in enumerate(model.articles):
        title = clean_title(article.title, article.outlet)
        if not title or fold(title) in seen:
            continue
        seen.add(fold(title))
        supporters = set(model.alignment.supporters(title)) | {index}
        score = 0.6 * model.report_share(sorted(supporters)) + 0.4 * model.centrality(terms(title))
        count = len(title.split())
        if count < 4 or count > 20 or title.endswith("?"):
            score *= 0.7
        rank = (-round(score, 9), index)
        if best is None or rank < best:
            best, chosen = rank, title
    return chosen


def _source_refs(articles: Sequence[Article]) -> list[SourceRef]:
    number_of = {a.id: n for n, a in enumerate(articles, start=1) if a.id is not None}
    return [
        SourceRef(
            id=n,
            outlet=article.outlet,
            title=clean_title(article.title, article.outlet),
            url=article.url,
            published_at=article.published_at,
            full_text=article.full_text,
            origins=tuple(article.origins),
            copy_of=number_of.get(article.copy_of) if article.copy_of is not None else None,
            article_id=article.id,
        )
        for n, article in enumerate(articles, start=1)
    ]


def _unique(articles: Sequence[Article]) -> list[Article]:
    """Chronological, each article once (the same stored article may be passed twice)."""
    seen: set[object] = set()
    unique: list[Article] = []
    for article in sorted(articles, key=chronological_key):
        key = ("id", article.id) if article.id is not None else ("url", article.url)
        if key not in seen:
            seen.add(key)
            unique.append(article)
    return unique


def number_sources(articles: Sequence[Article]) -> tuple[list[Article], list[SourceRef]]:
    """A story's articles once each, chronological, and their sources numbered 1..n the way
    a briefing numbers them (``SourceRef.id``; ``copy_of`` as source numbers)."""
    ordered = _unique(articles)
    return ordered, _source_refs(ordered)


def brief_story(
    story: Story, articles: Sequence[Article], *, max_points: int = MAX_POINTS
) -> StoryBriefing:
    """Brief one story from its articles: title, 3-6 cited key points, sources, coverage.

    Raises ``SummarizerError`` when there are no articles to brief.
    """
    if not articles:
        raise SummarizerError(f"story {story.id} has no articles to brief")
    if max_points < 1:
        raise ValueError(f"max_points must be at least 1, got {max_points}")
    ordered, sources = number_sources(articles)
    model = _StoryModel(ordered)
    candidates = _candidates(model, relaxed=False)
    if len(candidates) < MIN_POINTS:
        strict = {c.ref for c in candidates}
        candidates = candidates + [
            c for c in _candidates(model, relaxed=True) if c.ref not in strict
        ]
        candidates.sort(key=lambda c: (-c.score, c.ref.article, c.ref.index))
    chosen = _with_latest_development(
        model, candidates, _select(candidates, max_points), max_points
    )
    key_points = [KeyPoint(text=c.ref.text, sources=[a + 1 for a in c.sources]) for c in chosen]
    if not key_points:
        key_points = _title_points(model)
    notes = _notes(ordered, key_points)
    newest = max(a.when for a in ordered)
    log.debug(
        "briefed story %s: %d key points from %d articles", story.id, len(key_points), len(ordered)
    )
    return StoryBriefing(
        story_id=story.id,
        title=_choose_title(model, story.title),
        updated_at=max(story.updated_at, newest),
        key_points=key_points,
        sources=sources,
        coverage=coverage(ordered),
        notes=notes,
    )


def _title_points(model: _StoryModel) -> list[KeyPoint]:
    """Last resort when no sentence is usable (headlines only): the distinct headlines, each
    citing the articles whose headline or text reports it."""
    titles = [clean_title(a.title, a.outlet) for a in model.articles]
    points: list[KeyPoint] = []
    seen: set[str] = set()
    for index, title in enumerate(titles):
        if not title or fold(title) in seen:
            continue
        seen.add(fold(title))
        supporters = set(model.alignment.supporters(title)) | {index}
        supporters.update(
            other
            for other, other_title in enumerate(titles)
            if fold(other_title) == fold(title) or best_support(title, other_title).supported
        )
        points.append(KeyPoint(text=title, sources=sorted(a + 1 for a in supporters)))
    return points[:MIN_POINTS]


def _notes(articles: Sequence[Article], key_points: Sequence[KeyPoint]) -> list[str]:
    notes: list[str] = []
    teasers = sum(1 for a in articles if not a.full_text)
    if teasers:
        notes.append(
            f"{teasers} of {len(articles)} sources could only be read as feed teasers "
            "(the full article could not be fetched)."
        )
    if len(key_points) < MIN_POINTS:
        notes.append(
            f"Only {len(key_points)} key point{'s' if len(key_points) != 1 else ''}: "
            "the sources carry little usable text."
        )
    return notes
