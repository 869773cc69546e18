"""Delivery schedules in words: ``daily 08:00``, ``mon-fri 07:30``, ``every 6h``.

The grammar, one for every platform (case does not matter)::

    daily HH:MM                every day
    weekdays HH:MM             Monday to Friday
    weekends HH:MM             Saturday and Sunday
    weekly DAY HH:MM           one day a week
    DAYS HH:MM                 DAYS: days and ranges joined by commas: mon,wed,fri  mon-fri
                               fri-mon (a range may wrap past Sunday)
    every Nh | every Nm        1 to 24 hours, or 15 to 1440 minutes

Day names are Monday-first (``mon`` .. ``sun``, or in full); there are no cron day numbers.
Times are 24-hour wall-clock times in the subscription's time zone. ``every 6h`` fires at the
local times 00:00, 06:00, 12:00 and 18:00 of every day: interval schedules are wall-clock
slots from local midnight, so they do not drift across daylight-saving changes (when the
interval does not divide the day, the last slot of a day is followed by 00:00).

``Schedule.text`` is the canonical form stored in the subscriptions table; parsing it gives
the same schedule back. ``Schedule.next_after`` handles daylight saving: a local time that
the spring-forward change skips fires at the first instant after the gap; a local time
that the fall-back change repeats fires once, at its first occurrence.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from bot.errors import InvalidRequest

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_FULL_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_ALIASES = {"tues": 1, "weds": 2, "thur": 3, "thurs": 3}
_DAY_INDEX = {
    **{name: index for index, name in enumerate(DAY_NAMES)},
    **{name: index for index, name in enumerate(_FULL_NAMES)},
    **_ALIASES,
}
_ALL_DAYS = frozenset(range(7))
_WEEKDAYS = frozenset(range(5))
_WEEKEND = frozenset({5, 6})
_SHORTHANDS = {"daily": _ALL_DAYS, "weekdays": _WEEKDAYS, "weekends": _WEEKEND}
KEYWORDS = ("daily", "weekdays", "weekends", "weekly", "every")

MIN_INTERVAL = timedelta(minutes=15)
MAX_INTERVAL = timedelta(hours=24)
_DAY = timedelta(days=1)

_TIME = re.compile(r"(\d{1,2}):(\d{2})")
_INTERVAL = re.compile(r"(\d+)\s*(h|m)")
EXAMPLES = "daily 08:00, mon-fri 07:30, weekly mon 09:00 or every 6h"


@dataclass(frozen=True, slots=True)
class Schedule:
    """When a digest is delivered: at ``at`` on ``days`` (0 = Monday), or ``every`` interval.

    Exactly one of ``at`` and ``every`` is set; interval schedules run on every day.
    """

    days: frozenset[int]
    at: time | None = None
    every: timedelta | None = None

    def __post_init__(self) -> None:
        if (self.at is None) == (self.every is None):
            raise ValueError("a Schedule has either a time of day or an interval")
        if not self.days or not self.days <= _ALL_DAYS:
            raise ValueError(f"days must be a non-empty set of 0..6, got {sorted(self.days)}")
        if self.every is not None and not MIN_INTERVAL <= self.every <= MAX_INTERVAL:
            raise ValueError(f"interval out of range: {self.every}")

    @property
    def text(self) -> str:
        """The canonical form: what is stored, and what ``parse_schedule`` reads back."""
        if self.every is not None:
            minutes = int(self.every.total_seconds()) // 60
            return f"every {minutes // 60}h" if minutes % 60 == 0 else f"every {minutes}m"
        assert self.at is not None
        clock = self.at.strftime("%H:%M")
        for word, days in _SHORTHANDS.items():
            if self.days == days:
                return f"{word} {clock}"
        if len(self.days) == 1:
            return f"weekly {DAY_NAMES[next(iter(self.days))]} {clock}"
        return ",".join(DAY_NAMES[day] for day in sorted(self.days)) + f" {clock}"

    def __str__(self) -> str:
        return self.text

    def slots(self) -> list[time]:
        """The local times of day this schedule fires at, earliest first."""
        if self.at is not None:
            return [self.at]
        assert self.every is not None
        found: list[time] = []
        offset = timedelta(0)
        while offset < _DAY:
            found.append((datetime.min + offset).time())
            offset += self.every
        return found

    def next_after(self, moment: datetime, zone: ZoneInfo) -> datetime:
        """The first delivery strictly after ``moment`` (aware), as an aware UTC datetime."""
        if moment.tzinfo is None:
            raise ValueError("next_after needs an aware datetime")
        start = moment.astimezone(zone).date() - _DAY  # a day back: wall times can lag UTC
        slots = self.slots()
        for step in range(9):  # every weekday comes round within eight days
            day = start + timedelta(days=step)
            if day.weekday() not in self.days:
                continue
            for slot in slots:
                instant = _instant(day, slot, zone)
                if instant > moment:
                    return instant
        raise AssertionError("unreachable: a schedule fires at least once a week")


def _instant(day: date, at: time, zone: ZoneInfo) -> datetime:
    """The UTC instant of the wall time ``at`` on ``day`` in ``zone``: the first occurrence
    of a repeated time, the end of the gap for a skipped one."""
    local = datetime.combine(day, at, tzinfo=zone)  # fold=0: the earlier offset
    instant = local.astimezone(UTC)
    if instant.astimezone(zone).replace(tzinfo=None) == local.replace(tzinfo=None):
        return instant
    # Skipped by a spring-forward change: fold=1 reads it with the later offset, which
    # lands before the gap; the change itself lies between the two readings.
    before = local.replace(fold=1).astimezone(UTC)
    return _transition(min(before, instant), max(before, instant), zone)


def _transition(low: datetime, high: datetime, zone: ZoneInfo) -> datetime:
    """The first instant in (low, high] whose UTC offset in ``zone`` differs from low's."""
    offset = low.astimezone(zone).utcoffset()
    lo, hi = 0, int((high - low).total_seconds())
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if (low + timedelta(seconds=mid)).astimezone(zone).utcoffset() == offset:
            lo = mid
        else:
            hi = mid
    return low + timedelta(seconds=hi)


