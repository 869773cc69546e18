"""``BriefingService.answer``, the one Q&A call of every interface: a real service on a
temporary SQLite store with the bundled demo news, briefings recorded as posted, and the
real extractive engine of ``bot.qa.engine`` (behind a recorder that keeps what the service
handed it)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from bot.app import build_service
from bot.config import load_settings
from bot.demo import demo_sources
from bot.domain import Article, Channel, Platform, Story
from bot.pipeline import shift_articles
from bot.qa import MAX_QUESTION_CHARS, Answer, Refusal, Turn
from bot.qa.engine import ExtractiveQA
from bot.service import LATEST_PHRASINGS, BriefingService, is_latest_question
from tests.fakes.chat import NOW

NEWSROOM = Channel(Platform.SLACK, "C0NEWS", "newsroom", "T0TEAM")
OTHER = Channel(Platform.SLACK, "C0OTHER", "other", "T0TEAM")
THREAD = "1741600000.000100"


@dataclass
class Asked:
    question: str
    story_ids: list[str]
    article_urls: list[str]
    history: list[Turn]
    since: datetime | None


@dataclass
class RecordingQA:
    """The real engine, keeping what each call was given."""

    inner: ExtractiveQA = field(default_factory=ExtractiveQA)
    calls: list[Asked] = field(default_factory=list)

    async def answer(
        self,
        question: str,
        stories: Sequence[tuple[Story, list[Article]]],
        *,
        history: Sequence[Turn] = (),
        since: datetime | None = None,
    ) -> Answer:
        self.calls.append(
            Asked(
                question,
                [story.id for story, _ in stories],
                [article.url for _, articles in stories for article in articles],
                list(history),
                since,
            )
        )
        return await self.inner.answer(question, stories, history=history, since=since)


def _service(tmp_path: Path, qa: RecordingQA) -> BriefingService:
    return build_service(
        load_settings(),
        database_url=f"sqlite:///{tmp_path / 'qa.sqlite3'}",
        clock=lambda: NOW,
        force_llm=False,
        qa=qa,
    )


@pytest.fixture
def qa() -> RecordingQA:
    return RecordingQA()


@pytest.fixture
async def service(
    tmp_path: Path, topics_file: Path, monkeypatch: pytest.MonkeyPatch, qa: RecordingQA
) -> AsyncIterator[BriefingService]:
    monkeypatch.setenv("BRIEFBOT_SINCE", "7d")
    monkeypatch.setenv("BRIEFBOT_DISCOVERY", "none")
    monkeypatch.setenv("BRIEFBOT_FETCH_FULL_TEXT", "false")
    async with _service(tmp_path, qa) as built:
        gathered = await built.gather(demo_sources())
        await built.ingest_articles(shift_articles(gathered.articles, NOW - timedelta(hours=1)))
        yield built


async def _post_briefing(service: BriefingService, topic: str, message_id: str) -> list[str]:
    briefing = await service.brief(topic, NEWSROOM)
    await service.record_post(briefing, NEWSROOM, message_id)
    return [story.story_id for story in briefing.stories]


# ---------------------------------------------------------------------- a thread
async def test_a_thread_question_is_answered_from_the_threads_story_and_remembered(
    service: BriefingService, qa: RecordingQA
) -> None:
    story_ids = await _post_briefing(service, "port-strike", THREAD)

    answer = await service.answer(
        NEWSROOM, "How many dockworkers walked off the job?", thread_id=THREAD
    )

    assert not answer.refused
    assert answer.story_id in story_ids
    assert any("1,400 dockworkers" in claim.text for claim in answer.claims)
    cited = {i for claim in answer.claims for i in claim.sources}
    assert cited <= {source.id for source in answer.sources}
    assert qa.calls[-1].story_ids == story_ids
    [turn] = await service.turns(NEWSROOM, THREAD)
    assert turn.question == "How many dockworkers walked off the job?"
    assert turn.answer == answer.text
    assert turn.story_id == answer.story_id


async def test_each_question_gets_the_threads_earlier_turns_oldest_first(
    service: BriefingService, qa: RecordingQA
) -> None:
    await _post_briefing(service, "port-strike", THREAD)
    await service.answer(NEWSROOM, "Who is Maren Holt?", thread_id=THREAD)
    await service.answer(NEWSROOM, "What is the capital of Peru?", thread_id=THREAD)

    await service.answer(NEWSROOM, "and the port authority?", thread_id=THREAD)

    assert [turn.question for turn in qa.calls[-1].history] == [
        "Who is Maren Holt?",
        "What is the capital of Peru?",
    ]
    assert [turn.question for turn in qa.calls[0].history] == []
    # another channel's thread of the same id has a memory of its own
    assert await service.turns(OTHER, THREAD) == []


async def test_a_threads_memory_survives_a_restart(
    tmp_path: Path, topics_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BRIEFBOT_SINCE", "7d")
    monkeypatch.setenv("BRIEFBOT_DISCOVERY", "none")
    first = RecordingQA()
    async with _service(tmp_path, first) as service:
        gathered = await service.gather(demo_sources())
        await service.ingest_articles(shift_articles(gathered.articles, NOW - timedelta(hours=1)))
        await _post_briefing(service, "port-strike", THREAD)
        await service.answer(NEWSROOM, "Who is Maren Holt?", thread_id=THREAD)

    again = RecordingQA()
    async with _service(tmp_path, again) as service:
        await service.answer(NEWSROOM, "and Lennart Aske?", thread_id=THREAD)

    [earlier] = again.calls[0].history
    assert earlier.question == "Who is Maren Holt?"
    assert "Holt" in earlier.answer


async def test_a_thread_with_no_briefing_is_refused_without_the_engine(
    service: BriefingService, qa: RecordingQA
) -> None:
    answer = await service.answer(NEWSROOM, "How many walked out?", thread_id="nothing.here")

    assert answer.refused
    assert answer.reason is Refusal.NO_STORY
    assert "brief <topic>" in answer.text
    assert qa.calls == []


# ---------------------------------------------------------------------- a topic
async def test_a_topic_question_answers_from_the_channels_latest_briefing_of_it(
    service: BriefingService, qa: RecordingQA
) -> None:
    port = await _post_briefing(service, "port-strike", "m1")
    await _post_briefing(service, "ammonia-leak", "m2")  # newer, another topic

    answer = await service.answer(
        NEWSROOM, "How many dockworkers walked off the job?", topic="Port-Strike"
    )

    assert not answer.refused
    assert qa.calls[-1].story_ids == port
    assert qa.calls[-1].history == []
    assert await service.turns(NEWSROOM, "m1") == []  # stored once the answer is posted


async def test_a_topic_the_channel_was_never_briefed_on_uses_its_most_relevant_story(
    service: BriefingService, qa: RecordingQA
) -> None:
    [(best, _), *_] = await service.stories("ammonia-leak")

    answer = await service.answer(
        OTHER, "How many people were told not to drink tap water?", topic="ammonia-leak"
    )

    assert qa.calls[-1].story_ids == [best.id]
    assert answer.story_id == best.id
    assert any("60,000" in claim.text for claim in answer.claims)


async def test_a_topic_with_no_story_is_refused_naming_brief(
    service: BriefingService, qa: RecordingQA
) -> None:
    answer = await service.answer(NEWSROOM, "What happened?", topic="volcanoes")

    assert answer.refused
    assert answer.reason is Refusal.NO_STORY
    assert "brief volcanoes" in answer.text
    assert qa.calls == []


async def test_a_posted_answer_starts_a_thread_whose_follow_ups_continue_from_its_story(
    service: BriefingService, qa: RecordingQA
) -> None:
    answer = await service.answer(NEWSROOM, "Who is Maren Holt?", topic="port-strike")
    await service.record_answer(answer, NEWSROOM, "a1")

    await service.answer(NEWSROOM, "and how many dockworkers walked out?", thread_id="a1")

    assert qa.calls[-1].story_ids == [answer.story_id]
    assert [turn.question for turn in qa.calls[-1].history] == ["Who is Maren Holt?"]


# ---------------------------------------------------------------------- refusals
@pytest.mark.parametrize("question", ["", "   \n  "])
async def test_an_empty_question_is_refused_without_the_engine(
    service: BriefingService, qa: RecordingQA, question: str
) -> None:
    await _post_briefing(service, "port-strike", THREAD)

    answer = await service.answer(NEWSROOM, question, thread_id=THREAD)

    assert answer.refused
    assert answer.reason is Refusal.EMPTY
    assert qa.calls == []
    assert await service.turns(NEWSROOM, THREAD) == []


async def test_a_question_over_the_limit_is_refused_politely_without_the_engine(
    service: BriefingService, qa: RecordingQA
) -> None:
    await _post_briefing(service, "port-strike", THREAD)
    question = "dockworkers " * (MAX_QUESTION_CHARS // 10)

    answer = await service.answer(NEWSROOM, question, thread_id=THREAD)
    by_topic = await service.answer(NEWSROOM, question, topic="port-strike")

    assert answer.refused
    assert by_topic.refused
    assert answer.reason is Refusal.TOO_LONG
    assert f"at most {MAX_QUESTION_CHARS} characters" in answer.text
    assert qa.calls == []
    at_limit = "x" * MAX_QUESTION_CHARS
    assert (await service.answer(NEWSROOM, at_limit, thread_id=THREAD)).reason is not (
        Refusal.TOO_LONG
    )


# ---------------------------------------------------------------------- "what's the latest?"
@pytest.mark.parametrize(
    "question",
    [
        "What's the latest?",
        "what’s the latest on the strike",
        "Anything new?",
        "any updates",
        "Is there anything new since yesterday?",
        "What changed?",
    ],
)
def test_latest_questions_are_recognised(question: str) -> None:
    assert is_latest_question(question)


@pytest.mark.parametrize(
    "question", ["Who is the latest union leader to speak?", "How many walked out?", "newest"]
)
def test_other_questions_are_not_latest_questions(question: str) -> None:
    assert not is_latest_question(question)


def test_every_documented_latest_phrasing_is_recognised() -> None:
    assert all(is_latest_question(phrase + "?") for phrase in LATEST_PHRASINGS)


async def test_whats_the_latest_gathers_the_topic_first_and_marks_since_the_last_briefing(
    service: BriefingService, qa: RecordingQA, topics_file: Path, tmp_path: Path
) -> None:
    await _post_briefing(service, "port-strike", THREAD)
    [post] = await service.posts_in_thread(NEWSROOM, THREAD)
    await service.save_topic("port-strike", sources=[str(_later_article(tmp_path))])

    await service.answer(NEWSROOM, "What's the latest?", thread_id=THREAD)

    asked = qa.calls[-1]
    assert asked.since == post.posted_at
    assert LATER_URL in asked.article_urls


async def test_whats_the_latest_in_an_ask_answers_thread_gathers_the_topic_it_answered(
    service: BriefingService, qa: RecordingQA, tmp_path: Path
) -> None:
    answer = await service.answer(NEWSROOM, "Who is Maren Holt?", topic="port-strike")
    assert answer.topic == "port-strike"
    posted = await service.record_answer(answer, NEWSROOM, "a1")
    assert posted.topic == "port-strike"
    assert posted.briefing_ids == []  # no briefing says which topic: the post does
    await service.save_topic("port-strike", sources=[str(_later_article(tmp_path))])

    await service.answer(NEWSROOM, "What's the latest?", thread_id="a1")

    asked = qa.calls[-1]
    assert asked.since == posted.posted_at
    assert LATER_URL in asked.article_urls  # gathered first, though no briefing was posted


LATER_URL = "https://harbourdaily.example/halvern-strike-talks"


def _later_article(tmp_path: Path) -> Path:
    """A feed file with one article on the port strike that arrives later."""
    later = tmp_path / "harbour-daily.jsonl"
    later.write_text(
        json.dumps(
            {
                "url": LATER_URL,
                "title": "Halvern dockworkers strike: talks to resume at Eastquay",
                "text": (
                    "HALVERN — The Halvern Dockworkers' Union and the port authority will "
                    "resume talks on Tuesday, the union said, as about 1,400 dockworkers "
                    "stayed off the job at the Eastquay and Westquay terminals over plans "
                    "for automated cranes. Maren Holt said the strike would go on."
                ),
                "outlet": "Harbour Daily",
                "published_at": (NOW - timedelta(minutes=5)).isoformat(),
                "language": "en",
            }
        )
        + "\n",
        encoding="utf-8",
    )
    return later


async def test_a_plain_question_neither_gathers_nor_marks_new_sources(
    service: BriefingService, qa: RecordingQA
) -> None:
    await _post_briefing(service, "port-strike", THREAD)

    await service.answer(NEWSROOM, "Who is Maren Holt?", thread_id=THREAD)

    assert qa.calls[-1].since is None
