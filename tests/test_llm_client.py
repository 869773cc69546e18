"""The LLM client against a real local HTTP server speaking OpenAI's wire format.

The official ``openai`` SDK inside ``LLMClient`` talks to ``tests.fakes.openai_server`` through
``OPENAI_BASE_URL``; the tests assert on what went over the wire. stamina's testing mode keeps
our attempt counts but never sleeps.
"""

from __future__ import annotations

import asyncio
import copy
import json
import logging
import socket
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx2
import jsonschema
import pytest
import stamina
from pydantic import ValidationError

from bot.config import Settings
from bot.errors import (
    ConfigError,
    LLMConnectionError,
    LLMContextLengthError,
    LLMInvalidOutput,
    LLMRateLimited,
    LLMRefusal,
    LLMRequestError,
    LLMServerError,
    LLMStructuredOutputUnsupported,
    LLMTimeout,
    LLMTruncated,
    SummarizerError,
)
from bot.llm.client import (
    PLACEHOLDER_API_KEY,
    RETRY_AFTER_CAP,
    LLMClient,
    TextStream,
    parse_retry_after,
    retry_backoff,
)
from bot.summarize.ports import LLMResult, Usage
from bot.summarize.prompts import ChatMessage
from bot.summarize.schema import (
    ANSWER_SCHEMA,
    BRIEFING_SCHEMA,
    BRIEFING_SCHEMA_NAME,
    AnswerOutput,
    BriefingOutput,
    validate_json,
)
from tests.fakes.openai_server import (
    DEFAULT_MODEL,
    DROP,
    Completion,
    Failure,
    FakeOpenAI,
    context_length_exceeded,
    insufficient_quota,
    rate_limited,
    refusal,
    server_error,
    truncated,
)
from tests.fakes.openai_server import openai_server as openai_server  # the fixture

BRIEFING: dict[str, Any] = {
    "headline": "Dockworkers strike halts cargo at Port of Halvern",
    "summary": "About 3,200 dockworkers at the Port of Halvern began a 72-hour strike on "
    "Monday over pay and automation, halting cargo operations.",
    "key_points": [
        {
            "text": "About 3,200 union members walked off the job at 6 a.m. on Monday for a "
            "strike set to last 72 hours.",
            "sources": [1, 2],
        },
        {
            "text": "The port authority said it had offered a 4% pay rise over two years.",
            "sources": [1, 4],
        },
        {
            "text": "At least 14 container ships were waiting at anchor outside the harbour.",
            "sources": [1, 5],
        },
    ],
    "disagreements": [
        {
            "text": "The union says the strike will last 72 hours, but the harbour master said "
            "the backlog could take a week to clear.",
            "sources": [5],
        }
    ],
    "whats_new": [],
}

MESSAGES: list[ChatMessage] = [
    {"role": "system", "content": "You brief readers on a developing story."},
    {"role": "user", "content": '<source id="1" outlet="Meridian Wire">Dockworkers ...</source>'},
]


@pytest.fixture(autouse=True)
def no_retry_sleeps() -> Iterator[None]:
    """Keep our attempt counts (cap) but skip every backoff sleep."""
    with stamina.set_testing(True, attempts=100, cap=True):
        yield


def make_client(server: FakeOpenAI, **overrides: Any) -> LLMClient:
    values: dict[str, Any] = {
        "openai_base_url": server.base_url,
        "llm_timeout": 5.0,
        "llm_connect_timeout": 2.0,
        "llm_max_retries": 2,
    }
    values.update(overrides)
    return LLMClient(Settings(**values))


def _header(headers: dict[str, str], name: str) -> str:
    return {key.lower(): value for key, value in headers.items()}[name.lower()]


async def brief(client: LLMClient) -> LLMResult:
    return await client.complete_json(
        MESSAGES, schema_name=BRIEFING_SCHEMA_NAME, schema=BRIEFING_SCHEMA
    )


async def drain(stream: TextStream) -> list[str]:
    return [piece async for piece in stream]


