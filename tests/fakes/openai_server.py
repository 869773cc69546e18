"""A fake OpenAI-compatible server: real HTTP on 127.0.0.1, scripted replies and faults.

``GET /v1/models`` lists the one model (``fail_models`` scripts its errors).
``POST /v1/chat/completions`` answers in OpenAI's wire format: a ``chat.completion`` object,
or with ``"stream": true`` a ``text/event-stream`` of ``chat.completion.chunk`` objects ending
with ``data: [DONE]`` (plus a usage chunk when ``stream_options.include_usage`` is set).
Errors use OpenAI's error body ``{"error": {"message", "type", "param", "code"}}``.

Each request takes the next scripted item from the queue:

- a ``str``: a normal reply with that content (``finish_reason: "stop"``);
- a ``Completion``: full control (finish reason, refusal, usage, delay, hold);
- a ``Failure``: an HTTP error (see ``rate_limited``, ``server_error``,
  ``context_length_exceeded``, ``json_schema_unsupported``);
- ``DROP``: the connection closes half-way through the response body;
- a callable taking the parsed request body and returning any of the above.

With ``reject_json_schema=True`` the server behaves like servers without structured outputs:
every request with ``response_format.type == "json_schema"`` gets a 400 without using up a
scripted item. Every request body is recorded (``server.bodies``) for assertions.

Requests are served concurrently, each on its own thread. ``Completion(hold=event)`` keeps
its request waiting, unanswered, until the test sets ``event`` (a hung model reply);
``server.held`` and ``server.in_flight`` count the requests waiting and being handled, and
``server.wait_until_held(n)`` blocks until ``n`` requests are held.

    def test_x(openai_server):
        openai_server.script('{"answer": "yes"}', rate_limited(retry_after="2"))
        settings = Settings(openai_base_url=openai_server.base_url)
        ...
        assert openai_server.bodies[0]["response_format"]["type"] == "json_schema"
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.fakes.http import FakeHTTPServer, Recorded, Reply

DEFAULT_MODEL = "gpt-4.1-mini-2025-04-14"


@dataclass
class Completion:
    """A scripted 200 reply. Token counts default to a rough count of the request and reply."""

    content: str | None = ""
    finish_reason: str = "stop"
    refusal: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    usage: bool = True  # False: leave ``usage`` out, like some local servers
    delay: float = 0.0  # seconds before answering (to trigger client timeouts)
    hold: threading.Event | None = None  # answer only once the test sets it (a hung reply)


@dataclass
class Failure:
    """A scripted HTTP error with an OpenAI-style error body."""

    status: int
    message: str
    type: str = "invalid_request_error"
    param: str | None = None
    code: str | None = None
    headers: dict[str, str] = field(default_factory=dict)

    def body(self) -> dict[str, Any]:
        return {
            "error": {
                "message": self.message,
                "type": self.type,
                "param": self.param,
                "code": self.code,
            }
        }


class _Drop:
    """Close the connection after sending part of the response body."""

    def __repr__(self) -> str:
        return "DROP"


DROP = _Drop()

Scripted = str | Completion | Failure | _Drop
Script = Scripted | Callable[[dict[str, Any]], Scripted]


def rate_limited(
    retry_after: str | None = "1", *, code: str = "rate_limit_exceeded", retry_after_ms: str = ""
) -> Failure:
    headers = {"Retry-After": retry_after} if retry_after is not None else {}
    if retry_after_ms:
        headers["retry-after-ms"] = retry_after_ms
    return Failure(
        429,
        "Rate limit reached for gpt-4.1-mini in organization org-fake on tokens per min (TPM): "
        "Limit 200000, Used 199500, Requested 1800. Please try again in 1.2s.",
        type="tokens",
        code=code,
        headers=headers,
    )


def insufficient_quota() -> Failure:
    return Failure(
        429,
        "You exceeded your current quota, please check your plan and billing details.",
        type="insufficient_quota",
        code="insufficient_quota",
    )


def server_error(status: int = 500, *, retry_after: str | None = None) -> Failure:
    headers = {"Retry-After": retry_after} if retry_after is not None else {}
    message = {
        500: "The server had an error while processing your request. Sorry about that!",
        502: "Bad gateway.",
        503: "The engine is currently overloaded, please try again later.",
    }.get(status, "Server error.")
    return Failure(status, message, type="server_error", headers=headers)


def context_length_exceeded(limit: int = 128000, requested: int = 131072) -> Failure:
    return Failure(
        400,
        f"This model's maximum context length is {limit} tokens. However, your messages "
        f"resulted in {requested} tokens. Please reduce the length of the messages.",
        param="messages",
        code="context_length_exceeded",
    )


def json_schema_unsupported() -> Failure:
    """The 400 a server without structured outputs gives for ``json_schema``."""
    return Failure(
        400,
        "Invalid parameter: 'response_format' of type 'json_schema' is not supported with "
        "this model.",
        param="response_format",
    )


def refusal(text: str = "I'm sorry, but I can't help with that request.") -> Completion:
    return Completion(content=None, refusal=text)


def truncated(content: str) -> Completion:
    """A reply cut off at the token limit (``finish_reason: "length"``)."""
    return Completion(content=content, finish_reason="length")


HOLD_LIMIT = 10.0  # seconds a held request waits for its event before answering anyway


def _rough_tokens(text: str) -> int:
    return max(1, len(text) // 4)


class FakeOpenAI:
    """The fake server; use as a context manager or through the ``openai_server`` fixture."""

    def __init__(self, *, model: str = DEFAULT_MODEL, reject_json_schema: bool = False) -> None:
        self.model = model
        self.reject_json_schema = reject_json_schema
        self._http = FakeHTTPServer()
        self._http.route("POST", "/v1/chat/completions", self._handle)
        self._http.route("GET", "/v1/models", self._models)
        self._models_failures: deque[Failure] = deque()
        self._queue: deque[Script] = deque()
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._counter = 0
        self._in_flight = 0
        self._held = 0

    # -- scripting and inspection --

    def script(self, *items: Script) -> None:
        """Append replies for the next requests, in order."""
        with self._lock:
            self._queue.extend(items)

    def fail_models(self, *failures: Failure) -> None:
        """Answer the next ``GET /v1/models`` requests with these errors, in order."""
        with self._lock:
            self._models_failures.extend(failures)

    def clear(self) -> None:
        """Drop the scripted items not used yet."""
        with self._lock:
            self._queue.clear()

    @property
    def pending(self) -> int:
        """Scripted items not used yet."""
        return len(self._queue)

    @property
    def in_flight(self) -> int:
        """Requests received whose reply is not made yet (held ones; a ``delay`` comes after)."""
        return self._in_flight

    @property
    def held(self) -> int:
        """Requests waiting on a ``Completion.hold`` event right now."""
        return self._held

    def wait_until_held(self, count: int = 1, timeout: float = HOLD_LIMIT) -> bool:
        """Block until ``count`` requests are held; False if that takes over ``timeout`` s."""
        with self._changed:
            return self._changed.wait_for(lambda: self._held >= count, timeout)

    @property
    def base_url(self) -> str:
        """What ``OPENAI_BASE_URL`` should be: ``http://127.0.0.1:<port>/v1``."""
        return self._http.url("/v1")

    @property
    def requests(self) -> list[Recorded]:
        return [r for r in self._http.requests if r.path == "/v1/chat/completions"]

    @property
    def bodies(self) -> list[dict[str, Any]]:
        """Parsed JSON bodies of every chat completion request, in arrival order."""
        return [json.loads(r.body) for r in self.requests]

    # -- lifecycle --

    def start(self) -> FakeOpenAI:
        self._http.start()
        return self

    def stop(self) -> None:
        self._http.stop()

    def __enter__(self) -> FakeOpenAI:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- the endpoint --

    def _handle(self, request: Recorded) -> Reply:
        with self._changed:
            self._in_flight += 1
        try:
            return self._answer(request)
        finally:
            with self._changed:
                self._in_flight -= 1
                self._changed.notify_all()

    def _models(self, request: Recorded) -> Reply:
        with self._lock:
            failure = self._models_failures.popleft() if self._models_failures else None
        if failure is not None:
            return self._failure(failure)
        model = {"id": self.model, "object": "model", "created": 1744588800, "owned_by": "system"}
        payload = json.dumps({"object": "list", "data": [model]})
        return Reply(200, payload, {"Content-Type": "application/json"})

    def _hold(self, event: threading.Event) -> None:
        with self._changed:
            self._held += 1
            self._changed.notify_all()
        try:
            event.wait(HOLD_LIMIT)
        finally:
            with self._changed:
                self._held -= 1
                self._changed.notify_all()

    def _answer(self, request: Recorded) -> Reply:
        try:
            body = json.loads(request.body)
        except ValueError:
            return self._failure(Failure(400, "We could not parse the JSON body of your request."))
        response_format = body.get("response_format") or {}
        if self.reject_json_schema and response_format.get("type") == "json_schema":
            return self._failure(json_schema_unsupported())
        with self._lock:
            item = self._queue.popleft() if self._queue else None
        if item is None:
            return self._failure(
                Failure(500, "fake OpenAI server: no scripted reply left", type="server_error")
            )
        scripted = item(body) if callable(item) else item
        if isinstance(scripted, str):
            scripted = Completion(content=scripted)
        if isinstance(scripted, Completion) and scripted.hold is not None:
            self._hold(scripted.hold)
        if isinstance(scripted, Failure):
            return self._failure(scripted)
        if isinstance(scripted, _Drop):
            whole = json.dumps(self._completion(body, Completion("{}"))).encode()
            return Reply(
                200,
                headers={"Content-Type": "application/json", "Content-Length": str(len(whole))},
                chunks=[whole[: len(whole) // 2]],
            )
        if body.get("stream"):
            return self._stream(body, scripted)
        payload = json.dumps(self._completion(body, scripted))
        return Reply(200, payload, {"Content-Type": "application/json"}, delay=scripted.delay)

    def _failure(self, failure: Failure) -> Reply:
        headers = {"Content-Type": "application/json", **failure.headers}
        return Reply(failure.status, json.dumps(failure.body()), headers)

    def _next_id(self) -> str:
        with self._lock:
            self._counter += 1
            return f"chatcmpl-fake{self._counter:06d}"

    def _usage(self, body: dict[str, Any], reply: Completion) -> dict[str, Any]:
        prompt = reply.prompt_tokens
        if prompt is None:
            prompt = sum(_rough_tokens(str(m.get("content", ""))) + 3 for m in body["messages"])
        completion = reply.completion_tokens
        if completion is None:
            completion = _rough_tokens(reply.content or reply.refusal or "")
        return {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
            "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
            "completion_tokens_details": {
                "reasoning_tokens": 0,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            },
        }

    def _completion(self, body: dict[str, Any], reply: Completion) -> dict[str, Any]:
        completion: dict[str, Any] = {
            "id": self._next_id(),
            "object": "chat.completion",
            "created": int(time.time()),
            "model": self.model,
            "choices": [
                {
                    "index": 0,
                    "message": {
                        "role": "assistant",
                        "content": reply.content,
                        "refusal": reply.refusal,
                        "annotations": [],
                    },
                    "logprobs": None,
                    "finish_reason": reply.finish_reason,
                }
            ],
            "service_tier": "default",
            "system_fingerprint": "fp_fake0001",
        }
        if reply.usage:
            completion["usage"] = self._usage(body, reply)
        return completion

    def _stream(self, body: dict[str, Any], reply: Completion) -> Reply:
        ident, created = self._next_id(), int(time.time())
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))

        def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
            event: dict[str, Any] = {
                "id": ident,
                "object": "chat.completion.chunk",
                "created": created,
                "model": self.model,
                "system_fingerprint": "fp_fake0001",
                "choices": [
                    {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
                ],
            }
            if include_usage:
                event["usage"] = None
            return event

        events = [chunk({"role": "assistant", "content": "", "refusal": None})]
        if reply.refusal:
            events.append(chunk({"refusal": reply.refusal}))
        for piece in _pieces(reply.content or ""):
            events.append(chunk({"content": piece}))
        events.append(chunk({}, reply.finish_reason))
        if include_usage and reply.usage:
            events.append(
                {
                    "id": ident,
                    "object": "chat.completion.chunk",
                    "created": created,
                    "model": self.model,
                    "system_fingerprint": "fp_fake0001",
                    "choices": [],
                    "usage": self._usage(body, reply),
                }
            )
        lines = [f"data: {json.dumps(event)}\n\n".encode() for event in events]
        lines.append(b"data: [DONE]\n\n")
        return Reply(
            200,
            headers={"Content-Type": "text/event-stream; charset=utf-8"},
            chunks=lines,
            delay=reply.delay,
        )


def _pieces(content: str, size: int = 3) -> Iterator[str]:
    """Split content into pieces of a few words, keeping every character."""
    words = content.split(" ")
    for start in range(0, len(words), size):
        piece = " ".join(words[start : start + size])
        yield piece if start + size >= len(words) else piece + " "


@pytest.fixture
def openai_server() -> Iterator[FakeOpenAI]:
    """A started ``FakeOpenAI``; point ``OPENAI_BASE_URL`` at ``openai_server.base_url``."""
    with FakeOpenAI() as server:
        yield server
