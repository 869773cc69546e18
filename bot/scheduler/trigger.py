"""APScheduler triggers from subscription schedules, and the slots a schedule had.

``ScheduleTrigger`` fires at a ``bot.chat.schedule.Schedule``'s wall-clock slots in the
subscription's time zone. The schedule is written with day names (``mon-fri 08:00``), never
crontab weekday numbers, which APScheduler 3 counts from Monday = 0 while crontab counts
from Sunday = 0: ``from_crontab("0 8 * * 1-5")`` would fire Tuesday to Saturday. Daylight
saving follows ``Schedule.next_after``: a slot the spring-forward change skips fires at the
first instant after the gap; one that fall-back repeats fires once.

Like APScheduler's own triggers, a trigger asked after a pause computes the next fire time
from the previous one, so the scheduler sees the missed run and its ``misfire_grace_time``
and ``coalesce`` apply.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from apscheduler.triggers.base import BaseTrigger

from bot.chat.schedule import Schedule, parse_schedule

_TICK = timedelta(microseconds=1)
_WEEK = timedelta(days=8)


class ScheduleTrigger(BaseTrigger):  # type: ignore[misc]  # apscheduler ships no types
    """Fires at ``schedule``'s slots in ``zone``."""

    __slots__ = ("schedule", "zone")

    def __init__(self, schedule: Schedule | str, zone: ZoneInfo | str) -> None:
        self.schedule = parse_schedule(schedule) if isinstance(schedule, str) else schedule
        self.zone = zone if isinstance(zone, ZoneInfo) else ZoneInfo(zone)

    def get_next_fire_time(
        self, previous_fire_time: datetime | None, now: datetime
    ) -> datetime | None:
        start = now if previous_fire_time is None else min(now, previous_fire_time)
        # ``next_after`` is strictly after its argument: a slot exactly at ``now`` counts.
        moment = start - _TICK if previous_fire_time is None else start
        return self.schedule.next_after(moment, self.zone).astimezone(self.zone)

    def __str__(self) -> str:
        return f"{self.schedule.text} {self.zone.key}"

    def __repr__(self) -> str:
        return f"<ScheduleTrigger {self.schedule.text!r} {self.zone.key!r}>"

    def __getstate__(self) -> dict[str, object]:
        return {"version": 1, "schedule": self.schedule.text, "zone": self.zone.key}

    def __setstate__(self, state: dict[str, object]) -> None:
        self.schedule = parse_schedule(str(state["schedule"]))
        self.zone = ZoneInfo(str(state["zone"]))


def slots_between(
    schedule: Schedule, zone: ZoneInfo, start: datetime, end: datetime, *, limit: int = 100_000
) -> Iterator[datetime]:
    """The slots ``s`` with ``start < s <= end``, oldest first, as aware UTC datetimes (at
    most ``limit`` of them)."""
    moment = start
    for _ in range(limit):
        moment = schedule.next_after(moment, zone)
        if moment > end:
            return
        yield moment.astimezone(UTC)


def latest_slot(schedule: Schedule, zone: ZoneInfo, moment: datetime) -> datetime | None:
    """The last slot at or before ``moment`` (within the week before it)."""
    found = None
    for slot in slots_between(schedule, zone, moment - _WEEK, moment):
        found = slot
    return found


def slot_key(subscription_id: int, slot_at: datetime) -> str:
    """The delivery key of a digest slot: ``digest:7:2026-12-01T07:00:00+00:00`` (the
    subscription, and the slot in UTC). The subscription is in it because the platform
    lookup searches a channel, and two subscriptions of one channel may share a slot."""
    return f"digest:{subscription_id}:" + slot_at.astimezone(UTC).isoformat(timespec="seconds")
