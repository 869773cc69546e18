"""The schedule grammar: every form, its canonical text, and delivery times across DST."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.chat.schedule import Schedule, parse_schedule, starts_schedule
from bot.errors import InvalidRequest

LONDON = ZoneInfo("Europe/London")
NEW_YORK = ZoneInfo("America/New_York")


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "canonical", "days", "at"),
    [
        ("daily 08:00", "daily 08:00", {0, 1, 2, 3, 4, 5, 6}, time(8, 0)),
        ("mon-fri 07:30", "weekdays 07:30", {0, 1, 2, 3, 4}, time(7, 30)),
        ("weekdays 07:30", "weekdays 07:30", {0, 1, 2, 3, 4}, time(7, 30)),
        ("weekends 10:00", "weekends 10:00", {5, 6}, time(10, 0)),
        ("weekly mon 09:00", "weekly mon 09:00", {0}, time(9, 0)),
        ("mon,wed,fri 18:00", "mon,wed,fri 18:00", {0, 2, 4}, time(18, 0)),
        ("Fri,Mon,Wed 18:00", "mon,wed,fri 18:00", {0, 2, 4}, time(18, 0)),
        ("fri-mon 9:05", "mon,fri,sat,sun 09:05", {0, 4, 5, 6}, time(9, 5)),
        ("sat,sun 10:00", "weekends 10:00", {5, 6}, time(10, 0)),
        ("Monday 10:00", "weekly mon 10:00", {0}, time(10, 0)),
        ("  DAILY   23:59 ", "daily 23:59", {0, 1, 2, 3, 4, 5, 6}, time(23, 59)),
    ],
)
def test_day_schedules_parse_to_a_canonical_text_that_reads_back_the_same(
    text: str, canonical: str, days: set[int], at: time
) -> None:
    schedule = parse_schedule(text)
    assert schedule.days == frozenset(days)
    assert schedule.at == at
    assert schedule.text == canonical
    assert parse_schedule(schedule.text) == schedule


@pytest.mark.parametrize(
    ("text", "canonical", "every"),
    [
        ("every 6h", "every 6h", timedelta(hours=6)),
        ("every 1h", "every 1h", timedelta(hours=1)),
        ("every 24h", "every 24h", timedelta(hours=24)),
        ("every 30m", "every 30m", timedelta(minutes=30)),
        ("every 120m", "every 2h", timedelta(hours=2)),
        ("every 15m", "every 15m", timedelta(minutes=15)),
    ],
)
def test_interval_schedules_parse_to_a_canonical_text(
    text: str, canonical: str, every: timedelta
) -> None:
    schedule = parse_schedule(text)
    assert schedule.every == every
    assert schedule.text == canonical
    assert parse_schedule(canonical) == schedule


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("25:00", "25:00 is not a time of day; use 24-hour HH:MM, e.g. 08:00"),
        ("daily 25:00", "25:00 is not a time of day; use 24-hour HH:MM, e.g. 08:00"),
        ("daily 08:60", "08:60 is not a time of day"),
        ("daily 8am", "8am is not a time of day"),
        ("mnday 08:00", "Did you mean mon?"),
        ("weekly thrusday 09:00", "Did you mean thu?"),
        ("mon-frii 07:30", "Did you mean fri?"),
        ("dialy 08:00", "Did you mean daily?"),
        ("every 0h", "every 0h is too often"),
        ("every 10m", "every 10m is too often"),
        ("every 25h", "every 25h is longer than a day"),
        ("every six hours", "is not an interval; give hours or minutes, e.g. every 6h"),
        ("", "The schedule is empty; give one like daily 08:00"),
        ("   ", "The schedule is empty"),
        ("daily", "daily needs a time of day, e.g. daily 08:00."),
        ("weekly 09:00", "weekly needs a day and a time of day, e.g. weekly mon 09:00."),
        ("08:00", "08:00 needs the days before it, e.g. daily 08:00"),
        ("daily 08:00 London", "'london' does not belong in a schedule"),
        ("mon,,fri 08:00", "join days with single commas"),
    ],
)
def test_bad_schedules_name_the_problem_and_the_fix(text: str, expected: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        parse_schedule(text)
    assert expected in str(caught.value)


def test_a_schedule_opens_at_a_keyword_or_a_day_list_and_not_at_other_words() -> None:
    assert all(starts_schedule(w) for w in ["daily", "Every", "mon-fri", "mon,wed", "sunday"])
    assert not any(starts_schedule(w) for w in ["ukraine", "08:00", "election", "mon-x"])


def test_daily_fires_later_the_same_day_or_on_the_next() -> None:
    schedule = parse_schedule("daily 08:00")
    assert schedule.next_after(utc(2024, 6, 3, 6, 0), LONDON) == utc(2024, 6, 3, 7, 0)
    assert schedule.next_after(utc(2024, 6, 3, 7, 0), LONDON) == utc(2024, 6, 4, 7, 0)
    assert schedule.next_after(utc(2024, 1, 3, 7, 0), LONDON) == utc(2024, 1, 3, 8, 0)


def test_next_after_is_aware_utc_and_needs_an_aware_moment() -> None:
    found = parse_schedule("daily 08:00").next_after(utc(2024, 6, 3, 6, 0), NEW_YORK)
    assert found.utcoffset() == timedelta(0)
    assert found == utc(2024, 6, 3, 12, 0)
    with pytest.raises(ValueError, match="aware"):
        parse_schedule("daily 08:00").next_after(datetime(2024, 6, 3), LONDON)


def test_day_schedules_skip_to_their_days() -> None:
    friday_evening = utc(2024, 6, 7, 20, 0)  # Friday 7 June 2024
    assert parse_schedule("mon-fri 07:30").next_after(friday_evening, LONDON) == utc(
        2024, 6, 10, 6, 30
    )
    assert parse_schedule("weekends 10:00").next_after(friday_evening, LONDON) == utc(
        2024, 6, 8, 9, 0
    )
    assert parse_schedule("weekly mon 09:00").next_after(utc(2024, 6, 10, 8, 0), LONDON) == (
        utc(2024, 6, 17, 8, 0)
    )
    schedule = parse_schedule("mon,wed,fri 18:00")
    moment, fired = utc(2024, 6, 3, 0, 0), []
    for _ in range(4):
        moment = schedule.next_after(moment, NEW_YORK)
        fired.append(moment)
    assert fired == [
        utc(2024, 6, 3, 22, 0),
        utc(2024, 6, 5, 22, 0),
        utc(2024, 6, 7, 22, 0),
        utc(2024, 6, 10, 22, 0),
    ]


def test_a_moment_late_in_the_local_day_before_utc_midnight_is_handled() -> None:
    # 23:30 in New York on Monday is 03:30 UTC on Tuesday; Monday's slot has passed.
    late_monday = utc(2024, 6, 4, 3, 30)
    assert parse_schedule("weekly tue 00:15").next_after(late_monday, NEW_YORK) == utc(
        2024, 6, 4, 4, 15
    )


def test_every_fires_at_wall_clock_slots_from_local_midnight() -> None:
    schedule = parse_schedule("every 6h")
    assert schedule.next_after(utc(2024, 6, 3, 0, 30), LONDON) == utc(2024, 6, 3, 5, 0)
    assert schedule.next_after(utc(2024, 6, 3, 17, 0), LONDON) == utc(2024, 6, 3, 23, 0)
    five = parse_schedule("every 5h")
    assert [t.hour for t in five.slots()] == [0, 5, 10, 15, 20]
    assert five.next_after(utc(2024, 1, 3, 20, 0), LONDON) == utc(2024, 1, 4, 0, 0)


def test_london_spring_forward_fires_a_skipped_time_at_the_end_of_the_gap() -> None:
    # 31 March 2024: 01:00 GMT jumps to 02:00 BST; 01:30 does not exist in London.
    schedule = parse_schedule("daily 01:30")
    fired = schedule.next_after(utc(2024, 3, 30, 12, 0), LONDON)
    assert fired == utc(2024, 3, 31, 1, 0)
    assert fired.astimezone(LONDON).strftime("%H:%M %Z") == "02:00 BST"
    assert schedule.next_after(fired, LONDON) == utc(2024, 4, 1, 0, 30)


def test_london_fall_back_fires_a_repeated_time_once() -> None:
    # 27 October 2024: 02:00 BST falls back to 01:00 GMT; 01:30 happens twice.
    schedule = parse_schedule("daily 01:30")
    first = schedule.next_after(utc(2024, 10, 26, 12, 0), LONDON)
    assert first == utc(2024, 10, 27, 0, 30)  # 01:30 BST, the first occurrence
    assert schedule.next_after(first, LONDON) == utc(2024, 10, 28, 1, 30)  # not 01:30 GMT


def test_new_york_spring_forward_and_fall_back() -> None:
    # 10 March 2024: 02:00 EST jumps to 03:00 EDT. 3 November 2024: 02:00 EDT -> 01:00 EST.
    skipped = parse_schedule("daily 02:30")
    assert skipped.next_after(utc(2024, 3, 9, 12, 0), NEW_YORK) == utc(2024, 3, 10, 7, 0)
    repeated = parse_schedule("daily 01:30")
    first = repeated.next_after(utc(2024, 11, 2, 12, 0), NEW_YORK)
    assert first == utc(2024, 11, 3, 5, 30)
    assert repeated.next_after(first, NEW_YORK) == utc(2024, 11, 4, 6, 30)
    morning = parse_schedule("weekdays 08:00")  # keeps 08:00 local across the change
    assert morning.next_after(utc(2024, 3, 8, 14, 0), NEW_YORK) == utc(2024, 3, 11, 12, 0)


def test_an_interval_over_the_spring_forward_gap_fires_once_at_its_end() -> None:
    schedule = parse_schedule("every 30m")
    moment, fired = utc(2024, 3, 31, 0, 15), []
    for _ in range(3):
        moment = schedule.next_after(moment, LONDON)
        fired.append(moment.astimezone(LONDON).strftime("%H:%M %Z"))
    # 00:30 GMT, then 01:00 and 01:30 (both skipped) once at 02:00 BST, then 02:30 BST.
    assert fired == ["00:30 GMT", "02:00 BST", "02:30 BST"]


def test_a_schedule_needs_a_time_or_an_interval_but_not_both() -> None:
    with pytest.raises(ValueError, match="either"):
        Schedule(frozenset({0}))
    with pytest.raises(ValueError, match="either"):
        Schedule(frozenset({0}), at=time(8), every=timedelta(hours=1))
