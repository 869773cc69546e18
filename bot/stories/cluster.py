"""Incremental story clustering: each new article joins a recent story or starts one.

An article is a sparse vector of log-weighted term counts (title words count twice;
capitalised names count as extra ``@name`` terms) weighted by inverse document
frequencies over the articles of the live stories, maintained incrementally. A story is
the sum of its articles' vectors. The article joins the most similar story when the
cosine similarity, decayed by the time between the article and the story's latest
article (no decay within ``grace``), reaches ``threshold``; otherwise it starts a new
story. A syndicated copy (``copy_of``) joins its original's story without adding its
words again.

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
from operator import mul

from bot.domain import Article
from bot.text import analyze, content_stem, content_words, sentence_entities

TITLE_WEIGHT = 2
ENTITY_WEIGHT = 1
LEAD_WORDS = 250  # only the lead of long articles: the rest drifts into background
QUERY_TERMS = 12  # terms of a new article used to look up candidate stories
POSTING_CAP = 64  # stories remembered per term (most recently updated)
STORY_TERMS = 300  # terms kept per story vector
SWEEP_EVERY = 512  # assignments between evictions of idle stories
INDEX_TERMS = 40  # heaviest terms of an article its story is indexed under
VOTE_SHARE = 0.2  # candidates under this share of the top candidate's votes are not scored


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
    # TF-IDF weights of ``terms``, each computed when its term's count last changed (with
    # the document frequencies of that moment), and their Euclidean norm: scoring a candidate
    # is a key intersection, and an article joining re-weighs only its own terms.
    weights: dict[str, float] = field(default_factory=dict)
    norm_sq: float = 0.0
    # What to undo when the story goes idle: the terms it is indexed under, its articles, and
    # its articles' share of the document frequencies (``df``: articles per term; ``counted``).
    indexed: set[str] = field(default_factory=set)
    articles: list[int] = field(default_factory=list)
    df: Counter[str] = field(default_factory=Counter)
    counted: int = 0


def article_terms(article: Article) -> Counter[str]:
    """Raw term counts of an article: title words weigh double, names add ``@`` terms.

    Only the lead counts: the first ``LEAD_WORDS`` content words, and names from the title
    and the sentences that hold them. The text's sentences and words come from
    ``bot.text.analyze``, which hashing and duplicate detection have usually computed already.
    """
    counts: Counter[str] = Counter()
    for term in content_words(article.title):
        counts[term] += TITLE_WEIGHT
    analysis = analyze(article.text)
    lead: list[str] = []
    sentences = [article.title]
    for sentence, tokens in zip(analysis.sentences, analysis.sentence_words, strict=True):
        if len(lead) >= LEAD_WORDS:
            break
        sentences.append(sentence)
        lead.extend(filter(None, map(content_stem, tokens)))
    counts.update(lead[:LEAD_WORDS])
    for name in sentence_entities(sentences):
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

    @property
    def vocabulary(self) -> int:
        """Distinct terms the live stories' articles use: bounded by the window, not by how
        long the index has run."""
        return len(self._df)

    # ----------------------------------------------------------------- weights
    def _ranked(self, counts: Counter[str]) -> list[tuple[str, float]]:
        """An article's TF-IDF weights, heaviest first (ties by term): candidate lookup,
        scoring and indexing each take a prefix of this one ordering."""
        return sorted(self._vector(counts).items(), key=lambda item: (-item[1], item[0]))

    def _vector(self, counts: Counter[str]) -> dict[str, float]:
        log, df, docs = math.log, self._df, self._docs + 1
        return {
            t: (1.0 + log(c)) * (log(docs / (df.get(t, 0) + 1)) + 1.0) for t, c in counts.items()
        }

    # ----------------------------------------------------------------- public
    def seed(self, story_id: str, articles: Sequence[Article]) -> None:
        """Rebuild an existing story (from the store) so new articles can join it."""
        for article in sorted(articles, key=lambda a: (a.when, a.url)):
            if story_id in self._stories and article.copy_of in self._article_story:
                self._join_copy(story_id, article)
            else:
                counts = article_terms(article)
                self._add(story_id, article, counts, self._ranked(counts))

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
        ranked = self._ranked(counts)
        best_id, best_score = self._best_story(article, ranked)
        if best_id is not None and best_score >= self.threshold:
            self._add(best_id, article, counts, ranked)
            return Assignment(best_id, False, best_score)
        story_id = story_id_for(article.url)
        while story_id in self._stories and self._stories[story_id].size:
            story_id = story_id_for(story_id + article.url)  # a re-founded id never collides
        self._add(story_id, article, counts, ranked)
        return Assignment(story_id, True, best_score)

    # ----------------------------------------------------------------- internals
    def _candidates(self, ranked: list[tuple[str, float]]) -> list[str]:
        votes: dict[str, float] = {}
        # Only terms some story is indexed under can find a candidate: a follow-up's rarest
        # terms (the new detail it reports) are exactly the ones no story has yet.
        postings = self._postings
        top = [(t, w) for t, w in ranked if t in postings][:QUERY_TERMS]
        for term, weight in top:
            for story_id in postings[term]:
                votes[story_id] = votes.get(story_id, 0.0) + weight
        ranked = sorted(votes.items(), key=lambda item: (-item[1], item[0]))
        floor = ranked[0][1] * VOTE_SHARE if ranked else 0.0
        return [story_id for story_id, vote in ranked[: self.max_candidates] if vote >= floor]

    def _best_story(
        self, article: Article, ranked: list[tuple[str, float]]
    ) -> tuple[str | None, float]:
        # A term no earlier article had is in no story: only the others can add to a cosine.
        norm = math.hypot(*[weight for _, weight in ranked]) or 1.0
        df = self._df
        unit = {term: weight / norm for term, weight in ranked if term in df}
        best_id: str | None = None
        best = 0.0
        when = article.when
        for story_id in self._candidates(ranked):
            story = self._stories[story_id]
            if story.last is not None and when - story.last > self.window:
                continue
            self.comparisons += 1
            weights = story.weights
            shared = unit.keys() & weights.keys()
            # fsum: exact, so the set's (hash-seeded) order cannot change a score.
            dot = math.fsum(
                map(mul, map(unit.__getitem__, shared), map(weights.__getitem__, shared))
            )
            score = dot / (math.sqrt(story.norm_sq) or 1.0)
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
        self._join(self._stories[story_id], article)

    def _join(self, story: _Story, article: Article) -> None:
        """Record ``article`` as a member of ``story`` (its time, its id)."""
        story.size += 1
        when = article.when
        story.last = when if story.last is None else max(story.last, when)
        if article.id is not None:
            self._article_story[article.id] = story.id
            story.articles.append(article.id)
        self._newest = when if self._newest is None else max(self._newest, when)

    def _add(
        self, story_id: str, article: Article, counts: Counter[str], ranked: list[tuple[str, float]]
    ) -> None:
        """Add an article (its term ``counts``, and their weights as ranked before it was
        counted) to a story, founding the story if need be."""
        story = self._stories.get(story_id)
        if story is None:
            story = self._stories[story_id] = _Story(story_id)
        self._docs += 1
        self._df.update(counts.keys())
        story.df.update(counts.keys())
        story.counted += 1
        story.terms.update(counts)
        if len(story.terms) > 2 * STORY_TERMS:
            story.terms = Counter(dict(story.terms.most_common(STORY_TERMS)))
            story.weights = self._vector(story.terms)
            story.norm_sq = math.fsum(w * w for w in story.weights.values())
        else:
            log, df, docs = math.log, self._df, self._docs + 1
            weights, terms, norm_sq = story.weights, story.terms, story.norm_sq
            for term in counts:
                old = weights.get(term, 0.0)
                new = (1.0 + log(terms[term])) * (log(docs / (df[term] + 1)) + 1.0)
                weights[term] = new
                norm_sq += new * new - old * old
            story.norm_sq = max(norm_sq, 0.0)
        self._join(story, article)
        for term, _ in ranked[:INDEX_TERMS]:
            story.indexed.add(term)
            posting = self._postings.setdefault(term, OrderedDict())
            posting[story_id] = None
            posting.move_to_end(story_id)
            if len(posting) > POSTING_CAP:
                posting.popitem(last=False)
        self._assigned += 1
        if self._assigned % SWEEP_EVERY == 0:
            self._evict_idle()

    def _evict_idle(self) -> None:
        if self._newest is None:
            return
        cutoff = self._newest - self.window
        idle = [s for s in self._stories.values() if s.last is not None and s.last < cutoff]
        for story in idle:
            del self._stories[story.id]
            for term in story.indexed:
                posting = self._postings.get(term)
                if posting is not None:
                    posting.pop(story.id, None)
                    if not posting:
                        del self._postings[term]
            for article_id in story.articles:
                if self._article_story.get(article_id) == story.id:
                    del self._article_story[article_id]
            df = self._df
            for term, count in story.df.items():
                left = df[term] - count
                if left > 0:
                    df[term] = left
                else:
                    del df[term]
            self._docs -= story.counted
