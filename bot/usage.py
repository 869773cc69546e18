"""Cost accounting: the tokens and estimated cost of saved briefings, added up for a report.

``summarize_usage`` takes the store's ``UsageRecord`` list (one per saved story briefing) and
groups it by UTC day, topic, channel or model, with a total over the window. A briefing's
model is the one that wrote it (a reused briefing counts under its writer's model);
``extractive`` groups the briefings no model wrote, and ``unknown`` the model briefings
saved before briefbot recorded the model. Each group counts

- ``briefings``: story briefings saved (a briefing on a topic saves one per story);
- ``llm_briefings``: those the model wrote with a request of their own;
- ``cached_briefings``: stored model briefings of unchanged articles reused at no cost;
  the rest were written by the extractive briefer, some after a failed model call that
  still spent tokens;
- prompt, completion and total tokens, and the estimated cost in US dollars. The cost is
  ``None`` (unknown) when some of the group's tokens were spent with no cost stored (a model
  with no known price, see ``bot.summarize.pricing``); ``unpriced_tokens`` says how many.

It also sets today's spend (from UTC midnight, as ``bot.summarize.budget`` counts it) against
the daily token budgets that are configured: the deployment's and each channel's (the
terminal is a channel of its own, labelled ``terminal``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Literal, get_args

from bot.domain import BriefingMode, day_start

GroupBy = Literal["day", "topic", "channel", "model"]
GROUPINGS: tuple[GroupBy, ...] = get_args(GroupBy)
TERMINAL = "terminal"  # the channel label of briefings printed in the terminal
NO_MODEL = "extractive"  # the model label of briefings no model wrote
UNKNOWN_MODEL = "unknown"  # ... of model briefings saved before the model was recorded


@dataclass(frozen=True, slots=True)
class UsageRecord:
    """One saved story briefing as cost accounting sees it.

    ``channel`` is the channel's label (``terminal``, ``slack:newsroom``; the external id
    when the channel has no name). ``mode`` is who wrote it: ``llm`` for the model,
    ``extractive`` for the extractive briefer, also when it stood in after the model failed
    (tokens may have been spent all the same). ``cached`` marks a stored model briefing reused
    at no cost. ``cost_usd`` is ``None`` when tokens were spent but no cost was stored with
    them (the model's price was unknown); a briefing that spent no tokens costs ``0.0``.
    ``model`` is the model that wrote the briefing, ``None`` when none did or when it was
    saved before briefbot recorded models.
    """

    generated_at: datetime
    topic: str
    channel: str
    mode: BriefingMode
    cached: bool
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float | None
    model: str | None = None

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass(slots=True)
class UsageTotals:
    """What a group of saved story briefings took."""

    briefings: int = 0
    llm_briefings: int = 0
    cached_briefings: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    priced_cost_usd: float = 0.0  # the cost of the tokens whose cost is known
    unpriced_tokens: int = 0  # tokens spent with no cost stored

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    @property
    def cost_usd(self) -> float | None:
        """The estimated cost, or ``None`` when some of the tokens have no known cost."""
        return None if self.unpriced_tokens else self.priced_cost_usd

    def add(self, record: UsageRecord) -> None:
        self.briefings += 1
        if record.cached:
            self.cached_briefings += 1
        elif record.mode is BriefingMode.LLM:
            self.llm_briefings += 1
        self.prompt_tokens += record.prompt_tokens
        self.completion_tokens += record.completion_tokens
        if record.cost_usd is None:
            self.unpriced_tokens += record.total_tokens
        else:
            self.priced_cost_usd += record.cost_usd


@dataclass(frozen=True, slots=True)
class BudgetUse:
    """Tokens spent today in one scope (the deployment, or a channel) against its budget."""

    scope: str  # "deployment" or a channel label
    limit: int
    spent: int

    @property
    def remaining(self) -> int:
        return max(self.limit - self.spent, 0)

    @property
    def used_up(self) -> bool:
        """True once no more model calls are made today (the briefer's own test)."""
        return self.spent >= self.limit


@dataclass(slots=True)
class UsageReport:
    """Usage of the briefings generated from ``since`` to ``until``, grouped ``by``."""

    by: GroupBy
    since: datetime
    until: datetime
    groups: list[tuple[str, UsageTotals]]
    total: UsageTotals
    today: date
    deployment_budget: BudgetUse | None = None
    channel_budget: int | None = None
    channel_budgets: list[BudgetUse] = field(default_factory=list)  # channels used today

    @property
    def empty(self) -> bool:
        return self.total.briefings == 0


def channel_label(record: UsageRecord) -> str:
    return record.channel


def model_label(record: UsageRecord) -> str:
    if record.model is not None:
        return record.model
    if record.mode is BriefingMode.LLM or record.total_tokens:
        return UNKNOWN_MODEL
    return NO_MODEL


def group_key(record: UsageRecord, by: GroupBy) -> str:
    """The group ``record`` belongs to: its UTC date (``2026-11-23``), topic, channel or
    model."""
    if by == "day":
        return record.generated_at.astimezone(UTC).date().isoformat()
    if by == "topic":
        return record.topic
    if by == "model":
        return model_label(record)
    return channel_label(record)


def summarize_usage(
    records: Iterable[UsageRecord],
    *,
    by: GroupBy,
    since: datetime,
    now: datetime,
    daily_budget: int | None = None,
    channel_budget: int | None = None,
) -> UsageReport:
    """Group the records generated in ``[since, now]`` by ``by`` (groups sorted by key), and
    set the records of ``now``'s UTC day against the daily budgets that are set.

    ``records`` may reach back further than ``since``: pass those from the earlier of
    ``since`` and midnight, so that today's spend is complete whatever the window.
    """
    if by not in GROUPINGS:
        raise ValueError(f"cannot group usage by {by!r}; use one of {', '.join(GROUPINGS)}")
    today_start = day_start(now.astimezone(UTC))
    groups: dict[str, UsageTotals] = {}
    total = UsageTotals()
    spent_today: dict[str, int] = {}
    for record in records:
        if since <= record.generated_at <= now:
            groups.setdefault(group_key(record, by), UsageTotals()).add(record)
            total.add(record)
        if today_start <= record.generated_at <= now:
            label = channel_label(record)
            spent_today[label] = spent_today.get(label, 0) + record.total_tokens
    deployment = None
    if daily_budget is not None:
        deployment = BudgetUse("deployment", daily_budget, sum(spent_today.values()))
    channels: list[BudgetUse] = []
    if channel_budget is not None:
        channels = [
            BudgetUse(label, channel_budget, spent) for label, spent in sorted(spent_today.items())
        ]
    return UsageReport(
        by=by,
        since=since,
        until=now,
        groups=sorted(groups.items()),
        total=total,
        today=today_start.date(),
        deployment_budget=deployment,
        channel_budget=channel_budget,
        channel_budgets=channels,
    )


def records_since(since: datetime, now: datetime) -> datetime:
    """Where the records ``summarize_usage`` needs begin: the window's start or today's
    midnight (UTC), whichever is earlier."""
    return min(since, day_start(now.astimezone(UTC)))
