"""Daily token budgets: per deployment and per channel, from the tokens model calls spent.

``BRIEFBOT_DAILY_TOKEN_BUDGET`` caps the prompt plus completion tokens all model calls of one
UTC day may spend; ``BRIEFBOT_CHANNEL_DAILY_TOKEN_BUDGET`` caps each channel (the terminal
counts as one channel of its own). Every spend goes to the ``SpendLedger`` (the store) the
moment the reply comes, before its briefing is saved, so every process (the bot, a terminal
run, a scheduled digest) sees the same day's spend.

Over budget, the LLM briefer writes the extractive briefing instead, with a visible note.

The stories of a briefing are written concurrently, so a check must also count the calls
still waiting for their reply: ``reserve`` admits a call (atomically, within this process)
only while spent plus reserved tokens are under the budget, and holds its estimate until
``settle`` records what the reply really cost.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from bot.domain import Channel, Platform, TokenUsage, day_start, utcnow
from bot.summarize.ports import ChatModel, SpendLedger, Usage

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Reservation:
    """Tokens held for one model call in flight, in one channel."""

    channel: Channel
    tokens: int


class TokenBudget:
    """Checks and records the tokens spent today against the configured daily budgets."""

    def __init__(
        self,
        ledger: SpendLedger,
        *,
        daily: int | None,
        per_channel: int | None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.ledger = ledger
        self.daily = daily
        self.per_channel = per_channel
        self.clock = clock
        self._lock = threading.Lock()
        self._held: dict[tuple[str, str], int] = {}  # tokens reserved per channel, in flight

    def reserve(self, channel: Channel, tokens: int) -> Reservation | str:
        """Hold ``tokens`` for a model call in ``channel``, or say why no call may be made:
        a call is admitted while the day's spend plus the calls in flight is under budget."""
        with self._lock:
            reason = self.exceeded(channel)
            if reason is not None:
                return reason
            key = _key(channel)
            self._held[key] = self._held.get(key, 0) + tokens
            return Reservation(channel, tokens)

    def settle(self, reservation: Reservation, spent: int) -> None:
        """The call is over: release its hold and record the tokens it really spent."""
        with self._lock:
            key = _key(reservation.channel)
            left = self._held.get(key, 0) - reservation.tokens
            if left > 0:
                self._held[key] = left
            else:
                self._held.pop(key, None)
            self.record(spent, reservation.channel)

    def _in_flight(self, channel: Channel | None) -> int:
        if channel is None:
            return sum(self._held.values())
        return self._held.get(_key(channel), 0)

    def record(self, tokens: int, channel: Channel) -> None:
        """Record tokens a model call just spent in ``channel``."""
        if tokens > 0:
            self.ledger.record_spend(tokens, channel, self.clock())

    def spent(self, channel: Channel | None) -> int:
        """Tokens spent today in ``channel`` (``None``: in every channel), by any process,
        plus what this process's calls in flight hold."""
        spent = self.ledger.tokens_spent_since(day_start(self.clock()), channel)
        return spent + self._in_flight(channel)

    def exceeded(self, channel: Channel) -> str | None:
        """Why no more model calls may be made today (a sentence for the note), or ``None``."""
        if self.daily is not None:
            used = self.spent(None)
            if used >= self.daily:
                log.warning("daily token budget used up: %d of %d tokens", used, self.daily)
                return (
                    f"the daily token budget is used up ({used:,} of {self.daily:,} tokens, "
                    "BRIEFBOT_DAILY_TOKEN_BUDGET)"
                )
        if self.per_channel is not None:
            used = self.spent(channel)
            if used >= self.per_channel:
                where = "the terminal" if channel.platform is Platform.CONSOLE else "this channel"
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


def settle_call(
    model: ChatModel,
    budget: TokenBudget | None,
    reservation: Reservation | None,
    usage: Usage | None,
    model_name: str | None,
) -> TokenUsage:
    """A model call is over (answered or failed): settle its reservation against the budget
    with what the server reported, and return that usage priced (nothing reported: zero)."""
    if budget is not None and reservation is not None:
        budget.settle(reservation, usage.total_tokens if usage is not None else 0)
    if usage is None:
        return TokenUsage(0, 0, 0.0)
    return model.token_usage(usage, model_name)


def _key(channel: Channel) -> tuple[str, str]:
    return (str(channel.platform), channel.external_id)