def starts_schedule(word: str) -> bool:
    """Whether ``word`` can open a schedule (a keyword or a day list such as ``mon-fri``)."""
    lowered = word.lower()
    if lowered in KEYWORDS:
        return True
    parts = [part for item in lowered.split(",") for part in item.split("-")]
    return all(part in _DAY_INDEX for part in parts)


def near_schedule_word(word: str) -> bool:
    """Whether ``word`` is close to a day name or keyword (a likely misspelling)."""
    known = [*DAY_NAMES, *_FULL_NAMES, *KEYWORDS]
    return bool(difflib.get_close_matches(word.lower(), known, n=1, cutoff=0.5))


def parse_schedule(text: str) -> Schedule:
    """Read a schedule in the grammar above; ``InvalidRequest`` names the problem and fix."""
    words = text.lower().split()
    if not words:
        raise InvalidRequest(f"The schedule is empty; give one like {EXAMPLES}.")
    head, rest = words[0], words[1:]
    if head == "every":
        return _parse_interval(" ".join(rest))
    if head == "weekly":
        if len(rest) != 2:
            raise InvalidRequest("weekly needs a day and a time of day, e.g. weekly mon 09:00.")
        day = _day(rest[0])
        return _with_time(frozenset({day}), rest[1:], f"weekly {rest[0]}")
    if head in _SHORTHANDS:
        return _with_time(_SHORTHANDS[head], rest, head)
    if _TIME.fullmatch(head):
        _time(head)  # a time out of range is named as such first
        raise InvalidRequest(
            f"{head} needs the days before it, e.g. daily {head} or mon-fri {head}."
        )
    return _with_time(_days(head), rest, head)


def _with_time(days: frozenset[int], rest: list[str], lead: str) -> Schedule:
    if not rest:
        raise InvalidRequest(f"{lead} needs a time of day, e.g. {lead} 08:00.")
    if len(rest) > 1:
        extra = " ".join(rest[1:])
        raise InvalidRequest(
            f"{extra!r} does not belong in a schedule; give one like {EXAMPLES} "
            "(a time zone looks like Europe/London)."
        )
    return Schedule(days, at=_time(rest[0]))


def _time(word: str) -> time:
    match = _TIME.fullmatch(word)
    if match is None or int(match[1]) > 23 or int(match[2]) > 59:
        raise InvalidRequest(f"{word} is not a time of day; use 24-hour HH:MM, e.g. 08:00.")
    return time(int(match[1]), int(match[2]))


def _parse_interval(text: str) -> Schedule:
    match = _INTERVAL.fullmatch(text)
    if match is None:
        given = f"every {text}".strip()
        raise InvalidRequest(
            f"{given!r} is not an interval; give hours or minutes, e.g. every 6h or every 30m."
        )
    amount, unit = int(match[1]), match[2]
    every = timedelta(hours=amount) if unit == "h" else timedelta(minutes=amount)
    if every < MIN_INTERVAL:
        raise InvalidRequest(
            f"every {amount}{unit} is too often; give 1 to 24 hours (every 6h) or at least "
            "15 minutes (every 30m)."
        )
    if every > MAX_INTERVAL:
        raise InvalidRequest(
            f"every {amount}{unit} is longer than a day; give 1 to 24 hours, or use a day "
            "schedule such as weekly mon 09:00."
        )
    return Schedule(_ALL_DAYS, every=every)


def _days(spec: str) -> frozenset[int]:
    days: set[int] = set()
    for item in spec.split(","):
        if not item:
            raise InvalidRequest(
                f"{spec!r} has an empty day; join days with single commas, e.g. mon,wed,fri."
            )
        ends = item.split("-")
        if len(ends) > 2:
            raise InvalidRequest(f"{item!r} is not a day range; write one like mon-fri.")
        if len(ends) == 1:
            days.add(_day(ends[0]))
            continue
        first, last = _day(ends[0]), _day(ends[1])
        span = (last - first) % 7
        days.update((first + step) % 7 for step in range(span + 1))
    return frozenset(days)


def _day(word: str) -> int:
    if word in _DAY_INDEX:
        return _DAY_INDEX[word]
    known = [*DAY_NAMES, *_FULL_NAMES, *KEYWORDS]
    close = difflib.get_close_matches(word, known, n=1, cutoff=0.5)
    if close:
        hint = close[0] if close[0] in KEYWORDS else DAY_NAMES[_DAY_INDEX[close[0]]]
        suggestion = f" Did you mean {hint}?"
    else:
        suggestion = ""
    raise InvalidRequest(
        f"{word!r} is not a day name; use mon, tue, wed, thu, fri, sat or sun (or daily, "
        f"weekdays, weekends).{suggestion}"
    )
