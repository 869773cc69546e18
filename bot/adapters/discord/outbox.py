"""The scheduler's ``Outbox`` on Discord: digests and live updates posted once, found again.

``post`` renders a briefing with the ``/brief`` renderer (``render_briefing``). A digest's
first message goes to the channel, a thread is started on it (as the bot does for a
briefing; the thread has the message's id) and the rest of a long digest goes there; a live
update goes into the story's thread, whose channel id is ``thread_id``. Every message is
sent with a ``nonce`` derived from the delivery key and ``enforce_nonce``: Discord then
answers a repeat of the same post within a few minutes with the message it already made,
instead of making another. (discord.py 2.7 sends ``enforce_nonce`` with any nonce, but only
through a channel object of its gateway cache; here the REST route is called directly, so
the scheduler needs no gateway.)

After those minutes only the message itself tells: the first message's last embed has the
footer ``briefbot · ref <hash>`` (the key's short hash; the message's content when the
embeds have no room), and ``find`` reads the channel's messages from ``since`` on (``GET
/channels/{id}/messages?after=``, page by page), matching the bot's own messages with that
marker. It needs Read Message History.

Discord's errors become ``DeliveryError``: missing access or permissions (50001, 50013), a
deleted channel or thread (10003), a refused token or message are not retryable and name the
fix; rate limits that outlasted discord.py's own retries, Discord's 5xx and dropped
connections are retryable, with Discord's ``Retry-After`` when it gave one.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import aiohttp
import discord
from discord.http import Route

from bot.adapters.discord.client import MISSING_ACCESS, MISSING_PERMISSIONS, UNKNOWN_CHANNEL
from bot.adapters.discord.embeds import (
    CONTENT,
    FOOTER,
    MESSAGE_TEXT,
    DiscordMessage,
    embed_size,
    render_briefing,
    text_size,
)
from bot.domain import Briefing, Channel, Platform
from bot.scheduler.ports import DeliveryError, Posted

log = logging.getLogger(__name__)

NONCE_SIZE = 25  # Discord's limit on a nonce's length
REF_SIZE = 12  # hex digits of the key's hash in the marker
MARKER = "briefbot · ref "
PAGE_SIZE = 100  # messages per GET (Discord's most)
MAX_PAGES = 50  # pages read per find: 5,000 messages since the slot is more than a day's
THREAD_EXISTS = 160004  # "A thread has already been created for this message"
INVALID_FORM = 50035

PERMISSIONS_FIX = (
    "briefbot is missing a permission in {channel}: it needs View Channel, Send Messages, "
    "Send Messages in Threads, Create Public Threads, Embed Links and Read Message History "
    "there; ask a server admin to grant them, or unsubscribe the channel."
)
GONE_FIX = "{channel} no longer exists (the channel or thread was deleted): unsubscribe it."
REFUSED_LOGIN_FIX = (
    "Discord does not accept DISCORD_BOT_TOKEN: copy the bot's token again from the Developer "
    "Portal (Bot -> Reset Token)."
)
FORM_FIX = (
    "Discord refused the message as malformed or too long (50035): briefbot's Discord "
    "renderer should have kept it within Discord's limits; please report this as a bug."
)


def nonce_for(key: str, part: int = 0) -> str:
    """The nonce of a delivery's ``part``-th message: the same for the same key, at most
    ``NONCE_SIZE`` characters (hex of its SHA-256)."""
    text = key if part == 0 else f"{key}#{part}"
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:NONCE_SIZE]


def marker_for(key: str) -> str:
    """What the first message of delivery ``key`` shows: ``briefbot · ref <hash>``."""
    return MARKER + hashlib.sha256(key.encode("utf-8")).hexdigest()[:REF_SIZE]


def marked(message: DiscordMessage, key: str) -> DiscordMessage:
    """``message`` with the key's marker: in its last embed's footer when the embeds have
    room for it, else on a line of the content (Discord's small ``-#`` text)."""
    marker = marker_for(key)
    if message.embeds:
        last = message.embeds[-1]
        footer = str(last.get("footer", {}).get("text", ""))
        text = f"{footer} · {marker}" if footer else marker
        total = sum(embed_size(embed) for embed in message.embeds)
        if (
            total - text_size(footer) + text_size(text) <= MESSAGE_TEXT
            and text_size(text) <= FOOTER
        ):
            embeds = [
                *message.embeds[:-1],
                {**last, "footer": {**last.get("footer", {}), "text": text}},
            ]
            return DiscordMessage(message.content, embeds)
    content = f"{message.content}\n-# {marker}" if message.content else f"-# {marker}"
    if text_size(content) <= CONTENT:
        return DiscordMessage(content, message.embeds)
    log.warning("Discord: no room for the delivery marker of %s; the nonce alone guards it", key)
    return message


def _carries(message: dict[str, Any], marker: str) -> bool:
    if marker in str(message.get("content") or ""):
        return True
    for embed in message.get("embeds") or []:
        footer = embed.get("footer") if isinstance(embed, dict) else None
        if isinstance(footer, dict) and marker in str(footer.get("text") or ""):
            return True
    return False


class DiscordOutbox:
    """Posts deliveries over a logged-in ``discord.Client``'s REST client (no gateway
    needed), and finds them again by their marker."""

    platform = Platform.DISCORD
    pace = 0.0  # discord.py waits out each route's bucket itself

    def __init__(self, client: discord.Client, *, page_size: int = PAGE_SIZE) -> None:
        self.client = client
        self._page_size = page_size
        self._me: str | None = str(client.user.id) if client.user else None

    async def post(
        self, channel: Channel, briefing: Briefing, key: str, *, thread_id: str | None = None
    ) -> Posted:
        """Post ``briefing`` marked with ``key``: into the thread ``thread_id`` (a live
        update), or to the channel with a thread started on it for the rest."""
        messages = render_briefing(briefing)
        try:
            target = thread_id or channel.external_id
            first = await self._send(target, marked(messages[0], key), nonce_for(key))
            first_id = str(first["id"])
            thread = thread_id or await self._thread_on(target, first_id, briefing.topic)
            for part, message in enumerate(messages[1:], start=1):
                await self._send(thread or target, message, nonce_for(key, part))
        except Exception as exc:
            error = delivery_error(exc, channel)
            if error is None:
                raise
            raise error from None
        return Posted(first_id, thread)

    async def find(
        self,
        channel: Channel,
        key: str,
        since: datetime,
        *,
        thread_id: str | None = None,
    ) -> Posted | None:
        """The bot's message marked with ``key`` in ``channel`` (in the thread
        ``thread_id``, for a live update) after ``since``, or ``None``."""
        marker = marker_for(key)
        try:
            me = await self._bot_id()
            async for message in self._messages(thread_id or channel.external_id, since):
                author = message.get("author") or {}
                if str(author.get("id")) == me and _carries(message, marker):
                    message_id = str(message["id"])
                    return Posted(message_id, thread_id or _thread_of(message))
        except Exception as exc:
            error = delivery_error(exc, channel)
            if error is None:
                raise
            raise error from None
        return None

    async def _send(self, channel_id: str, message: DiscordMessage, nonce: str) -> dict[str, Any]:
        route = Route("POST", "/channels/{channel_id}/messages", channel_id=channel_id)
        body = {**message.payload(), "nonce": nonce, "enforce_nonce": True}
        data: dict[str, Any] = await self.client.http.request(route, json=body)
        return data

    async def _thread_on(self, channel_id: str, message_id: str, topic: str) -> str | None:
        """A public thread on the digest (the message's id), or ``None`` when the bot may
        not start one (the rest then follows in the channel)."""
        try:
            await self.client.http.start_thread_with_message(
                channel_id, message_id, name=f"{topic} digest"[:100], auto_archive_duration=1440
            )
        except discord.HTTPException as exc:
            if exc.code == THREAD_EXISTS:  # a repeat of a post that got this far
                return message_id
            if exc.code in (MISSING_ACCESS, MISSING_PERMISSIONS):
                log.warning("Discord: cannot start a thread on %s: %s", message_id, exc.code)
                return None
            raise
        return message_id

    async def _bot_id(self) -> str:
        if self._me is None:
            user = self.client.user
            if user is None:
                data = await self.client.http.request(Route("GET", "/users/@me"))
                self._me = str(data["id"])
            else:
                self._me = str(user.id)
        return self._me

    async def _messages(self, channel_id: str, since: datetime) -> AsyncIterator[dict[str, Any]]:
        """The channel's messages after ``since``, oldest page first."""
        after = discord.utils.time_snowflake(since)
        for _ in range(MAX_PAGES):
            page = await self.client.http.logs_from(channel_id, self._page_size, after=after)
            if not page:
                return
            for message in page:  # newest first within a page
                yield dict(message)
            after = max(int(message["id"]) for message in page)
            if len(page) < self._page_size:
                return
        log.warning("Discord: stopped looking for a delivery after %d pages", MAX_PAGES)


def _thread_of(message: dict[str, Any]) -> str | None:
    thread = message.get("thread")
    if isinstance(thread, dict) and thread.get("id"):
        return str(thread["id"])
    return None


def delivery_error(exc: BaseException, channel: Channel) -> DeliveryError | None:
    """``exc`` of a Discord call as a ``DeliveryError``, or ``None`` for an exception that is
    neither Discord's nor the network's (a bug: let it propagate)."""
    label = channel.label
    if isinstance(exc, discord.RateLimited):
        return DeliveryError(
            f"Discord is rate-limiting posts to {label}; trying again later.",
            retryable=True,
            retry_after=exc.retry_after,
        )
    if isinstance(exc, discord.HTTPException):
        status, code = exc.status, exc.code
        if status == 429:
            return DeliveryError(
                f"Discord kept rate-limiting posts to {label}; trying again later.",
                retryable=True,
                retry_after=_retry_after(exc),
            )
        if status >= 500:
            return DeliveryError(
                f"Discord is not answering properly (HTTP {status}); trying again later.",
                retryable=True,
                retry_after=_retry_after(exc),
            )
        if code in (MISSING_ACCESS, MISSING_PERMISSIONS):
            log.warning("Discord: missing permissions in %s (%s)", label, code)
            return DeliveryError(PERMISSIONS_FIX.format(channel=label), retryable=False)
        if code == UNKNOWN_CHANNEL:
            return DeliveryError(GONE_FIX.format(channel=label), retryable=False)
        if status == 401:
            log.error("Discord: the bot token was refused")
            return DeliveryError(REFUSED_LOGIN_FIX, retryable=False)
        if code == INVALID_FORM:
            log.error("Discord: a delivery to %s was refused as malformed: %s", label, exc.text)
            return DeliveryError(FORM_FIX, retryable=False)
        return DeliveryError(
            f"Discord refused the delivery to {label} (HTTP {status}, code {code}); check "
            "the channel and the bot's permissions.",
            retryable=False,
        )
    if isinstance(exc, aiohttp.ClientError | TimeoutError | OSError):
        return DeliveryError(
            f"Cannot reach Discord ({type(exc).__name__}); trying again later.", retryable=True
        )
    return None


def _retry_after(exc: discord.HTTPException) -> float | None:
    headers = getattr(exc.response, "headers", None)
    raw = headers.get("Retry-After") if headers is not None else None
    try:
        return max(0.0, float(raw)) if raw is not None else None
    except ValueError:
        return None