# --- success and request shape ------------------------------------------------------------------


async def test_valid_reply_is_returned_parsed_with_the_servers_usage(
    openai_server: FakeOpenAI,
) -> None:
    openai_server.script(Completion(json.dumps(BRIEFING), prompt_tokens=812, completion_tokens=164))
    async with make_client(openai_server) as client:
        result = await brief(client)

    assert result.data == BRIEFING
    assert result.usage == Usage(prompt_tokens=812, completion_tokens=164)
    assert result.model == DEFAULT_MODEL
    assert (result.strategy, result.finish_reason, result.repaired) == (
        "json_schema",
        "stop",
        False,
    )
    assert BriefingOutput.model_validate(result.data).key_points[1].sources == [1, 4]


async def test_a_configured_temperature_is_sent_with_every_request(
    openai_server: FakeOpenAI,
) -> None:
    openai_server.script(json.dumps(BRIEFING))
    async with make_client(openai_server, llm_temperature=0.0) as client:
        await brief(client)

    [body] = openai_server.bodies
    assert body["temperature"] == 0.0


async def test_request_asks_for_strict_json_schema_with_the_configured_model_and_limit(
    openai_server: FakeOpenAI,
) -> None:
    openai_server.script(json.dumps(BRIEFING))
    async with make_client(openai_server, model="qwen2.5:14b", max_completion_tokens=900) as client:
        await brief(client)

    [body] = openai_server.bodies
    assert body["model"] == "qwen2.5:14b"
    assert body["messages"] == MESSAGES
    assert body["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "story_briefing", "schema": BRIEFING_SCHEMA, "strict": True},
    }
    # A server other than OpenAI gets the older parameter name it understands.
    assert body["max_tokens"] == 900
    assert "max_completion_tokens" not in body
    assert "stream" not in body
    assert "temperature" not in body  # unset: the server's default
    # Our timeout, not the SDK's ten-minute default, and no SDK-side retries.
    [request] = openai_server.requests
    assert _header(request.headers, "x-stainless-read-timeout") == "5.0"
    assert _header(request.headers, "x-stainless-retry-count") == "0"


async def test_local_server_gets_a_placeholder_key_and_a_real_key_is_sent_when_set(
    openai_server: FakeOpenAI,
) -> None:
    openai_server.script(json.dumps(BRIEFING), json.dumps(BRIEFING))
    async with make_client(openai_server) as client:
        await brief(client)
    async with make_client(openai_server, openai_api_key="sk-test-123") as client:
        await brief(client)

    auth = [_header(r.headers, "Authorization") for r in openai_server.requests]
    assert auth == [f"Bearer {PLACEHOLDER_API_KEY}", "Bearer sk-test-123"]


async def test_reply_in_a_markdown_code_fence_is_accepted_without_repair(
    openai_server: FakeOpenAI,
) -> None:
    openai_server.script(f"```json\n{json.dumps(BRIEFING, indent=2)}\n```")
    async with make_client(openai_server) as client:
        result = await brief(client)

    assert result.data == BRIEFING
    assert len(openai_server.bodies) == 1


async def test_missing_usage_is_estimated_from_the_messages(openai_server: FakeOpenAI) -> None:
    openai_server.script(Completion(json.dumps(BRIEFING), usage=False))
    async with make_client(openai_server) as client:
        result = await brief(client)

    assert result.usage.estimated
    assert result.usage.prompt_tokens > 20
    assert result.usage.completion_tokens > 50


async def test_token_usage_is_priced_at_the_list_price_of_the_model_that_answered(
    openai_server: FakeOpenAI,
) -> None:
    async with make_client(openai_server, model="gpt-4o-mini") as client:
        usage = client.token_usage(
            Usage(prompt_tokens=2_000_000, completion_tokens=500_000), "gpt-4o-mini-2024-07-18"
        )

    assert (usage.prompt_tokens, usage.completion_tokens) == (2_000_000, 500_000)
    assert usage.cost_usd == pytest.approx(2 * 0.15 + 0.5 * 0.60)
    assert usage.model == "gpt-4o-mini-2024-07-18"


