"""A fake Slack: the Web API and Socket Mode on one real local server, for the real SDKs.

One aiohttp server on 127.0.0.1 (port 0), running on its own event loop in a thread, so the
same started fake serves sync and async tests alike:

- ``{url}/api/<method>``: the Web API methods a bot app calls (``auth.test``,
  ``apps.connections.open``, ``chat.postMessage``, ``chat.postEphemeral``, ``chat.update``,
  ``users.info``, ``conversations.info``, ``conversations.history``,
  ``conversations.replies``, ``reactions.add``) in Slack's documented response shapes. Point
  ``AsyncWebClient(token=fake.bot_token, base_url=fake.api_url)`` at it. Tokens come as
  ``Authorization: Bearer`` (or a ``token`` parameter); bodies as a query string, a form or
  JSON. Errors are HTTP 200 with ``{"ok": false, "error": ...}`` like Slack's, except
  ``ratelimited``, which is a 429 with ``Retry-After``.
- ``{url}/socket?ticket=...``: the Socket Mode websocket that ``apps.connections.open``
  hands out. It greets with ``hello``, carries the envelopes a test pushes
  (``send_slash_command``, ``send_app_mention``, ``send_message``, ``send_bot_message``,
  ``redeliver``, ``send_disconnect``) and records every ack.
- ``{url}/response/<id>``: each slash command's ``response_url``; JSON posted there is kept.

Every Web API request is recorded (``fake.calls``), posted messages are kept per channel and
thread (``fake.posted``, ``fake.history``) with their ``metadata``, and failures can be
scripted per method (``fail_next``, ``rate_limit_next``). ``conversations.history`` and
``conversations.replies`` page with ``limit`` and ``cursor`` and show ``metadata`` only with
``include_all_metadata``, as Slack does.

``FakeSlack(pace_per_channel=1.0)`` paces ``chat.postMessage`` as Slack does (about one
message per second per channel): a post within that many seconds of the channel's previous
accepted one gets a 429 with ``Retry-After`` (``accepted_posts`` and ``paced_posts`` count
them). For crash tests, ``on_post(callback, stage=...)`` runs ``callback(params)`` in a
worker thread when a ``chat.postMessage`` arrives (``"before_store"``), once it is stored
(``"after_store"``, before the answer) or once it is answered (``"after_response"``);
``hold_posts(stage)`` keeps posts waiting there until ``release()`` (``wait_for_held``
says when one is waiting). Requests are validated as Slack does: the bot token (or
the app-level token for ``apps.connections.open``), a known channel, and Block Kit limits
(50 blocks, 3000-character section text, 150-character header).

    async def test_brief(fake_slack: FakeSlack) -> None:
        app = AsyncApp(client=AsyncWebClient(token=fake_slack.bot_token,
                                             base_url=fake_slack.api_url))
        ...
        envelope_id = await fake_slack.send_slash_command("port strike")
        ack = await fake_slack.wait_for_ack(envelope_id)
        [call] = await fake_slack.wait_for("chat.postMessage")
        assert call.params["channel"] == fake_slack.default_channel

Start it with ``with FakeSlack() as fake:`` (sync or async tests; the ``fake_slack``
fixture does this) or ``async with FakeSlack() as fake:``. The ``wait_for*`` and ``send_*``
helpers are coroutines and work from any event loop; they raise ``TimeoutError`` naming what
was seen when the wait runs out.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import math
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import WSMsgType, web

from tests.fakes.aioserver import ThreadedAioServer

BOT_TOKEN = "xoxb-1111-2222-fakebottoken"
APP_TOKEN = "xapp-1-A0FAKEAPP01-3333-fakeapptoken"
VERIFICATION_TOKEN = "fakeverificationtoken0001"  # the deprecated ``token`` in payloads

MAX_BLOCKS = 50
MAX_SECTION_TEXT = 3000
MAX_SECTION_FIELDS = 10
MAX_FIELD_TEXT = 2000
MAX_HEADER_TEXT = 150
MAX_CONTEXT_ELEMENTS = 10
MAX_BLOCK_ID = 255
MAX_MESSAGE_TEXT = 40000

_FIRST_TS = 1741600000_000100  # microseconds: "1741600000.000100"
_TS_STEP = 100

_APP_TOKEN_METHODS = frozenset({"apps.connections.open"})
POST_STAGES = ("before_store", "after_store", "after_response")
_JSON_PARAMS = ("blocks", "attachments", "metadata")


# -- records --


@dataclass
class ApiCall:
    """One Web API request as the fake saw it, and what it answered."""

    method: str  # "chat.postMessage"
    token: str | None
    params: dict[str, Any]  # query, form and JSON merged; blocks/attachments/metadata decoded
    at: float  # time.monotonic() on arrival
    http_method: str = "POST"
    status: int = 200
    response: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return bool(self.response.get("ok"))

    @property
    def error(self) -> str | None:
        error = self.response.get("error")
        return str(error) if error is not None else None


@dataclass
class Envelope:
    """An envelope the fake pushed over the websocket."""

    envelope_id: str | None
    body: dict[str, Any]
    sent_at: float  # time.monotonic()
    connection: int  # which connection (1, 2, ... in order of connecting) carried it


@dataclass
class Ack:
    """An acknowledgement (``{"envelope_id": ..., "payload": ...}``) the client sent back."""

    envelope_id: str
    payload: dict[str, Any] | None
    at: float  # time.monotonic() on arrival
    after: float | None  # seconds since its envelope was sent (None: unknown envelope)


@dataclass
class ResponseUrlPost:
    """JSON posted to a slash command's ``response_url``."""

    response_id: str
    body: dict[str, Any]
    at: float


@dataclass
class Failure:
    """A scripted failure of one Web API call."""

    error: str
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)

    def body(self) -> dict[str, Any]:
        return {"ok": False, "error": self.error}


@dataclass
class PostHook:
    """A callback run when a ``chat.postMessage`` reaches ``stage`` (see ``on_post``)."""

    callback: Callable[[dict[str, Any]], object]
    stage: str
    drop: bool = False  # before_store: then lose the request (nothing stored, no answer)


@dataclass
class FakeUser:
    id: str
    name: str
    real_name: str = ""
    is_admin: bool = False
    is_owner: bool = False
    is_primary_owner: bool = False
    is_bot: bool = False
    deleted: bool = False
    tz: str = "Europe/London"


