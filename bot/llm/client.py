"""The OpenAI-compatible chat client: JSON replies checked against a schema, with retries.

``LLMClient`` wraps the official ``openai`` SDK (the only module that imports it) with
``openai.AsyncOpenAI``, and is the summarizer's ``ChatModel`` port. It talks to OpenAI or to
any OpenAI-compatible server given by ``OPENAI_BASE_URL`` (Ollama, vLLM, llama.cpp; those
need no key, so a placeholder is sent). What it adds to the SDK:

- **Explicit timeouts**: ``BRIEFBOT_LLM_TIMEOUT`` (read/write) and
  ``BRIEFBOT_LLM_CONNECT_TIMEOUT``, never the SDK's ten-minute default.
- **Our retry policy**, declared with ``stamina`` (the SDK's own retries are off): up to
  ``BRIEFBOT_LLM_MAX_RETRIES`` retries on 429, 5xx and connection errors, with exponential
  backoff, or the server's ``Retry-After`` / ``retry-after-ms`` when it sends one (capped at
  ``RETRY_AFTER_CAP`` seconds). Not retried: read timeouts (a second 60-second wait rarely
  helps a scheduled digest), exhausted quota (``insufficient_quota``) and other 4xx errors.
  Under ``stamina.set_testing(True, ...)`` nothing sleeps.
- **Structured output**: ``complete_json`` asks for a strict ``json_schema`` response format.
  With ``BRIEFBOT_STRUCTURED_OUTPUT=auto``, a server that rejects that with a 400 naming
  ``response_format`` / ``json_schema`` is remembered and asked for ``json_object`` instead,
  with the schema appended to the system message. The reply is parsed and validated
  (``bot.summarize.schema.validate_json``); an invalid reply gets ONE repair round with the
  ``repair`` prompt (the invalid output, the validation error and the schema, without the
  sources), and is then returned or refused with ``LLMInvalidOutput``.
- **Errors that name the cause**, in the ``LLMError`` tree of ``bot.errors``; ``str(error)``
  is a sentence fit for a visible note. Errors raised after the server answered carry the
  tokens spent in ``usage`` and the model that answered in ``model``.
- **Prices**: ``token_usage`` prices tokens with ``bot.summarize.pricing`` (the model's list
  price, or the ``BRIEFBOT_PRICE_*`` overrides); a model with no known price costs ``None``.

The request sends ``max_completion_tokens`` to OpenAI itself and ``max_tokens`` to other
servers, which mostly know only the older name.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from types import TracebackType
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx2
import openai
import stamina
from openai import omit
from openai.types.chat import (
    ChatCompletion,
    ChatCompletionAssistantMessageParam,
    ChatCompletionChunk,
    ChatCompletionMessageParam,
    ChatCompletionSystemMessageParam,
    ChatCompletionUserMessageParam,
)
from openai.types.shared_params import ResponseFormatJSONObject, ResponseFormatJSONSchema

from bot.config import Settings
from bot.domain import TokenUsage
from bot.errors import (
    DROPPED,
    ConfigError,
    LLMConnectionError,
    LLMContextLengthError,
    LLMError,
    LLMInvalidOutput,
    LLMRateLimited,
    LLMRefusal,
    LLMRequestError,
    LLMServerError,
    LLMStructuredOutputUnsupported,
    LLMTimeout,
    LLMTruncated,
)
from bot.summarize.ports import LLMResult, Strategy, Usage
from bot.summarize.pricing import resolve_price
from bot.summarize.prompts import ChatMessage, PromptSet, load_prompts, neutralize
from bot.summarize.schema import validate_json
from bot.summarize.tokens import count_message_tokens, count_tokens

log = logging.getLogger(__name__)

OPENAI_BASE_URL = "https://api.openai.com/v1"
PLACEHOLDER_API_KEY = "no-key-needed"  # local servers ignore the key; the SDK wants one
RETRY_AFTER_CAP = 30.0  # seconds; a longer Retry-After is shortened to this
_WAIT_INITIAL, _WAIT_MAX, _WAIT_JITTER = 0.5, 8.0, 0.5  # exponential backoff without Retry-After
_SERVER_MESSAGE_LIMIT = 300

T = TypeVar("T")


# --- Retry policy -----------------------------------------------------------------------------


def retry_backoff(exc: Exception) -> bool | float:
    """stamina backoff hook: False = give up, True = exponential backoff, float = wait that long.

    Retries rate limits (except an exhausted quota), 5xx and connection errors; a
    ``Retry-After`` from the server is honoured up to ``RETRY_AFTER_CAP`` seconds.
    """
    if isinstance(exc, LLMRateLimited):
        if exc.code == "insufficient_quota":
            return False
        return _after(exc.retry_after)
    if isinstance(exc, LLMServerError):
        return _after(exc.retry_after)
    return isinstance(exc, LLMConnectionError)


def _after(retry_after: float | None) -> bool | float:
    if retry_after is None:
        return True
    wait = min(retry_after, RETRY_AFTER_CAP)
    log.info("Retry-After %.1f s from the model server (capped: %.1f s)", retry_after, wait)
    return wait


def parse_retry_after(headers: httpx2.Headers, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from ``retry-after-ms``, ``Retry-After: <seconds>`` or an HTTP date."""
    milliseconds = headers.get("retry-after-ms")
    if milliseconds:
        try:
            value = float(milliseconds) / 1000
        except ValueError:
            value = math.nan
        if math.isfinite(value) and value >= 0:
            return value
    raw = headers.get("retry-after")
    if not raw:
        return None
    try:
        seconds = float(raw)
    except ValueError:
        try:
            when = parsedate_to_datetime(raw)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


