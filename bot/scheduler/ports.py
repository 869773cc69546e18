"""What the scheduler needs from a chat platform: an outbox that posts a delivery and can
find one it posted before (after a crash between posting and recording it).

Each platform adapter implements ``Outbox``: Slack (message ``metadata`` carrying the
delivery key, found with ``conversations.history``), Discord (a ``nonce`` derived from the
key with ``enforce_nonce``, and the key in the embed footer, found in the channel's recent
messages) and the console channel.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from bot.domain import Briefing, Channel, Platform


@dataclass(frozen=True, slots=True)
class Posted:
    """Where a delivery went: the first message's id and the thread its rest went into."""

    message_id: str
    thread_id: str | None = None


class DeliveryError(Exception):
    """Posting a delivery failed. ``retryable``: try again later (the platform is down,
    rate limits outlasted the retries); otherwise it never will work as it is (the bot was
    removed from the channel, the channel is gone, the token was revoked): the delivery is
    marked failed with ``str(self)``, which names the fix."""

    def __init__(self, message: str, *, retryable: bool, retry_after: float | None = None):
        super().__init__(message)
        self.retryable = retryable
        self.retry_after = retry_after


class Outbox(Protocol):
    """One platform's way of posting deliveries."""

    platform: Platform
    # Seconds between two deliveries to one channel that the platform tolerates (Slack
    # paces chat.postMessage at about one a second per channel and answers 429 beyond);
    # the scheduler waits it out before taking a delivery place, not inside one.
    pace: float

    async def find(
        self, channel: Channel, key: str, since: datetime, *, thread_id: str | None = None
    ) -> Posted | None:
        """The message carrying delivery ``key`` posted to ``channel`` (in ``thread_id``,
        for a live update) after ``since``, or ``None``. Raises ``DeliveryError`` when the
        platform cannot be asked."""
        ...

    async def post(
        self, channel: Channel, briefing: Briefing, key: str, *, thread_id: str | None = None
    ) -> Posted:
        """Post ``briefing`` (a digest, or a live update into ``thread_id``) marked with
        ``key``, so ``find`` can tell it was posted. Raises ``DeliveryError``."""
        ...
