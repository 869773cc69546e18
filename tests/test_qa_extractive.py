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
        "mode",
        "notes",
        "new_sources",
    }
    assert data["mode"] == "extractive"
    assert data["notes"] == []
    assert data["new_sources"] == []
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


# ---------------------------------------------------------------------- question shapes

SHIFT = datetime(2026, 3, 9, 8, 0, tzinfo=UTC)  # a Monday


def _one_story(*texts: str, outlet: str = "Harbour Gazette") -> list[tuple[Story, list[Article]]]:
    """One story of one article per text, a day apart from Monday ``SHIFT`` on."""
    articles = [
        Article(
            url=f"https://harbourgazette.example/{n}",
            title=f"Harbour report {n}",
            text=text,
            outlet=outlet if n == 0 else f"{outlet} {n}",
            published_at=SHIFT + timedelta(days=n),
            id=900 + n,
        )
        for n, text in enumerate(texts)
    ]
    story = Story(
        id="s-shapes000000",
        title="Harbour report",
        created_at=SHIFT,
        updated_at=SHIFT,
        article_ids=[a.id for a in articles if a.id is not None],
    )
    return [(story, articles)]


HARBOUR = _one_story(
    "About 1,400 dockworkers walked off the job at the Port of Brask on Monday.\n\n"
    "Brask handles about 40 percent of the country's grain exports.\n\n"
    "The union says the plan would eliminate up to 600 jobs over five years.\n\n"
    "Harbour master Ines Vold thanked the crews. “Nobody was hurt,” she said.\n\n"
    "The city will build a 9.4-kilometre sea wall, and work is due to start in 2027.\n\n"
    "The storage tank leaked about eight tonnes of fuel into the harbour.",
    "The union rejected the offer because it did not cover about 300 agency workers.\n\n"
    "The number of ships waiting offshore rose to 52 by Tuesday evening.",
)


async def test_how_many_dock_workers_is_answered_by_the_dockworkers_sentence() -> None:
    answer = await ask("How many dock workers walked out?", stories=HARBOUR)
    assert not answer.refused
    assert "1,400" in answer.claims[0].text


async def test_what_share_needs_a_percentage_not_the_word_share() -> None:
    answer = await ask("What share of the grain exports goes through Brask?", stories=HARBOUR)
    assert "40 percent" in answer.claims[0].text
    refused = await ask("What share of the dockworkers walked out?", stories=HARBOUR)
    assert refused.refused  # 1,400 is a count, not a share


async def test_how_old_needs_an_age_and_a_figure_of_another_kind_does_not_do() -> None:
    answer = await ask("How old was the storage tank that leaked?", stories=HARBOUR)
    assert answer.refused  # "eight tonnes" is not an age
    answer = await ask("How long will the sea wall be?", stories=HARBOUR)
    assert not answer.refused
    assert "9.4-kilometre" in answer.claims[0].text


async def test_a_plan_answers_a_wh_question_about_the_future_but_not_a_prediction() -> None:
    answer = await ask("When will work on the sea wall start?", stories=HARBOUR)
    assert not answer.refused
    assert "2027" in answer.claims[0].text
    for question in (
        "Will the sea wall stop the flooding?",
        "How much will the city be fined over the leak?",  # no source speaks of a fine
    ):
        refused = await ask(question, stories=HARBOUR)
        assert refused.refused, question
        assert refused.reason is Refusal.SPECULATIVE, question


async def test_why_needs_a_sentence_that_gives_a_reason() -> None:
    answer = await ask("Why did the union reject the offer?", stories=HARBOUR)
    assert not answer.refused
    assert "because" in answer.claims[0].text
    assert all("five years" not in c.text for c in answer.claims)  # "over five years" is no why


async def test_a_sentence_that_denies_the_question_does_not_answer_it() -> None:
    answer = await ask("How many agency workers does the offer cover?", stories=HARBOUR)
    assert answer.refused  # the only sentence says it did *not* cover them


