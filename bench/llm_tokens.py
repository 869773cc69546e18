"""LLM briefing cost: prompt tokens against a naive prompt, what the prompt keeps, and the
pipeline's own time per briefing.

Every story is briefed by the production ``LLMBriefer`` through the real openai SDK against
the fake OpenAI-compatible server of the test suite (``tests/fakes/openai_server.py``, a
real HTTP server on 127.0.0.1 answering at once with a faithful scripted model). For each
request the server received the benchmark measures:

- **prompt tokens** (offline estimate, ``bot.summarize.tokens``) of the messages sent, and of
  the *naive* prompt: the same briefing prompt carrying every article of the story in full;
- **multi-outlet coverage**: every sentence that two or more independent reports carry must
  still be represented in the prompt. On the generated corpus the facts are known by
  construction; on the bundled demo stories "carried by two reports" and "represented" are
  decided by the citation verifier's sentence alignment (``bot.summarize.align``);
- **overhead**: wall time of ``brief_story`` (passage selection, prompt, SDK request over
  loopback, parsing, verification) with a model that answers instantly, i.e. the pipeline's
  own time per briefing excluding model latency.

Corpora: the bundled demo news (real prose, 3 stories of 5-6 articles) and a generated set of
developing stories of 6-30 articles of 450-900 words from different outlets, each with wire
copies and 8-14 facts that several independent reports retell in their own words.

    python -m bench.llm_tokens [--stories 40] [--seed 0]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.pipeline_speed import CorpusGenerator
from bot.app import briefer_settings, build_service
from bot.config import load_settings
from bot.demo import demo_sources
from bot.domain import Article, Story, terminal, utcnow
from bot.llm.client import LLMClient
from bot.pipeline import shift_articles
from bot.summarize.align import Alignment, source_sentences
from bot.summarize.briefers import ExtractiveBriefer
from bot.summarize.coverage import independent_roots
from bot.summarize.extractive import _source_refs, _unique, clean_title
from bot.summarize.llm import LLMBriefer
from bot.summarize.passages import naive_text
from bot.summarize.prompts import format_date
from bot.summarize.tokens import count_message_tokens
from bot.text import normalize_whitespace, split_sentences
from tests.fakes.llm_briefer import faithful_writer, passages
from tests.fakes.openai_server import FakeOpenAI

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)


# ---------------------------------------------------------------------- generated stories
@dataclass
class GeneratedStory:
    story: Story
    articles: list[Article]
    fact_of: dict[str, int]  # rendered sentence (normalised) -> fact number
    multi_outlet: set[int]  # facts carried by two or more independent reports


def _render_fact(gen: CorpusGenerator, fact: list[str]) -> str:
    """One outlet's wording of a fact: most of its words, some of them swapped or dropped."""
    words = [w for w in fact if gen.rng.random() > 0.15]
    for _ in range(gen.rng.randint(1, 3)):
        words.insert(gen.rng.randrange(len(words) + 1), gen.rng.choice(gen.vocabulary[:3000]))
    sentence = " ".join(words)
    return sentence[0].upper() + sentence[1:] + "."


