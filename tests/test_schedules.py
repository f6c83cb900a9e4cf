"""Schedules on a controlled clock: every `now` is given, so nothing depends on when or how fast the tests run."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from sync_core.schedules import Schedule, ScheduleError, parse_schedule

DAY, HOUR, MINUTE = timedelta(days=1), timedelta(hours=1), timedelta(minutes=1)


def at(text: str) -> datetime:
    """A UTC instant: at("2025-06-02 06:00")."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def cron(expression: str, zone: str = "UTC") -> Schedule:
    return parse_schedule(cron=expression, timezone=zone)


def due(schedule: Schedule, now: datetime, *, fired: datetime | None = None,
        ran: datetime | None = None) -> datetime | None:
    return schedule.due_slot(last_fired=fired, last_run_started=ran, now=now)


def next_at(schedule: Schedule, now: datetime, *, fired: datetime | None = None,
            ran: datetime | None = None) -> datetime | None:
    return schedule.next_run_at(last_fired=fired, last_run_started=ran, now=now)


def next_slots(schedule: Schedule, after: datetime, count: int) -> list[datetime]:
    """The schedule's next `count` slots, each anchored on the one before, as a worker firing on time sees them."""
    slots = []
    for _ in range(count):
        after = next_at(schedule, after, fired=after)
        slots.append(after)
    return slots


# --- manual ----------------------------------------------------------------------------------------------------------

def test_manual_is_never_due():
    manual = parse_schedule(None)
    assert manual.manual and manual == parse_schedule("manual") == Schedule("manual")
    for last in (None, at("2020-01-01 00:00")):
        now = at("2025-06-02 12:00")
        assert due(manual, now, fired=last, ran=last) is None
        assert next_at(manual, now, fired=last, ran=last) is None
    assert manual.overdue_by(next_run_at=at("2020-01-01 00:00"), now=at("2025-06-02 12:00")) is None


# --- every N ---------------------------------------------------------------------------------------------------------

def test_every_n_is_due_once_the_interval_has_passed():
    daily = parse_schedule("every 24h")
    fired = at("2025-06-01 06:00")
    assert next_at(daily, at("2025-06-01 07:00"), fired=fired) == at("2025-06-02 06:00")
    assert due(daily, at("2025-06-02 05:59:59"), fired=fired) is None
    now = at("2025-06-02 06:00:00.250000")
    assert due(daily, now, fired=fired) == now


def test_every_n_that_never_ran_is_due_now():
    now = at("2025-06-02 12:34")
    hourly = parse_schedule("every 1h")
    assert next_at(hourly, now) == now
    assert due(hourly, now) == now


def test_every_n_counts_from_the_last_fire_else_from_the_latest_run():
    daily = parse_schedule("every 24h")
    now = at("2025-06-02 12:00")
    # Never fired: a manual run at 10:00 yesterday is the anchor.
    assert next_at(daily, now, ran=at("2025-06-01 10:00")) == at("2025-06-02 10:00")
    # Fired: the schedule keeps its own rhythm, whatever ran since.
    assert next_at(daily, now, fired=at("2025-06-01 06:00"), ran=at("2025-06-02 11:00")) == at("2025-06-02 06:00")


def test_every_n_missed_during_downtime_is_due_once():
    daily = parse_schedule("every 24h")
    now = at("2025-06-10 09:17")  # the worker was down for 9 days
    slot = due(daily, now, fired=at("2025-06-01 06:00"))
    assert slot == now
    # The caller stores `slot` as last_fired: nothing more is due until a full interval later.
    assert due(daily, now, fired=slot) is None
    assert due(daily, now + DAY - timedelta(seconds=1), fired=slot) is None
    assert next_at(daily, now, fired=slot) == now + DAY
    assert due(daily, now + DAY, fired=slot) == now + DAY


