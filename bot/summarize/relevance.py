"""Is a story about a topic? Query parsing and a relevance score.

A query is alternatives separated by ``OR``; each alternative is a group of words that must
all appear (``port strike OR dockworkers`` = "port" and "strike", or "dockworkers"). Words
are compared as stemmed content words (``bot.text``), so "strikes" matches "strike" and
stopwords are ignored; possessives ("Halvern's") and hyphenation ("dock-workers") do not
get in the way. Quotes and an explicit ``AND`` are accepted and change nothing.

An article is about an alternative when all its words are in the headline (strongest), in
the headline plus the opening sentence, or in the text with at least one of them in the
headline or opening sentence or each of them repeated; a single passing mention deep in the
text does not count. A story's relevance is the mean over its articles, so
headline matches and stories mostly about the topic rank first.
"""

from __future__ import annotations

import functools
import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from bot.domain import Article
from bot.text import STOPWORDS, fold, split_sentences, stem, strip_possessive, words

_TITLE, _LEAD, _BODY = 1.0, 0.75, 0.4


def _forms(word: str, *, keep_stopwords: bool = False) -> list[str]:
    """Stemmed forms of one folded word: itself, and for hyphenated words the parts and the
    joined whole ("dock-workers" -> dock, worker, dockworker)."""
    word = strip_possessive(word)
    if "-" in word or "." in word:
        parts = [p for p in re.split(r"[-.]", word) if p]
        joined = "".join(parts)
        return [stem(p) for p in (*parts, joined) if p and (keep_stopwords or p not in STOPWORDS)]
    if not keep_stopwords and (word in STOPWORDS or len(word) < 2):
        return []
    return [stem(word)]


def _terms(text: str, *, keep_stopwords: bool = False) -> list[str]:
    return [f for word in words(text) for f in _forms(word, keep_stopwords=keep_stopwords)]


def _query_terms(text: str) -> frozenset[str]:
    found: set[str] = set()
    for word in words(text.replace('"', " ")):
        if word == "and":
            continue
        word = strip_possessive(word)
        if "-" in word or "." in word:
            found.add(stem("".join(p for p in re.split(r"[-.]", word) if p)))
        elif word not in STOPWORDS and len(word) > 1:
            found.add(stem(word))
    if not found:  # a query made only of stopwords ("The Who") still means something
        found = {stem(w) for w in words(text) if w != "and"}
    return frozenset(found)


@dataclass(frozen=True, slots=True)
class Query:
    """OR-alternatives, each a set of stemmed words that must all appear."""

    text: str
    alternatives: tuple[frozenset[str], ...]

    @classmethod
    def parse(cls, text: str) -> Query:
        """Parse ``"port strike OR dockworkers"``; raise ValueError for a query with no words."""
        groups: list[list[str]] = [[]]
        for token in fold(text).replace("|", " | ").split():
            if token in ("or", "|"):
                groups.append([])
            else:
                groups[-1].append(token)
        alternatives = [_query_terms(" ".join(group)) for group in groups if group]
        kept = tuple(sorted({a for a in alternatives if a}, key=lambda a: sorted(a)))
        if not kept:
            raise ValueError(
                f"query {text!r} has no words to match; give words such as 'port strike'"
            )
        return cls(text=text, alternatives=kept)


@dataclass(frozen=True, slots=True)
class _ArticleTerms:
    title: frozenset[str]
    lead: frozenset[str]  # the title's and the opening sentence's
    body: frozenset[str]
    repeated: frozenset[str]  # body terms used at least twice


@functools.lru_cache(maxsize=2048)
def _article_terms(title: str, text: str, keep_stopwords: bool) -> _ArticleTerms:
    """An article's terms, worked out once: every briefing of a topic scores the same stored
    articles again (a chat channel asks for the same topic all day)."""
    sentences = split_sentences(text)
    title_terms = frozenset(_terms(title, keep_stopwords=keep_stopwords))
    lead = title_terms | frozenset(
        _terms(sentences[0] if sentences else "", keep_stopwords=keep_stopwords)
    )
    counts = Counter(_terms(text, keep_stopwords=keep_stopwords))
    return _ArticleTerms(
        title_terms,
        lead,
        frozenset(counts),
        frozenset(term for term, count in counts.items() if count >= 2),
    )


def article_relevance(query: Query, article: Article) -> float:
    """0 when the article is not about the query; 1 for an all-words headline match."""
    best = 0.0
    for alternative in query.alternatives:
        # Stopwords only count for a query made of them ("The Who").
        keep = any(t in STOPWORDS for t in alternative)
        terms = _article_terms(article.title, article.text, keep)
        title, lead, body = terms.title, terms.lead, terms.body
        if alternative <= title:
            score = _TITLE
        elif alternative <= lead:
            score = _LEAD
        elif all(t in body or t in title for t in alternative) and (
            any(t in lead for t in alternative) or alternative <= terms.repeated
        ):
            in_title = sum(1 for t in alternative if t in title) / len(alternative)
            score = _BODY + 0.2 * in_title
        else:
            continue
        best = max(best, score)
    return best


def relevance(query: Query, articles: Sequence[Article]) -> float:
    """How much a story (its articles) is about the query: 0.0 when not at all, up to 1.0."""
    if not articles:
        return 0.0
    return math.fsum(article_relevance(query, a) for a in articles) / len(articles)
