"""Daily token budgets: per deployment and per channel, from the tokens model calls spent.

``BRIEFBOT_DAILY_TOKEN_BUDGET`` caps the prompt plus completion tokens all model calls of one
UTC day may spend; ``BRIEFBOT_CHANNEL_DAILY_TOKEN_BUDGET`` caps each channel (the terminal
counts as one channel of its own). Every spend is written to the store the moment the reply
comes (``Repository.record_spend``), before its briefing is saved, so every process (the
bot, a terminal run, a scheduled digest) sees the same day's spend.

Over budget, the LLM briefer writes the extractive briefing instead, with a visible note.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, time

from bot.domain import Channel, utcnow
from bot.store.repository import Repository

log = logging.getLogger(__name__)


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

    def record(self, tokens: int, channel: Channel | None) -> None:
        """Record tokens a model call just spent, in ``channel`` (``None`` = the terminal)."""
        if tokens > 0:
            self.repo.record_spend(tokens, channel, self.clock())

    def spent(self, channel: Channel | None, *, every_channel: bool) -> int:
        """Tokens spent today in ``channel`` (or in every channel), by any process."""
        start = day_start(self.clock())
        return self.repo.tokens_spent_since(start, channel=channel, every_channel=every_channel)

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