@dataclass
class FakeChannel:
    id: str
    name: str
    is_private: bool = False
    is_member: bool = True
    is_archived: bool = False
    is_im: bool = False
    messages: list[dict[str, Any]] = field(default_factory=list)  # in posting order


class SlackValidationError(Exception):
    """A request Slack would refuse; ``error`` is Slack's error code."""

    def __init__(self, error: str, detail: str = "") -> None:
        super().__init__(detail or error)
        self.error = error
        self.detail = detail


def _truthy(value: Any) -> bool:
    return value in (True, 1, "1", "true", "True")


def _text_of(obj: Any) -> str:
    if isinstance(obj, dict):
        return str(obj.get("text", ""))
    return "" if obj is None else str(obj)


def validate_blocks(blocks: Any) -> None:
    """Raise ``SlackValidationError("invalid_blocks")`` where Slack would refuse ``blocks``."""
    if not isinstance(blocks, list):
        raise SlackValidationError("invalid_blocks_format", "blocks must be a JSON array")
    if len(blocks) > MAX_BLOCKS:
        raise SlackValidationError(
            "invalid_blocks", f"no more than {MAX_BLOCKS} items allowed [json-pointer:/blocks]"
        )
    for index, block in enumerate(blocks):
        where = f"[json-pointer:/blocks/{index}"
        if not isinstance(block, dict) or not isinstance(block.get("type"), str):
            raise SlackValidationError("invalid_blocks", f"missing required field: type {where}]")
        if len(str(block.get("block_id", ""))) > MAX_BLOCK_ID:
            raise SlackValidationError(
                "invalid_blocks", f"must be less than {MAX_BLOCK_ID + 1} characters {where}]"
            )
        kind = block["type"]
        if kind == "section":
            text = block.get("text")
            fields = block.get("fields")
            if text is None and not fields:
                raise SlackValidationError(
                    "invalid_blocks", f"must provide either text or fields {where}]"
                )
            if len(_text_of(text)) > MAX_SECTION_TEXT:
                raise SlackValidationError(
                    "invalid_blocks",
                    f"must be less than {MAX_SECTION_TEXT + 1} characters {where}/text/text]",
                )
            if fields is not None:
                if len(fields) > MAX_SECTION_FIELDS:
                    raise SlackValidationError(
                        "invalid_blocks",
                        f"no more than {MAX_SECTION_FIELDS} items allowed {where}/fields]",
                    )
                if any(len(_text_of(f)) > MAX_FIELD_TEXT for f in fields):
                    raise SlackValidationError(
                        "invalid_blocks",
                        f"must be less than {MAX_FIELD_TEXT + 1} characters {where}/fields]",
                    )
        elif kind == "header":
            text = block.get("text")
            if not isinstance(text, dict) or text.get("type") != "plain_text":
                raise SlackValidationError(
                    "invalid_blocks", f"must be a plain_text text object {where}/text]"
                )
            if len(_text_of(text)) > MAX_HEADER_TEXT:
                raise SlackValidationError(
                    "invalid_blocks",
                    f"must be less than {MAX_HEADER_TEXT + 1} characters {where}/text/text]",
                )
        elif kind == "context":
            elements = block.get("elements")
            if not isinstance(elements, list) or not elements:
                raise SlackValidationError(
                    "invalid_blocks", f"missing required field: elements {where}]"
                )
            if len(elements) > MAX_CONTEXT_ELEMENTS:
                raise SlackValidationError(
                    "invalid_blocks",
                    f"no more than {MAX_CONTEXT_ELEMENTS} items allowed {where}/elements]",
                )


class PostStages(ThreadedAioServer):
    """A chat fake whose posts (Slack's ``chat.postMessage``, Discord's ``POST
    /channels/{id}/messages``) pass three stages a crash test can act at: ``before_store``
    (arrived, nothing stored), ``after_store`` (stored, not answered), ``after_response``
    (answered). ``on_post`` runs a callback there; ``hold_posts`` keeps posts waiting there
    until ``release``."""

    def __init__(self) -> None:
        super().__init__()
        self._hooks: list[PostHook] = []
        self._holds: dict[str, asyncio.Event] = {}  # stage -> set when released
        self.held: list[dict[str, Any]] = []  # the params of posts waiting at a hold now
        self.held_total = 0  # posts that ever waited at a hold

    def on_post(
        self,
        callback: Callable[[dict[str, Any]], object],
        *,
        stage: str = "after_store",
        drop: bool = False,
    ) -> PostHook:
        """Run ``callback(params)`` (in a worker thread, so it may block, e.g. to SIGKILL
        the bot and wait for it to die) when a post reaches ``stage``:

        - ``"before_store"``: the request arrived, nothing is stored yet; with ``drop`` the
          request is then lost (nothing stored, the connection closed unanswered);
        - ``"after_store"``: the message is stored, the answer not yet sent;
        - ``"after_response"``: the answer has been sent.

        The answer waits for the callback. Remove it with ``remove_hook``."""
        if stage not in POST_STAGES:
            raise ValueError(f"stage must be one of {POST_STAGES}, not {stage!r}")
        if drop and stage != "before_store":
            raise ValueError("only a before_store hook can drop the request")
        hook = PostHook(callback, stage, drop)
        with self._lock:
            self._hooks.append(hook)
        return hook

    def remove_hook(self, hook: PostHook) -> None:
        with self._lock:
            if hook in self._hooks:
                self._hooks.remove(hook)

    def remove_hooks(self) -> None:
        """Drop every hook (posts go through untouched again)."""
        with self._lock:
            self._hooks.clear()

    def hold_posts(self, stage: str = "before_store") -> None:
        """Keep every post that reaches ``stage`` waiting there until
        ``release()``; ``held`` lists the waiting posts' params."""
        if stage not in POST_STAGES:
            raise ValueError(f"stage must be one of {POST_STAGES}, not {stage!r}")
        with self._lock:
            self._holds.setdefault(stage, asyncio.Event())

    def release(self) -> None:
        """Let every held post go on, and hold no more."""
        with self._lock:
            holds = list(self._holds.values())
            self._holds.clear()
        loop = self._loop
        for event in holds:
            if loop is not None:
                loop.call_soon_threadsafe(event.set)
            else:
                event.set()

    async def wait_for_held(self, count: int = 1, timeout: float = 5.0) -> list[dict[str, Any]]:
        """Wait until ``count`` posts have waited at a hold (since the fake started);
        return the params of those waiting now."""
        await self._wait(lambda: self.held_total >= count, timeout, f"{count} held posts")
        with self._lock:
            return [dict(p) for p in self.held]

    async def _at_stage(self, stage: str, params: dict[str, Any]) -> bool:
        """Run the hooks and the hold of ``stage``; ``False``: drop the request."""
        with self._lock:
            hooks = [h for h in self._hooks if h.stage == stage]
            hold = self._holds.get(stage)
        drop = False
        for hook in hooks:
            await asyncio.to_thread(hook.callback, dict(params))
            drop = drop or hook.drop
        if hold is not None:
            with self._lock:
                self.held.append(params)
                self.held_total += 1
            self._changed()
            try:
                await hold.wait()
            finally:
                with self._lock:
                    self.held.remove(params)
                self._changed()
        return not drop

    def _staged(self, stage: str) -> bool:
        with self._lock:
            return stage in self._holds or any(h.stage == stage for h in self._hooks)


