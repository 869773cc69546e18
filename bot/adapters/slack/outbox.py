"""The scheduler's ``Outbox`` on Slack: digests and live updates posted once, found again.

``post`` renders a briefing with the ``/brief`` renderer (``render_briefing``) and posts it
as ``/brief`` does: the first message to the channel, the rest in its thread; a live update
goes into the story's thread (``thread_ts``). The first message carries Slack message
metadata naming the delivery::

    {"event_type": "briefbot_delivery",
     "event_payload": {"key": "digest:2026-12-01T07:00:00+00:00"}}

so ``find`` can tell, after a crash between posting and recording, that a delivery went out:
it reads ``conversations.history`` from ``since`` on (``include_all_metadata``, every page),
or for a live update the thread's ``conversations.replies``. Both need the bot's
``channels:history`` scope (``groups:history`` in private channels).

Slack's errors become ``DeliveryError``: what only a person can fix (the bot is not in the
channel, the channel is gone or archived, the token is revoked, a scope is missing, a
message too long) is not retryable and its message names the fix; rate limits that outlasted
slack_sdk's retry handler, Slack's 5xx and dropped connections are retryable, with Slack's
``Retry-After`` when it gave one.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.async_client import AsyncWebClient

from bot.adapters.slack.blocks import render_briefing
from bot.adapters.slack.errors import TOKEN_ERRORS, slack_error
from bot.domain import Briefing, Channel, Platform
from bot.redact import redact
from bot.scheduler.ports import DeliveryError, Posted

log = logging.getLogger(__name__)

EVENT_TYPE = "briefbot_delivery"
PAGE_SIZE = 200  # messages per conversations.history page (Slack recommends at most 200)
MAX_PAGES = 50  # pages read per find: 10,000 messages since the slot is more than a digest day

# Slack's errors that retrying will not mend, and what the operator should do.
FIXES = {
    "not_in_channel": "briefbot is not a member of {channel}: invite it there with /invite "
    "@briefbot, or unsubscribe the channel.",
    "channel_not_found": "briefbot cannot see {channel}: the channel was deleted, or it is "
    "private and briefbot was never invited (/invite @briefbot); otherwise unsubscribe it.",
    "is_archived": "{channel} is archived: unarchive it, or unsubscribe the channel.",
    "invalid_auth": "Slack does not accept SLACK_BOT_TOKEN: copy the Bot User OAuth Token "
    "from the app's OAuth & Permissions page again.",
    "not_authed": "briefbot sent Slack no token: set SLACK_BOT_TOKEN.",
    "token_revoked": "briefbot's Slack token was revoked: reinstall the app to the workspace "
    "and update SLACK_BOT_TOKEN.",
    "account_inactive": "briefbot's Slack app was removed or its token deactivated: reinstall "
    "the app and update SLACK_BOT_TOKEN.",
    "missing_scope": "briefbot's Slack token lacks a scope (chat:write to post; "
    "channels:history, groups:history to find earlier deliveries): add it in the app's OAuth "
    "& Permissions page and reinstall the app.",
    "msg_blocks_too_long": "Slack refused the message as too long (msg_blocks_too_long): "
    "briefbot's Slack renderer should have split it; please report this as a bug.",
    "invalid_blocks": "Slack refused the message's blocks (invalid_blocks): please report "
    "this as a bug in briefbot's Slack renderer.",
    "msg_too_long": "Slack refused the message as too long (msg_too_long): please report "
    "this as a bug in briefbot's Slack renderer.",
}
# Slack's errors that mean "try again later".
TRANSIENT = frozenset(
    {"ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"}
)


class SlackOutbox:
    """Posts deliveries with ``chat.postMessage`` through ``client`` (a client of
    ``make_web_client``, whose retry handlers wait out 429s and retry dropped
    connections), and finds them again by their metadata. ``bot_user_id``: only the bot's
    own messages count (asked of ``auth.test`` on the first ``find`` when not given)."""

    platform = Platform.SLACK
    pace = 1.0  # chat.postMessage: about one message a second per channel, 429 beyond

    def __init__(
        self, client: AsyncWebClient, bot_user_id: str | None = None, *, page_size: int = PAGE_SIZE
    ) -> None:
        self.client = client
        self._bot_user_id = bot_user_id
        self._page_size = page_size

    async def post(
        self, channel: Channel, briefing: Briefing, key: str, *, thread_id: str | None = None
    ) -> Posted:
        """Post ``briefing`` marked with ``key``: into ``thread_id`` (a live update), or to
        the channel with the rest of a long digest in the first message's thread. Once the
        first message is out the delivery counts as posted (``find`` would say so): a
        failure of the rest is logged, not raised."""
        messages = render_briefing(briefing)
        first = ""
        for index, message in enumerate(messages):
            arguments: dict[str, Any] = {}
            if index == 0:
                arguments["metadata"] = {"event_type": EVENT_TYPE, "event_payload": {"key": key}}
            try:
                response = await self.client.chat_postMessage(
                    channel=channel.external_id,
                    text=message.text,
                    blocks=message.blocks,
                    thread_ts=thread_id or (first or None),
                    unfurl_links=False,
                    unfurl_media=False,
                    **arguments,
                )
            except Exception as exc:
                error = delivery_error(exc, channel)
                if error is None:
                    raise
                if first:  # the delivery is out; only its rest is missing
                    log.warning("Slack: %s of %s went out, the rest not: %s", first, key, error)
                    return Posted(first, thread_id or first)
                raise error from None
            if index == 0:
                first = str(response.get("ts") or "")
        return Posted(first, thread_id or first)

    async def find(
        self,
        channel: Channel,
        key: str,
        since: datetime,
        *,
        thread_id: str | None = None,
    ) -> Posted | None:
        """The bot's message carrying ``key`` in ``channel`` after ``since``, or ``None``.
        A live update is a thread reply, not in the channel's history: pass its
        ``thread_id`` to look in that thread."""
        try:
            me = await self._me()
            async for message in self._messages(channel, since, thread_id):
                if _carries(message, key) and (me is None or message.get("user") == me):
                    ts = str(message.get("ts") or "")
                    return Posted(ts, thread_id or ts)
        except Exception as exc:
            error = delivery_error(exc, channel)
            if error is None:
                raise
            raise error from None
        return None

    async def _me(self) -> str | None:
        if self._bot_user_id is None:
            auth = await self.client.auth_test()
            self._bot_user_id = str(auth.get("user_id") or "") or None
        return self._bot_user_id

    async def _messages(
        self, channel: Channel, since: datetime, thread_id: str | None
    ) -> AsyncIterator[dict[str, Any]]:
        """The channel's messages (or the thread's) after ``since``, page by page."""
        oldest = f"{since.timestamp():.6f}"
        cursor: str | None = None
        for _ in range(MAX_PAGES):
            if thread_id is None:
                response = await self.client.conversations_history(
                    channel=channel.external_id,
                    oldest=oldest,
                    include_all_metadata=True,
                    limit=self._page_size,
                    cursor=cursor,
                )
            else:
                response = await self.client.conversations_replies(
                    channel=channel.external_id,
                    ts=thread_id,
                    oldest=oldest,
                    include_all_metadata=True,
                    limit=self._page_size,
                    cursor=cursor,
                )
            for message in response.get("messages") or []:
                if isinstance(message, dict):
                    yield message
            cursor = str((response.get("response_metadata") or {}).get("next_cursor") or "")
            if not response.get("has_more") or not cursor:
                return
        log.warning(
            "Slack: stopped looking for a delivery in %s after %d pages", channel.label, MAX_PAGES
        )


def _carries(message: dict[str, Any], key: str) -> bool:
    metadata = message.get("metadata")
    if not isinstance(metadata, dict) or metadata.get("event_type") != EVENT_TYPE:
        return False
    payload = metadata.get("event_payload")
    return isinstance(payload, dict) and payload.get("key") == key


def delivery_error(exc: BaseException, channel: Channel) -> DeliveryError | None:
    """``exc`` of a Slack call as a ``DeliveryError``, or ``None`` for an exception that is
    not Slack's or the network's (a bug: let it propagate)."""
    if isinstance(exc, SlackApiError):
        code = slack_error(exc)
        response = exc.response
        status = int(getattr(response, "status_code", 200) or 200)
        if status == 429 or code == "ratelimited":
            wait = _retry_after(getattr(response, "headers", None))
            return DeliveryError(
                f"Slack kept rate-limiting posts to {channel.label}; trying again later.",
                retryable=True,
                retry_after=wait,
            )
        if status >= 500 or code in TRANSIENT:
            return DeliveryError(
                f"Slack is not answering properly ({code or f'HTTP {status}'}); trying again "
                "later.",
                retryable=True,
                retry_after=_retry_after(getattr(response, "headers", None)),
            )
        fix = FIXES.get(code)
        if fix is not None:
            level = logging.ERROR if code in TOKEN_ERRORS else logging.WARNING
            log.log(level, "Slack: a delivery to %s failed: %s", channel.label, code)
            return DeliveryError(fix.format(channel=channel.label), retryable=False)
        return DeliveryError(
            f"Slack refused the delivery to {channel.label} ({code or f'HTTP {status}'}); "
            "check the channel and the app's settings.",
            retryable=False,
        )
    if isinstance(exc, SlackClientError | aiohttp.ClientError | TimeoutError | OSError):
        return DeliveryError(
            f"Cannot reach Slack ({redact(type(exc).__name__)}); trying again later.",
            retryable=True,
        )
    return None


def _retry_after(headers: Any) -> float | None:
    if not headers:
        return None
    for name, value in dict(headers).items():
        if str(name).lower() == "retry-after":
            raw = value[0] if isinstance(value, list | tuple) and value else value
            try:
                return max(0.0, float(raw))
            except (TypeError, ValueError):
                return None
    return None