def generated_stories(count: int, seed: int) -> list[GeneratedStory]:
    gen = CorpusGenerator(seed)
    rng = gen.rng
    stories = []
    next_id = 1
    for number in range(count):
        names = rng.sample(gen._names, 4)
        event = rng.sample(gen.vocabulary[2000:], 8)
        facts = [
            [
                rng.choice(names),
                *rng.sample(event, 3),
                *gen._background(rng.randint(8, 14)),
                str(rng.randint(2, 9999)),
            ]
            for _ in range(rng.randint(8, 14))
        ]
        for words in facts:
            rng.shuffle(words)
        fact_of: dict[str, int] = {}
        carriers: dict[int, set[int]] = {}
        articles: list[Article] = []
        size = rng.randint(6, 30)
        start = NOW - timedelta(days=3)
        for position in range(size):
            when = start + timedelta(hours=position * 72 / size)
            originals = [a for a in articles if a.copy_of is None]
            if originals and rng.random() < 0.3:  # a wire copy, verbatim or trimmed
                original = rng.choice(originals)
                sentences = split_sentences(original.text)
                keep = len(sentences) if rng.random() < 0.5 else max(4, len(sentences) * 3 // 4)
                text = " ".join(sentences[:keep])
                copy_of = original.id
            else:
                told = rng.sample(range(len(facts)), rng.randint(3, min(8, len(facts))))
                sentences = []
                for fact in told:
                    rendered = _render_fact(gen, facts[fact])
                    fact_of[normalize_whitespace(rendered)] = fact
                    sentences.append(rendered)
                    carriers.setdefault(fact, set()).add(next_id)
                length = rng.randint(450, 900)
                while sum(len(s.split()) for s in sentences) < length:
                    filler = " ".join(gen._background(rng.randint(12, 24)))
                    sentences.insert(
                        rng.randrange(1, len(sentences) + 1), filler.capitalize() + "."
                    )
                text = " ".join(sentences)
                copy_of = None
            articles.append(
                Article(
                    url=f"https://outlet{position % 12}.example/{number}/{position}",
                    title=f"{names[0]} {' '.join(event[:3])}".capitalize(),
                    text=text,
                    outlet=f"Outlet {position % 12}",
                    published_at=when,
                    fetched_at=when,
                    content_hash=f"{number}-{position}",
                    copy_of=copy_of,
                    id=next_id,
                )
            )
            next_id += 1
        story = Story(f"s-gen{number:04d}", articles[0].title, created_at=start, updated_at=NOW)
        multi = {fact for fact, ids in carriers.items() if len(ids) >= 2}
        stories.append(GeneratedStory(story, articles, fact_of, multi))
    return stories


# ---------------------------------------------------------------------- demo stories
def demo_stories(workdir: Path) -> list[tuple[Story, list[Article]]]:
    settings = load_settings(BRIEFBOT_FETCH_FULL_TEXT=False, BRIEFBOT_DISCOVERY=[])

    async def ingest() -> list[tuple[Story, list[Article]]]:
        database_url = f"sqlite:///{workdir / 'demo.sqlite3'}"
        async with build_service(settings, database_url=database_url, force_llm=False) as service:
            gathered = await service.gather(demo_sources())
            await service.ingest_articles(
                shift_articles(gathered.articles, utcnow() - timedelta(hours=1))
            )
            return await service.stories(since=timedelta(days=30))

    found = asyncio.run(ingest())
    return [(story, articles) for story, articles in found if len(articles) >= 3]


# ---------------------------------------------------------------------- measuring
@dataclass
class Measured:
    prompt_tokens: int
    naive_tokens: int
    multi_outlet: int
    represented: int
    seconds: float

    @property
    def ratio(self) -> float:
        return self.prompt_tokens / self.naive_tokens


def naive_prompt_tokens(briefer: LLMBriefer, story: Story, articles: Sequence[Article]) -> int:
    """Tokens of the briefing prompt carrying every article in full."""
    ordered = _unique(articles)
    sources = _source_refs(ordered)
    by_source = {ref.id: a for ref, a in zip(sources, ordered, strict=True)}
    title = clean_title(story.title, "")
    messages = briefer.prompts.briefing.render(
        sources=naive_text(sources, by_source),
        source_count=len(sources),
        topic=title,
        story_title=title,
        today=format_date(briefer.clock()),
        max_points=briefer.max_points,
    )
    return count_message_tokens(messages)


def prompt_sentences(body: dict[str, Any]) -> list[str]:
    return [normalize_whitespace(s) for p in passages(body) for s in split_sentences(p.text) if s]


def demo_multi_outlet(articles: Sequence[Article]) -> list[str]:
    """Sentences two or more independent reports carry (decided by sentence alignment)."""
    ordered = _unique(articles)
    roots = independent_roots(ordered)
    alignment = Alignment(ordered)
    found = []
    for index, article in enumerate(ordered):
        if roots[index] != index:
            continue  # a copy says what its original says
        for sentence in source_sentences(article.text):
            reports = {roots[i] for i in alignment.supporters(sentence)} | {index}
            if len(reports) >= 2:
                found.append(sentence)
    return found


async def brief_once(
    briefer: LLMBriefer, server: FakeOpenAI, story: Story, articles: Sequence[Article]
) -> tuple[dict[str, Any], float]:
    before = len(server.bodies)
    started = time.perf_counter()
    briefing = await briefer.brief_story(story, articles, terminal())
    seconds = time.perf_counter() - started
    if briefing.mode.value != "llm" or len(server.bodies) != before + 1:
        raise RuntimeError(f"story {story.id} was not briefed by the model: {briefing.notes}")
    return server.bodies[-1], seconds


def run(stories: int, seed: int) -> dict[str, list[Measured]]:
    with FakeOpenAI() as server, tempfile.TemporaryDirectory() as tmp:
        server.script(*([faithful_writer] * 10_000))
        demo = demo_stories(Path(tmp))
        return asyncio.run(measure(server, demo, stories, seed))


async def measure(
    server: FakeOpenAI, demo: list[tuple[Story, list[Article]]], stories: int, seed: int
) -> dict[str, list[Measured]]:
    results: dict[str, list[Measured]] = {"demo": [], "generated": []}
    settings = load_settings(
        OPENAI_BASE_URL=server.base_url, BRIEFBOT_LLM_TIMEOUT=10, BRIEFBOT_LLM_MAX_RETRIES=0
    )
    async with LLMClient(settings) as client:
        briefer = LLMBriefer(
            client,
            client.prompts,
            None,
            fallback=ExtractiveBriefer(),
            settings=briefer_settings(settings),
            clock=lambda: NOW,
        )
        for story, articles in demo:
            body, seconds = await brief_once(briefer, server, story, articles)
            sent = prompt_sentences(body)
            prompt = Alignment([Article(url="prompt:", title="", text=" ".join(sent), outlet="")])
            multi = demo_multi_outlet(articles)
            results["demo"].append(
                Measured(
                    count_message_tokens(body["messages"]),
                    naive_prompt_tokens(briefer, story, articles),
                    len(multi),
                    sum(1 for s in multi if prompt.supporters(s)),
                    seconds,
                )
            )
        for item in generated_stories(stories, seed):
            body, seconds = await brief_once(briefer, server, item.story, item.articles)
            kept = {item.fact_of[s] for s in prompt_sentences(body) if s in item.fact_of}
            results["generated"].append(
                Measured(
                    count_message_tokens(body["messages"]),
                    naive_prompt_tokens(briefer, item.story, item.articles),
                    len(item.multi_outlet),
                    len(item.multi_outlet & kept),
                    seconds,
                )
            )
    return results


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stories", type=int, default=40, help="generated stories")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    results = run(args.stories, args.seed)
    for corpus, measured in results.items():
        if not measured:
            continue
        ratios = [m.ratio for m in measured]
        multi = sum(m.multi_outlet for m in measured)
        kept = sum(m.represented for m in measured)
        times = sorted(m.seconds * 1000 for m in measured)
        print(
            f"{corpus}: {len(measured)} stories; prompt/naive tokens mean "
            f"{statistics.fmean(ratios):.1%}, max {max(ratios):.1%} "
            f"(mean prompt {statistics.fmean(m.prompt_tokens for m in measured):.0f}, "
            f"naive {statistics.fmean(m.naive_tokens for m in measured):.0f} tokens); "
            f"multi-outlet sentences represented {kept}/{multi}; "
            f"time per briefing median {statistics.median(times):.0f} ms, "
            f"max {times[-1]:.0f} ms"
        )


if __name__ == "__main__":
    main()
