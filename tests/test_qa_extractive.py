"""The answer without a model (``ExtractiveQA``): quotes only sentences that match the
question, with their outlets and every copy's source, and honest refusals for facts the
sources lack, outside knowledge, speculation and overlong questions. Also follow-ups
resolved against the thread's turns, and the answer's text and JSON renderings."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import jsonschema
import pytest

from bot.domain import Article, Story
from bot.qa import MAX_QUESTION_CHARS, Answer, Refusal, Turn
from bot.qa.context import resolve_question
from bot.qa.engine import ExtractiveQA, build_qa_engine
from bot.render.answer import answer_schema, answer_to_json, answer_to_text
from tests.fakes.summarize import port_strike_articles, port_strike_story, tram_articles

NOW = datetime(2025, 3, 3, 14, 0, tzinfo=UTC)
PORT = port_strike_story()


def port() -> list[tuple[Story, list[Article]]]:
    return [(PORT, port_strike_articles())]


async def ask(question: str, **kwargs: object) -> Answer:
    engine = ExtractiveQA(now=lambda: NOW)
    stories = kwargs.pop("stories", None) or port()
    answer = await engine.answer(question, stories, **kwargs)  # type: ignore[arg-type]
    jsonschema.validate(answer_to_json(answer), answer_schema())
    return answer


def cited_outlets(answer: Answer) -> list[str]:
    by_id = {ref.id: ref.outlet for ref in answer.sources}
    return [by_id[s] for claim in answer.claims for s in claim.sources]


async def test_a_question_the_sources_answer_quotes_the_sentence_with_every_copy() -> None:
    answer = await ask("How many workers joined the strike?")
    assert not answer.refused
    assert answer.reason is None
    first = answer.claims[0]
    assert "3,200" in first.text
    assert first.sources == [1, 2, 3]  # the wire and its two copies, quoted once
    assert "Meridian Wire [1]" in answer.text
    assert "https://meridianwire.example/" in answer.text
    assert answer.story_id == PORT.id


async def test_an_outlet_question_quotes_only_that_outlet() -> None:
    answer = await ask("What did Valley Post say?")
    assert not answer.refused
    assert set(cited_outlets(answer)) == {"Valley Post"}
    answer = await ask("what did Valley Post say about the talks?")
    assert [c.sources for c in answer.claims] == [[5]]
    assert "urged both sides to return to talks" in answer.claims[0].text


async def test_an_outlet_that_says_nothing_about_it_is_refused_for_that_outlet() -> None:
    answer = await ask("what did Valley Post say about the 4% pay offer?")
    assert answer.refused
    assert answer.reason is Refusal.NOT_IN_SOURCES
    assert "from that outlet" in answer.text


async def test_a_time_question_quotes_only_the_later_sources() -> None:
    answer = await ask("anything new in the last 3 hours?")
    assert not answer.refused
    assert set(cited_outlets(answer)) <= {"Valley Post", "Evening Courier"}


async def test_since_marks_the_sources_that_are_new() -> None:
    answer = await ask("what's the latest?", since=datetime(2025, 3, 3, 11, tzinfo=UTC))
    assert answer.new_sources == [5, 6]
    assert "New since the last briefing: Valley Post [5], Evening Courier [6]." in answer.text


@pytest.mark.parametrize(
    "question",
    [
        "What is the capital of Peru?",
        "Who won the football World Cup in 2022?",
        "How many people live in Ostrava?",  # Ostrava is named, its population never
        "What did the prime minister say about the strike?",
    ],
)
async def test_questions_the_sources_do_not_answer_are_refused(question: str) -> None:
    answer = await ask(question)
    assert answer.refused
    assert answer.reason is Refusal.NOT_IN_SOURCES
    assert answer.claims == []
    assert "sources don't say" in answer.text
    assert "/brief" in answer.text
    assert "search" in answer.text


@pytest.mark.parametrize(
    "question",
    ["What will happen next?", "Will the strike end soon?", "Is a deal likely by Friday?"],
)
async def test_speculation_no_source_makes_is_refused(question: str) -> None:
    answer = await ask(question)
    assert answer.refused
    assert answer.reason is Refusal.SPECULATIVE
    assert "don't guess" in answer.text


async def test_a_forecast_a_source_makes_is_quoted() -> None:
    answer = await ask("How long will the strike last?")
    assert not answer.refused
    assert any("72 hours" in claim.text for claim in answer.claims)


async def test_an_overlong_question_is_refused_politely() -> None:
    answer = await ask("why " * (MAX_QUESTION_CHARS // 4 + 1))
    assert answer.refused
    assert answer.reason is Refusal.TOO_LONG
    assert "too long" in answer.text
    assert (await ask("   ")).reason is Refusal.EMPTY


async def test_no_story_is_an_honest_refusal() -> None:
    answer = await ExtractiveQA(now=lambda: NOW).answer("what happened?", [])
    assert answer.refused
    assert answer.reason is Refusal.NO_STORY


async def test_mass_mentions_in_source_text_are_defused() -> None:
    article = Article(
        url="https://harbortimes.example/mentions",
        title="Port strike",
        text="Union leader Sam Beck told @everyone at the rally that the Halvern strike would "
        "go on. Organisers pinged <!channel> with the picket rota for the port.",
        outlet="Harbor Times",
        published_at=NOW - timedelta(hours=1),
        id=7,
    )
    answer = await ask(
        "What did Sam Beck tell the rally?", stories=[(Story("s-m", "Strike", NOW, NOW), [article])]
    )
    assert not answer.refused
    assert "@everyone" not in answer.text
    assert "＠everyone" in answer.text
    rendered = answer_to_text(answer)
    assert "@everyone" not in rendered
    assert "<!channel>" not in rendered


async def test_sources_of_several_stories_have_unique_ids() -> None:
    tram = Story("s-tram", "Tram line vote", NOW - timedelta(hours=5), NOW)
    answer = await ask(
        "How did the council vote on the tram line?",
        stories=[*port(), (tram, tram_articles())],
    )
    ids = [ref.id for ref in answer.sources]
    assert len(ids) == len(set(ids))
    assert not answer.refused
    assert answer.story_id == "s-tram"
    assert "240 million euro" in answer.claims[0].text
    assert all(s > 6 for claim in answer.claims for s in claim.sources)  # after the port's 6


# ---------------------------------------------------------------------- follow-ups


def turn(question: str) -> Turn:
    return Turn(question, "…", NOW - timedelta(minutes=5))


def test_an_elliptical_follow_up_takes_the_previous_question_with_its_new_name() -> None:
    history = [turn("What did France say about the talks?")]
    assert resolve_question("and Germany?", history) == "What did Germany say about the talks?"
    assert resolve_question("What about Italy?", history) == "What did Italy say about the talks?"
    chained = [*history, turn("and Germany?")]
    assert resolve_question("how about Spain?", chained) == "What did Spain say about the talks?"


def test_a_question_that_stands_alone_is_not_merged() -> None:
    history = [turn("What did France say about the talks?")]
    question = "How many ships were waiting outside the harbour?"
    assert resolve_question(question, history) == question
    assert resolve_question("and Germany?", []) == "and Germany?"


async def test_a_follow_up_is_answered_in_the_context_of_the_earlier_question() -> None:
    history = [turn("What did Valley Post say about the talks?")]
    answer = await ask("and Harbor Times?", history=history)
    # Harbor Times never mentions talks: the follow-up is refused for that outlet,
    # instead of quoting whatever Harbor Times says first.
    assert answer.refused
    answer = await ask("and the ships?", history=[turn("What did Valley Post say?")])
    assert set(cited_outlets(answer)) == {"Valley Post"}
    assert any("ships" in claim.text for claim in answer.claims)


# ---------------------------------------------------------------------- renderings


async def test_the_json_has_exactly_the_contract_fields() -> None:
    answer = await ask("How many workers joined the strike?")
    data = answer_to_json(answer)
    assert set(data) == {
        "answer",
        "claims",
        "sources",
        "story_id",
        "verification",
        "refused",
        "reason",
    }
    assert data["claims"][0]["sources"] == [1, 2, 3]
    assert data["sources"][1]["copy_of"] == 1
    assert data["refused"] is False
    assert data["reason"] is None
    refused = answer_to_json(await ask("What is the capital of Peru?"))
    assert refused["refused"] is True
    assert refused["reason"] == "not_in_sources"
    assert refused["claims"] == []


async def test_the_schema_rejects_an_answer_without_claims_or_a_claim_citing_nothing() -> None:
    data = answer_to_json(await ask("How many workers joined the strike?"))
    data["claims"] = []
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(data, answer_schema())
    data = answer_to_json(await ask("What is the capital of Peru?"))
    data["reason"] = None
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(data, answer_schema())


def test_the_factory_builds_the_extractive_engine_and_checks_its_mode() -> None:
    assert isinstance(build_qa_engine("extractive"), ExtractiveQA)
    with pytest.raises(ValueError, match="model"):
        build_qa_engine("llm")
    with pytest.raises(ValueError, match="unknown"):
        build_qa_engine("oracle")


async def test_a_side_question_quotes_independent_outlets_each_once() -> None:
    answer = await ask("How do the sources differ?")
    assert not answer.refused
    quoted = [answer.sources[claim.sources[0] - 1].outlet for claim in answer.claims]
    assert len(quoted) >= 2
    assert len(set(quoted)) == len(quoted)  # each outlet once
    assert "Coastal Daily Record" not in quoted  # a wire copy is not another side