def test_overdue_by_for_every_n_is_lateness_beyond_one_interval():
    daily = parse_schedule("every 24h")
    scheduled = at("2025-06-02 06:00")
    assert daily.overdue_by(next_run_at=scheduled, now=scheduled + 2 * HOUR) is None  # just late
    assert daily.overdue_by(next_run_at=scheduled, now=scheduled + DAY) is None  # exactly one interval is not beyond it
    assert daily.overdue_by(next_run_at=scheduled, now=scheduled + 26 * HOUR) == 26 * HOUR
    assert daily.overdue_by(next_run_at=None, now=scheduled) is None


# --- cron ------------------------------------------------------------------------------------------------------------

def test_cron_is_due_at_its_slot_not_before():
    six = cron("0 6 * * *")
    fired = at("2025-06-01 06:00")
    assert next_at(six, at("2025-06-02 05:00"), fired=fired) == at("2025-06-02 06:00")
    assert due(six, at("2025-06-02 05:59:59.999999"), fired=fired) is None
    assert due(six, at("2025-06-02 06:00"), fired=fired) == at("2025-06-02 06:00")
    # Found a little late, the slot is still the slot, not the moment it was noticed.
    assert due(six, at("2025-06-02 06:00:07.5"), fired=fired) == at("2025-06-02 06:00")
    # Once stored as last_fired, it is not due again until tomorrow's slot.
    assert due(six, at("2025-06-02 23:00"), fired=at("2025-06-02 06:00")) is None


def test_cron_missed_during_three_days_of_downtime_runs_once_for_the_latest_slot():
    six = cron("0 6 * * *")
    fired, now = at("2025-06-01 06:00"), at("2025-06-04 09:00")
    assert next_at(six, now, fired=fired) == at("2025-06-02 06:00")
    slot = due(six, now, fired=fired)
    assert slot == at("2025-06-04 06:00")  # not the 2nd and the 3rd: one run stands for the missed ones
    assert due(six, now, fired=slot) is None
    assert next_at(six, now, fired=slot) == at("2025-06-05 06:00")


def test_cron_after_a_long_downtime_finds_the_latest_slot():
    # A year of missed minutes: the latest is found without stepping through half a million slots.
    every_minute = cron("* * * * *", "Europe/Paris")
    now = at("2025-06-04 09:00:30")
    assert due(every_minute, now, fired=at("2024-06-01 00:00")) == at("2025-06-04 09:00")


def test_cron_that_never_ran_waits_for_its_first_slot():
    six = cron("0 6 * * *")
    seen = at("2025-06-02 09:00")  # nothing fired, nothing ran
    assert next_at(six, seen) == at("2025-06-03 06:00")
    assert due(six, seen) is None  # not this morning's slot
    # The caller stores `seen` as last_fired to start the count (see the module docstring); the first slot comes.
    assert due(six, at("2025-06-03 05:59"), fired=seen) is None
    assert due(six, at("2025-06-03 06:00"), fired=seen) == at("2025-06-03 06:00")


def test_cron_counts_from_the_latest_run_when_it_never_fired():
    six = cron("0 6 * * *")
    ran = at("2025-06-02 10:00")
    assert next_at(six, ran, ran=ran) == at("2025-06-03 06:00")
    assert due(six, at("2025-06-02 23:00"), ran=ran) is None


def test_cron_in_a_zone_is_wall_clock_time():
    paris = cron("0 6 * * *", "Europe/Paris")
    # 06:00 in Paris: 05:00 UTC in winter (CET, UTC+1), 04:00 UTC in summer (CEST, UTC+2). Clocks go forward on
    # 2025-03-30, so the gap between those two slots is 23 hours.
    assert next_slots(paris, at("2025-03-28 05:00"), 3) == [
        at("2025-03-29 05:00"), at("2025-03-30 04:00"), at("2025-03-31 04:00")]
    assert next_slots(paris, at("2025-10-25 04:00"), 2) == [at("2025-10-26 05:00"), at("2025-10-27 05:00")]
    assert paris.describe() == str(paris) == "cron 0 6 * * * (Europe/Paris)"