# -- the fake --


class FakeSlack(PostStages):
    """The fake Slack server; start it with ``with`` / ``async with`` or the fixture."""

    thread_name = "fake-slack"

    def __init__(
        self,
        *,
        bot_token: str = BOT_TOKEN,
        app_token: str = APP_TOKEN,
        team_id: str = "T0FAKETEAM1",
        team: str = "Briefbot Test",
        team_domain: str = "briefbot-test",
        app_id: str = "A0FAKEAPP01",
        bot_id: str = "B0FAKEBOT01",
        bot_user_id: str = "U0FAKEBOT01",
        bot_name: str = "briefbot",
        auto_channels: bool = True,
        pace_per_channel: float | None = None,
    ) -> None:
        super().__init__()
        self.bot_token = bot_token
        self.app_token = app_token
        self.team_id = team_id
        self.team = team
        self.team_domain = team_domain
        self.app_id = app_id
        self.bot_id = bot_id
        self.bot_user_id = bot_user_id
        self.bot_name = bot_name
        # auto_channels: a channel id never added is taken as a public channel the bot is in.
        self.auto_channels = auto_channels
        # Seconds between accepted chat.postMessage calls per channel (Slack: about 1).
        self.pace_per_channel = pace_per_channel
        self.accepted_posts = 0  # chat.postMessage calls that stored a message
        self.paced_posts = 0  # chat.postMessage calls refused with 429 by the pacing

        self.default_channel = "C0FAKEGEN01"
        self.default_user = "U0FAKEUSR01"
        self.users: dict[str, FakeUser] = {}
        self.channels: dict[str, FakeChannel] = {}
        self.add_user(bot_user_id, bot_name, real_name="Briefbot", is_bot=True)
        self.add_user(self.default_user, "alex", real_name="Alex Doe")
        self.add_channel(self.default_channel, "general")

        self.calls: list[ApiCall] = []
        self.envelopes: list[Envelope] = []
        self.acks: list[Ack] = []
        self.responses: list[ResponseUrlPost] = []
        self.ephemerals: list[dict[str, Any]] = []  # chat.postEphemeral, with channel and user
        self.connections = 0  # websocket connections accepted so far
        self.socket_messages: list[str] = []  # raw text frames the client sent

        self._failures: dict[str, deque[Failure]] = {}
        self._last_ts = 0
        self._event_ts = itertools.count(_FIRST_TS - 50_000_000, _TS_STEP)  # before bot posts
        self._tickets: set[str] = set()
        self._sockets: list[tuple[int, web.WebSocketResponse]] = []  # open, oldest first
        self._events: dict[str, dict[str, Any]] = {}  # envelope_id -> envelope body
        self._last_post: dict[str, float] = {}  # channel -> monotonic time of its last post

    # -- setup --

    def add_user(
        self,
        user_id: str,
        name: str,
        *,
        real_name: str = "",
        is_admin: bool = False,
        is_owner: bool = False,
        is_bot: bool = False,
        deleted: bool = False,
    ) -> FakeUser:
        user = FakeUser(
            user_id,
            name,
            real_name or name.title(),
            is_admin=is_admin or is_owner,  # Slack reports owners as admins too
            is_owner=is_owner,
            is_bot=is_bot,
            deleted=deleted,
        )
        with self._lock:
            self.users[user_id] = user
        return user

    def add_channel(
        self,
        channel_id: str,
        name: str,
        *,
        is_private: bool = False,
        is_member: bool = True,
        is_archived: bool = False,
    ) -> FakeChannel:
        channel = FakeChannel(
            channel_id,
            name,
            is_private=is_private,
            is_member=is_member,
            is_archived=is_archived,
            is_im=channel_id.startswith("D"),
        )
        with self._lock:
            self.channels[channel_id] = channel
        return channel

    def fail_next(self, method: str, error: str, *, times: int = 1) -> None:
        """Answer the next ``times`` calls of ``method`` with ``{"ok": false, "error": error}``.

        E.g. ``not_in_channel``, ``channel_not_found``, ``invalid_auth``, ``token_revoked``,
        ``account_inactive``, ``ratelimited`` (see ``rate_limit_next`` for the 429).
        """
        self._script(method, Failure(error), times)

    def fail_next_with_status(
        self, method: str, status: int, *, error: str = "fatal_error", times: int = 1
    ) -> None:
        """Answer the next ``times`` calls of ``method`` with HTTP ``status`` (a 500 or 503
        as Slack's edge sends when it is down) and ``{"ok": false, "error": error}``."""
        self._script(method, Failure(error, status), times)

    def rate_limit_next(self, method: str, *, retry_after: int = 0, times: int = 1) -> None:
        """Answer the next ``times`` calls of ``method`` with HTTP 429 and ``Retry-After``."""
        failure = Failure("ratelimited", 429, {"Retry-After": str(retry_after)})
        self._script(method, failure, times)

    def _script(self, method: str, failure: Failure, times: int) -> None:
        with self._lock:
            self._failures.setdefault(method, deque()).extend([failure] * times)

    # -- addresses --

    @property
    def url(self) -> str:
        assert self._port, "FakeSlack not started"
        return f"http://127.0.0.1:{self._port}"

    @property
    def api_url(self) -> str:
        """The Web API base URL, for ``AsyncWebClient(base_url=...)`` (ends with a slash)."""
        return f"{self.url}/api/"

    def response_url(self, response_id: str) -> str:
        return f"{self.url}/response/{response_id}"

    # -- inspection --

    def calls_to(self, method: str) -> list[ApiCall]:
        with self._lock:
            return [c for c in self.calls if c.method == method]

    def history(self, channel: str) -> list[dict[str, Any]]:
        """Every message in a channel, threads included, oldest first."""
        with self._lock:
            found = self.channels.get(channel)
            return [dict(m) for m in found.messages] if found else []

    def posted(
        self, channel: str | None = None, *, thread_ts: str | None = None
    ) -> list[dict[str, Any]]:
        """The messages the bot posted (``chat.postMessage``), oldest first, as Slack stores
        them: ``text``, ``blocks``, ``ts``, ``thread_ts``, ``metadata``, plus ``channel``.
        ``thread_ts`` keeps only the replies in that thread."""
        with self._lock:
            channels = [self.channels[channel]] if channel in self.channels else []
            if channel is None:
                channels = list(self.channels.values())
            found = [
                {**m, "channel": c.id}
                for c in channels
                for m in c.messages
                if m.get("bot_id") == self.bot_id
            ]
        if thread_ts is not None:
            found = [m for m in found if m.get("thread_ts") == thread_ts and m["ts"] != thread_ts]
        return sorted(found, key=lambda m: m["ts"])

    def _next_ts(self) -> int:
        """A message ``ts`` as Slack makes them: the posting time in microseconds since the
        epoch (``conversations.history``'s ``oldest`` compares against it), never repeated."""
        with self._lock:
            self._last_ts = max(_now_micros(), self._last_ts + _TS_STEP)
            return self._last_ts

    def ack_for(self, envelope_id: str) -> Ack | None:
        with self._lock:
            return next((a for a in self.acks if a.envelope_id == envelope_id), None)

    # -- waiting --

    async def wait_for(
        self,
        method: str,
        count: int = 1,
        timeout: float = 5.0,
        *,
        where: Callable[[ApiCall], bool] | None = None,
    ) -> list[ApiCall]:
        """Wait until ``count`` calls of ``method`` (matching ``where``) have been answered;
        return them all (at least ``count``), oldest first."""

        def matching() -> list[ApiCall]:
            return [c for c in self.calls_to(method) if where is None or where(c)]

        try:
            await self._wait(lambda: len(matching()) >= count, timeout, f"{count} {method}")
        except TimeoutError as exc:
            seen = [(c.method, c.error or "ok") for c in self.calls]
            raise TimeoutError(f"{exc}; calls so far: {seen}") from None
        return matching()

    async def wait_for_ack(self, envelope_id: str, timeout: float = 5.0) -> Ack:
        """Wait for the client's ack of ``envelope_id``; ``ack.at`` is when it arrived."""
        await self._wait(
            lambda: self.ack_for(envelope_id) is not None, timeout, f"ack of {envelope_id}"
        )
        ack = self.ack_for(envelope_id)
        assert ack is not None
        return ack

    async def wait_for_connection(self, count: int = 1, timeout: float = 5.0) -> None:
        """Wait until ``count`` websocket connections have been made and greeted (``hello``)."""
        await self._wait(
            lambda: self.connections >= count and bool(self._sockets),
            timeout,
            f"socket mode connection #{count}",
        )

    async def wait_for_response(
        self, count: int = 1, timeout: float = 5.0
    ) -> list[ResponseUrlPost]:
        """Wait until ``count`` posts to response URLs have arrived; return them all."""
        await self._wait(
            lambda: len(self.responses) >= count, timeout, f"{count} response_url posts"
        )
        with self._lock:
            return list(self.responses)

    # -- socket mode: pushing envelopes --

    async def send_envelope(self, body: dict[str, Any], timeout: float = 5.0) -> str | None:
        """Send ``body`` over the newest connection (waiting for one); return its envelope id."""
        await self.wait_for_connection(1, timeout)
        with self._lock:
            number, ws = self._sockets[-1]
        envelope_id = body.get("envelope_id")
        with self._lock:
            self.envelopes.append(Envelope(envelope_id, body, time.monotonic(), number))
            if envelope_id is not None:
                self._events[envelope_id] = body
        assert self._loop is not None
        sent = asyncio.run_coroutine_threadsafe(ws.send_json(body), self._loop)
        await asyncio.wrap_future(sent)
        return envelope_id

    async def send_slash_command(
        self,
        text: str = "",
        *,
        command: str = "/brief",
        channel_id: str | None = None,
        channel_name: str | None = None,
        user_id: str | None = None,
        user_name: str | None = None,
    ) -> str:
        """Push a ``slash_commands`` envelope as Slack sends ``/brief text``; return its id.

        Its ``response_url`` is ``{url}/response/<id>`` (see ``responses``).
        """
        channel_id = channel_id or self.default_channel
        user_id = user_id or self.default_user
        with self._lock:
            channel = self.channels.get(channel_id)
            user = self.users.get(user_id)
        response_id = f"{self.team_id}/{_digits(13)}/{uuid.uuid4().hex[:24]}"
        payload = {
            "token": VERIFICATION_TOKEN,
            "team_id": self.team_id,
            "team_domain": self.team_domain,
            "channel_id": channel_id,
            "channel_name": channel_name or (channel.name if channel else "privategroup"),
            "user_id": user_id,
            "user_name": user_name or (user.name if user else "someone"),
            "command": command,
            "text": text,
            "api_app_id": self.app_id,
            "is_enterprise_install": "false",
            "response_url": self.response_url(response_id),
            "trigger_id": f"{_digits(13)}.{_digits(13)}.{uuid.uuid4().hex}",
        }
        envelope_id = str(uuid.uuid4())
        await self.send_envelope(
            {
                "envelope_id": envelope_id,
                "payload": payload,
                "type": "slash_commands",
                "accepts_response_payload": True,
            }
        )
        return envelope_id

    async def send_event(
        self,
        event: dict[str, Any],
        *,
        event_id: str | None = None,
        retry_attempt: int = 0,
        retry_reason: str = "",
    ) -> str:
        """Push an ``events_api`` envelope carrying ``event``; return its envelope id."""
        payload = {
            "token": VERIFICATION_TOKEN,
            "team_id": self.team_id,
            "context_team_id": self.team_id,
            "context_enterprise_id": None,
            "api_app_id": self.app_id,
            "event": event,
            "type": "event_callback",
            "event_id": event_id or f"Ev{uuid.uuid4().hex[:9].upper()}",
            "event_time": int(float(event.get("event_ts", time.time()))),
            "authorizations": [
                {
                    "enterprise_id": None,
                    "team_id": self.team_id,
                    "user_id": self.bot_user_id,
                    "is_bot": True,
                    "is_enterprise_install": False,
                }
            ],
            "is_ext_shared_channel": False,
            "event_context": f"4-{uuid.uuid4().hex}",
        }
        if event.get("type") in ("message", "app_mention") and "bot_id" not in event:
            self._store_event_message(event)  # a user's message: history and replies show it
        envelope_id = str(uuid.uuid4())
        await self.send_envelope(
            {
                "envelope_id": envelope_id,
                "payload": payload,
                "type": "events_api",
                "accepts_response_payload": False,
                "retry_attempt": retry_attempt,
                "retry_reason": retry_reason,
            }
        )
        return envelope_id

    async def redeliver(self, envelope_id: str, *, retry_reason: str = "timeout") -> str:
        """Deliver an event again as Slack retries it: same ``event_id``, a new envelope id,
        ``retry_attempt`` one more, ``retry_reason`` (``"timeout"``, ``"http_error"`` ...)."""
        with self._lock:
            first = self._events[envelope_id]
        payload = first["payload"]
        return await self.send_event(
            payload["event"],
            event_id=payload["event_id"],
            retry_attempt=int(first.get("retry_attempt", 0)) + 1,
            retry_reason=retry_reason,
        )

    async def send_app_mention(
        self,
        text: str,
        *,
        channel: str | None = None,
        user: str | None = None,
        thread_ts: str | None = None,
    ) -> str:
        """Push an ``app_mention``; ``text`` gets ``<@bot>`` in front unless it mentions it."""
        mention = f"<@{self.bot_user_id}>"
        full = text if mention in text else f"{mention} {text}"
        return await self.send_event(self.app_mention_event(full, channel, user, thread_ts))

    async def send_message(
        self,
        text: str,
        *,
        channel: str | None = None,
        user: str | None = None,
        thread_ts: str | None = None,
    ) -> str:
        """Push a user's ``message`` event (a thread reply with ``thread_ts``)."""
        return await self.send_event(self.message_event(text, channel, user, thread_ts))

    async def send_bot_message(
        self, text: str, *, channel: str | None = None, bot_id: str | None = None
    ) -> str:
        """Push a ``message`` with ``subtype: bot_message`` (by default from this bot)."""
        return await self.send_event(self.bot_message_event(text, channel, bot_id))

    async def send_disconnect(self, reason: str = "refresh_requested") -> None:
        """Ask the client to reconnect, as Slack does before recycling a connection."""
        await self.send_envelope(
            {"type": "disconnect", "reason": reason, "debug_info": {"host": "applink-fake-1"}}
        )

    # -- event payload builders (documented shapes) --

    def next_event_ts(self) -> str:
        return _format_ts(next(self._event_ts))

    def app_mention_event(
        self,
        text: str,
        channel: str | None = None,
        user: str | None = None,
        thread_ts: str | None = None,
    ) -> dict[str, Any]:
        event = self.message_event(text, channel, user, thread_ts)
        event["type"] = "app_mention"
        del event["channel_type"]
        return event

    def message_event(
        self,
        text: str,
        channel: str | None = None,
        user: str | None = None,
        thread_ts: str | None = None,
    ) -> dict[str, Any]:
        ts = self.next_event_ts()
        channel = channel or self.default_channel
        event: dict[str, Any] = {
            "type": "message",
            "user": user or self.default_user,
            "text": text,
            "ts": ts,
            "client_msg_id": str(uuid.uuid4()),
            "team": self.team_id,
            "blocks": [_rich_text(text)],
            "channel": channel,
            "event_ts": ts,
            "channel_type": "im" if channel.startswith("D") else "channel",
        }
        if thread_ts is not None:
            event["thread_ts"] = thread_ts
            parent = self._find_message(channel, thread_ts)
            if parent is not None and "user" in parent:
                event["parent_user_id"] = parent["user"]
        return event

    def bot_message_event(
        self, text: str, channel: str | None = None, bot_id: str | None = None
    ) -> dict[str, Any]:
        ts = self.next_event_ts()
        bot_id = bot_id or self.bot_id
        return {
            "type": "message",
            "subtype": "bot_message",
            "text": text,
            "ts": ts,
            "bot_id": bot_id,
            "app_id": self.app_id if bot_id == self.bot_id else "A0OTHERAPP1",
            "username": self.bot_name if bot_id == self.bot_id else "other-bot",
            "channel": channel or self.default_channel,
            "event_ts": ts,
            "channel_type": "channel",
        }

    # -- lifecycle --

    def routes(self, app: web.Application) -> None:
        app.router.add_route("*", "/api/{method}", self._api)
        app.router.add_get("/socket", self._socket)
        app.router.add_post("/response/{response_id:.+}", self._response_url)

    async def close_connections(self) -> None:
        with self._lock:
            sockets = [ws for _, ws in self._sockets]
        for ws in sockets:
            await ws.close()

    # -- the Web API --

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        params: dict[str, Any] = dict(request.query)
        if request.can_read_body:
            if request.content_type == "application/json":
                body = await request.json()
                if isinstance(body, dict):
                    params.update(body)
            else:
                form = await request.post()
                params.update({k: v for k, v in form.items() if isinstance(v, str)})
        for key in _JSON_PARAMS:
            if isinstance(params.get(key), str):
                with contextlib.suppress(json.JSONDecodeError):  # else left as sent
                    params[key] = json.loads(params[key])
        token = params.pop("token", None)
        auth = request.headers.get("Authorization", "")
        if auth.startswith("Bearer "):
            token = auth.removeprefix("Bearer ")
        call = ApiCall(method, token, params, time.monotonic(), request.method)
        posting = method == "chat.postMessage"
        if posting and not await self._at_stage("before_store", params):
            with self._lock:
                self.calls.append(call)  # status 0: lost before Slack answered
            call.status = 0
            self._changed()
            if request.transport is not None:
                request.transport.close()
            return web.Response(status=500)  # never reaches the closed connection
        status, headers, response = self._answer(call)
        call.status, call.response = status, response
        with self._lock:
            self.calls.append(call)
        self._changed()
        if posting and call.ok:
            await self._at_stage("after_store", params)
        answer = web.json_response(response, status=status, headers=headers)
        if posting and call.ok and self._staged("after_response"):
            await answer.prepare(request)
            await answer.write_eof()
            await self._at_stage("after_response", params)
        return answer

    def _answer(self, call: ApiCall) -> tuple[int, dict[str, str], dict[str, Any]]:
        with self._lock:
            queued = self._failures.get(call.method)
            failure = queued.popleft() if queued else None
        if failure is not None:
            return failure.status, failure.headers, failure.body()
        handler = _METHODS.get(call.method)
        if handler is None:
            return 404, {}, {"ok": False, "error": "unknown_method"}
        token_error = self._check_token(call)
        if token_error:
            return 200, {}, {"ok": False, "error": token_error}
        paced = self._paced(call)
        if paced is not None:
            return paced.status, paced.headers, paced.body()
        try:
            with self._lock:
                response = handler(self, call.params)
        except SlackValidationError as exc:
            body: dict[str, Any] = {"ok": False, "error": exc.error}
            if exc.detail:
                body["errors"] = [exc.detail]
                body["response_metadata"] = {"messages": [f"[ERROR] {exc.detail}"]}
            return 200, {}, body
        return 200, {}, {"ok": True, **response}

    def _paced(self, call: ApiCall) -> Failure | None:
        """The 429 of a post too soon after its channel's previous one, when pacing."""
        if call.method != "chat.postMessage" or self.pace_per_channel is None:
            return None
        channel = str(call.params.get("channel", ""))
        now = time.monotonic()
        with self._lock:
            last = self._last_post.get(channel)
            if last is not None and now - last < self.pace_per_channel:
                self.paced_posts += 1
                wait = max(1, math.ceil(self.pace_per_channel - (now - last)))
                return Failure("ratelimited", 429, {"Retry-After": str(wait)})
        return None

    def _check_token(self, call: ApiCall) -> str | None:
        if not call.token:
            return "not_authed"
        wanted = self.app_token if call.method in _APP_TOKEN_METHODS else self.bot_token
        if call.token == wanted:
            return None
        if call.token in (self.app_token, self.bot_token):
            return "not_allowed_token_type"
        return "invalid_auth"

    # method implementations: called with the lock held, return the body after "ok": true

    def _auth_test(self, params: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "url": f"https://{self.team_domain}.slack.com/",
            "team": self.team,
            "user": self.bot_name,
            "team_id": self.team_id,
            "user_id": self.bot_user_id,
            "bot_id": self.bot_id,
            "is_enterprise_install": False,
        }

    def _apps_connections_open(self, params: Mapping[str, Any]) -> dict[str, Any]:
        ticket = str(uuid.uuid4())
        self._tickets.add(ticket)
        return {"url": f"ws://127.0.0.1:{self._port}/socket?ticket={ticket}&app_id={self.app_id}"}

    def _channel(self, params: Mapping[str, Any], key: str = "channel") -> FakeChannel:
        channel_id = params.get(key)
        if not channel_id or not isinstance(channel_id, str):
            raise SlackValidationError("channel_not_found")
        channel = self.channels.get(channel_id)
        if channel is None:
            if not self.auto_channels or channel_id[0] not in "CGD":
                raise SlackValidationError("channel_not_found")
            channel = self.add_channel(channel_id, channel_id.lower())
        return channel

    def _writable_channel(self, params: Mapping[str, Any]) -> FakeChannel:
        channel = self._channel(params)
        if channel.is_archived:
            raise SlackValidationError("is_archived")
        if not channel.is_member:
            raise SlackValidationError("not_in_channel")
        return channel

    def _content(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """The text, blocks, attachments and metadata of a message, validated."""
        text = params.get("text")
        blocks = params.get("blocks")
        attachments = params.get("attachments")
        if not text and not blocks and not attachments:
            raise SlackValidationError("no_text")
        if text is not None and len(str(text)) > MAX_MESSAGE_TEXT:
            raise SlackValidationError("msg_too_long")
        content: dict[str, Any] = {"text": str(text or "")}
        if blocks is not None:
            validate_blocks(blocks)
            content["blocks"] = blocks
        if attachments is not None:
            content["attachments"] = attachments
        metadata = params.get("metadata")
        if metadata is not None:
            if not isinstance(metadata, dict) or not isinstance(metadata.get("event_type"), str):
                raise SlackValidationError("invalid_metadata_format")
            content["metadata"] = {
                "event_type": metadata["event_type"],
                "event_payload": metadata.get("event_payload", {}),
            }
        return content

    def _bot_message(self, ts: str, content: dict[str, Any]) -> dict[str, Any]:
        return {
            "user": self.bot_user_id,
            "type": "message",
            "ts": ts,
            "bot_id": self.bot_id,
            "app_id": self.app_id,
            **content,
            "team": self.team_id,
            "bot_profile": {
                "id": self.bot_id,
                "deleted": False,
                "name": self.bot_name,
                "updated": 1741500000,
                "app_id": self.app_id,
                "team_id": self.team_id,
            },
        }

    def _chat_post_message(self, params: Mapping[str, Any]) -> dict[str, Any]:
        channel = self._writable_channel(params)
        content = self._content(params)
        ts = _format_ts(self._next_ts())
        message = self._bot_message(ts, content)
        thread_ts = params.get("thread_ts")
        if thread_ts:
            # Slack answers ok for an unknown thread_ts too (the reply is then seen nowhere);
            # the fake keeps it, so posted(thread_ts=...) finds it.
            message["thread_ts"] = str(thread_ts)
            parent = self._find_message(channel.id, str(thread_ts))
            if parent is not None:
                message["parent_user_id"] = parent.get("user", parent.get("bot_id"))
                _add_reply(parent, message)
            if _truthy(params.get("reply_broadcast")):
                message["subtype"] = "thread_broadcast"
        channel.messages.append(message)
        self.accepted_posts += 1
        self._last_post[channel.id] = time.monotonic()
        shown = {k: v for k, v in message.items() if k != "reply_users"}
        return {"channel": channel.id, "ts": ts, "message": shown}

    def _chat_post_ephemeral(self, params: Mapping[str, Any]) -> dict[str, Any]:
        channel = self._writable_channel(params)
        user = params.get("user")
        if not user or user not in self.users:
            raise SlackValidationError("user_not_in_channel")
        content = self._content(params)
        ts = _format_ts(self._next_ts())
        self.ephemerals.append(
            {**self._bot_message(ts, content), "channel": channel.id, "user": user}
        )
        return {"message_ts": ts}

    def _chat_update(self, params: Mapping[str, Any]) -> dict[str, Any]:
        channel = self._writable_channel(params)
        message = self._find_message(channel.id, str(params.get("ts", "")))
        if message is None:
            raise SlackValidationError("message_not_found")
        if message.get("bot_id") != self.bot_id:
            raise SlackValidationError("cant_update_message")
        content = self._content(params)
        message.update(content)
        message["edited"] = {"user": self.bot_user_id, "ts": _format_ts(self._next_ts())}
        shown = {k: v for k, v in message.items() if k not in ("reply_users", "ts")}
        return {
            "channel": channel.id,
            "ts": message["ts"],
            "text": message["text"],
            "message": shown,
        }

    def _users_info(self, params: Mapping[str, Any]) -> dict[str, Any]:
        user = self.users.get(str(params.get("user", "")))
        if user is None:
            raise SlackValidationError("user_not_found")
        return {"user": _user_object(user, self.team_id)}

    def _conversations_info(self, params: Mapping[str, Any]) -> dict[str, Any]:
        channel = self._channel(params)
        return {"channel": _channel_object(channel)}

    def _conversations_history(self, params: Mapping[str, Any]) -> dict[str, Any]:
        channel = self._channel(params)
        if channel.is_private and not channel.is_member:
            raise SlackValidationError("channel_not_found")
        with_metadata = _truthy(params.get("include_all_metadata"))
        top = [
            m
            for m in channel.messages
            if "thread_ts" not in m
            or m["thread_ts"] == m["ts"]
            or m.get("subtype") == "thread_broadcast"
        ]
        newest_first = [m for m in reversed(top) if _in_range(m["ts"], params)]
        start = _cursor_ts(params)
        if start is not None:  # this page starts at the cursor's message, going back
            newest_first = [m for m in newest_first if _micros(m["ts"]) <= start]
        limit = _limit(params, 100)
        page, rest = newest_first[:limit], newest_first[limit:]
        return {
            "messages": [_shown(m, with_metadata) for m in page],
            "has_more": bool(rest),
            "pin_count": 0,
            "channel_actions_ts": None,
            "channel_actions_count": 0,
            "response_metadata": {"next_cursor": _cursor(rest[0]["ts"]) if rest else ""},
        }

    def _conversations_replies(self, params: Mapping[str, Any]) -> dict[str, Any]:
        channel = self._channel(params)
        ts = str(params.get("ts", ""))
        parent = self._find_message(channel.id, ts)
        if parent is None:
            raise SlackValidationError("thread_not_found")
        root = str(parent.get("thread_ts", ts))
        with_metadata = _truthy(params.get("include_all_metadata"))
        thread = [m for m in channel.messages if m["ts"] == root or m.get("thread_ts") == root]
        thread = [m for m in thread if m["ts"] == root or _in_range(m["ts"], params)]
        start = _cursor_ts(params)
        if start is not None:  # a later page: from the cursor's reply on, no parent
            thread = [m for m in thread if m["ts"] != root and _micros(m["ts"]) >= start]
        limit = _limit(params, 1000)
        page, rest = thread[:limit], thread[limit:]
        return {
            "messages": [_shown(m, with_metadata) for m in page],
            "has_more": bool(rest),
            "response_metadata": {"next_cursor": _cursor(rest[0]["ts"]) if rest else ""},
        }

    def _reactions_add(self, params: Mapping[str, Any]) -> dict[str, Any]:
        channel = self._writable_channel(params)
        name = str(params.get("name", "")).strip(":")
        if not name:
            raise SlackValidationError("invalid_name")
        message = self._find_message(channel.id, str(params.get("timestamp", "")))
        if message is None:
            raise SlackValidationError("message_not_found")
        reactions: list[dict[str, Any]] = message.setdefault("reactions", [])
        reaction = next((r for r in reactions if r["name"] == name), None)
        if reaction is None:
            reaction = {"name": name, "users": [], "count": 0}
            reactions.append(reaction)
        if self.bot_user_id in reaction["users"]:
            raise SlackValidationError("already_reacted")
        reaction["users"].append(self.bot_user_id)
        reaction["count"] += 1
        return {}

    def _find_message(self, channel_id: str, ts: str) -> dict[str, Any] | None:
        with self._lock:
            channel = self.channels.get(channel_id)
            if channel is None:
                return None
            return next((m for m in channel.messages if m["ts"] == ts), None)

    def _store_event_message(self, event: dict[str, Any]) -> None:
        """Keep a user's message from an event, so history and replies include it."""
        channel_id = str(event.get("channel", ""))
        with self._lock:
            if channel_id not in self.channels:
                self.add_channel(channel_id, channel_id.lower())
            if self._find_message(channel_id, str(event["ts"])) is not None:
                return  # the app_mention and the message event of one message, or a retry
            keep = ("type", "subtype", "user", "bot_id", "text", "ts", "blocks", "thread_ts")
            message = {k: event[k] for k in keep if k in event}
            message["type"] = "message"
            message["team"] = self.team_id
            parent = self._find_message(channel_id, str(event.get("thread_ts", "")))
            if parent is not None:
                message["parent_user_id"] = parent.get("user")
                _add_reply(parent, message)
            self.channels[channel_id].messages.append(message)

    # -- socket mode and response URLs --

    async def _socket(self, request: web.Request) -> web.StreamResponse:
        ticket = request.query.get("ticket", "")
        with self._lock:
            known = ticket in self._tickets
        if not known:
            return web.Response(status=401, text="invalid ticket")
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        with self._lock:
            self.connections += 1
            number = self.connections
        await ws.send_json(
            {
                "type": "hello",
                "num_connections": len(self._sockets) + 1,
                "debug_info": {
                    "host": "applink-fake-1",
                    "build_number": 1,
                    "approximate_connection_time": 18060,
                },
                "connection_info": {"app_id": self.app_id},
            }
        )
        with self._lock:
            self._sockets.append((number, ws))
        self._changed()
        try:
            async for frame in ws:
                if frame.type == WSMsgType.TEXT:
                    self._received(str(frame.data))
        finally:
            with self._lock:
                self._sockets.remove((number, ws))
            self._changed()
        return ws

    def _received(self, text: str) -> None:
        now = time.monotonic()
        with self._lock:
            self.socket_messages.append(text)
            try:
                message = json.loads(text)
            except json.JSONDecodeError:
                return
            envelope_id = message.get("envelope_id") if isinstance(message, dict) else None
            if not isinstance(envelope_id, str):
                return
            sent = next((e for e in self.envelopes if e.envelope_id == envelope_id), None)
            payload = message.get("payload")
            self.acks.append(
                Ack(
                    envelope_id,
                    payload if isinstance(payload, dict) else None,
                    now,
                    now - sent.sent_at if sent else None,
                )
            )
        self._changed()

    async def _response_url(self, request: web.Request) -> web.Response:
        body = await request.json()
        with self._lock:
            self.responses.append(
                ResponseUrlPost(request.match_info["response_id"], body, time.monotonic())
            )
        self._changed()
        return web.Response(text="ok")


_METHODS: dict[str, Callable[[FakeSlack, Mapping[str, Any]], dict[str, Any]]] = {
    "auth.test": FakeSlack._auth_test,
    "apps.connections.open": FakeSlack._apps_connections_open,
    "chat.postMessage": FakeSlack._chat_post_message,
    "chat.postEphemeral": FakeSlack._chat_post_ephemeral,
    "chat.update": FakeSlack._chat_update,
    "users.info": FakeSlack._users_info,
    "conversations.info": FakeSlack._conversations_info,
    "conversations.history": FakeSlack._conversations_history,
    "conversations.replies": FakeSlack._conversations_replies,
    "reactions.add": FakeSlack._reactions_add,
}


# -- helpers --


def _now_micros() -> int:
    return time.time_ns() // 1000


def _format_ts(micros: int) -> str:
    return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"


def _digits(n: int) -> str:
    return str(uuid.uuid4().int)[:n]


def _cursor(ts: str) -> str:
    """A page cursor as Slack makes them: base64 of ``next_ts:<ts without the dot>``."""
    return base64.b64encode(f"next_ts:{_micros(ts)}".encode()).decode()


def _micros(ts: str) -> int:
    seconds, _, fraction = ts.partition(".")
    return int(seconds) * 1_000_000 + int((fraction + "000000")[:6])


def _cursor_ts(params: Mapping[str, Any]) -> int | None:
    """The ts (in microseconds) a ``cursor`` points at; ``invalid_cursor`` for one we never
    made."""
    cursor = params.get("cursor")
    if not cursor:
        return None
    try:
        text = base64.b64decode(str(cursor), validate=True).decode()
        digits = text.removeprefix("next_ts:")
        if digits == text or not digits.isdigit():
            raise ValueError(text)
    except ValueError:
        raise SlackValidationError("invalid_cursor") from None
    return int(digits)


def _limit(params: Mapping[str, Any], default: int) -> int:
    try:
        limit = int(params.get("limit") or default)
    except (TypeError, ValueError):
        raise SlackValidationError("invalid_limit") from None
    return max(1, min(limit, 999))


def _in_range(ts: str, params: Mapping[str, Any]) -> bool:
    inclusive = _truthy(params.get("inclusive"))
    value = float(ts)
    if params.get("oldest"):
        oldest = float(params["oldest"])
        if value < oldest or (value == oldest and not inclusive):
            return False
    if params.get("latest"):
        latest = float(params["latest"])
        if value > latest or (value == latest and not inclusive):
            return False
    return True


def _add_reply(parent: dict[str, Any], reply: dict[str, Any]) -> None:
    parent.setdefault("thread_ts", parent["ts"])
    parent["reply_count"] = parent.get("reply_count", 0) + 1
    parent["latest_reply"] = reply["ts"]
    users: list[str] = parent.setdefault("reply_users", [])
    author = reply.get("user") or reply.get("bot_id")
    if author and author not in users:
        users.append(author)
    parent["reply_users_count"] = len(users)


def _shown(message: dict[str, Any], with_metadata: bool) -> dict[str, Any]:
    shown = dict(message)
    if not with_metadata:
        shown.pop("metadata", None)
    return shown


def _rich_text(text: str) -> dict[str, Any]:
    return {
        "type": "rich_text",
        "block_id": uuid.uuid4().hex[:5],
        "elements": [{"type": "rich_text_section", "elements": [{"type": "text", "text": text}]}],
    }


def _user_object(user: FakeUser, team_id: str) -> dict[str, Any]:
    return {
        "id": user.id,
        "team_id": team_id,
        "name": user.name,
        "deleted": user.deleted,
        "color": "9f69e7",
        "real_name": user.real_name,
        "tz": user.tz,
        "tz_label": "Greenwich Mean Time",
        "tz_offset": 0,
        "profile": {
            "real_name": user.real_name,
            "display_name": user.name,
            "real_name_normalized": user.real_name,
            "display_name_normalized": user.name,
            "team": team_id,
        },
        "is_admin": user.is_admin,
        "is_owner": user.is_owner,
        "is_primary_owner": user.is_primary_owner,
        "is_restricted": False,
        "is_ultra_restricted": False,
        "is_bot": user.is_bot,
        "is_app_user": False,
        "updated": 1741500000,
    }


def _channel_object(channel: FakeChannel) -> dict[str, Any]:
    return {
        "id": channel.id,
        "name": channel.name,
        "is_channel": not channel.is_private and not channel.is_im,
        "is_group": channel.is_private,
        "is_im": channel.is_im,
        "is_mpim": False,
        "is_private": channel.is_private or channel.is_im,
        "created": 1741000000,
        "is_archived": channel.is_archived,
        "is_general": channel.name == "general",
        "unlinked": 0,
        "name_normalized": channel.name,
        "is_shared": False,
        "is_org_shared": False,
        "is_member": channel.is_member,
        "creator": "U0FAKEUSR01",
        "topic": {"value": "", "creator": "", "last_set": 0},
        "purpose": {"value": "", "creator": "", "last_set": 0},
        "previous_names": [],
    }


@pytest.fixture
def fake_slack() -> Iterator[FakeSlack]:
    """A started ``FakeSlack`` (its own thread, so sync and async tests can both use it)."""
    with FakeSlack() as fake:
        yield fake
