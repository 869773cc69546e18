"""Daily token budgets: per deployment and per channel, from the tokens briefings spent.

``BRIEFBOT_DAILY_TOKEN_BUDGET`` caps the prompt plus completion tokens all briefings of one
UTC day may spend; ``BRIEFBOT_CHANNEL_DAILY_TOKEN_BUDGET`` caps each channel (the terminal
counts as one channel of its own). Spending is read from the stored briefings, plus what
this process spent on briefings not saved yet (a run briefs every story before the entry
point saves the briefing): a spend is counted from memory only while it is newer than the
newest saved briefing of the day, after which the store has it.

Over budget, the LLM briefer writes the extractive briefing instead, with a visible note.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, time

from bot.domain import Channel, utcnow
from bot.store.repository import Repository

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class _Spend:
    at: datetime
    tokens: int
    channel: tuple[str, str] | None


def _channel_key(channel: Channel | None) -> tuple[str, str] | None:
    return None if channel is None else (str(channel.platform), channel.external_id)


def day_start(moment: datetime) -> datetime:
    """Midnight UTC of ``moment``'s day: budgets reset then."""
    return datetime.combine(moment.date(), time(0), tzinfo=moment.tzinfo)


class TokenBudget:
    """Checks and records the tokens spent today against the configured daily budgets."""

    def __init__(
        self,
        repo: Repository,
        *,
        daily: int | None,
        per_channel: int | None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.repo = repo
        self.daily = daily
        self.per_channel = per_channel
        self.clock = clock
        self._spent: list[_Spend] = []

    def record(self, tokens: int, channel: Channel | None) -> None:
        """Remember tokens spent on a briefing that is not saved yet."""
        if tokens > 0:
            self._spent.append(_Spend(self.clock(), tokens, _channel_key(channel)))

    def spent(self, channel: Channel | None, *, every_channel: bool) -> int:
        """Tokens spent today in ``channel`` (or in every channel)."""
        start = day_start(self.clock())
        stored, newest = self.repo.tokens_since(start, channel=channel, every_channel=every_channel)
        key = _channel_key(channel)
        unsaved = sum(
            s.tokens
            for s in self._spent
            if s.at >= start
            and (newest is None or s.at > newest)
            and (every_channel or s.channel == key)
        )
        return stored + unsaved

    def exceeded(self, channel: Channel | None) -> str | None:
        """Why no more model calls may be made today (a sentence for the note), or ``None``."""
        if self.daily is not None:
            used = self.spent(None, every_channel=True)
            if used >= self.daily:
                log.warning("daily token budget used up: %d of %d tokens", used, self.daily)
                return (
                    f"the daily token budget is used up ({used:,} of {self.daily:,} tokens, "
                    "BRIEFBOT_DAILY_TOKEN_BUDGET)"
                )
        if self.per_channel is not None:
            used = self.spent(channel, every_channel=False)
            if used >= self.per_channel:
                where = "this channel" if channel is not None else "the terminal"
                log.warning(
                    "channel daily token budget used up in %s: %d of %d tokens",
                    where,
                    used,
                    self.per_channel,
                )
                return (
                    f"the daily token budget of {where} is used up ({used:,} of "
                    f"{self.per_channel:,} tokens, BRIEFBOT_CHANNEL_DAILY_TOKEN_BUDGET)"
                )
        return None
