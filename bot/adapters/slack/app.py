"""The Slack app: slack-bolt's ``AsyncApp`` translating Slack to the chat core and back.

What it serves (see ``slack/manifest.yml`` for the app's side):

- ``/brief ...``: the chat grammar (``/brief ukraine``, ``/brief subscribe ukraine daily
  08:00``, ``/brief list`` ...). The command is acked at once, before any I/O: a briefing's
  ack carries the ephemeral "Briefing ukraine…", so nothing waits on the network for it.
  The work then runs as a task of its own; a briefing is posted with ``chat.postMessage`` as
  Block Kit (the rest of a long one in the first message's thread) and its ``ts`` is
  recorded with its briefing and stories; other replies go through the command's
  ``response_url``, privately when the core says so.
- ``/brief ask TOPIC QUESTION``: answered from the channel's latest briefing of the topic
  (``BriefingService.answer``), posted with ``chat.postMessage`` and recorded
  (``record_answer``), so a question in its thread continues from it.
- ``app_mention`` anywhere, and (with ``message.channels``) a reply in a thread of a
  briefing the bot posted: a question about that thread's stories, or a command.
- A delivery is answered once: the payload's ``event_id`` is claimed in the database (a
  retry carries the same one and a new ``envelope_id``), and so is the message itself (a
  mention arrives both as ``app_mention`` and as ``message``). Messages from bots, the app's
  own included, are ignored.

Every Web API client has ``base_url`` from ``BRIEFBOT_SLACK_API_URL`` and slack_sdk's rate
limit retry handler (429s wait for ``Retry-After``). Slack's errors that an operator or a
user can fix (``not_in_channel``, ``channel_not_found``, ``invalid_auth``,
``token_revoked``, ``account_inactive``) are logged and, where Slack still lets us, told to
the user. Nothing here logs a token: log records go through ``bot.redact``.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp import web
from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler
from slack_bolt.app.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_bolt.middleware.authorization.async_single_team_authorization import (
    AsyncSingleTeamAuthorization,
)
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.http_retry.async_handler import AsyncRetryHandler
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient

from bot.adapters.slack.blocks import SlackMessage, render_answer, render_briefing, render_text
from bot.adapters.slack.errors import TOKEN_ERRORS, slack_error
from bot.adapters.slack.outbox import SlackOutbox
from bot.chat.commands import (
    ChatCore,
    ChatReply,
    ChatRequest,
    ReplyKind,
    needs_manager,
    slash_to_command,
)
from bot.chat.inflight import InFlight
from bot.config import Settings
from bot.domain import Channel, Platform, PostedMessage
from bot.errors import ConfigError
from bot.redact import redact
from bot.service import BriefingService

log = logging.getLogger(__name__)

# Slack's wire syntax in message and command text.
_LINK = re.compile(r"<((?:https?|mailto):[^|>]+)(?:\|[^>]*)?>")
_USER = re.compile(r"<@([UW][A-Z0-9]+)(?:\|[^>]*)?>")
_CHANNEL = re.compile(r"<#(C[A-Z0-9]+)(?:\|([^>]*))?>")
_SPECIAL = re.compile(r"<!([a-z]+)(?:\^[^|>]*)?(?:\|([^>]*))?>")
_ENTITIES = (("&lt;", "<"), ("&gt;", ">"), ("&amp;", "&"))

# The errors a person can act on, and what to tell the user.
USER_FIXES = {
    "not_in_channel": "I'm not a member of this channel. Add me with /invite @briefbot, "
    "then try again.",
    "channel_not_found": "I can't see this channel. In a private channel, add me with "
    "/invite @briefbot first.",
    "is_archived": "This channel is archived, so I can't post in it.",
    "invalid_auth": "briefbot's Slack token is not valid. Please tell the operator (the "
    "log says more).",
    "token_revoked": "briefbot's Slack token has been revoked. Please tell the operator to "
    "reinstall the app and update SLACK_BOT_TOKEN.",
    "account_inactive": "briefbot's Slack account is inactive (the app was removed or "
    "its token deactivated). Please tell the operator.",
}
_ROLE_TTL = 300.0  # seconds a user's admin/owner flags are cached
_RECORD_WAIT = 3.0  # seconds a reply to the bot's own message waits for its record


def clean_text(text: str, *, bot_user_id: str | None = None) -> str:
    """Slack's message syntax as plain words: ``<https://x|label>`` is the URL, a mention
    of the bot is dropped, other mentions and channels keep their names, entities decoded."""
    if bot_user_id:
        text = re.sub(rf"<@{re.escape(bot_user_id)}(?:\|[^>]*)?>", " ", text)
    text = _LINK.sub(lambda m: m.group(1), text)
    text = _USER.sub(lambda m: "@" + m.group(1), text)
    text = _CHANNEL.sub(lambda m: "#" + (m.group(2) or m.group(1)), text)
    text = _SPECIAL.sub(lambda m: "@" + (m.group(2) or m.group(1)), text)
    for entity, char in _ENTITIES:
        text = text.replace(entity, char)
    return " ".join(text.split())


def make_web_client(
    settings: Settings,
    token: str | None = None,
    *,
    retry_connections: bool = True,
    session: aiohttp.ClientSession | None = None,
) -> AsyncWebClient:
    """A Web API client at ``BRIEFBOT_SLACK_API_URL``, retrying 429s (Slack posted nothing)
    and, with ``retry_connections``, dropped connections. Scheduled deliveries go without
    the latter: a post whose answer was lost may have been stored, and sending it again
    blind would post it twice; their deliverer looks it up first instead."""
    secret = settings.slack_bot_token
    handlers: list[AsyncRetryHandler] = [AsyncRateLimitErrorRetryHandler(max_retry_count=3)]
    if retry_connections:
        handlers.insert(0, AsyncConnectionErrorRetryHandler(max_retry_count=2))
    return AsyncWebClient(
        token=token if token is not None else (secret.get_secret_value() if secret else None),
        base_url=settings.slack_api_url,
        timeout=int(max(1, settings.http_timeout)),
        retry_handlers=handlers,
        session=session,
    )


class _QuietBolt(logging.Filter):
    """Drops Bolt's start-up warning that ``SLACK_BOT_TOKEN`` in the environment is unused
    (it is: the client carries it)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "`token` will be unused" not in record.getMessage()