# --- Client -----------------------------------------------------------------------------------

_SCHEMA_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_CONTEXT_HINTS = re.compile(
    r"context[ _](length|window|size)|maximum context|too many tokens|prompt is too long", re.I
)


class LLMClient:
    """Chat completions against the server configured in ``Settings``.

    Build one per process and reuse it: it keeps a connection pool and remembers whether
    the server supports ``json_schema``. Thread-safe for concurrent calls.
    """

    def __init__(self, settings: Settings, *, prompts: PromptSet | None = None) -> None:
        if not settings.llm_configured:
            raise ConfigError(
                "No LLM is configured. Set OPENAI_API_KEY to use OpenAI, or OPENAI_BASE_URL "
                "to use an OpenAI-compatible server such as Ollama (http://localhost:11434/v1)."
            )
        self.settings = settings
        self.prompts = (
            prompts if prompts is not None else load_prompts(settings.resolved_prompts_dir)
        )
        self.base_url = (settings.openai_base_url or OPENAI_BASE_URL).rstrip("/")
        key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else ""
        self._openai = openai.AsyncOpenAI(
            api_key=key or PLACEHOLDER_API_KEY,
            base_url=self.base_url,
            timeout=openai.Timeout(settings.llm_timeout, connect=settings.llm_connect_timeout),
            max_retries=0,
        )
        self._official = urlsplit(self.base_url).hostname == urlsplit(OPENAI_BASE_URL).hostname
        self._json_schema_rejected = False

    # -- public API --

    @property
    def strategy(self) -> Strategy:
        """How ``complete_json`` will constrain the next reply."""
        mode = self.settings.structured_output
        if mode == "json_object" or (mode == "auto" and self._json_schema_rejected):
            return "json_object"
        return "json_schema"

    async def complete_json(
        self,
        messages: Sequence[ChatMessage],
        *,
        schema_name: str,
        schema: dict[str, Any],
        max_tokens: int | None = None,
    ) -> LLMResult:
        """Ask for one JSON object matching ``schema``; return it parsed and validated.

        Raises an ``LLMError`` subclass when no valid object can be had (see the module doc).
        """
        if not _SCHEMA_NAME.match(schema_name):
            raise ValueError(f"schema_name must be 1-64 letters, digits, _ or -: {schema_name!r}")
        limit = max_tokens or self.settings.max_completion_tokens
        first = await self._complete_structured(messages, schema_name, schema, limit)
        data, problem = validate_json(first.content, schema)
        if data is not None:
            return _with_data(first, data)
        log.warning(
            "model reply is not valid %s JSON (%s); asking for one repair", schema_name, problem
        )
        repair = self.prompts.repair.render(
            invalid_output=neutralize(first.content),
            error=problem,
            schema=json.dumps(schema, indent=2),
        )
        try:
            second = await self._complete_structured(repair, schema_name, schema, limit)
        except LLMError as exc:
            exc.usage = first.usage + exc.usage if exc.usage else first.usage
            exc.model = exc.model or first.model
            raise
        usage = first.usage + second.usage
        data, problem = validate_json(second.content, schema)
        if data is None:
            error = LLMInvalidOutput(
                f"The model's reply is not valid {schema_name} JSON, even after one repair "
                f"round: {problem}",
                content=second.content,
                problem=problem,
            )
            error.usage = usage
            error.model = second.model
            raise error
        return LLMResult(
            second.content, data, usage, second.model, second.strategy, second.finish_reason, True
        )

    async def stream_text(
        self, messages: Sequence[ChatMessage], *, max_tokens: int | None = None
    ) -> TextStream:
        """Stream a plain-text reply; ``async for`` the text pieces, then read ``.result``."""
        limit = max_tokens or self.settings.max_completion_tokens

        async def open_stream() -> openai.AsyncStream[ChatCompletionChunk]:
            return await self._openai.chat.completions.create(
                model=self.settings.model,
                messages=_wire_messages(messages),
                stream=True,
                stream_options={"include_usage": True},
                max_completion_tokens=limit if self._official else omit,
                max_tokens=omit if self._official else limit,
                temperature=omit
                if self.settings.llm_temperature is None
                else self.settings.llm_temperature,
            )

        stream = await self._with_retries(lambda: self._call(open_stream))
        return TextStream(self, stream, messages, limit)

    async def list_models(self) -> list[str]:
        """The ids of the models the server offers (``GET /models``), asked once, without
        retries and without spending tokens: a health check of the URL and the key."""

        async def ask() -> list[str]:
            page = await self._openai.models.list()
            return [model.id for model in page.data]

        return await self._call(ask)

    def token_usage(self, usage: Usage, model: str | None = None) -> TokenUsage:
        """The domain's ``TokenUsage`` for ``usage`` spent on ``model`` (the name the server
        reported; the configured ``BRIEFBOT_MODEL`` when it is not given), priced at the
        model's list price or the BRIEFBOT_PRICE_* overrides; cost ``None`` when neither is
        known."""
        name = model or self.settings.model
        price = resolve_price(
            name,
            input_override=self.settings.price_prompt_per_mtok,
            output_override=self.settings.price_completion_per_mtok,
        )
        cost = price.cost_usd(usage.prompt_tokens, usage.completion_tokens) if price else None
        return TokenUsage(usage.prompt_tokens, usage.completion_tokens, cost, model=name)

    async def close(self) -> None:
        await self._openai.close()

    async def __aenter__(self) -> LLMClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # -- one structured call --

    async def _complete_structured(
        self,
        messages: Sequence[ChatMessage],
        schema_name: str,
        schema: dict[str, Any],
        max_tokens: int,
    ) -> LLMResult:
        strategy = self.strategy
        if strategy == "json_schema":
            try:
                return await self._complete_once(
                    messages, schema_name, schema, max_tokens, strategy
                )
            except LLMStructuredOutputUnsupported as exc:
                if self.settings.structured_output != "auto":
                    raise
                self._json_schema_rejected = True
                log.warning("using response_format json_object from now on: %s", exc)
        return await self._complete_once(messages, schema_name, schema, max_tokens, "json_object")

    async def _complete_once(
        self,
        messages: Sequence[ChatMessage],
        schema_name: str,
        schema: dict[str, Any],
        max_tokens: int,
        strategy: Strategy,
    ) -> LLMResult:
        response_format: ResponseFormatJSONSchema | ResponseFormatJSONObject
        if strategy == "json_schema":
            response_format = {
                "type": "json_schema",
                "json_schema": {"name": schema_name, "schema": schema, "strict": True},
            }
        else:
            response_format = {"type": "json_object"}
            messages = _with_schema_instruction(messages, schema)

        completion = await self._with_retries(
            lambda: self._call(lambda: self._create(messages, max_tokens, response_format))
        )
        return self._checked(completion, messages, max_tokens, strategy)

    def _checked(
        self,
        completion: ChatCompletion,
        messages: Sequence[ChatMessage],
        max_tokens: int,
        strategy: Strategy,
    ) -> LLMResult:
        choice = completion.choices[0] if completion.choices else None
        content = (choice.message.content or "") if choice else ""
        usage = _usage(completion, messages, content)
        error: LLMError | None = None
        if choice is None:
            error = LLMInvalidOutput(f"The model server at {self.base_url} returned no choices.")
        elif choice.message.refusal:
            error = LLMRefusal(choice.message.refusal)
        elif choice.finish_reason == "content_filter":
            error = LLMRefusal("the server's content filter stopped the reply")
        elif choice.finish_reason == "length":
            error = LLMTruncated(max_tokens, content)
        elif not content.strip():
            error = LLMInvalidOutput("The model returned an empty reply.")
        model = completion.model or self.settings.model
        if error is not None:
            error.usage = usage
            error.model = model
            raise error
        assert choice is not None
        return LLMResult(content, None, usage, model, strategy, choice.finish_reason)

    # -- transport --

    async def _create(
        self,
        messages: Sequence[ChatMessage],
        max_tokens: int,
        response_format: ResponseFormatJSONSchema | ResponseFormatJSONObject,
    ) -> ChatCompletion:
        reply: object = await self._openai.chat.completions.create(
            model=self.settings.model,
            messages=_wire_messages(messages),
            response_format=response_format,
            max_completion_tokens=max_tokens if self._official else omit,
            max_tokens=omit if self._official else max_tokens,
            temperature=omit
            if self.settings.llm_temperature is None
            else self.settings.llm_temperature,
        )
        if not isinstance(reply, ChatCompletion):  # e.g. an HTML page at a wrong base URL
            raise LLMInvalidOutput(
                f"The server at {self.base_url} did not answer like an OpenAI-compatible API "
                "(no JSON chat completion); check OPENAI_BASE_URL, which usually ends in /v1."
            )
        return reply

    async def _with_retries(self, call: Callable[[], Awaitable[T]]) -> T:
        async for attempt in stamina.retry_context(
            on=retry_backoff,
            attempts=self.settings.llm_max_retries + 1,
            timeout=None,
            wait_initial=_WAIT_INITIAL,
            wait_max=_WAIT_MAX,
            wait_jitter=_WAIT_JITTER,
        ):
            with attempt:
                return await call()
        raise AssertionError("unreachable: stamina re-raises the last error")

    async def _call(self, call: Callable[[], Awaitable[T]]) -> T:
        try:
            return await call()
        except openai.APIError as exc:
            raise self._translate(exc) from exc

    def _translate(self, exc: openai.APIError) -> LLMError:
        if isinstance(exc, openai.APITimeoutError):
            if isinstance(exc.__cause__, httpx2.ConnectTimeout):
                within = f"no connection within {self.settings.llm_connect_timeout:g} s"
                return LLMConnectionError(
                    self.base_url, f"{within} (BRIEFBOT_LLM_CONNECT_TIMEOUT)", reason=within
                )
            return LLMTimeout(self.base_url, self.settings.llm_timeout)
        if isinstance(exc, openai.APIConnectionError):
            cause = exc.__cause__
            detail = f"{type(cause).__name__}: {_os_reason(cause)}" if cause else exc.message
            return LLMConnectionError(
                self.base_url, detail.rstrip("."), reason=_plain_reason(cause)
            )
        if not isinstance(exc, openai.APIStatusError):
            return LLMInvalidOutput(f"The model server's reply could not be read: {exc.message}")
        status = exc.status_code
        said = _server_message(exc)
        retry_after = parse_retry_after(exc.response.headers)
        if status == 429:
            if exc.code == "insufficient_quota":
                return LLMRateLimited(
                    f"The OpenAI account has run out of quota (429 insufficient_quota): {said}",
                    retry_after=None,
                    code=exc.code,
                )
            wait = f" (Retry-After {retry_after:g} s)" if retry_after is not None else ""
            return LLMRateLimited(
                f"The model server is rate limiting requests (429){wait}: {said}",
                retry_after=retry_after,
                code=exc.code,
            )
        if status >= 500:
            return LLMServerError(
                status,
                f"The model server at {self.base_url} failed with HTTP {status}: {said}",
                retry_after=retry_after,
            )
        if exc.code == "context_length_exceeded" or (
            status in (400, 413, 422) and _CONTEXT_HINTS.search(said)
        ):
            return LLMContextLengthError(
                status,
                f"The prompt is too long for model {self.settings.model} ({said}); lower "
                "BRIEFBOT_PROMPT_TOKEN_BUDGET.",
            )
        if status == 400 and _rejects_json_schema(exc, said):
            return LLMStructuredOutputUnsupported(
                status,
                f"The model server at {self.base_url} does not support response_format "
                f"json_schema ({said}); set BRIEFBOT_STRUCTURED_OUTPUT=auto or json_object.",
            )
        if status in (401, 403):
            fix = "check OPENAI_API_KEY"
        elif status == 404:
            fix = f"check BRIEFBOT_MODEL ({self.settings.model}) and OPENAI_BASE_URL"
        else:
            fix = "see the server's message"
        return LLMRequestError(
            status,
            f"The model server at {self.base_url} refused the request with HTTP "
            f"{status}: {said}; {fix}.",
        )


