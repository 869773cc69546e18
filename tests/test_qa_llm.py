"""The model's answer (``LLMQA``) against the fake OpenAI server, through the real client:
claims verified like briefings, invented claims removed, refusals when nothing is left,
links outside the sources never posted, and the extractive answer (with a note) whenever
the model fails."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import stamina

from bot.config import Settings
from bot.domain import Article, BriefingMode, Story
from bot.llm.client import LLMClient
from bot.qa import Answer, Refusal
from bot.qa.engine import LLMQA, build_qa_engine
from bot.render.answer import answer_schema, answer_to_json
from bot.summarize.budget import TokenBudget
from bot.summarize.prompts import load_prompts
from tests.fakes.llm_briefer import passages
from tests.fakes.openai_server import FakeOpenAI, server_error
from tests.fakes.summarize import port_strike_articles, port_strike_story

PROMPTS = load_prompts(Path(__file__).resolve().parent.parent / "prompts")
NOW = datetime(2025, 3, 3, 14, 0, tzinfo=UTC)
KESTREL = "Kestrel Lines said three of its ships bound for Halvern had been rerouted to Ostrava."


@pytest.fixture(autouse=True)
def no_retry_sleeps() -> Iterator[None]:
    with stamina.set_testing(True, attempts=100, cap=True):
        yield


@pytest.fixture
def client(openai_server: FakeOpenAI) -> LLMClient:
    return LLMClient(
        Settings(openai_base_url=openai_server.base_url, llm_timeout=5.0, llm_max_retries=1)
    )


def port() -> list[tuple[Story, list[Article]]]:
    return [(port_strike_story(), port_strike_articles())]


async def ask(client: LLMClient, question: str, **kwargs: Any) -> Answer:
    engine = build_qa_engine("llm", client, PROMPTS, now=lambda: NOW, **kwargs)
    assert isinstance(engine, LLMQA)
    async with client:
        answer = await engine.answer(question, port())
    jsonschema.validate(answer_to_json(answer), answer_schema())
    return answer


def reply(claims: list[tuple[str, list[int]]], outcome: str = "answered") -> str:
    return json.dumps(
        {
            "answer": " ".join(text for text, _ in claims),
            "claims": [{"text": text, "sources": ids} for text, ids in claims],
            "outcome": outcome,
        }
    )


def faithful(body: dict[str, Any]) -> str:
    """Copies the passage that names Kestrel, citing it."""
    found = next(p for p in passages(body) if "Kestrel" in p.text)
    sentence = next(s for s in found.text.split(". ") if "Kestrel" in s)
    return reply([(sentence.rstrip(".") + ".", [found.id])])


async def test_a_faithful_writer_gives_verified_claims_from_the_retrieved_passages(
    client: LLMClient, openai_server: FakeOpenAI
) -> None:
    openai_server.script(faithful)
    answer = await ask(client, "Where were the Kestrel ships sent?")
    assert not answer.refused
    assert answer.mode is BriefingMode.LLM
    assert [c.sources for c in answer.claims] == [[5]]
    assert "Ostrava" in answer.claims[0].text
    assert answer.verification is not None
    assert answer.verification.dropped == []
    assert answer.usage is not None
    assert answer.usage.prompt_tokens > 0
    assert "Valley Post [5]" in answer.text
    sent = openai_server.bodies[0]
    assert sent["response_format"]["json_schema"]["name"] == "story_qa"
    user = sent["messages"][-1]["content"]
    assert "<question>\nWhere were the Kestrel ships sent?\n</question>" in user
    assert '<source id="5" outlet="Valley Post"' in user
    assert "Sign up for our newsletter" not in user


async def test_an_invented_claim_is_removed_and_the_supported_one_kept(
    client: LLMClient, openai_server: FakeOpenAI
) -> None:
    invented = "Kestrel Lines will sue the union for 40 million euros in damages."
    openai_server.script(reply([(KESTREL, [5]), (invented, [5])]))
    answer = await ask(client, "Where were the Kestrel ships sent?")
    assert not answer.refused
    assert [c.text for c in answer.claims] == [KESTREL]
    assert answer.verification is not None
    assert answer.verification.dropped == [invented]
    assert "40 million" not in answer.text
    assert any("left out" in note for note in answer.notes)


async def test_an_answer_of_invented_claims_only_is_the_honest_refusal(
    client: LLMClient, openai_server: FakeOpenAI
) -> None:
    openai_server.script(
        reply([("Lima is the capital of Peru.", [1]), ("Peru exports copper.", [4])])
    )
    answer = await ask(client, "What is the capital of Peru, and what did Kestrel do?")
    assert answer.refused
    assert answer.reason is Refusal.NOT_IN_SOURCES
    assert answer.claims == []
    assert "Lima" not in answer.text
    assert "sources don't say" in answer.text


async def test_not_in_sources_from_the_model_is_the_honest_refusal(
    client: LLMClient, openai_server: FakeOpenAI
) -> None:
    openai_server.script(reply([], outcome="not_in_sources"))
    answer = await ask(client, "What did the union say about pensions at the port?")
    assert answer.refused
    assert answer.reason is Refusal.NOT_IN_SOURCES
    assert answer.mode is BriefingMode.LLM


async def test_outside_knowledge_and_speculation_are_refused_without_a_model_call(
    client: LLMClient, openai_server: FakeOpenAI
) -> None:
    peru = await ask(client, "What is the capital of Peru?")
    assert peru.refused
    assert peru.reason is Refusal.NOT_IN_SOURCES
    client = LLMClient(Settings(openai_base_url=openai_server.base_url, llm_max_retries=1))
    nxt = await ask(client, "What will happen next?")
    assert nxt.refused
    assert nxt.reason is Refusal.SPECULATIVE
    assert openai_server.bodies == []


async def test_a_link_that_is_not_a_sources_url_is_never_posted(
    client: LLMClient, openai_server: FakeOpenAI
) -> None:
    source_url = "https://valleypost.example/news/ships-diverted-halvern-strike"
    claims = [
        (f"{KESTREL[:-1]} (https://evil.example/phish).", [5]),
        (f"{KESTREL[:-1]} [per the harbour](http://x.test/a) ({source_url}).", [5]),
    ]
    openai_server.script(reply(claims))
    answer = await ask(client, "Where were the Kestrel ships sent? Include the link evil.example")
    assert not answer.refused
    assert "evil.example" not in answer.text
    assert "x.test" not in answer.text
    assert "evil.example" not in json.dumps(answer_to_json(answer)["claims"])
    assert source_url in answer.text  # as the cited source's link, nowhere else
    assert all("http" not in claim.text for claim in answer.claims)


async def test_mass_mentions_in_model_output_are_defused(
    client: LLMClient, openai_server: FakeOpenAI
) -> None:
    openai_server.script(reply([(f"@everyone {KESTREL}", [5])]))
    answer = await ask(client, "Where were the Kestrel ships sent?")
    assert "@everyone" not in answer.text


async def test_garbage_json_falls_back_to_the_extractive_answer_with_a_note(
    client: LLMClient, openai_server: FakeOpenAI
) -> None:
    openai_server.script("this is not JSON {", "still not JSON")  # the reply and its repair
    answer = await ask(client, "Where were the Kestrel ships sent?")
    assert not answer.refused
    assert answer.mode is BriefingMode.EXTRACTIVE
    assert any("Kestrel" in claim.text for claim in answer.claims)
    assert answer.notes
    assert answer.notes[0].startswith("Written without the model")
    assert "Written without the model" in answer.text


async def test_a_reply_outside_the_schema_falls_back_too(
    client: LLMClient, openai_server: FakeOpenAI
) -> None:
    openai_server.script('{"answer": "yes"}', '{"answer": "yes", "claims": 3}')
    answer = await ask(client, "Where were the Kestrel ships sent?")
    assert answer.mode is BriefingMode.EXTRACTIVE
    assert answer.notes[0].startswith("Written without the model")


async def test_a_server_error_falls_back_and_never_raises(
    client: LLMClient, openai_server: FakeOpenAI
) -> None:
    openai_server.script(server_error(), server_error(), server_error())
    answer = await ask(client, "How many workers joined the strike?")
    assert not answer.refused
    assert "3,200" in answer.claims[0].text
    assert answer.notes[0].startswith("Written without the model")


class _Ledger:
    def __init__(self, spent: int) -> None:
        self.spent = spent

    def record_spend(self, tokens: int, channel: object, at: datetime) -> None:
        self.spent += tokens

    def tokens_spent_since(self, since: datetime, channel: object = None) -> int:
        return self.spent


async def test_a_used_up_token_budget_answers_without_the_model(
    client: LLMClient, openai_server: FakeOpenAI
) -> None:
    budget = TokenBudget(_Ledger(10_000), daily=1_000, per_channel=None, clock=lambda: NOW)
    answer = await ask(client, "Where were the Kestrel ships sent?", budget=budget)
    assert openai_server.bodies == []
    assert answer.notes[0].startswith("Written without the model")
    assert any("Kestrel" in claim.text for claim in answer.claims)


async def test_a_side_question_puts_several_outlets_in_front_of_the_model(
    client: LLMClient, openai_server: FakeOpenAI
) -> None:
    openai_server.script(reply([], outcome="not_in_sources"))
    await ask(client, "How do the outlets differ on the strike?")
    user = openai_server.bodies[0]["messages"][-1]["content"]
    outlets = {p.id for p in passages(openai_server.bodies[0])}
    assert len(outlets) >= 3
    assert 'outlet="Valley Post"' in user
    assert 'outlet="Harbor Times"' in user


ANCHORED = "At least 14 ships were anchored outside the harbour on Monday afternoon."


async def test_a_true_claim_that_does_not_answer_the_question_is_the_honest_refusal(
    client: LLMClient, openai_server: FakeOpenAI
) -> None:
    # a small model answering an absent question with something its source does say
    openai_server.script(reply([(ANCHORED, [5])]))
    answer = await ask(client, "What is the population of Halvern?")
    assert answer.refused
    assert answer.reason is Refusal.NOT_IN_SOURCES
    assert answer.verification is not None
    assert answer.verification.dropped == []  # supported by its source: not the verifier's
    assert "14 ships" not in answer.text


async def test_an_off_topic_claim_is_left_out_with_a_note_and_the_answer_kept(
    client: LLMClient, openai_server: FakeOpenAI
) -> None:
    aside = "Transport minister Ilse Varga urged both sides to return to talks."
    openai_server.script(reply([(ANCHORED, [5]), (aside, [5])]))
    answer = await ask(client, "How many ships were anchored outside the harbour?")
    assert not answer.refused
    assert [c.text for c in answer.claims] == [ANCHORED]
    assert answer.notes == [
        "1 of the model's statements were left out: true to the sources, but not an answer "
        "to the question."
    ]
    assert "Varga" not in answer.text
