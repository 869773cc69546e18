"""Digest schedules on APScheduler: day names, daylight saving, missed runs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from apscheduler.triggers.cron import CronTrigger

from bot.chat.schedule import parse_schedule
from bot.scheduler.trigger import ScheduleTrigger, latest_slot, slot_key, slots_between

BERLIN = ZoneInfo("Europe/Berlin")


def test_mon_fri_0800_berlin_fires_at_0800_local_on_both_sides_of_the_spring_change() -> None:
    trigger = ScheduleTrigger("mon-fri 08:00", "Europe/Berlin")
    friday_after = datetime(2026, 3, 27, 9, 0, tzinfo=BERLIN)  # CET, UTC+1

    monday = trigger.get_next_fire_time(None, friday_after)

    # Clocks went forward on Sunday 29 March: Monday 08:00 is CEST, 06:00 UTC.
    assert monday == datetime(2026, 3, 30, 8, 0, tzinfo=BERLIN)
    assert monday.astimezone(UTC) == datetime(2026, 3, 30, 6, 0, tzinfo=UTC)
    friday = trigger.get_next_fire_time(None, datetime(2026, 3, 27, 7, 0, tzinfo=BERLIN))
    assert friday.astimezone(UTC) == datetime(2026, 3, 27, 7, 0, tzinfo=UTC)


def test_mon_fri_0800_berlin_across_the_autumn_change_and_never_at_weekends() -> None:
    trigger = ScheduleTrigger("mon-fri 08:00", "Europe/Berlin")
    fires = []
    previous = None
    now = datetime(2026, 10, 22, 12, 0, tzinfo=UTC)  # Thursday, CEST
    for _ in range(4):
        previous = trigger.get_next_fire_time(previous, now)
        fires.append(previous.astimezone(UTC))
        now = previous + timedelta(seconds=1)

    assert fires == [
        datetime(2026, 10, 23, 6, 0, tzinfo=UTC),  # Friday 08:00 CEST
        datetime(2026, 10, 26, 7, 0, tzinfo=UTC),  # Monday 08:00 CET (clocks went back)
        datetime(2026, 10, 27, 7, 0, tzinfo=UTC),
        datetime(2026, 10, 28, 7, 0, tzinfo=UTC),
    ]


def test_a_crontab_weekday_range_would_fire_tuesday_to_saturday_which_day_names_avoid() -> None:
    """The trap the day names avoid: APScheduler 3 counts day_of_week 0 as Monday."""
    crontab = CronTrigger.from_crontab("0 8 * * 1-5", timezone=BERLIN)
    named = ScheduleTrigger("mon-fri 08:00", "Europe/Berlin")
    friday_night = datetime(2026, 11, 27, 20, 0, tzinfo=BERLIN)

    assert crontab.get_next_fire_time(None, friday_night).weekday() == 5  # Saturday
    assert named.get_next_fire_time(None, friday_night).weekday() == 0  # Monday


def test_after_a_pause_the_trigger_reports_the_missed_run_so_misfire_grace_applies() -> None:
    trigger = ScheduleTrigger("daily 08:00", "UTC")
    fired = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
    woke = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)  # two days asleep

    # Computed from the previous fire time, not from now: the scheduler sees it is late.
    assert trigger.get_next_fire_time(fired, woke) == datetime(2026, 12, 2, 8, 0, tzinfo=UTC)


def test_a_slot_exactly_now_is_due_now() -> None:
    trigger = ScheduleTrigger("daily 08:00", "UTC")
    at = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
    assert trigger.get_next_fire_time(None, at) == at


def test_slots_between_and_the_latest_slot_follow_the_local_wall_clock() -> None:
    schedule = parse_schedule("every 6h")
    start = datetime(2026, 3, 28, 12, 0, tzinfo=UTC)
    end = datetime(2026, 3, 29, 12, 0, tzinfo=UTC)

    found = list(slots_between(schedule, BERLIN, start, end))

    # 18:00 CET, 00:00 CET, then 06:00 and 12:00 CEST (the night lost an hour).
    assert found == [
        datetime(2026, 3, 28, 17, 0, tzinfo=UTC),
        datetime(2026, 3, 28, 23, 0, tzinfo=UTC),
        datetime(2026, 3, 29, 4, 0, tzinfo=UTC),
        datetime(2026, 3, 29, 10, 0, tzinfo=UTC),
    ]
    assert latest_slot(schedule, BERLIN, end) == found[-1]


def test_slot_keys_are_utc_whatever_the_zone() -> None:
    slot = datetime(2026, 12, 1, 8, 0, tzinfo=BERLIN)
    assert slot_key(7, slot) == "digest:7:2026-12-01T07:00:00+00:00"


def test_an_unknown_zone_is_refused() -> None:
    with pytest.raises(KeyError):
        ScheduleTrigger("daily 08:00", "Mars/Olympus_Mons")