class TextStream:
    """A streamed plain-text reply: ``async for`` the text pieces, then read ``result``."""

    def __init__(
        self,
        client: LLMClient,
        stream: openai.AsyncStream[ChatCompletionChunk],
        messages: Sequence[ChatMessage],
        max_tokens: int,
    ) -> None:
        self._client = client
        self._stream = stream
        self._messages = messages
        self._max_tokens = max_tokens
        self._result: LLMResult | None = None

    async def __aiter__(self) -> AsyncIterator[str]:
        pieces: list[str] = []
        finish_reason = "stop"
        model = self._client.settings.model
        usage: Usage | None = None
        try:
            async for chunk in self._stream:
                model = chunk.model or model
                if chunk.usage is not None:
                    usage = Usage(chunk.usage.prompt_tokens, chunk.usage.completion_tokens)
                for choice in chunk.choices:
                    if choice.delta.refusal:
                        raise LLMRefusal(choice.delta.refusal)
                    if choice.delta.content:
                        pieces.append(choice.delta.content)
                        yield choice.delta.content
                    if choice.finish_reason:
                        finish_reason = choice.finish_reason
        except openai.APIError as exc:  # the SDK wraps transport errors met mid-stream
            raise self._client._translate(exc) from exc
        finally:
            await self._stream.close()
        content = "".join(pieces)
        if usage is None:
            usage = _estimated_usage(self._messages, content)
        if finish_reason == "length":
            error = LLMTruncated(self._max_tokens, content)
            error.usage = usage
            error.model = model
            raise error
        self._result = LLMResult(content, None, usage, model, "text", finish_reason)

    @property
    def result(self) -> LLMResult:
        if self._result is None:
            raise RuntimeError("iterate the stream to its end before reading its result")
        return self._result


