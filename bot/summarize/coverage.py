"""How widely a story is reported: articles, outlets and independent reports.

Wire and syndicated copies count once. Articles belong to the same independent report when
one is a copy of the other (``Article.copy_of``, also when the original is not in the story
but several articles copy it), when they credit the same wire service (``Article.origins``),
or when one is the wire's own report (its outlet is a wire another article credits).
Everything else is its own report.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from urllib.parse import urlsplit

from bot.domain import Article, Coverage
from bot.text import fold, normalize_whitespace


class _UnionFind:
    def __init__(self) -> None:
        self._parent: dict[str, str] = {}

    def find(self, key: str) -> str:
        self._parent.setdefault(key, key)
        root = key
        while self._parent[root] != root:
            root = self._parent[root]
        while self._parent[key] != root:
            self._parent[key], key = root, self._parent[key]
        return root

    def union(self, a: str, b: str) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            # The smaller key wins so the result does not depend on the order of unions.
            low, high = sorted((ra, rb))
            self._parent[high] = low


def outlet_key(article: Article) -> str:
    """The outlet's name folded for counting ("Valley Post" == "valley  post"); the URL's
    host when the source gave no name."""
    return normalize_whitespace(fold(article.outlet)) or urlsplit(article.url).netloc.lower()


def chronological_key(article: Article) -> tuple[datetime, str, int]:
    """Oldest first, ties by URL then store id: the order sources are numbered in."""
    return (article.when, article.url, article.id if article.id is not None else -1)


def independent_roots(articles: Sequence[Article]) -> list[int]:
    """For each article (same order as given), the index of the first article of its report.

    "First" is chronological (ties by URL), so the answer does not depend on input order.
    """
    order = sorted(range(len(articles)), key=lambda i: chronological_key(articles[i]))
    rank = {index: position for position, index in enumerate(order)}
    sets = _UnionFind()
    wires = {fold(o).strip() for a in articles for o in a.origins if o.strip()}
    for i, article in enumerate(articles):
        node = f"article:{rank[i]:09d}"
        sets.find(node)
        if article.id is not None:
            sets.union(node, f"id:{article.id}")
        if article.copy_of is not None:
            sets.union(node, f"id:{article.copy_of}")
        for origin in article.origins:
            if origin.strip():
                sets.union(node, f"wire:{fold(origin).strip()}")
        if fold(article.outlet).strip() in wires:
            sets.union(node, f"wire:{fold(article.outlet).strip()}")
    first: dict[str, int] = {}
    for i in order:
        first.setdefault(sets.find(f"article:{rank[i]:09d}"), i)
    return [first[sets.find(f"article:{rank[i]:09d}")] for i in range(len(articles))]


def coverage(articles: Sequence[Article]) -> Coverage:
    """Articles, distinct outlets and independent reports among ``articles``."""
    outlets = {outlet_key(a) for a in articles}
    return Coverage(
        articles=len(articles),
        outlets=len(outlets),
        independent_reports=len(set(independent_roots(articles))),
    )