def test_cron_slot_in_the_skipped_hour_runs_when_the_clock_jumps():
    # 2025-03-30 in Paris: at 02:00 CET the clock jumps to 03:00 CEST, so 02:30 does not exist that day.
    # cronsim (as Debian cron) runs such a slot at the first minute that exists after it: 03:00 CEST = 01:00 UTC.
    # One run that day: none is lost, none is doubled.
    paris = cron("30 2 * * *", "Europe/Paris")
    slots = next_slots(paris, at("2025-03-28 01:30"), 3)
    assert slots == [at("2025-03-29 01:30"), at("2025-03-30 01:00"), at("2025-03-31 00:30")]
    assert [s.astimezone(ZoneInfo("Europe/Paris")).strftime("%d %H:%M") for s in slots] == [
        "29 02:30", "30 03:00", "31 02:30"]
    # New York jumps at 02:00 EST to 03:00 EDT on 2025-03-09: the same rule, 03:00 EDT = 07:00 UTC.
    assert next_slots(cron("30 2 * * *", "America/New_York"), at("2025-03-07 07:30"), 3) == [
        at("2025-03-08 07:30"), at("2025-03-09 07:00"), at("2025-03-10 06:30")]


def test_cron_slot_in_the_repeated_hour_runs_once_at_its_first_occurrence():
    # 2025-10-26 in Paris: at 03:00 CEST the clock goes back to 02:00 CET, so 02:30 happens twice (00:30 and 01:30
    # UTC). cronsim (as Debian cron) runs the slot once, at the first: 02:30 CEST = 00:30 UTC.
    paris = cron("30 2 * * *", "Europe/Paris")
    assert next_slots(paris, at("2025-10-24 00:30"), 3) == [
        at("2025-10-25 00:30"), at("2025-10-26 00:30"), at("2025-10-27 01:30")]
    fired = at("2025-10-26 00:30")
    assert due(paris, at("2025-10-26 01:30"), fired=fired) is None  # 02:30 CET
    # Found during the second 02:xx (02:10 CET, 01:10 UTC), the day's slot is due: it was at 00:30 UTC.
    before = at("2025-10-25 00:30")
    assert next_at(paris, at("2025-10-26 01:10"), fired=before) == fired
    assert due(paris, at("2025-10-26 01:10"), fired=before) == fired
    # A run started in the second 02:xx came after the day's slot: the next is tomorrow's, not the one just gone.
    assert next_at(paris, at("2025-10-26 01:10"), ran=at("2025-10-26 01:10")) == at("2025-10-27 01:30")
    # New York goes back from 02:00 EDT to 01:00 EST on 2025-11-02: 01:30 runs once, as EDT (05:30 UTC).
    assert next_slots(cron("30 1 * * *", "America/New_York"), at("2025-10-31 05:30"), 3) == [
        at("2025-11-01 05:30"), at("2025-11-02 05:30"), at("2025-11-03 06:30")]


def test_hourly_cron_follows_real_time_across_daylight_saving():
    # With `*` in the hour field cronsim counts real hours: a local day has 23 slots in spring and 25 in autumn.
    hourly = cron("0 * * * *", "Europe/Paris")
    spring = next_slots(hourly, at("2025-03-29 23:00"), 23)  # from local midnight (00:00 CET)
    assert spring[-1] == at("2025-03-30 22:00")  # 00:00 CEST on the 31st
    assert all(b - a == HOUR for a, b in zip(spring, spring[1:]))
    autumn = next_slots(hourly, at("2025-10-25 22:00"), 25)  # from 00:00 CEST
    assert autumn[-1] == at("2025-10-26 23:00")  # 00:00 CET on the 27th
    assert len(set(autumn)) == 25 and all(b - a == HOUR for a, b in zip(autumn, autumn[1:]))


@pytest.mark.parametrize("schedule", [cron("30 2 * * *", "Europe/Paris"), cron("*/20 * * * *", "Europe/Paris"),
                                      parse_schedule("every 90m"), parse_schedule("manual")])