_BOLT_LOG = logging.getLogger("bot.adapters.slack.bolt")
_BOLT_LOG.addFilter(_QuietBolt())


@dataclass(slots=True)
class _Roles:
    may_manage: bool
    checked_at: float


class SlackBot:
    """One Slack workspace's app over one chat core, in Socket Mode or HTTP mode."""

    def __init__(
        self,
        settings: Settings,
        core: ChatCore,
        *,
        client: AsyncWebClient | None = None,
    ) -> None:
        if settings.slack_bot_token is None or not settings.slack_bot_token.get_secret_value():
            raise ConfigError(
                "Slack needs SLACK_BOT_TOKEN (xoxb-..., from the app's OAuth & Permissions "
                "page); see the README's Connect to Slack."
            )
        self.settings = settings
        self.core = core
        self.service: BriefingService = core.service
        self.client = client or make_web_client(settings)
        self._outbox_session: aiohttp.ClientSession | None = None
        app_token = settings.slack_app_token.get_secret_value() if settings.slack_app_token else ""
        secret = settings.slack_signing_secret
        self.socket_mode = bool(app_token.strip())
        if not self.socket_mode and not (secret and secret.get_secret_value().strip()):
            raise ConfigError(
                "Slack needs SLACK_APP_TOKEN (xapp-..., Socket Mode) or SLACK_SIGNING_SECRET "
                "(HTTP mode) besides SLACK_BOT_TOKEN; see the README's Connect to Slack."
            )
        self._app_token = app_token.strip()
        self.app = AsyncApp(
            client=self.client,
            signing_secret=secret.get_secret_value() if secret else "",
            logger=_BOLT_LOG,
            request_verification_enabled=not self.socket_mode,
            # Our listeners only ack and start a task, so Bolt may wait for them to return;
            # otherwise it polls for the ack every 10 ms, which is most of an ack's latency.
            process_before_response=True,
        )
        self._roles: dict[tuple[str, str], _Roles] = {}
        self._work = InFlight(settings.chat_concurrency, name="Slack")
        self._bot_user_id: str | None = None
        self._accepting = True
        self._handler: AsyncSocketModeHandler | None = None
        self._runner: web.AppRunner | None = None
        self._register()

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        """Check the token (``auth.test``) and connect: the Socket Mode websocket, or the
        HTTP server at ``BRIEFBOT_SLACK_HOST:BRIEFBOT_SLACK_PORT``/slack/events."""
        try:
            auth = await self.client.auth_test()
        except SlackApiError as exc:
            code = slack_error(exc)
            raise ConfigError(
                f"Slack refused SLACK_BOT_TOKEN ({code}): "
                + (
                    "reinstall the app to the workspace and copy its Bot User OAuth Token."
                    if code in TOKEN_ERRORS
                    else "check the token and BRIEFBOT_SLACK_API_URL."
                )
            ) from None
        except SlackClientError as exc:
            raise ConfigError(
                f"Cannot reach Slack at {self.settings.slack_api_url}: {redact(str(exc))}. "
                "Check the network and BRIEFBOT_SLACK_API_URL."
            ) from None
        self._bot_user_id = str(auth.get("user_id") or "") or None
        # Bolt would call auth.test on the first request, before its ack; hand it ours.
        for middleware in self.app._async_middleware_list:
            if isinstance(middleware, AsyncSingleTeamAuthorization):
                middleware.auth_test_result = auth
        log.info("Slack: connected as %s in %s", auth.get("user"), auth.get("team"))
        if self.socket_mode:
            self._handler = AsyncSocketModeHandler(self.app, self._app_token)
            await self._handler.connect_async()  # type: ignore[no-untyped-call]
            log.info("Slack: Socket Mode connected")
        else:
            self._runner = web.AppRunner(self.app.web_app(path="/slack/events"))
            await self._runner.setup()
            site = web.TCPSite(self._runner, self.settings.slack_host, self.settings.slack_port)
            await site.start()
            log.info(
                "Slack: serving HTTP mode on %s:%s/slack/events",
                self.settings.slack_host,
                self.settings.slack_port,
            )

    def outbox(self) -> SlackOutbox:
        """The scheduler's way of posting here: over this app's client (once ``start``ed,
        it knows the bot's user id)."""
        # One HTTP session for every delivery: without one, slack_sdk opens a connection
        # (and against Slack, a TLS handshake) per call; 10,000 digests spent ~8 ms of the
        # event loop's time each on it (docs/benchmarks.md). Closed by ``stop``.
        if self._outbox_session is None or self._outbox_session.closed:
            self._outbox_session = aiohttp.ClientSession()
        client = make_web_client(
            self.settings, retry_connections=False, session=self._outbox_session
        )
        return SlackOutbox(client, self._bot_user_id)

    @property
    def http_port(self) -> int | None:
        """The port the HTTP mode listens on (the real one when the setting was 0)."""
        if self._runner is None:
            return None
        for site in self._runner.sites:
            server = getattr(site, "_server", None)
            sockets = getattr(server, "sockets", None) or []
            for sock in sockets:
                return int(sock.getsockname()[1])
        return None

    async def stop(self, grace: float) -> None:
        """Take no new work, let what is in flight finish within ``grace`` seconds (then
        cancel it), and close the connections."""
        self._accepting = False
        if self._handler is not None:
            await self._handler.disconnect_async()  # type: ignore[no-untyped-call]
        if self._runner is not None:
            await self._runner.shutdown()
        await self.drain(grace)
        if self._handler is not None:
            await self._handler.close_async()  # type: ignore[no-untyped-call]
        if self._runner is not None:
            await self._runner.cleanup()
        session = getattr(self.client, "session", None)
        if session is not None and not session.closed:
            await session.close()
        if self._outbox_session is not None and not self._outbox_session.closed:
            await self._outbox_session.close()

    async def drain(self, grace: float) -> None:
        """Wait up to ``grace`` seconds for the requests in flight; cancel the rest."""
        await self._work.drain(grace)

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        self._work.spawn(work)

    # ------------------------------------------------------------------ listeners
    def _register(self) -> None:
        self.app.command("/brief")(self._on_command)
        self.app.event("app_mention")(self._on_mention)
        self.app.event("message")(self._on_message)
        self.app.error(self._on_error)

    async def _on_error(self, error: Exception, body: dict[str, Any]) -> None:
        log.error("Slack: a listener failed: %s", redact(repr(error)), exc_info=error)

    async def _on_command(self, ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
        missing = [key for key in ("channel_id", "user_id") if not body.get(key)]
        if missing:
            log.warning("Slack sent a slash command without %s; ignored", " or ".join(missing))
            await ack(text="Slack sent this command without its channel or user; try again.")
            return
        command = slash_to_command(clean_text(str(body.get("text") or "")))
        if not self._accepting:
            await ack(text="briefbot is restarting; please try again in a minute.")
            return
        if command.split()[0].lower() == "brief" and len(command.split()) > 1:
            await ack(response_type="ephemeral", text=f"Briefing {command[6:].strip()}…")
        elif command.split()[0].lower() == "ask" and len(command.split()) > 2:
            await ack(response_type="ephemeral", text="Looking that up in the sources…")
        else:
            await ack()
        self._spawn(self._serve_command(body, command, respond))

    async def _on_mention(self, event: dict[str, Any], body: dict[str, Any]) -> None:
        await self._on_event(event, body, mentioned=True)

    async def _on_message(self, event: dict[str, Any], body: dict[str, Any]) -> None:
        await self._on_event(event, body, mentioned=False)

    async def _on_event(
        self, event: dict[str, Any], body: dict[str, Any], *, mentioned: bool
    ) -> None:
        if not self._accepting or _from_a_bot(event, self._bot_user_id):
            return
        missing = [key for key in ("channel", "ts", "user") if not event.get(key)]
        if missing or not isinstance(event.get("text", ""), str):
            log.warning(
                "Slack sent a %s event without %s; ignored",
                event.get("type") or "message",
                " or ".join(missing) or "a text",
            )
            return
        if not mentioned and not event.get("thread_ts"):
            return  # a plain channel message: not for us
        self._spawn(self._serve_event(event, body, mentioned=mentioned))

    # ------------------------------------------------------------------ work
    async def _serve_command(
        self, body: dict[str, Any], command: str, respond: AsyncRespond
    ) -> None:
        channel = _channel(body.get("channel_id"), body.get("channel_name"), body.get("team_id"))
        user = str(body.get("user_id") or "")
        try:
            may_manage = (
                await self._may_manage(user, channel.workspace) if needs_manager(command) else False
            )
            reply = await self.core.handle(ChatRequest(channel, user, may_manage, command))
            await self._deliver_command_reply(reply, channel, respond)
        except Exception as exc:  # the bot never stops on one request
            await self._report_failure(exc, channel, respond=respond)

    async def _deliver_command_reply(
        self, reply: ChatReply, channel: Channel, respond: AsyncRespond
    ) -> None:
        posting = _recorded_post(self.service, reply, channel)
        if posting is not None:
            what, messages, remember = posting
            try:
                await self._post(channel, messages, thread_ts=None, first_posted=remember)
            except SlackApiError as exc:
                code = slack_error(exc)
                log.error("Slack: could not post %s in %s: %s", what, channel.label, code)
                await self._respond(respond, USER_FIXES.get(code) or _generic(code), private=True)
            return
        await self._respond(respond, reply.text, private=reply.private)

    async def _serve_event(
        self, event: dict[str, Any], body: dict[str, Any], *, mentioned: bool
    ) -> None:
        channel = _channel(event.get("channel"), "", body.get("team_id") or event.get("team"))
        thread_ts = str(event.get("thread_ts") or "") or None
        ts = str(event.get("ts") or "")
        user = str(event.get("user") or "")
        try:
            event_id = str(body.get("event_id") or "")
            if event_id and not await self.service.claim_event("slack", event_id):
                log.info("Slack: event %s delivered again; answered already", event_id)
                return
            if ts and not await self.service.claim_event("slack", f"{channel.external_id}:{ts}"):
                return  # the same message as app_mention and as message: answered once
            if thread_ts is not None:
                posts = await self._thread_posts(channel, thread_ts, event)
                if not mentioned and not posts:
                    return  # someone else's thread
            text = clean_text(str(event.get("text") or ""), bot_user_id=self._bot_user_id)
            may_manage = (
                await self._may_manage(user, channel.workspace) if needs_manager(text) else False
            )
            request = ChatRequest(channel, user, may_manage, text or "help", thread_id=thread_ts)
            reply = await self.core.handle(request)
            await self._deliver_event_reply(reply, channel, user, thread_ts or ts)
        except Exception as exc:
            await self._report_failure(exc, channel, user=user, thread_ts=thread_ts or ts)

    async def _thread_posts(
        self, channel: Channel, thread_ts: str, event: dict[str, Any]
    ) -> list[PostedMessage]:
        """The briefings posted in the thread. A reply to the bot's own message may come a
        moment before that briefing is on record (Slack delivers the reply while our
        ``chat.postMessage`` answer is still being handled): wait for it a little."""
        posts = await self.service.posts_in_thread(channel, thread_ts)
        if posts or not self._bot_user_id or event.get("parent_user_id") != self._bot_user_id:
            return posts
        deadline = time.monotonic() + _RECORD_WAIT
        while not posts and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
            posts = await self.service.posts_in_thread(channel, thread_ts)
        return posts

    async def _deliver_event_reply(
        self, reply: ChatReply, channel: Channel, user: str, thread_ts: str
    ) -> None:
        posting = _recorded_post(self.service, reply, channel, thread_id=thread_ts)
        if posting is not None:
            _, messages, remember = posting
            await self._post(channel, messages, thread_ts=thread_ts, first_posted=remember)
            return
        messages = render_text(reply.text)
        if reply.private:
            for message in messages:
                await self.client.chat_postEphemeral(
                    channel=channel.external_id,
                    user=user,
                    thread_ts=thread_ts,
                    text=message.text,
                    blocks=message.blocks,
                )
            return
        await self._post(channel, messages, thread_ts=thread_ts)

    async def _post(
        self,
        channel: Channel,
        messages: list[SlackMessage],
        *,
        thread_ts: str | None,
        first_posted: Callable[[str], Awaitable[None]] | None = None,
    ) -> str:
        """Post ``messages`` (the first in ``thread_ts`` or the channel, the rest in the
        first one's thread); the first message's ``ts``. ``first_posted(ts)`` runs before
        the rest go out, so the briefing is on record before anyone can reply to it."""
        first_ts = ""
        for index, message in enumerate(messages):
            response = await self.client.chat_postMessage(
                channel=channel.external_id,
                text=message.text,
                blocks=message.blocks,
                thread_ts=thread_ts if index == 0 else (thread_ts or first_ts),
                unfurl_links=False,
                unfurl_media=False,
            )
            if index == 0:
                first_ts = str(response.get("ts") or "")
                if first_posted is not None:
                    await first_posted(first_ts)
        return first_ts

    async def _respond(self, respond: AsyncRespond, text: str, *, private: bool) -> None:
        for message in render_text(text):
            await respond(
                text=message.text,
                blocks=message.blocks,
                response_type="ephemeral" if private else "in_channel",
                replace_original=False,
            )

    async def _report_failure(
        self,
        exc: Exception,
        channel: Channel,
        *,
        respond: AsyncRespond | None = None,
        user: str = "",
        thread_ts: str | None = None,
    ) -> None:
        """Log a failed request and tell the user what Slack's error means, where Slack
        still lets us say anything."""
        code = slack_error(exc)
        if code:
            level = logging.ERROR if code in TOKEN_ERRORS else logging.WARNING
            log.log(level, "Slack: a request in %s failed: %s", channel.label, code)
        else:
            log.error("Slack: a request in %s failed", channel.label, exc_info=exc)
        text = USER_FIXES.get(code) or _generic(code)
        try:
            if respond is not None:  # the response_url needs no token
                await self._respond(respond, text, private=True)
            elif user and code not in TOKEN_ERRORS:
                await self.client.chat_postEphemeral(
                    channel=channel.external_id, user=user, thread_ts=thread_ts, text=text
                )
        except (TimeoutError, SlackClientError, OSError) as again:
            log.warning("Slack: could not tell the user either: %s", redact(str(again)))

    async def _may_manage(self, user: str, workspace: str) -> bool:
        """A workspace admin or owner (``users.info``, cached for five minutes), or a user in
        ``BRIEFBOT_SLACK_MANAGERS``."""
        if user in self.settings.slack_managers:
            return True
        key = (workspace, user)
        cached = self._roles.get(key)
        now = time.monotonic()
        if cached is not None and now - cached.checked_at < _ROLE_TTL:
            return cached.may_manage
        try:
            response = await self.client.users_info(user=user)
        except SlackApiError as exc:
            log.warning("Slack: users.info for %s failed: %s", user, slack_error(exc))
            return False
        profile = response.get("user") or {}
        may = bool(
            profile.get("is_admin") or profile.get("is_owner") or profile.get("is_primary_owner")
        )
        self._roles[key] = _Roles(may, now)
        return may


def _recorded_post(
    service: BriefingService,
    reply: ChatReply,
    channel: Channel,
    *,
    thread_id: str | None = None,
) -> tuple[str, list[SlackMessage], Callable[[str], Awaitable[None]]] | None:
    """A reply that is posted (to the channel, or in ``thread_id``) rather than only
    answered: a briefing, or an answer (a slash command's only when it is an ``ask``, which
    starts a thread; a thread reply's unless it is private). What it is, its messages, and
    how to record it once its first message is out (a briefing, and an ``ask`` answer, so
    their threads continue). ``None`` for a reply that is only a response."""
    if reply.kind is ReplyKind.BRIEFING and reply.briefing is not None:
        briefing = reply.briefing

        async def remember_briefing(ts: str) -> None:
            await service.record_post(briefing, channel, ts, thread_id=thread_id)

        return "a briefing", render_briefing(briefing), remember_briefing
    posted = reply.starts_thread if thread_id is None else not reply.private
    if reply.kind is ReplyKind.ANSWER and reply.answer is not None and posted:
        answer = reply.answer

        async def remember_answer(ts: str) -> None:
            if reply.starts_thread:  # ask TOPIC: follow-ups continue from its story
                await service.record_answer(answer, channel, ts, thread_id=thread_id)

        return "an answer", render_answer(answer), remember_answer
    return None


def _from_a_bot(event: dict[str, Any], bot_user_id: str | None) -> bool:
    if event.get("bot_id") or event.get("bot_profile"):
        return True
    if event.get("subtype"):  # edits, deletions, joins, bot_message ...: not questions
        return True
    return bool(bot_user_id) and event.get("user") == bot_user_id


def _channel(channel_id: object, name: object, team: object) -> Channel:
    return Channel(Platform.SLACK, str(channel_id or ""), str(name or ""), str(team or ""))


def _generic(code: str) -> str:
    if code:
        return f"Slack refused that ({code}). Please try again, or tell the operator."
    return "Sorry, something went wrong on my side. Please try again later."