async def test_token_usage_without_a_reported_model_is_priced_as_the_configured_one(
    openai_server: FakeOpenAI,
) -> None:
    async with make_client(openai_server, model="gpt-4.1") as client:
        usage = client.token_usage(Usage(prompt_tokens=1_000_000, completion_tokens=1_000_000))

    assert usage.cost_usd == pytest.approx(2.00 + 8.00)
    assert usage.model == "gpt-4.1"


async def test_price_settings_override_the_table(openai_server: FakeOpenAI) -> None:
    async with make_client(
        openai_server, price_prompt_per_mtok=1.0, price_completion_per_mtok=3.0
    ) as client:
        usage = client.token_usage(Usage(prompt_tokens=2_000_000, completion_tokens=500_000))

    assert usage.cost_usd == pytest.approx(2 * 1.0 + 0.5 * 3.0)


async def test_a_local_model_not_in_the_table_has_an_unknown_cost(
    openai_server: FakeOpenAI,
) -> None:
    async with make_client(openai_server, model="llama3.1:8b") as client:
        usage = client.token_usage(Usage(prompt_tokens=1200, completion_tokens=150), "llama3.1:8b")

    assert (usage.prompt_tokens, usage.completion_tokens) == (1200, 150)
    assert usage.cost_usd is None
    assert usage.model == "llama3.1:8b"


async def test_a_local_model_with_both_prices_set_costs_what_they_say(
    openai_server: FakeOpenAI,
) -> None:
    async with make_client(
        openai_server, model="llama3.1:8b", price_prompt_per_mtok=0, price_completion_per_mtok=0
    ) as client:
        usage = client.token_usage(Usage(prompt_tokens=1200, completion_tokens=150))

    assert usage.cost_usd == 0.0


async def test_an_error_after_the_server_answered_names_the_model_that_answered() -> None:
    with FakeOpenAI(model="llama3.1:8b") as server:
        server.script(truncated(json.dumps(BRIEFING)[:100]))
        async with make_client(server, model="llama3.1:8b") as client:
            with pytest.raises(LLMTruncated) as raised:
                await brief(client)

    assert raised.value.model == "llama3.1:8b"
    assert raised.value.usage is not None


def test_no_key_and_no_base_url_is_a_config_error_naming_both_settings() -> None:
    with pytest.raises(ConfigError, match=r"OPENAI_API_KEY.*OPENAI_BASE_URL"):
        LLMClient(Settings())


async def test_concurrent_calls_complete_while_another_reply_hangs(
    openai_server: FakeOpenAI,
) -> None:
    """The point of the async client: one hung model reply holds up no other call."""
    release = threading.Event()

    def reply(body: dict[str, Any]) -> Completion | str:
        story = body["messages"][-1]["content"]
        content = json.dumps({**BRIEFING, "headline": f"Briefing on {story}"})
        return Completion(content, hold=release) if story == "story 0" else content

    openai_server.script(*[reply] * 4)
    finished: list[str] = []

    async def brief_story(client: LLMClient, story: str) -> LLMResult:
        messages: list[ChatMessage] = [MESSAGES[0], {"role": "user", "content": story}]
        result = await client.complete_json(
            messages, schema_name=BRIEFING_SCHEMA_NAME, schema=BRIEFING_SCHEMA
        )
        finished.append(story)
        return result

    async with make_client(openai_server) as client:
        hung = asyncio.create_task(brief_story(client, "story 0"))
        try:
            assert await asyncio.to_thread(openai_server.wait_until_held, 1)
            others = await asyncio.gather(*(brief_story(client, f"story {i}") for i in (1, 2, 3)))
            # All three came back while the first request is still unanswered at the server.
            assert sorted(finished) == ["story 1", "story 2", "story 3"]
            assert (openai_server.held, openai_server.in_flight) == (1, 1)
            assert not hung.done()
        finally:
            release.set()
            first = await hung

    assert finished[-1] == "story 0"
    assert first.data is not None
    assert first.data["headline"] == "Briefing on story 0"
    assert [r.data["headline"] for r in others if r.data] == [
        "Briefing on story 1",
        "Briefing on story 2",
        "Briefing on story 3",
    ]
    assert len(openai_server.bodies) == 4
    assert openai_server.in_flight == 0


