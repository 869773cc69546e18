"""Follow-up questions in a briefing's thread, end to end: a real BriefingService on a
temporary SQLite store, the bundled demo news, briefings posted to threads with
``record_post``, and questions through ``ChatCore.handle``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest

from bot.chat.commands import ASK_IN_THREAD, HELP, ChatCore, ChatReply, ChatRequest, ReplyKind
from bot.chat.followup import answer_in_thread, defuse_mentions
from bot.demo import demo_sources
from bot.domain import Article, Briefing, Channel, Platform, SourceRef
from bot.pipeline import shift_articles
from bot.qa import Answer
from bot.service import BriefingService
from tests.fakes.chat import NOW, chat_service

NEWSROOM = Channel(Platform.SLACK, "C0NEWS", "newsroom", "T0TEAM")
PORT_THREAD = "1741600000.000100"
LEAK_THREAD = "1741600000.000200"
NO_ANSWER = "This story's sources don't say"


@pytest.fixture
async def service(
    tmp_path: Path, topics_file: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[BriefingService]:
    monkeypatch.setenv("BRIEFBOT_SINCE", "7d")
    async with chat_service(tmp_path, monkeypatch, "followup") as built:
        gathered = await built.gather(demo_sources())
        assert gathered.articles
        assert not gathered.errors
        await built.ingest_articles(shift_articles(gathered.articles, NOW - timedelta(hours=1)))
        yield built


@pytest.fixture
def core(service: BriefingService) -> ChatCore:
    return ChatCore(service, default_timezone="Europe/London")


async def post_briefing(service: BriefingService, topic: str, thread: str) -> Briefing:
    """Brief a tracked topic and record it as the message starting ``thread``."""
    topics = await service.topics()
    briefing = await service.brief(topics[topic], NEWSROOM)
    assert briefing.stories
    await service.record_post(briefing, NEWSROOM, thread)
    return briefing


@dataclass(frozen=True)
class Quoted:
    text: str
    sources: list[SourceRef]


def quotes(answer: Answer) -> list[Quoted]:
    """The answer's claims with their cited sources (as the thread's quotes were)."""
    by_id = {ref.id: ref for ref in answer.sources}
    return [Quoted(claim.text, [by_id[i] for i in claim.sources]) for claim in answer.claims]


async def ask(core: ChatCore, text: str, thread: str | None) -> ChatReply:
    return await core.handle(ChatRequest(NEWSROOM, "U0ASKER", False, text, thread_id=thread))


# ---------------------------------------------------------------------- answers
async def test_a_question_the_story_answers_quotes_the_sentence_and_its_outlet(
    core: ChatCore, service: BriefingService
) -> None:
    briefing = await post_briefing(service, "port-strike", PORT_THREAD)
    reply = await ask(core, "How many dockworkers walked off the job?", PORT_THREAD)
    assert reply.kind is ReplyKind.ANSWER
    assert not reply.private
    assert reply.answer is not None
    assert not reply.answer.refused
    assert 1 <= len(quotes(reply.answer)) <= 3
    first = quotes(reply.answer)[0]
    assert "1,400 dockworkers" in first.text
    lead = first.sources[0]
    assert lead.outlet == "Meridian Wire"
    assert f"Meridian Wire [{lead.id}]" in reply.text
    assert lead.url in reply.text
    assert "1,400 dockworkers" in reply.text
    # numbered like the briefing's sources
    listed = {ref.id: ref.url for story in briefing.stories for ref in story.sources}
    assert listed[lead.id] == lead.url


async def test_a_question_the_sources_do_not_answer_gets_an_honest_no(
    core: ChatCore, service: BriefingService
) -> None:
    await post_briefing(service, "port-strike", PORT_THREAD)
    reply = await ask(core, "What is the capital of Peru?", PORT_THREAD)
    assert reply.kind is ReplyKind.ANSWER
    assert reply.answer is not None
    assert reply.answer.refused
    assert reply.text.startswith(NO_ANSWER)
    assert "What is the capital of Peru?" in reply.text
    assert "brief <topic>" in reply.text
    assert "http" not in reply.text


async def test_a_question_of_stop_words_only_matches_nothing(
    core: ChatCore, service: BriefingService
) -> None:
    await post_briefing(service, "port-strike", PORT_THREAD)
    for question in ("What did they say about it?", "Is there anything new?", "why?"):
        reply = await ask(core, question, PORT_THREAD)
        assert reply.kind is ReplyKind.ANSWER
        assert reply.text.startswith(NO_ANSWER), question


async def test_a_name_the_sources_never_mention_is_not_answered_by_the_nearest_sentence(
    core: ChatCore, service: BriefingService
) -> None:
    await post_briefing(service, "port-strike", PORT_THREAD)
    reply = await ask(core, "What did Putin say about the Halvern strike?", PORT_THREAD)
    assert reply.text.startswith(NO_ANSWER)
    # ... while the same question about someone the sources quote is answered
    reply = await ask(core, "What did Maren Holt say about the Halvern strike?", PORT_THREAD)
    assert reply.answer is not None
    assert not reply.answer.refused
    assert "Holt" in quotes(reply.answer)[0].text


async def test_a_wire_sentence_and_its_copies_are_quoted_once_citing_every_copy(
    core: ChatCore, service: BriefingService
) -> None:
    await post_briefing(service, "port-strike", PORT_THREAD)
    reply = await ask(
        core, "How many vessels were waiting at anchor outside the harbour?", PORT_THREAD
    )
    assert reply.answer is not None
    quoted = [q for q in quotes(reply.answer) if "23 vessels were waiting" in q.text]
    assert len(quoted) == 1
    outlets = [ref.outlet for ref in quoted[0].sources]
    assert outlets[0] == "Meridian Wire"
    assert "The Coastal Ledger" in outlets  # the identical wire copy
    assert reply.text.count("23 vessels were waiting") == 1
    assert len({ref.id for ref in quoted[0].sources}) == len(quoted[0].sources)


async def test_each_thread_answers_from_its_own_briefing_only(
    core: ChatCore, service: BriefingService
) -> None:
    await post_briefing(service, "port-strike", PORT_THREAD)
    await post_briefing(service, "ammonia-leak", LEAK_THREAD)
    water = "How many people were told not to drink tap water?"
    dockers = "How many dockworkers walked off the job?"

    in_leak = await ask(core, water, LEAK_THREAD)
    assert in_leak.answer is not None
    assert not in_leak.answer.refused
    assert "60,000" in quotes(in_leak.answer)[0].text
    assert (await ask(core, water, PORT_THREAD)).text.startswith(NO_ANSWER)

    in_port = await ask(core, dockers, PORT_THREAD)
    assert in_port.answer is not None
    assert not in_port.answer.refused
    assert (await ask(core, dockers, LEAK_THREAD)).text.startswith(NO_ANSWER)
    assert "Tarrowby" not in in_port.text
    assert "Halvern" not in in_leak.text


async def test_mass_mentions_in_a_source_are_neutralised(
    core: ChatCore, service: BriefingService
) -> None:
    hostile = Article(
        url="https://harbourgossip.example/halvern-vigil",
        title="Halvern dockworkers plan candlelit vigil at Westquay",
        text=(
            "HALVERN — Striking dockworkers at the Port of Halvern will hold a candlelit "
            "vigil at the Westquay gates on Friday evening, @everyone the union said.\n\n"
            "<!channel> The Halvern Dockworkers' Union said about 1,400 members remain on "
            "strike over the automated cranes planned for Eastquay. @here Organisers expect "
            "families of dockworkers to join the candlelit vigil."
        ),
        outlet="Harbour Gossip",
        published_at=NOW - timedelta(minutes=30),
    )
    await service.ingest_articles([hostile])
    await post_briefing(service, "port-strike", PORT_THREAD)
    reply = await ask(core, "When is the candlelit vigil at Westquay?", PORT_THREAD)
    assert reply.answer is not None
    assert not reply.answer.refused
    assert "candlelit vigil" in reply.text
    assert "＠everyone" in reply.text
    for mention in ("@everyone", "@here", "<!channel>"):
        assert mention not in reply.text
        assert all(mention not in quote.text for quote in quotes(reply.answer))


def test_defuse_mentions_leaves_ordinary_at_signs_alone() -> None:
    assert defuse_mentions("@Everyone, <!here|here> and @channel") == (
        "＠Everyone, ＠here and ＠channel"
    )
    assert defuse_mentions("mail press@port.example or @holt") == (
        "mail press@port.example or @holt"
    )


def test_no_stories_means_no_answer() -> None:
    answer = answer_in_thread("How many dockworkers walked out?", [])
    assert not answer.found
    assert answer.text.startswith(NO_ANSWER)


# ---------------------------------------------------------------------- routing
async def test_a_question_in_a_thread_without_a_briefing_points_to_brief(
    core: ChatCore, service: BriefingService
) -> None:
    await post_briefing(service, "port-strike", PORT_THREAD)
    reply = await ask(core, "How many dockworkers walked off the job?", "1741600000.999999")
    assert reply.kind is ReplyKind.ERROR
    assert reply.private
    assert reply.text == ASK_IN_THREAD
    assert "brief <topic>" in reply.text


async def test_a_question_outside_any_thread_points_to_a_briefings_thread(
    core: ChatCore, service: BriefingService
) -> None:
    await post_briefing(service, "port-strike", PORT_THREAD)
    reply = await ask(core, "How many dockworkers walked off the job?", None)
    assert reply.kind is ReplyKind.ERROR
    assert reply.private
    assert reply.text == ASK_IN_THREAD
    # a word that is no command and no question is still an unknown command
    assert "I don't know the command 'xyzzy'" in (await ask(core, "xyzzy", None)).text


async def test_commands_in_a_briefings_thread_are_still_commands(
    core: ChatCore, service: BriefingService
) -> None:
    await post_briefing(service, "port-strike", PORT_THREAD)
    assert (await ask(core, "help", PORT_THREAD)).text == HELP
    listed = await ask(core, "list", PORT_THREAD)
    assert listed.kind is ReplyKind.TEXT
    assert "no subscriptions" in listed.text


async def test_an_over_long_question_is_refused(service: BriefingService) -> None:
    await post_briefing(service, "port-strike", PORT_THREAD)
    core = ChatCore(service, max_text=50)
    reply = await ask(core, "How many dockworkers " + "really " * 10 + "walked out?", PORT_THREAD)
    assert reply.kind is ReplyKind.ERROR
    assert "characters long; I read at most 50" in reply.text


async def test_a_thread_with_two_briefings_answers_from_both_naming_the_story(
    core: ChatCore, service: BriefingService
) -> None:
    await post_briefing(service, "port-strike", PORT_THREAD)
    topics = await service.topics()
    leak = await service.brief(topics["ammonia-leak"], NEWSROOM)
    await service.record_post(leak, NEWSROOM, "1741600000.000300", thread_id=PORT_THREAD)
    reply = await ask(core, "How many people were told not to drink tap water?", PORT_THREAD)
    assert reply.answer is not None
    assert not reply.answer.refused
    first = quotes(reply.answer)[0]
    assert "60,000" in first.text
    assert reply.answer.story_id == leak.stories[0].story_id
    assert f"({leak.stories[0].title})" in reply.text
