"""Incremental story clustering: each new article joins a recent story or starts one.

An article is a sparse vector of log-weighted term counts (title words count
twice; capitalised names count as extra ``@name`` terms) weighted by inverse
document frequencies that are maintained incrementally. A story is the sum of
its articles' vectors. The article joins the most similar story when the cosine
similarity, decayed by the time between the article and the story's latest
article (no decay within ``grace``), reaches ``threshold``; otherwise it starts a
new story. A syndicated copy (``copy_of``) joins its original's story without
adding its words again.

Cost per article does not grow with the store: candidates come from an inverted
index over the stories' terms in which each term keeps only its ``POSTING_CAP``
most recently updated stories, at most ``max_candidates`` candidates are scored,
and stories idle for longer than ``window`` are evicted. ``comparisons`` counts
the candidate stories scored, so tests can check the bound without timing.

Story ids are stable: ``"s-"`` plus 12 hex digits of the SHA-1 of the founding
article's canonical URL.
"""

from __future__ import annotations

import hashlib
import math
from collections import Counter, OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from bot.domain import Article
from bot.text import content_words, entities

TITLE_WEIGHT = 2
ENTITY_WEIGHT = 1
LEAD_WORDS = 250  # only the lead of long articles: the rest drifts into background
QUERY_TERMS = 12  # terms of a new article used to look up candidate stories
POSTING_CAP = 64  # stories remembered per term (most recently updated)
STORY_TERMS = 300  # terms kept per story vector
SWEEP_EVERY = 512  # assignments between evictions of idle stories


def story_id_for(url: str) -> str:
    """The stable id of a story founded by the article at ``url``."""
    return "s-" + hashlib.sha1(url.encode("utf-8"), usedforsecurity=False).hexdigest()[:12]


@dataclass(frozen=True, slots=True)
class Assignment:
    """Where an article went: its story, whether that story is new, and how similar it was."""

    story_id: str
    created: bool
    similarity: float


@dataclass(slots=True)
class _Story:
    id: str
    terms: Counter[str] = field(default_factory=Counter)
    last: datetime | None = None
    size: int = 0
    norm: float = 0.0


def article_terms(article: Article) -> Counter[str]:
    """Raw term counts of an article: title words weigh double, names add ``@`` terms."""
    counts: Counter[str] = Counter()
    title = content_words(article.title)
    for term in title:
        counts[term] += TITLE_WEIGHT
    lead = content_words(article.text)[:LEAD_WORDS]
    counts.update(lead)
    lead_text = " ".join(article.text.split()[:LEAD_WORDS])
    for name in entities(f"{article.title}. {lead_text}"):
        counts["@" + name] += ENTITY_WEIGHT
    return counts