def test_due_exactly_when_the_next_run_is_not_after_now(schedule):
    # Every 10 minutes across Paris's autumn change, anchored on each of the slots found: what the worker fires
    # (due_slot) and what the dashboard will show (next_run_at) never disagree, and a due slot is never in the future
    # nor at or before its anchor.
    start = at("2025-10-25 22:00")
    for step in range(0, 6 * 8):
        now = start + step * 10 * MINUTE
        for fired in (None, start, now - 25 * MINUTE):
            slot, next_run = due(schedule, now, fired=fired), next_at(schedule, now, fired=fired)
            assert (slot is not None) == (next_run is not None and next_run <= now), (now, fired)
            assert slot is None or (fired is None or fired < slot) and slot <= now, (now, fired, slot)


def test_overdue_by_for_cron_is_lateness_beyond_the_gap_to_the_next_slot():
    daily = cron("0 6 * * *")
    scheduled = at("2025-06-02 06:00")
    assert daily.overdue_by(next_run_at=scheduled, now=scheduled + 5 * HOUR) is None
    assert daily.overdue_by(next_run_at=scheduled, now=scheduled + 26 * HOUR) == 26 * HOUR
    hourly = cron("0 * * * *")
    assert hourly.overdue_by(next_run_at=scheduled, now=scheduled + 30 * MINUTE) is None
    assert hourly.overdue_by(next_run_at=scheduled, now=scheduled + 90 * MINUTE) == 90 * MINUTE


# --- values and errors -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, shown", [
    ("manual", "manual"), ("every 24h", "every 24h"), ("every 1d", "every 24h"), ("every 48h", "every 2d"),
    ("every 90m", "every 90m"), ("every 120 m", "every 2h"), ("every 7d", "every 7d"),
])
def test_describe_reads_like_the_config(text, shown):
    assert parse_schedule(text).describe() == str(parse_schedule(text)) == shown


def test_naive_datetimes_are_refused():
    with pytest.raises(ValueError, match="timezone-aware"):
        parse_schedule("every 1h").due_slot(last_fired=None, last_run_started=None, now=datetime(2025, 6, 2))
    with pytest.raises(ValueError, match="last_fired must be timezone-aware"):
        cron("0 6 * * *").next_run_at(last_fired=datetime(2025, 6, 2), last_run_started=None,
                                      now=at("2025-06-02 00:00"))


def test_results_are_utc_whatever_zone_the_inputs_are_in():
    paris = ZoneInfo("Europe/Paris")
    now = datetime(2025, 6, 2, 8, 0, tzinfo=paris)  # 06:00 UTC
    slot = cron("0 6 * * *").due_slot(last_fired=at("2025-06-01 06:00"), last_run_started=None, now=now)
    assert slot == at("2025-06-02 06:00") and slot.tzinfo is UTC
    assert parse_schedule("every 1h").due_slot(last_fired=None, last_run_started=None, now=now).tzinfo is UTC


@pytest.mark.parametrize("kwargs, key, problem", [
    ({"schedule": "every 24h", "cron": "0 6 * * *"}, "cron", "not both"),
    ({"cron": "0 25 * * *"}, "cron", "bad hour"),
    ({"cron": "0 0 6 * * *"}, "cron", "has 6 field(s)"),
    ({"cron": "0 6 * * *", "timezone": "Mars/Olympus"}, "timezone", "unknown time zone 'Mars/Olympus'"),
    ({"schedule": "every 24h", "timezone": "Europe/Paris"}, "timezone", "applies only to a `cron` schedule"),
    ({"schedule": "every 0h"}, "schedule", "at least 1h"),
    ({"schedule": "every 400d"}, "schedule", "use `cron`"),
])
def test_bad_schedules_name_the_key_at_fault(kwargs, key, problem):
    with pytest.raises(ScheduleError) as err:
        parse_schedule(kwargs.pop("schedule", None), **kwargs)
    assert err.value.key == key and problem in str(err.value)