# --- Helpers ----------------------------------------------------------------------------------


def _os_reason(error: BaseException) -> str:
    """The operating system's words for a failed connection ("Connection refused"), found
    under the async transport's "All connection attempts failed"; else the error's own."""
    seen: BaseException | None = error
    while seen is not None:
        number = getattr(seen, "errno", None)
        if isinstance(seen, OSError) and isinstance(number, int):
            return f"[Errno {number}] {os.strerror(number)}"
        seen = seen.__cause__ or seen.__context__
    return str(error)


def _plain_reason(error: BaseException | None) -> str:
    """The operating system's words alone, lower case ("connection refused"), for a note."""
    seen = error
    while seen is not None:
        number = getattr(seen, "errno", None)
        if isinstance(seen, OSError) and isinstance(number, int):
            return os.strerror(number).lower()
        seen = seen.__cause__ or seen.__context__
    if isinstance(error, httpx2.RemoteProtocolError | httpx2.ReadError):
        return DROPPED
    return ""


def _with_data(result: LLMResult, data: dict[str, Any]) -> LLMResult:
    return LLMResult(
        result.content, data, result.usage, result.model, result.strategy, result.finish_reason
    )


def _with_schema_instruction(
    messages: Sequence[ChatMessage], schema: dict[str, Any]
) -> list[ChatMessage]:
    """JSON mode does not carry the schema, so it goes at the end of the system message."""
    instruction = (
        "Reply with one JSON object, and nothing else, that matches this JSON Schema:\n"
        + json.dumps(schema, indent=2)
    )
    out = [ChatMessage(role=m["role"], content=m["content"]) for m in messages]
    for message in out:
        if message["role"] == "system":
            message["content"] = f"{message['content']}\n\n{instruction}"
            return out
    return [ChatMessage(role="system", content=instruction), *out]


