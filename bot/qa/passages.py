"""The passages a question is answered from: every given story's sources, numbered once.

``story_passages(stories)`` numbers each story's sources the way its briefing does
(``bot.summarize.extractive.number_sources``: chronological, 1..n) and then shifts the
numbers of each further story past the ones before it, so the ids of ``Answer.sources`` are
unique across the stories of a thread (the first story keeps its briefing's numbers).

Each source's text is cut into sentence windows (``WINDOW`` consecutive sentences, stepping
by one, so every sentence starts a window and neighbouring context comes along). Page
furniture (``bot.summarize.align.source_sentences`` drops bylines, datelines, "sign up"
lines) and sentences addressed to a model (``is_instruction``) never enter a window.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import lru_cache

from bot.domain import Article, SourceRef, Story
from bot.qa import Passage
from bot.summarize.align import source_sentences
from bot.summarize.extractive import number_sources
from bot.summarize.passages import is_instruction

WINDOW = 2  # sentences per passage


@dataclass(frozen=True, slots=True, eq=False, weakref_slot=True)
class StorySources:
    """The stories' sources numbered once (``sources``), the article behind each source id
    (``articles``), the story each source belongs to (``story_of``), the first id of each
    story (``offsets``: a story's briefing number plus its offset is its id here) and the
    passages. The same stories give the same (cached) object: treat it as read-only."""

    sources: list[SourceRef]
    articles: dict[int, Article]
    story_of: dict[int, str]
    offsets: dict[str, int]
    passages: list[Passage]

    def source(self, source_id: int) -> SourceRef:
        return self.sources[source_id - 1]


def sentences_of(article: Article) -> list[str]:
    """The article's sentences fit to be quoted or retrieved (each once, in order)."""
    return list(text_sentences(article.text))


@lru_cache(maxsize=4096)
def text_sentences(text: str) -> tuple[str, ...]:
    """``sentences_of`` an article's text (cached: a thread asks many questions of the same
    articles, and the passages and the matcher both read them)."""
    return tuple(s for s in dict.fromkeys(source_sentences(text)) if not is_instruction(s))


def windows(sentences: Sequence[str], size: int = WINDOW) -> list[str]:
    """Windows of ``size`` consecutive sentences stepping by one (a shorter text: one window)."""
    if not sentences:
        return []
    if len(sentences) <= size:
        return [" ".join(sentences)]
    return [" ".join(sentences[i : i + size]) for i in range(len(sentences) - size + 1)]


_CACHE_SIZE = 16  # the stories of the threads being asked about at once
_cache: OrderedDict[tuple[object, ...], StorySources] = OrderedDict()
_cache_lock = threading.Lock()


def _cache_key(
    stories: Sequence[tuple[Story, Sequence[Article]]], window: int
) -> tuple[object, ...]:
    """What the passages depend on: each story's id and each article's identity and text."""
    return (window, *((story.id, *map(_article_key, articles)) for story, articles in stories))


def _article_key(a: Article) -> tuple[object, ...]:
    return (
        a.id, a.url, a.outlet, a.copy_of, a.published_at, a.fetched_at, a.title, a.origins,
        a.full_text, a.text,
    )  # fmt: skip


def story_passages(
    stories: Sequence[tuple[Story, Sequence[Article]]], *, window: int = WINDOW
) -> StorySources:
    """Number the stories' sources once and cut their texts into passages (see the module).

    Cached by content: a thread asks many questions of the same stories, reloaded from the
    store each time, so the numbering, the passages and the matcher's index
    (``bot.qa.extractive``) are built once per version of the stories."""
    key = _cache_key(stories, window)
    with _cache_lock:
        found = _cache.get(key)
        if found is not None:
            _cache.move_to_end(key)
            return found
    built = _story_passages(stories, window)
    with _cache_lock:
        _cache[key] = built
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    return built


def _story_passages(
    stories: Sequence[tuple[Story, Sequence[Article]]], window: int
) -> StorySources:
    sources: list[SourceRef] = []
    articles: dict[int, Article] = {}
    story_of: dict[int, str] = {}
    offsets: dict[str, int] = {}
    passages: list[Passage] = []
    for story, story_articles in stories:
        if story.id in offsets:
            continue  # the same story given twice
        offset = len(sources)
        offsets[story.id] = offset
        ordered, refs = number_sources(story_articles)
        for article, ref in zip(ordered, refs, strict=True):
            shifted = replace(
                ref,
                id=ref.id + offset,
                copy_of=ref.copy_of + offset if ref.copy_of is not None else None,
            )
            sources.append(shifted)
            articles[shifted.id] = article
            story_of[shifted.id] = story.id
            for text in windows(sentences_of(article), window):
                passages.append(
                    Passage(
                        id=len(passages) + 1,
                        story_id=story.id,
                        source_id=shifted.id,
                        text=text,
                        outlet=article.outlet,
                        published_at=article.published_at or article.fetched_at,
                        article_id=article.id,
                        copy_of=shifted.copy_of,
                    )
                )
    return StorySources(sources, articles, story_of, offsets, passages)
