"""Speed of the story layer: normalize + duplicate detection + clustering, per article.

Runs exactly what ``Ingestor.ingest`` runs for each new article except the
database writes (``normalize``, ``DuplicateIndex.find``/``add``, ``StoryIndex.assign``)
on generated corpora of 10k, 50k and 100k articles, one process, one core.

The corpora are generated deterministically (``--seed``): a Zipf-distributed background
vocabulary of pseudo-words; stories with their own names, places, numbers and event
words, each running a few days with 2-12 articles from different outlets; about one
article in ten is a wire copy (exact, trimmed, or a rewrite sharing quotes and
sentences). Articles arrive in time order at a steady ~1,500 a day, so the sliding
window (7 days) holds about 10k articles however long the corpus is: a store that
grows must not make each new article dearer.

Reported per corpus: articles per second over the whole run, microseconds per article
over the whole run and over its last 10%, the candidate stories scored per article
(``StoryIndex.comparisons``), and the growth of the per-article cost (last 10% of each
run against the 10k run). Generation time is not measured, and the generated corpus is
frozen out of the garbage collector's reach while the run is timed: a running bot never
holds 100k articles in memory, and walking them on every full collection made the big runs
look dearer than the system is.

    OMP_NUM_THREADS=1 python -m bench.pipeline_speed [--sizes 10000 50000 100000] [--seed 0]
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from bot.domain import Article
from bot.stories.cluster import StoryIndex
from bot.stories.dedupe import DuplicateIndex
from bot.stories.normalize import normalize

START = datetime(2026, 1, 1, tzinfo=UTC)
PER_DAY = 1500
OUTLETS = [f"Outlet {n}" for n in range(60)]
WIRES = ["Reuters", "AP", "AFP"]
_SYLLABLES = [
    c + v
    for c in ("b", "d", "f", "g", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z", "ch", "st")
    for v in ("a", "e", "i", "o", "u", "ai", "ou")
]


def _pseudo_words(rng: random.Random, count: int, syllables: tuple[int, int]) -> list[str]:
    seen: set[str] = set()
    found: list[str] = []
    while len(found) < count:
        word = "".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(*syllables)))
        if word not in seen:
            seen.add(word)
            found.append(word)
    return found


@dataclass(slots=True)
class _StoryPlan:
    names: list[str]
    words: list[str]
    numbers: list[str]
    start: float  # days after START
    articles: int


class CorpusGenerator:
    """Deterministic synthetic news: see the module docstring."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.vocabulary = _pseudo_words(self.rng, 20_000, (2, 4))
        weights = [1.0 / (rank + 1) ** 1.05 for rank in range(len(self.vocabulary))]
        total = sum(weights)
        self._cum: list[float] = []
        running = 0.0
        for weight in weights:
            running += weight / total
            self._cum.append(running)
        self._names = [w.capitalize() for w in _pseudo_words(self.rng, 30_000, (2, 3))]

    def _background(self, count: int) -> list[str]:
        return self.rng.choices(self.vocabulary, cum_weights=self._cum, k=count)

    def _sentence(self, plan: _StoryPlan) -> str:
        length = self.rng.randint(12, 24)
        out = self._background(length)
        for _ in range(self.rng.randint(2, 4)):
            pool = self.rng.choice((plan.names, plan.words, plan.words, plan.numbers))
            out.insert(self.rng.randrange(len(out)), self.rng.choice(pool))
        out[0] = out[0].capitalize()
        return " ".join(out) + "."

    def _quote(self, plan: _StoryPlan) -> str:
        said = " ".join(self._background(self.rng.randint(10, 16)))
        return f'"{said.capitalize()} {self.rng.choice(plan.words)}," {plan.names[0]} said.'

    def _article_text(self, plan: _StoryPlan, quotes: Sequence[str]) -> str:
        sentences = [self._sentence(plan) for _ in range(self.rng.randint(8, 14))]
        for quote in quotes:
            sentences.insert(self.rng.randrange(1, len(sentences)), quote)
        return " ".join(sentences)

    def _copy(self, original: Article, plan: _StoryPlan, n: int, when: datetime) -> Article:
        roll = self.rng.random()
        sentences = original.text.split(". ")
        if roll < 0.3:  # syndicated verbatim
            text = original.text
        elif roll < 0.7:  # trimmed: the last paragraph dropped
            text = ". ".join(sentences[: max(4, len(sentences) * 2 // 3)])
        else:  # rewrite: keeps some sentences and the quotes, recasts the rest
            kept = [s for i, s in enumerate(sentences) if i % 2 == 0 or '"' in s]
            fresh = [self._sentence(plan).rstrip(".") for _ in range(len(sentences) // 2)]
            text = ". ".join(kept + fresh)
        wire = self.rng.choice(WIRES)
        return Article(
            url=f"https://news{n % 60}.example/{n}?utm_source=feed",
            title=original.title,
            text=f"({wire}) — {text}",
            outlet=self.rng.choice(OUTLETS),
            published_at=when,
            fetched_at=when,
            id=n,
        )

    def articles(self, total: int) -> Iterator[tuple[Article, int]]:
        """``total`` articles in time order, each with its story's number (gold label)."""
        days = total / PER_DAY
        plans: list[_StoryPlan] = []
        planned = 0
        while planned < total:
            size = min(self.rng.choice((2, 3, 3, 4, 5, 6, 8, 12)), total - planned)
            plans.append(
                _StoryPlan(
                    names=self.rng.sample(self._names, 3),
                    words=self.rng.sample(self.vocabulary[2000:], 6),
                    numbers=[str(self.rng.randint(2, 9999)) for _ in range(2)],
                    start=self.rng.uniform(0, max(days - 1, 0.0)),
                    articles=size,
                )
            )
            planned += size
        events: list[tuple[float, int]] = []
        for number, plan in enumerate(plans):
            for _ in range(plan.articles):
                events.append((plan.start + self.rng.expovariate(1.0), number))
        events.sort()
        story_quotes: dict[int, list[str]] = {}
        story_articles: dict[int, list[Article]] = {}
        for n, (offset, number) in enumerate(events, start=1):
            plan = plans[number]
            when = START + timedelta(days=offset)
            earlier = story_articles.setdefault(number, [])
            if earlier and self.rng.random() < 0.25:
                article = self._copy(self.rng.choice(earlier), plan, n, when)
            else:
                quotes = story_quotes.setdefault(number, [self._quote(plan)])
                title = " ".join(
                    [plan.names[0], *self.rng.sample(plan.words, 3), *self._background(3)]
                )
                article = Article(
                    url=f"https://news{n % 60}.example/{n}?utm_source=feed",
                    title=title.capitalize(),
                    text=self._article_text(plan, quotes),
                    outlet=self.rng.choice(OUTLETS),
                    published_at=when,
                    fetched_at=when,
                    id=n,
                )
            earlier.append(article)
            yield article, number


@dataclass(frozen=True, slots=True)
class RunResult:
    articles: int
    seconds: float
    tail_us: float  # mean per-article microseconds over the last 10%
    comparisons_per_article: float
    copies: int
    stories: int

    @property
    def per_second(self) -> float:
        return self.articles / self.seconds

    @property
    def mean_us(self) -> float:
        return self.seconds / self.articles * 1e6


def run(size: int, seed: int) -> RunResult:
    """Time the story layer over a generated corpus of ``size`` articles."""
    corpus = [article for article, _ in CorpusGenerator(seed).articles(size)]
    # The generated corpus is the benchmark's, not the system's: a running bot never holds
    # 100k articles in memory. Keep the garbage collector from walking it on every full
    # collection (the indices' own objects are still collected as usual).
    gc.collect()
    gc.freeze()
    duplicates = DuplicateIndex()
    stories = StoryIndex()
    copies = 0
    tail_from = size - size // 10
    tail = 0.0
    clock = time.perf_counter
    begin = clock()
    for position, raw in enumerate(corpus):
        started = clock()
        article = normalize(raw)
        match = duplicates.find(article.text)
        if match is not None:
            article.copy_of = match.key
            copies += 1
        else:
            assert article.id is not None
            duplicates.add(article.id, article.text, article.when)
        stories.assign(article)
        if position >= tail_from:
            tail += clock() - started
    seconds = clock() - begin
    gc.unfreeze()
    return RunResult(
        articles=size,
        seconds=seconds,
        tail_us=tail / (size - tail_from) * 1e6,
        comparisons_per_article=stories.comparisons / size,
        copies=copies,
        stories=len(stories),
    )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 50_000, 100_000])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true", help="print one JSON object per size")
    args = parser.parse_args(argv)
    results = [run(size, args.seed) for size in args.sizes]
    base = results[0].tail_us
    for result in results:
        row = {
            "articles": result.articles,
            "articles_per_s": round(result.per_second),
            "mean_us": round(result.mean_us),
            "tail_us": round(result.tail_us),
            "growth_vs_first": round(result.tail_us / base, 2),
            "comparisons_per_article": round(result.comparisons_per_article, 1),
            "copies_found": result.copies,
            "stories_live": result.stories,
        }
        if args.json:
            print(json.dumps(row))
        else:
            print(
                f"{row['articles']:>7} articles: {row['articles_per_s']:>6} art/s, "
                f"{row['mean_us']:>5} µs/article (last 10%: {row['tail_us']} µs, "
                f"×{row['growth_vs_first']} vs {results[0].articles}), "
                f"{row['comparisons_per_article']} stories scored/article, "
                f"{row['copies_found']} copies, {row['stories_live']} live stories"
            )


if __name__ == "__main__":
    main()