# --- structured output strategies ---------------------------------------------------------------


async def test_server_rejecting_json_schema_is_remembered_and_asked_for_json_object() -> None:
    with FakeOpenAI(reject_json_schema=True) as server:
        server.script(json.dumps(BRIEFING), json.dumps(BRIEFING))
        async with make_client(server) as client:
            first = await brief(client)
            second = await brief(client)

        formats = [b["response_format"]["type"] for b in server.bodies]
        fallback_system = server.bodies[1]["messages"][0]["content"]

    assert formats == ["json_schema", "json_object", "json_object"]
    assert first.strategy == second.strategy == "json_object"
    assert first.data == BRIEFING
    # JSON mode carries no schema, so the client puts it in the system message.
    assert fallback_system.startswith(MESSAGES[0]["content"])
    assert '"disagreements"' in fallback_system
    assert "JSON" in fallback_system


async def test_forced_json_schema_on_a_server_without_it_names_the_setting() -> None:
    with FakeOpenAI(reject_json_schema=True) as server:
        async with make_client(server, structured_output="json_schema") as client:
            with pytest.raises(LLMStructuredOutputUnsupported, match="BRIEFBOT_STRUCTURED_OUTPUT"):
                await brief(client)
        assert len(server.bodies) == 1


async def test_json_object_setting_never_tries_json_schema(openai_server: FakeOpenAI) -> None:
    openai_server.script(json.dumps(BRIEFING))
    async with make_client(openai_server, structured_output="json_object") as client:
        result = await brief(client)

    assert [b["response_format"] for b in openai_server.bodies] == [{"type": "json_object"}]
    assert result.strategy == "json_object"


# --- repair round -------------------------------------------------------------------------------


async def test_truncated_json_gets_one_repair_round_with_the_error_and_schema(
    openai_server: FakeOpenAI,
) -> None:
    broken = json.dumps(BRIEFING)[:120]
    openai_server.script(
        Completion(broken, prompt_tokens=800, completion_tokens=30),
        Completion(json.dumps(BRIEFING), prompt_tokens=400, completion_tokens=160),
    )
    async with make_client(openai_server) as client:
        result = await brief(client)

    assert result.data == BRIEFING
    assert result.repaired
    assert result.usage == Usage(prompt_tokens=1200, completion_tokens=190)
    repair_request = openai_server.bodies[1]
    system, user = (m["content"] for m in repair_request["messages"])
    assert "You fix malformed JSON" in system
    assert broken in user
    assert "not valid JSON" in user
    assert '"additionalProperties": false' in user  # the schema is included
    assert "Meridian Wire" not in user  # the sources are not sent again
    assert repair_request["response_format"]["json_schema"]["name"] == "story_briefing"


async def test_schema_violation_is_described_to_the_repair_round(openai_server: FakeOpenAI) -> None:
    openai_server.script(json.dumps(_with_sources([0, 2])), json.dumps(BRIEFING))
    async with make_client(openai_server) as client:
        assert (await brief(client)).repaired

    user = openai_server.bodies[1]["messages"][1]["content"]
    assert "at $.key_points[0].sources[0]: 0 is less than the minimum of 1" in user


async def test_reply_still_invalid_after_repair_raises_invalid_output(
    openai_server: FakeOpenAI,
) -> None:
    openai_server.script(
        Completion('{"headline": "Strike"', prompt_tokens=800, completion_tokens=10),
        Completion('{"headline": "Strike", "summary": 3}', prompt_tokens=300, completion_tokens=12),
        json.dumps(BRIEFING),  # never requested: only one repair round
    )
    async with make_client(openai_server) as client:
        with pytest.raises(LLMInvalidOutput) as raised:
            await brief(client)

    assert "even after one repair round" in str(raised.value)
    assert raised.value.content == '{"headline": "Strike", "summary": 3}'
    assert raised.value.usage == Usage(prompt_tokens=1100, completion_tokens=22)
    assert raised.value.model == DEFAULT_MODEL
    assert len(openai_server.bodies) == 2
    assert openai_server.pending == 1


