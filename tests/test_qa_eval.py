"""The Q&A evaluation set (``tests/fixtures/qa_eval.json``, scored by ``bench/qa_eval.py``)
is well formed, and extractive answers never answer what the sources do not say.

Shape: at least 60 items with unique ids, at least 25 to be answered and 20 to be refused,
every kind of question represented; every item names exactly one ingested story; every fact
of an answerable item is in that story's articles and every ``must_cite`` entry names one of
its sources (so an expectation can be met at all).

The two held-out sets (``tests/fixtures/qa_heldout.json``, ``qa_heldout2.json``), written
later by someone who had not read the answerer, must be as meetable, and the engine must
refuse everything they say to refuse too. On the development set, citation precision must
reach its target (0.95).

Refusal recall (refused = the positive class) must be 1.0, run two ways:

- ``bot.qa.engine``'s extractive engine (``build_qa_engine("extractive")``; skipped while
  that module is not on this branch);
- ``FollowupAdapter`` (``bench/qa_eval.py``), today's thread answerer
  ``bot.chat.followup.answer_in_thread``. It answers five items it must refuse (listed in
  ``FOLLOWUP_KNOWN_ANSWERED``), so that test is a strict xfail: it fails loudly once the
  answerer refuses them all, and the mark goes then.
"""

from __future__ import annotations

import asyncio
import importlib.util
from collections import Counter
from pathlib import Path

import pytest

from bench.qa_eval import (
    FIXTURE_NOW,
    HELD_OUT,
    KINDS,
    REFUSAL_KINDS,
    REPO_ROOT,
    TARGET_CITATION_PRECISION,
    FollowupAdapter,
    Item,
    StoryArticles,
    build_engine,
    find_story,
    fixture_stories,
    has_fact,
    load_items,
    names_article,
    options,
    run_items,
    summarize,
)
from bot.qa import QAEngine

# Items today's answerer answers although their sources do not say (measured 2026-12-01).
FOLLOWUP_KNOWN_ANSWERED = {
    "port-aske-resign",
    "rail-emergency-timetable",
    "ammonia-fine",
    "ammonia-fish-count",
    "ship-second-attempt",
}


@pytest.fixture(scope="module")
def stories(tmp_path_factory: pytest.TempPathFactory) -> list[StoryArticles]:
    return fixture_stories(Path(tmp_path_factory.mktemp("qa_eval")))


HELD_OUT_SETS = (HELD_OUT, REPO_ROOT / "tests" / "fixtures" / "qa_heldout2.json")


@pytest.fixture(scope="module")
def items() -> list[Item]:
    return load_items()


@pytest.fixture(scope="module", params=HELD_OUT_SETS, ids=lambda p: p.stem)
def held_out(request: pytest.FixtureRequest) -> list[Item]:
    return load_items(request.param)


def test_the_set_has_sixty_items_of_every_kind(items: list[Item]) -> None:
    assert len(items) >= 60
    assert len({item.id for item in items}) == len(items)
    outcomes = Counter(item.outcome for item in items)
    assert outcomes["answered"] >= 25
    assert outcomes["refused"] >= 20
    assert set(Counter(item.kind for item in items)) == set(KINDS)
    for item in items:
        if item.kind in REFUSAL_KINDS:
            assert item.outcome == "refused", item.id
            assert not item.facts, item.id
            assert not item.must_cite, item.id
        else:
            assert item.outcome == "answered", item.id
            assert item.must_cite, item.id
        if item.kind == "follow_up":
            assert item.history, item.id
        if item.kind == "time_filtered":
            assert item.since is not None, item.id


def test_every_expectation_can_be_met_from_its_story(
    items: list[Item], stories: list[StoryArticles]
) -> None:
    _meetable(items, stories)


def test_every_held_out_expectation_can_be_met_and_no_id_repeats(
    held_out: list[Item], items: list[Item], stories: list[StoryArticles]
) -> None:
    assert len(held_out) >= 40
    assert not {i.id for i in held_out} & {i.id for i in items}
    assert not {i.question for i in held_out} & {i.question for i in items}
    for item in held_out:
        assert (item.outcome == "refused") == (item.kind in REFUSAL_KINDS), item.id
    _meetable(held_out, stories)


def _meetable(items: list[Item], stories: list[StoryArticles]) -> None:
    for item in items:
        story, articles = find_story(stories, item.story)
        assert story.id, item.id
        for fact in item.facts:
            assert any(has_fact(a.text, fact) for a in articles), (item.id, fact)
        for entry in item.must_cite:
            for option in options(entry):
                assert any(names_article(a, option) for a in articles), (item.id, option)
        if item.since is not None:
            assert any(a.when > item.since for a in articles), item.id


def _refusal_failures(
    engine: QAEngine, items: list[Item], stories: list[StoryArticles]
) -> set[str]:
    outcomes = asyncio.run(run_items(engine, items, stories))
    summary = summarize(outcomes)
    return set(summary["answered_but_must_refuse"])


@pytest.mark.skipif(
    importlib.util.find_spec("bot.qa.engine") is None, reason="bot.qa.engine is not here yet"
)
def test_extractive_qa_engine_refuses_everything_the_sources_do_not_say(
    items: list[Item], stories: list[StoryArticles]
) -> None:
    """Engine: ``bot.qa.engine``'s extractive engine (no model)."""
    engine = build_engine("qa", llm=False, now=FIXTURE_NOW).engine
    assert _refusal_failures(engine, items, stories) == set()


def test_extractive_qa_engine_refuses_everything_the_held_out_sets_say_to_refuse(
    held_out: list[Item], stories: list[StoryArticles]
) -> None:
    engine = build_engine("qa", llm=False, now=FIXTURE_NOW).engine
    assert _refusal_failures(engine, held_out, stories) == set()


def test_extractive_qa_citations_reach_the_precision_target(
    items: list[Item], stories: list[StoryArticles]
) -> None:
    engine = build_engine("qa", llm=False, now=FIXTURE_NOW).engine
    summary = summarize(asyncio.run(run_items(engine, items, stories)))
    assert summary["citation_precision"] >= TARGET_CITATION_PRECISION
    assert summary["refusal_recall"] == 1.0


@pytest.mark.xfail(
    strict=True,
    reason="today's answer_in_thread answers " + ", ".join(sorted(FOLLOWUP_KNOWN_ANSWERED)),
)
def test_followup_answerer_refuses_everything_the_sources_do_not_say(
    items: list[Item], stories: list[StoryArticles]
) -> None:
    """Engine: ``FollowupAdapter`` over ``bot.chat.followup.answer_in_thread``."""
    assert _refusal_failures(FollowupAdapter(), items, stories) == set()


def test_followup_answerer_answers_no_more_than_the_known_items(
    items: list[Item], stories: list[StoryArticles]
) -> None:
    """Engine: ``FollowupAdapter``. Until the xfail above passes, no new item may join."""
    assert _refusal_failures(FollowupAdapter(), items, stories) <= FOLLOWUP_KNOWN_ANSWERED
