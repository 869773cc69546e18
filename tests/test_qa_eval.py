"""The Q&A evaluation set (``tests/fixtures/qa_eval.json``, scored by ``bench/qa_eval.py``)
is well formed, and extractive answers never answer what the sources do not say.

Shape: at least 60 items with unique ids, at least 25 to be answered and 20 to be refused,
every kind of question represented; every item names exactly one ingested story; every fact
of an answerable item is in that story's articles and every ``must_cite`` entry names one of
its sources (so an expectation can be met at all).

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
    KINDS,
    REFUSAL_KINDS,
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


@pytest.fixture(scope="module")
def items() -> list[Item]:
    return load_items()


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