# --- retries ------------------------------------------------------------------------------------


async def test_rate_limit_is_retried_after_the_servers_retry_after(
    openai_server: FakeOpenAI, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bot.llm.client")
    openai_server.script(rate_limited(retry_after="2"), json.dumps(BRIEFING))
    async with make_client(openai_server) as client:
        result = await brief(client)

    assert result.data == BRIEFING
    assert len(openai_server.bodies) == 2
    assert "Retry-After 2.0 s from the model server (capped: 2.0 s)" in caplog.text


async def test_rate_limit_that_outlasts_the_retries_raises_rate_limited(
    openai_server: FakeOpenAI,
) -> None:
    openai_server.script(*[rate_limited(retry_after="7")] * 3)
    async with make_client(openai_server, llm_max_retries=1) as client:
        with pytest.raises(LLMRateLimited) as raised:
            await brief(client)

    assert raised.value.retry_after == 7.0
    assert "429" in str(raised.value)
    assert len(openai_server.bodies) == 2
    assert openai_server.pending == 1


async def test_exhausted_quota_is_not_retried(openai_server: FakeOpenAI) -> None:
    openai_server.script(insufficient_quota(), json.dumps(BRIEFING))
    async with make_client(openai_server) as client:
        with pytest.raises(LLMRateLimited, match="quota"):
            await brief(client)

    assert len(openai_server.bodies) == 1


async def test_server_error_then_success_is_retried(openai_server: FakeOpenAI) -> None:
    openai_server.script(server_error(503, retry_after="1"), json.dumps(BRIEFING))
    async with make_client(openai_server) as client:
        assert (await brief(client)).data == BRIEFING

    assert len(openai_server.bodies) == 2


async def test_server_errors_exhaust_the_bounded_retries(openai_server: FakeOpenAI) -> None:
    openai_server.script(
        server_error(500), server_error(502), server_error(503), json.dumps(BRIEFING)
    )
    async with make_client(openai_server, llm_max_retries=2) as client:
        with pytest.raises(LLMServerError) as raised:
            await brief(client)

    assert raised.value.status == 503
    assert "HTTP 503" in str(raised.value)
    assert len(openai_server.bodies) == 3
    assert openai_server.pending == 1


async def test_connection_dropped_mid_response_is_retried(openai_server: FakeOpenAI) -> None:
    openai_server.script(DROP, json.dumps(BRIEFING))
    async with make_client(openai_server) as client:
        assert (await brief(client)).data == BRIEFING

    assert len(openai_server.bodies) == 2


async def test_connection_dropped_every_time_raises_connection_error(
    openai_server: FakeOpenAI,
) -> None:
    openai_server.script(DROP, DROP)
    async with make_client(openai_server, llm_max_retries=1) as client:
        with pytest.raises(LLMConnectionError, match="Could not talk to the model server"):
            await brief(client)

    assert len(openai_server.bodies) == 2


async def test_closed_port_raises_connection_error_naming_the_server() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    base_url = f"http://127.0.0.1:{port}/v1"
    client = LLMClient(Settings(openai_base_url=base_url, llm_max_retries=1))
    async with client:
        with pytest.raises(LLMConnectionError) as raised:
            await brief(client)

    assert base_url in str(raised.value)
    assert raised.value.usage is None


async def test_slow_reply_raises_timeout_without_retrying(openai_server: FakeOpenAI) -> None:
    openai_server.script(Completion(json.dumps(BRIEFING), delay=1.5), json.dumps(BRIEFING))
    async with make_client(openai_server, llm_timeout=0.2) as client:
        with pytest.raises(LLMTimeout, match="BRIEFBOT_LLM_TIMEOUT") as raised:
            await brief(client)
        assert isinstance(raised.value, SummarizerError)

    assert len(openai_server.bodies) == 1


# --- replies that cannot be used ----------------------------------------------------------------


async def test_refusal_raises_refusal_with_the_models_words(openai_server: FakeOpenAI) -> None:
    openai_server.script(refusal("I can't help with that."), json.dumps(BRIEFING))
    async with make_client(openai_server) as client:
        with pytest.raises(LLMRefusal) as raised:
            await brief(client)

    assert raised.value.refusal == "I can't help with that."
    assert raised.value.usage is not None
    assert len(openai_server.bodies) == 1


async def test_reply_cut_off_at_the_token_limit_raises_truncated(openai_server: FakeOpenAI) -> None:
    partial = json.dumps(BRIEFING)[:200]
    openai_server.script(truncated(partial))
    async with make_client(openai_server, max_completion_tokens=150) as client:
        with pytest.raises(LLMTruncated, match="BRIEFBOT_MAX_COMPLETION_TOKENS") as raised:
            await brief(client)

    assert (raised.value.max_tokens, raised.value.content) == (150, partial)
    assert len(openai_server.bodies) == 1


async def test_context_length_error_says_to_lower_the_prompt_budget(
    openai_server: FakeOpenAI,
) -> None:
    openai_server.script(context_length_exceeded())
    async with make_client(openai_server) as client:
        with pytest.raises(LLMContextLengthError) as raised:
            await brief(client)

    assert raised.value.status == 400
    assert "maximum context length is 128000 tokens" in str(raised.value)
    assert "BRIEFBOT_PROMPT_TOKEN_BUDGET" in str(raised.value)
    assert len(openai_server.bodies) == 1


async def test_rejected_key_names_the_key_setting(openai_server: FakeOpenAI) -> None:
    openai_server.script(
        Failure(401, "Incorrect API key provided: sk-test***.", code="invalid_api_key")
    )
    async with make_client(openai_server, openai_api_key="sk-test-123") as client:
        with pytest.raises(LLMRequestError, match="OPENAI_API_KEY") as raised:
            await brief(client)

    assert raised.value.status == 401
    assert len(openai_server.bodies) == 1


# --- streaming ----------------------------------------------------------------------------------


async def test_stream_text_yields_pieces_then_the_result_with_usage(
    openai_server: FakeOpenAI,
) -> None:
    answer = "The union said the strike would last 72 hours [1]. Kestrel Lines diverted ships [5]."
    openai_server.script(Completion(answer, prompt_tokens=640, completion_tokens=21))
    async with make_client(openai_server) as client:
        stream = await client.stream_text(MESSAGES, max_tokens=300)
        assert isinstance(stream, TextStream)
        pieces = await drain(stream)

    assert len(pieces) > 1
    assert "".join(pieces) == answer
    assert stream.result.content == answer
    assert stream.result.usage == Usage(prompt_tokens=640, completion_tokens=21)
    assert stream.result.data is None
    [body] = openai_server.bodies
    assert body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}
    assert body["max_tokens"] == 300