def _wire_messages(messages: Sequence[ChatMessage]) -> list[ChatCompletionMessageParam]:
    wire: list[ChatCompletionMessageParam] = []
    for message in messages:
        role, content = message["role"], message["content"]
        if role == "system":
            wire.append(ChatCompletionSystemMessageParam(role="system", content=content))
        elif role == "user":
            wire.append(ChatCompletionUserMessageParam(role="user", content=content))
        else:
            wire.append(ChatCompletionAssistantMessageParam(role="assistant", content=content))
    return wire


def _usage(completion: ChatCompletion, messages: Sequence[ChatMessage], content: str) -> Usage:
    if completion.usage is None:
        return _estimated_usage(messages, content)
    return Usage(completion.usage.prompt_tokens, completion.usage.completion_tokens)


def _estimated_usage(messages: Sequence[ChatMessage], content: str) -> Usage:
    """Some local servers send no ``usage``; budgets still need a number."""
    return Usage(count_message_tokens(messages), count_tokens(content), estimated=True)


def _server_message(exc: openai.APIStatusError) -> str:
    body = exc.body
    message: object = None
    if isinstance(body, dict):
        message = body.get("message") or body.get("error") or body.get("detail")
    elif isinstance(body, str):
        message = body
    text = " ".join(str(message or exc.response.reason_phrase or "no details").split())
    if len(text) > _SERVER_MESSAGE_LIMIT:
        text = text[: _SERVER_MESSAGE_LIMIT - 1] + "…"
    return text.rstrip(".")


def _rejects_json_schema(exc: openai.APIStatusError, said: str) -> bool:
    if exc.param == "response_format":
        return True
    lowered = said.lower()
    return "json_schema" in lowered or "response_format" in lowered