async def test_a_weekday_in_the_question_takes_that_days_reporting() -> None:
    answer = await ask("How many ships were waiting offshore on Tuesday?", stories=HARBOUR)
    assert not answer.refused
    assert "52" in answer.claims[0].text
    refused = await ask("How many ships were waiting offshore on Friday?", stories=HARBOUR)
    assert refused.refused  # nothing was reported on or about Friday


async def test_a_quote_said_by_she_is_found_by_the_speakers_name_and_quoted_with_it() -> None:
    answer = await ask("What did Ines Vold say?", stories=HARBOUR)
    quoted = " ".join(c.text for c in answer.claims)
    assert "“Nobody was hurt,” she said." in quoted
    assert "Harbour master Ines Vold thanked the crews. “Nobody was hurt,”" in quoted


async def test_a_question_of_two_parts_answers_each_and_names_the_part_not_found() -> None:
    answer = await ask(
        "How many dockworkers walked out, and what share of grain exports goes through Brask?",
        stories=HARBOUR,
    )
    assert not answer.refused
    text = " ".join(c.text for c in answer.claims)
    assert "1,400" in text
    assert "40 percent" in text
    partial = await ask(
        "How many dockworkers walked out, and who owns the grain terminal?", stories=HARBOUR
    )
    assert not partial.refused
    assert partial.notes == ["The sources don't say: “who owns the grain terminal”."]
    assert partial.notes[0] in partial.text


def test_question_parts_split_only_between_questions() -> None:
    from bot.qa.context import question_parts

    assert question_parts("How many crews joined the strike, and for how long?") == [
        "How many crews joined the strike",
        "for how long crews joined the strike",
    ]
    assert question_parts("How many ships were waiting on Monday, and how many by Friday?") == [
        "How many ships were waiting on Monday",
        "how many ships by Friday",
    ]
    whole = "Once the pause runs out, is the port going to get its cranes?"
    assert question_parts(whole) == [whole]
    assert question_parts("Did the union and the authority agree?") == [
        "Did the union and the authority agree?"
    ]


def test_a_pronoun_follow_up_takes_the_previous_answers_subject() -> None:
    asked = datetime(2026, 3, 11, 21, tzinfo=UTC)
    history = [
        Turn(
            "Which minister appointed the mediator?",
            "Transport Minister Elin Marsk appointed Oskar Feldt, a retired judge.",
            asked,
        )
    ]
    assert (
        resolve_question("And what did she say once the deal was done?", history)
        == "what did Transport Minister Elin Marsk say once the deal was done?"
    )
    no_name = [Turn("How many workers went to hospital?", "Two of the eleven were.", asked)]
    # "Two" starts the answer but names no one: the question is completed instead
    assert resolve_question("Have they left hospital yet?", no_name) == (
        "How many workers went to hospital? Have they left hospital yet"
    )
    assert resolve_question("What did she say?", []) == "What did she say?"


async def test_the_passages_are_built_once_per_version_of_the_stories() -> None:
    from dataclasses import replace as changed

    from bot.qa.passages import story_passages

    story, articles = port()[0]
    first = story_passages([(story, articles)])
    reloaded = [changed(a) for a in articles]  # as the store gives them again: new objects
    assert story_passages([(story, reloaded)]) is first
    edited = [changed(articles[0], text=articles[0].text + "\n\nThe talks resume on Friday.")]
    assert story_passages([(story, edited + articles[1:])]) is not first
    answer = await ask("When do the talks resume?", stories=[(story, edited + articles[1:])])
    assert "Friday" in answer.claims[0].text  # the new sentence is indexed, not a stale one
    before = await ask("When do the talks resume?", stories=[(story, articles)])
    assert all("resume on Friday" not in c.text for c in before.claims)


async def test_who_is_answered_by_the_sentence_that_names_someone() -> None:
    stories = _one_story(  # "Port of Brask" is no new name for a question about Brask
        "The Port of Brask appointed a former judge on Monday to lead the inquiry.\n\n"
        "Mayor Ana Ruiz said Piet Dorn, a retired judge, had been appointed to lead the Brask "
        "inquiry."
    )
    answer = await ask("Who was appointed to lead the Brask inquiry?", stories=stories)
    assert "Piet Dorn" in answer.claims[0].text