async def test_stream_cut_off_at_the_token_limit_raises_truncated(
    openai_server: FakeOpenAI,
) -> None:
    openai_server.script(truncated("The union said the strike"))
    async with make_client(openai_server) as client:
        stream = await client.stream_text(MESSAGES)
        with pytest.raises(LLMTruncated):
            await drain(stream)


# --- retry policy and schema, without a server --------------------------------------------------


def test_retry_after_is_honoured_up_to_the_cap() -> None:
    assert retry_backoff(LLMRateLimited("429", retry_after=2.0, code=None)) == 2.0
    assert retry_backoff(LLMRateLimited("429", retry_after=3600.0, code=None)) == RETRY_AFTER_CAP
    assert retry_backoff(LLMRateLimited("429", retry_after=None, code=None)) is True
    assert retry_backoff(LLMServerError(503, "503", retry_after=4.0)) == 4.0
    assert retry_backoff(LLMConnectionError("http://x/v1", "refused")) is True
    assert retry_backoff(LLMTimeout("http://x/v1", 60)) is False
    assert retry_backoff(LLMContextLengthError(400, "too long")) is False


def test_retry_after_header_forms_are_understood() -> None:
    now = datetime(2025, 3, 3, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after(httpx2.Headers({"retry-after-ms": "1500", "retry-after": "9"})) == 1.5
    assert parse_retry_after(httpx2.Headers({"Retry-After": "12"})) == 12.0
    http_date = httpx2.Headers({"Retry-After": "Mon, 03 Mar 2025 12:00:20 GMT"})
    assert parse_retry_after(http_date, now=now) == 20.0
    assert parse_retry_after(httpx2.Headers({"Retry-After": "soon"})) is None
    assert parse_retry_after(httpx2.Headers({})) is None


def _objects(schema: dict[str, Any]) -> Iterator[dict[str, Any]]:
    if schema.get("type") == "object":
        yield schema
        for sub in schema["properties"].values():
            yield from _objects(sub)
    elif schema.get("type") == "array":
        yield from _objects(schema["items"])


@pytest.mark.parametrize("schema", [BRIEFING_SCHEMA, ANSWER_SCHEMA], ids=["briefing", "answer"])
def test_schemas_are_valid_and_strict_mode_compatible(schema: dict[str, Any]) -> None:
    jsonschema.Draft202012Validator.check_schema(schema)
    objects = list(_objects(schema))
    assert objects
    for obj in objects:
        assert obj["additionalProperties"] is False
        assert sorted(obj["required"]) == sorted(obj["properties"])


def _with_sources(sources: Any) -> dict[str, Any]:
    data = copy.deepcopy(BRIEFING)
    data["key_points"][0]["sources"] = sources
    return data


@pytest.mark.parametrize(
    ("data", "valid"),
    [
        (BRIEFING, True),
        (_with_sources([1, 3]), True),
        (_with_sources([0]), False),
        (_with_sources([-2]), False),
        (_with_sources([1.0]), False),
        (_with_sources([True]), False),
        (_with_sources(["1"]), False),
        ({**BRIEFING, "confidence": "high"}, False),
        ({k: v for k, v in BRIEFING.items() if k != "disagreements"}, False),
    ],
    ids=["full", "ids", "zero", "negative", "float", "bool", "string", "extra", "missing"],
)
def test_schema_and_pydantic_model_agree_on_briefings(data: dict[str, Any], valid: bool) -> None:
    parsed, problem = validate_json(json.dumps(data), BRIEFING_SCHEMA)
    assert (parsed is not None) is valid, problem
    if valid:
        assert BriefingOutput.model_validate(data).headline == BRIEFING["headline"]
    else:
        with pytest.raises(ValidationError):
            BriefingOutput.model_validate(data)


def test_answer_schema_accepts_an_unanswerable_answer_without_sources() -> None:
    answer = {
        "answer": "The sources do not say who called the strike.",
        "sources": [],
        "answerable": False,
    }
    parsed, problem = validate_json(json.dumps(answer), ANSWER_SCHEMA)
    assert parsed == answer, problem
    assert AnswerOutput.model_validate(parsed).answerable is False
    assert (
        validate_json('{"answer": "x", "sources": [0], "answerable": true}', ANSWER_SCHEMA)[0]
        is None
    )


def test_validation_problems_name_the_place_in_the_reply() -> None:
    assert validate_json("[1, 2]", BRIEFING_SCHEMA) == (None, "expected a JSON object, got list")
    _, problem = validate_json(json.dumps(_with_sources([0])), BRIEFING_SCHEMA)
    assert problem.startswith("at $.key_points[0].sources[0]:")
    _, problem = validate_json('{"headline": ', BRIEFING_SCHEMA)
    assert problem.startswith("not valid JSON: Expecting value at line 1")