class StoryIndex:
    """Assigns articles to stories incrementally; see the module docstring."""

    def __init__(
        self,
        *,
        threshold: float = 0.22,
        window: timedelta = timedelta(days=7),
        decay: timedelta = timedelta(days=3),
        grace: timedelta = timedelta(hours=36),
        max_candidates: int = 40,
    ) -> None:
        self.threshold = threshold
        self.window = window
        self.decay = decay
        self.grace = grace
        self.max_candidates = max_candidates
        self.comparisons = 0
        self._df: Counter[str] = Counter()
        self._docs = 0
        self._stories: dict[str, _Story] = {}
        self._postings: dict[str, OrderedDict[str, None]] = {}
        self._article_story: dict[int, str] = {}
        self._assigned = 0
        self._newest: datetime | None = None

    def __len__(self) -> int:
        return len(self._stories)

    # ----------------------------------------------------------------- weights
    def _idf(self, term: str) -> float:
        return math.log((self._docs + 1) / (self._df.get(term, 0) + 1)) + 1.0

    def _vector(self, counts: Counter[str]) -> dict[str, float]:
        return {t: (1.0 + math.log(c)) * self._idf(t) for t, c in counts.items()}

    # ----------------------------------------------------------------- public
    def seed(self, story_id: str, articles: Sequence[Article]) -> None:
        """Rebuild an existing story (from the store) so new articles can join it."""
        for article in sorted(articles, key=lambda a: (a.when, a.url)):
            if story_id in self._stories and article.copy_of in self._article_story:
                self._join_copy(story_id, article)
            else:
                self._add(story_id, article, article_terms(article))

    def story_of(self, article_id: int) -> str | None:
        return self._article_story.get(article_id)

    def assign(self, article: Article) -> Assignment:
        """Put ``article`` in a story (an existing one or a new one) and say which."""
        if article.id is not None and article.id in self._article_story:
            return Assignment(self._article_story[article.id], False, 1.0)
        if article.copy_of is not None and article.copy_of in self._article_story:
            story_id = self._article_story[article.copy_of]
            if story_id in self._stories:
                self._join_copy(story_id, article)
                return Assignment(story_id, False, 1.0)
        counts = article_terms(article)
        best_id, best_score = self._best_story(article, counts)
        if best_id is not None and best_score >= self.threshold:
            self._add(best_id, article, counts)
            return Assignment(best_id, False, best_score)
        story_id = story_id_for(article.url)
        while story_id in self._stories and self._stories[story_id].size:
            story_id = story_id_for(story_id + article.url)  # a re-founded id never collides
        self._add(story_id, article, counts)
        return Assignment(story_id, True, best_score)

    # ----------------------------------------------------------------- internals
    def _candidates(self, vector: dict[str, float]) -> list[str]:
        votes: dict[str, float] = {}
        # Only terms some story is indexed under can find a candidate: a follow-up's rarest
        # terms (the new detail it reports) are exactly the ones no story has yet.
        known = [(t, w) for t, w in vector.items() if t in self._postings]
        top = sorted(known, key=lambda item: (-item[1], item[0]))[:QUERY_TERMS]
        for term, weight in top:
            for story_id in self._postings.get(term, ()):
                votes[story_id] = votes.get(story_id, 0.0) + weight
        ranked = sorted(votes.items(), key=lambda item: (-item[1], item[0]))
        return [story_id for story_id, _ in ranked[: self.max_candidates]]

    def _best_story(self, article: Article, counts: Counter[str]) -> tuple[str | None, float]:
        vector = self._vector(counts)
        norm = math.sqrt(sum(w * w for w in vector.values())) or 1.0
        best_id: str | None = None
        best = 0.0
        when = article.when
        for story_id in self._candidates(vector):
            story = self._stories[story_id]
            if story.last is not None and when - story.last > self.window:
                continue
            self.comparisons += 1
            dot = 0.0
            for term, weight in vector.items():
                count = story.terms.get(term)
                if count:
                    dot += weight * (1.0 + math.log(count)) * self._idf(term)
            score = dot / (norm * (story.norm or 1.0))
            if story.last is not None:
                score *= self._decay(abs(when - story.last))
            if score > best or (score == best and best_id is not None and story_id < best_id):
                best_id, best = story_id, score
        return best_id, best

    def _decay(self, gap: timedelta) -> float:
        """Time decay of a similarity: none within ``grace`` of the story's latest article
        (the next day's follow-up is how a developing story goes on), then exponential."""
        beyond = (gap - self.grace).total_seconds()
        if beyond <= 0:
            return 1.0
        return math.exp(-beyond / max(self.decay.total_seconds(), 1e-9))

    def _join_copy(self, story_id: str, article: Article) -> None:
        """A syndicated copy joins its original's story without re-weighting it: three
        outlets running one wire text are one report, not three votes for its words."""
        story = self._stories[story_id]
        story.size += 1
        when = article.when
        story.last = when if story.last is None else max(story.last, when)
        if article.id is not None:
            self._article_story[article.id] = story_id
        self._newest = when if self._newest is None else max(self._newest, when)

    def _add(self, story_id: str, article: Article, counts: Counter[str]) -> None:
        story = self._stories.get(story_id)
        if story is None:
            story = self._stories[story_id] = _Story(story_id)
        self._docs += 1
        self._df.update(counts.keys())
        story.terms.update(counts)
        if len(story.terms) > 2 * STORY_TERMS:
            story.terms = Counter(dict(story.terms.most_common(STORY_TERMS)))
        story.size += 1
        when = article.when
        story.last = when if story.last is None else max(story.last, when)
        story.norm = math.sqrt(
            sum(((1.0 + math.log(c)) * self._idf(t)) ** 2 for t, c in story.terms.items())
        )
        if article.id is not None:
            self._article_story[article.id] = story_id
        vector = self._vector(counts)
        for term, _ in sorted(vector.items(), key=lambda item: (-item[1], item[0]))[:40]:
            posting = self._postings.setdefault(term, OrderedDict())
            posting[story_id] = None
            posting.move_to_end(story_id)
            if len(posting) > POSTING_CAP:
                posting.popitem(last=False)
        self._newest = when if self._newest is None else max(self._newest, when)
        self._assigned += 1
        if self._assigned % SWEEP_EVERY == 0:
            self._evict_idle()

    def _evict_idle(self) -> None:
        if self._newest is None:
            return
        cutoff = self._newest - self.window
        idle = [s.id for s in self._stories.values() if s.last is not None and s.last < cutoff]
        for story_id in idle:
            del self._stories[story_id]
        if idle:
            gone = set(idle)
            for term in list(self._postings):
                posting = self._postings[term]
                for story_id in gone.intersection(posting):
                    del posting[story_id]
                if not posting:
                    del self._postings[term]
            self._article_story = {a: s for a, s in self._article_story.items() if s not in gone}
