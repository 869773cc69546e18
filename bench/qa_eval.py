"""Thread answers (issue 13, section 7): the hand-written Q&A evaluation set, scored, and
answer latency excluding model time on a story of 200 articles.

**Quality.** ``tests/fixtures/qa_eval.json`` holds questions over the stories briefbot ships
as data: the bundled demo news (``bot/demo/data``) and the end-to-end fixtures
(``tests/fixtures/e2e``, served from a local HTTP server so their pages are fetched and
extracted for real). Both are gathered and ingested through ``BriefingService`` into a
temporary SQLite store (dedupe, copies, clustering as in production); each item names its
story by a title substring. Every question goes through the engine with that story only
(and the item's ``history`` and ``since``). Each item expects either

- ``answered``: every string of ``facts`` is in the answer's text (case-insensitive; a list
  is "any of these") and every entry of ``must_cite`` is cited (an entry is an outlet name or
  a substring of a source URL; a list is "at least one of these"), or
- ``refused``: the answer is a refusal (``Answer.refused``).

Scores:

- **answer accuracy**: share of items whose outcome is as expected (an answered item must
  also carry its facts and cite its ``must_cite``), overall and per kind;
- **citation recall**: over items expected answered that the engine answered, the share of
  ``must_cite`` entries cited;
- **citation precision**: over the same items, the share of cited sources that are relevant:
  a source is relevant when it matches one of the item's ``must_cite`` entries (any
  alternative) *or* its article's text contains one of the item's facts (another outlet that
  carries the same fact is a right citation even if the fixture did not list it);
- **refusal precision and recall**, refusal being the positive class: recall = refused
  among the items that must be refused (target 1.0: never answer what the sources do not
  say), precision = items that must be refused among those refused.

A source is "cited" when a claim cites it (``Claim.sources``); an answer without claims
cites all its ``sources``.

**Latency.** One synthetic story of 200 articles from 60 outlets reporting one event (a
storm hitting a port town; facts retold in each outlet's words, about one article in four a
wire copy or a lightly edited copy), ingested for real, and 200+ questions (answerable
paraphrases and absent ones). The time of each ``engine.answer`` call (extractive: no model)
is measured; p50 and p99 reported (target p99 ≤ 200 ms).

**Engines.** ``bot.qa.engine`` when it is importable (``build_qa_engine("extractive")``;
``--llm``: ``build_qa_engine("llm", client, client.prompts)`` with the ``LLMClient`` that
``bot.app`` builds for briefings, against any OpenAI-compatible server set by
``OPENAI_BASE_URL`` / ``OPENAI_API_KEY`` / ``BRIEFBOT_MODEL``). Until then, and with
``--engine followup``, the adapter ``FollowupAdapter`` runs today's extractive thread
answerer (``bot.chat.followup.answer_in_thread``) behind the ``QAEngine`` call; it ignores
``history`` and ``since`` (today's answerer has neither).

    python -m bench.qa_eval [--engine auto|followup|qa] [--llm] [--format text|json]
                            [--check] [--latency-questions 220] [--skip-latency]
                            [--items dev|held-out|PATH] [--sample N] [--verbose]

``--check`` exits 1 when refusal recall < 1.0 or citation precision < 0.95.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import random
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bot.app import build_service
from bot.chat.followup import answer_in_thread
from bot.config import Settings, load_settings
from bot.demo import demo_sources
from bot.domain import Article, SourceRef, Story
from bot.qa import Answer, Claim, QAEngine, Refusal, Turn

REPO_ROOT = Path(__file__).resolve().parent.parent
FIXTURE = REPO_ROOT / "tests" / "fixtures" / "qa_eval.json"
# Written later, by someone who had not read the answerer, to check it was not fitted to the
# development set above; scored the same way (``--items held-out``).
HELD_OUT = REPO_ROOT / "tests" / "fixtures" / "qa_heldout.json"
KINDS = (
    "paraphrased",
    "multi_hop",
    "outlet_filtered",
    "absent",
    "speculative",
    "outside_knowledge",
    "follow_up",
    "time_filtered",
)
REFUSAL_KINDS = ("absent", "speculative", "outside_knowledge")
TARGET_REFUSAL_RECALL = 1.0
TARGET_CITATION_PRECISION = 0.95
TARGET_P99_MS = 200.0
ALL_TIME = timedelta(days=36500)
# The engines' clock: an hour after the newest article of the fixture stories.
FIXTURE_NOW = datetime(2026, 11, 18, 18, 30, tzinfo=UTC)

Alternatives = str | list[str]


# ---------------------------------------------------------------------- the set
@dataclass(frozen=True, slots=True)
class Item:
    id: str
    story: str
    question: str
    kind: str
    outcome: str  # "answered" | "refused"
    facts: tuple[Alternatives, ...] = ()
    must_cite: tuple[Alternatives, ...] = ()
    history: tuple[Turn, ...] = ()
    since: datetime | None = None


def _when(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def load_items(path: Path = FIXTURE) -> list[Item]:
    """The evaluation items, in file order (raises ``ValueError`` on a malformed item)."""
    raw = json.loads(path.read_text(encoding="utf-8"))
    items: list[Item] = []
    for entry in raw["items"]:
        expected = entry["expected"]
        if entry["kind"] not in KINDS:
            raise ValueError(f"{entry['id']}: unknown kind {entry['kind']!r}")
        if expected["outcome"] not in ("answered", "refused"):
            raise ValueError(f"{entry['id']}: outcome must be answered or refused")
        items.append(
            Item(
                id=entry["id"],
                story=entry["story"],
                question=entry["question"],
                kind=entry["kind"],
                outcome=expected["outcome"],
                facts=tuple(expected.get("facts", ())),
                must_cite=tuple(expected.get("must_cite", ())),
                history=tuple(
                    Turn(t["question"], t["answer"], _when(t["asked_at"]))
                    for t in entry.get("history", ())
                ),
                since=_when(entry["since"]) if entry.get("since") else None,
            )
        )
    return items


def _fold(text: str) -> str:
    return " ".join(text.replace("\u2019", "'").casefold().split())


def options(entry: Alternatives) -> list[str]:
    return [entry] if isinstance(entry, str) else list(entry)


def has_fact(text: str, fact: Alternatives) -> bool:
    folded = _fold(text)
    return any(_fold(option) in folded for option in options(fact))


def cites(ref: SourceRef, entry: Alternatives) -> bool:
    """Whether ``ref`` is (one of) the source(s) ``entry`` names: an outlet or a URL part."""
    return any(_fold(ref.outlet) == _fold(option) or option in ref.url for option in options(entry))


def names_article(article: Article, entry: Alternatives) -> bool:
    return any(
        _fold(article.outlet) == _fold(option) or option in article.url for option in options(entry)
    )


# ---------------------------------------------------------------------- the stories
StoryArticles = tuple[Story, list[Article]]


async def _ingest_fixture_stories(settings: Settings, database_url: str) -> list[StoryArticles]:
    from tests.fakes.http import FakeHTTPServer
    from tests.fakes.llm_briefer import serve_news_site

    with FakeHTTPServer() as server:
        serve_news_site(server)
        async with build_service(settings, database_url=database_url, force_llm=False) as service:
            for specs in (demo_sources(), [server.url("/feed.xml")]):
                gathered = await service.gather(specs)
                await service.ingest_articles(gathered.articles)
            return await service.stories(since=ALL_TIME)


def fixture_stories(workdir: Path) -> list[StoryArticles]:
    """The demo news and the e2e news site, gathered and ingested into a fresh SQLite store."""
    settings = load_settings(BRIEFBOT_DISCOVERY=[], BRIEFBOT_HOST_DELAY=0)
    url = f"sqlite:///{workdir / 'qa_eval.sqlite3'}"
    return asyncio.run(_ingest_fixture_stories(settings, url))


def find_story(stories: Sequence[StoryArticles], key: str) -> StoryArticles:
    """The story whose title (or, failing that, one of whose articles' titles) contains
    ``key``; raises ``LookupError`` when none or several do."""
    wanted = _fold(key)
    by_title = [s for s in stories if wanted in _fold(s[0].title)]
    by_article = [s for s in stories if any(wanted in _fold(a.title) for a in s[1])]
    for found in (by_title, by_article):
        if len(found) == 1:
            return found[0]
        if len(found) > 1:
            raise LookupError(f"{key!r} names {len(found)} stories")
    raise LookupError(f"no story matches {key!r}")


# ---------------------------------------------------------------------- engines
class FollowupAdapter:
    """Today's extractive thread answerer (``bot.chat.followup.answer_in_thread``) behind
    the ``QAEngine`` call, for this benchmark only: one claim per quote citing the quote's
    carriers, refused when nothing matched. ``history`` and ``since`` are ignored."""

    name = "bot.chat.followup.answer_in_thread (bench adapter)"

    async def answer(
        self,
        question: str,
        stories: Sequence[tuple[Story, list[Article]]],
        *,
        history: Sequence[Turn] = (),
        since: datetime | None = None,
    ) -> Answer:
        found = await asyncio.to_thread(answer_in_thread, question, stories)
        sources: dict[int, SourceRef] = {}
        claims = []
        for quote in found.quotes:
            for ref in quote.sources:
                sources.setdefault(ref.id, ref)
            claims.append(Claim(quote.text, [ref.id for ref in quote.sources]))
        return Answer(
            question=question,
            text=found.text,
            claims=claims,
            sources=[sources[i] for i in sorted(sources)],
            story_id=stories[0][0].id if stories else None,
            refused=not found.found,
            reason=None if found.found else Refusal.NOT_IN_SOURCES,
        )


@dataclass
class Engine:
    engine: QAEngine
    name: str
    closers: list[Any] = field(default_factory=list)

    async def aclose(self) -> None:
        for close in self.closers:
            await close()


def build_engine(choice: str, llm: bool, now: datetime | None = None) -> Engine:
    """``auto``: ``bot.qa.engine`` when importable, else the adapter; ``qa``: require it.

    ``bot.qa.engine``'s factory is ``build_qa_engine(mode, model, prompts, *, now=...)``;
    the model is the ``LLMClient`` built from the settings as ``bot.app`` builds it for
    briefings, with its prompts. ``now`` is the engines' clock (the fixture's dates are
    fixed)."""
    try:
        module = importlib.import_module("bot.qa.engine")
    except ImportError:
        module = None
    if choice == "followup" or (choice == "auto" and module is None):
        if llm:
            raise SystemExit("--llm needs bot.qa.engine (not importable here)")
        return Engine(FollowupAdapter(), FollowupAdapter.name)
    if module is None:
        raise SystemExit("bot.qa.engine is not importable")
    clock: dict[str, Any] = {"now": lambda: now} if now is not None else {}
    if not llm:
        return Engine(module.build_qa_engine("extractive", **clock), "bot.qa.engine extractive")
    from bot.llm.client import LLMClient  # imported here, as bot.app does: the SDK is heavy

    settings = load_settings()
    client = LLMClient(settings)
    engine = module.build_qa_engine("llm", client, client.prompts, **clock)
    return Engine(engine, f"bot.qa.engine llm ({settings.model})", [client.close])


# ---------------------------------------------------------------------- scoring
@dataclass
class Outcome:
    id: str
    kind: str
    expected: str
    refused: bool
    correct: bool
    missing_facts: list[str]
    missing_cites: list[str]
    cited: list[str]  # "outlet <url>" of each cited source
    relevant_cited: int
    cite_entries: int
    cite_entries_met: int
    seconds: float
    text: str


def _cited_refs(answer: Answer) -> list[SourceRef]:
    by_id = {ref.id: ref for ref in answer.sources}
    ids = {i for claim in answer.claims for i in claim.sources} if answer.claims else set(by_id)
    return [by_id[i] for i in sorted(ids) if i in by_id]


def score_item(item: Item, answer: Answer, articles: Sequence[Article], seconds: float) -> Outcome:
    texts = {a.url: a.text for a in articles}
    if answer.refused:
        return Outcome(
            item.id, item.kind, item.outcome, True, item.outcome == "refused",
            [], [], [], 0, 0, 0, seconds, answer.text,
        )  # fmt: skip
    cited = _cited_refs(answer)
    missing_facts = [str(f) for f in item.facts if not has_fact(answer.text, f)]
    missing_cites = [str(e) for e in item.must_cite if not any(cites(r, e) for r in cited)]
    relevant = sum(
        1
        for ref in cited
        if any(cites(ref, e) for e in item.must_cite)
        or any(has_fact(texts.get(ref.url, ""), f) for f in item.facts)
    )
    correct = item.outcome == "answered" and not missing_facts and not missing_cites
    return Outcome(
        item.id,
        item.kind,
        item.outcome,
        False,
        correct,
        missing_facts,
        missing_cites,
        [f"{r.outlet} <{r.url}>" for r in cited],
        relevant,
        len(item.must_cite),
        len(item.must_cite) - len(missing_cites),
        seconds,
        answer.text,
    )


def _ratio(num: float, den: float) -> float | None:
    return num / den if den else None


def summarize(outcomes: Sequence[Outcome]) -> dict[str, Any]:
    should_refuse = [o for o in outcomes if o.expected == "refused"]
    refused = [o for o in outcomes if o.refused]
    answered = [o for o in outcomes if o.expected == "answered" and not o.refused]
    cited = sum(len(o.cited) for o in answered)
    by_kind: dict[str, list[Outcome]] = defaultdict(list)
    for o in outcomes:
        by_kind[o.kind].append(o)
    return {
        "items": len(outcomes),
        "answer_accuracy": _ratio(sum(o.correct for o in outcomes), len(outcomes)),
        "accuracy_by_kind": {
            kind: {"items": len(group), "correct": sum(o.correct for o in group)}
            for kind, group in sorted(by_kind.items(), key=lambda kv: KINDS.index(kv[0]))
        },
        "citation_precision": _ratio(sum(o.relevant_cited for o in answered), cited),
        "citation_recall": _ratio(
            sum(o.cite_entries_met for o in answered), sum(o.cite_entries for o in answered)
        ),
        "refusal_precision": _ratio(sum(o.expected == "refused" for o in refused), len(refused)),
        "refusal_recall": _ratio(sum(o.refused for o in should_refuse), len(should_refuse)),
        "expected_answered_but_refused": [
            o.id for o in outcomes if o.expected == "answered" and o.refused
        ],
        "answered_but_must_refuse": [o.id for o in should_refuse if not o.refused],
        "wrong_answers": [
            o.id for o in outcomes if o.expected == "answered" and not o.refused and not o.correct
        ],
    }


async def run_items(
    engine: QAEngine, items: Sequence[Item], stories: Sequence[StoryArticles]
) -> list[Outcome]:
    outcomes = []
    for item in items:
        story, articles = find_story(stories, item.story)
        started = time.perf_counter()
        answer = await engine.answer(
            item.question, [(story, articles)], history=item.history, since=item.since
        )
        seconds = time.perf_counter() - started
        outcomes.append(score_item(item, answer, articles, seconds))
    return outcomes


def evaluate(
    engine: QAEngine, items: Sequence[Item] | None = None, workdir: Path | None = None
) -> list[Outcome]:
    """Every item through ``engine``, scored (the stories ingested into a temporary store)."""
    items = load_items() if items is None else items
    with tempfile.TemporaryDirectory() as tmp:
        stories = fixture_stories(workdir or Path(tmp))
    return asyncio.run(run_items(engine, items, stories))


# ---------------------------------------------------------------------- latency
_OUTLETS = [
    f"{town} {kind}"
    for town in (
        "Halvern", "Velmora", "Dunmarrow", "Tarrowby", "Brannock", "Aldbury", "Hollin",
        "Lysholm", "Saltfjord", "Kestrel", "Nordhavn", "Esker",
    )
    for kind in ("Times", "Post", "Courier", "Herald", "Radio")
]  # fmt: skip
# Each fact retold three ways; a report carries a random subset in its own words.
_FACTS: list[tuple[str, ...]] = [
    (
        "Storm Ilse brought winds of up to 140 km/h to the coast of Skarvik on Thursday night.",
        "Gusts reached 140 km/h as Storm Ilse swept over Skarvik overnight on Thursday.",
        "Skarvik was battered by Storm Ilse, with winds peaking at 140 km/h late on Thursday.",
    ),
    (
        "About 12,000 homes in the Skarvik district lost power, the grid operator Nordel said.",
        "Nordel, the grid operator, said some 12,000 households were without electricity.",
        "Power was cut to roughly 12,000 homes across the district, according to Nordel.",
    ),
    (
        "The harbour wall at Skarvik was breached in two places and the fish market flooded.",
        "Sea water poured through two breaches in the harbour wall and flooded the fish market.",
        "Two sections of the harbour wall gave way, leaving the fish market under water.",
    ),
    (
        "Mayor Ingrid Solberg said 340 residents had been moved to the sports centre.",
        "Some 340 people spent the night at the sports centre, Mayor Ingrid Solberg said.",
        "The town moved 340 residents to its sports centre, according to Mayor Ingrid Solberg.",
    ),
    (
        "Two fishing boats sank at their moorings and a third was washed onto the slipway.",
        "The storm sank two fishing boats in the harbour and threw a third onto the slipway.",
        "Two boats went down at their moorings; another ended up on the slipway.",
    ),
    (
        "The coastguard rescued four people from a car trapped by flood water on the E18.",
        "Four people were lifted from a car stuck in flood water on the E18 by the coastguard.",
        "A coastguard helicopter saved four people whose car was caught by floods on the E18.",
    ),
    (
        "Rail services between Skarvik and Velmora were suspended after a tree fell on the line.",
        "A fallen tree closed the railway between Skarvik and Velmora.",
        "Trains between Skarvik and Velmora stopped running when a tree came down on the track.",
    ),
    (
        "The national weather service had issued a red warning for the coast on Wednesday.",
        "A red weather warning was in force along the coast from Wednesday, forecasters said.",
        "Forecasters put the coast under a red warning on Wednesday, a day before the storm.",
    ),
    (
        "Insurers estimate the damage at about 85 million crowns.",
        "Early estimates from insurers put the cost of the damage near 85 million crowns.",
        "The damage could cost insurers some 85 million crowns, the industry association said.",
    ),
    (
        "Schools in the district will stay closed on Friday, the education office said.",
        "The district's education office said every school would remain shut on Friday.",
        "Pupils will have Friday off after the education office closed the schools.",
    ),
]  # fmt: skip
_FILLER = [
    "Residents described a long night of wind and rain.",
    "Emergency crews worked through the night to clear fallen trees from roads.",
    "Several shops on the seafront had their windows boarded up before the storm arrived.",
    "Local officials urged people to stay indoors until the wind dropped.",
    "Volunteers handed out hot drinks at the sports centre.",
    "Older residents said they could not remember a storm like it.",
    "The regional council will meet on Monday to discuss repairs.",
    "Photographs shared online showed waves breaking over the promenade.",
]
LATENCY_QUESTIONS = [
    ("How strong were the winds?", True),
    ("How many homes lost power?", True),
    ("What happened to the harbour wall?", True),
    ("How many residents were moved to the sports centre?", True),
    ("Who is the mayor of Skarvik?", True),
    ("How many fishing boats sank?", True),
    ("How many people did the coastguard rescue?", True),
    ("Why were trains to Velmora suspended?", True),
    ("When was the red warning issued?", True),
    ("How much will the damage cost insurers?", True),
    ("Will schools open on Friday?", True),
    ("What did Nordel say?", True),
    ("What is the capital of Peru?", False),
    ("How many people died in the storm?", False),
    ("Will the government pay for the repairs?", False),
    ("Who is the prime minister of Norveth?", False),
    ("What will the weather be like next week?", False),
    ("How much did the new harbour wall cost to build in 1990?", False),
]


def synthetic_story(count: int = 200, seed: int = 0) -> list[Article]:
    """``count`` articles on one event from 60 outlets: independent reports retelling a
    random subset of the facts in one of three wordings among filler, about one in four a
    verbatim or lightly edited wire copy of an earlier report."""
    rng = random.Random(seed)
    start = datetime(2026, 3, 5, 22, tzinfo=UTC)
    articles: list[Article] = []
    for n in range(count):
        outlet = rng.choice(_OUTLETS)
        when = start + timedelta(minutes=20 * n + rng.randint(0, 15))
        slug = f"storm-ilse-skarvik-{n:03d}"
        url = f"https://{outlet.lower().replace(' ', '')}.example/news/{slug}"
        if articles and rng.random() < 0.25:
            original = rng.choice(articles[: max(1, len(articles) // 2)])
            paragraphs = original.text.split("\n\n")
            if rng.random() < 0.5 and len(paragraphs) > 3:
                paragraphs = paragraphs[:-1]  # a lightly edited copy: last paragraph dropped
            articles.append(
                Article(url, original.title, "\n\n".join(paragraphs), outlet, published_at=when)
            )
            continue
        facts = rng.sample(_FACTS, rng.randint(4, len(_FACTS)))
        paragraphs = []
        for fact in facts:
            sentences = [rng.choice(fact)]
            sentences += rng.sample(_FILLER, rng.randint(1, 2))
            paragraphs.append(" ".join(sentences))
        title = rng.choice(facts[0]).rstrip(".")
        articles.append(Article(url, title, "\n\n".join(paragraphs), outlet, published_at=when))
    return articles


async def _ingest_synthetic(articles: list[Article], database_url: str) -> list[StoryArticles]:
    settings = load_settings(BRIEFBOT_DISCOVERY=[])
    async with build_service(settings, database_url=database_url, force_llm=False) as service:
        await service.ingest_articles(articles)
        return await service.stories(since=ALL_TIME)


async def _time_questions(
    engine: QAEngine, story: StoryArticles, questions: Sequence[str]
) -> list[float]:
    times = []
    for question in questions:
        started = time.perf_counter()
        await engine.answer(question, [story])
        times.append(time.perf_counter() - started)
    return times


def latency(engine: QAEngine, articles: int = 200, questions: int = 220) -> dict[str, Any]:
    """Answer times (ms) over one synthetic story of ``articles`` articles."""
    corpus = synthetic_story(articles)
    with tempfile.TemporaryDirectory() as tmp:
        stories = asyncio.run(_ingest_synthetic(corpus, f"sqlite:///{tmp}/latency.sqlite3"))
    story = max(stories, key=lambda s: len(s[1]))
    asked = [LATENCY_QUESTIONS[i % len(LATENCY_QUESTIONS)][0] for i in range(questions)]
    times = sorted(t * 1000 for t in asyncio.run(_time_questions(engine, story, asked)))
    return {
        "articles": len(corpus),
        "story_articles": len(story[1]),
        "outlets": len({a.outlet for a in story[1]}),
        "questions": len(times),
        "p50_ms": statistics.median(times),
        "p99_ms": times[min(len(times) - 1, round(0.99 * (len(times) - 1)))],
        "max_ms": times[-1],
    }


# ---------------------------------------------------------------------- output
def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def print_table(name: str, summary: dict[str, Any], timing: dict[str, Any] | None) -> None:
    print(f"engine: {name}; {summary['items']} items")
    print("| kind | items | correct |\n| --- | ---: | ---: |")
    for kind, counts in summary["accuracy_by_kind"].items():
        print(f"| {kind} | {counts['items']} | {counts['correct']} |")
    print()
    print("| metric | value | target |\n| --- | ---: | ---: |")
    print(f"| answer accuracy | {_fmt(summary['answer_accuracy'])} | |")
    print(f"| citation precision | {_fmt(summary['citation_precision'])} | ≥ 0.95 |")
    print(f"| citation recall | {_fmt(summary['citation_recall'])} | |")
    print(f"| refusal precision | {_fmt(summary['refusal_precision'])} | |")
    print(f"| refusal recall | {_fmt(summary['refusal_recall'])} | 1.0 |")
    if timing:
        print(
            f"| latency p50 / p99 (ms, {timing['story_articles']} articles, "
            f"{timing['questions']} questions) | {timing['p50_ms']:.1f} / {timing['p99_ms']:.1f}"
            " | p99 ≤ 200 |"
        )
    for key in ("answered_but_must_refuse", "expected_answered_but_refused", "wrong_answers"):
        print(f"{key}: {', '.join(summary[key]) or '-'}")


def check(summary: dict[str, Any]) -> list[str]:
    failures = []
    recall, precision = summary["refusal_recall"], summary["citation_precision"]
    if recall is None or recall < TARGET_REFUSAL_RECALL:
        failures.append(f"refusal recall {_fmt(recall)} < {TARGET_REFUSAL_RECALL}")
    if precision is None or precision < TARGET_CITATION_PRECISION:
        failures.append(f"citation precision {_fmt(precision)} < {TARGET_CITATION_PRECISION}")
    return failures


async def _run_then_close(
    built: Engine, items: Sequence[Item], stories: Sequence[StoryArticles]
) -> list[Outcome]:
    try:
        return await run_items(built.engine, items, stories)
    finally:
        await built.aclose()


def sample(items: Sequence[Item], count: int) -> list[Item]:
    """``count`` items, one of each kind in turn (each kind in file order), in file order."""
    by_kind: dict[str, list[Item]] = defaultdict(list)
    for item in items:
        by_kind[item.kind].append(item)
    queues = [by_kind[kind] for kind in KINDS if by_kind.get(kind)]
    chosen: set[str] = set()
    while len(chosen) < min(count, len(items)):
        for queue in queues:
            if queue and len(chosen) < count:
                chosen.add(queue.pop(0).id)
    return [item for item in items if item.id in chosen]


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engine", choices=("auto", "followup", "qa"), default="auto")
    parser.add_argument("--llm", action="store_true", help="the model engine (bot.qa.engine)")
    parser.add_argument("--format", choices=("text", "json"), default="text")
    parser.add_argument("--check", action="store_true", help="exit 1 below the targets")
    parser.add_argument("--latency-articles", type=int, default=200)
    parser.add_argument("--latency-questions", type=int, default=220)
    parser.add_argument("--skip-latency", action="store_true")
    parser.add_argument("--verbose", action="store_true", help="every item's outcome")
    parser.add_argument(
        "--sample",
        type=int,
        default=0,
        help="only N items, taken from each kind in turn (file order): for a slow model",
    )
    parser.add_argument(
        "--items",
        default="dev",
        help="dev (tests/fixtures/qa_eval.json), held-out (tests/fixtures/qa_heldout.json), "
        "or a path to a set in the same format",
    )
    args = parser.parse_args(argv)
    path = {"dev": FIXTURE, "held-out": HELD_OUT}.get(args.items, Path(args.items))
    chosen = load_items(path)
    if args.sample:
        chosen = sample(chosen, args.sample)
    with tempfile.TemporaryDirectory() as tmp:
        stories = fixture_stories(Path(tmp))
    built = build_engine(args.engine, args.llm, now=FIXTURE_NOW)
    # one event loop for every model call and the client's close (its connections belong
    # to the loop that opened them)
    outcomes = asyncio.run(_run_then_close(built, chosen, stories))
    timing = None
    if not args.skip_latency and not args.llm:
        timing = latency(built.engine, args.latency_articles, args.latency_questions)
    summary = summarize(outcomes)
    if args.format == "json":
        report = {"engine": built.name, **summary, "latency": timing}
        if args.verbose:
            report["outcomes"] = [asdict(o) for o in outcomes]
        print(json.dumps(report, indent=2))
    else:
        print_table(built.name, summary, timing)
        if args.verbose:
            for o in outcomes:
                mark = "ok " if o.correct else "BAD"
                print(f"\n{mark} {o.id} [{o.kind}] expected {o.expected}, refused={o.refused}")
                if o.missing_facts or o.missing_cites:
                    print(f"    missing facts {o.missing_facts} cites {o.missing_cites}")
                print("    " + o.text.replace("\n", "\n    "))
    failures = check(summary) if args.check else []
    for failure in failures:
        print(f"check failed: {failure}", file=sys.stderr)
    if failures:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
