"""Schedules: when a sync is due, worked out from what has happened and an explicit `now` (no clock, no I/O).

A sync's schedule is `manual`, `every N` (minutes, hours or days), or a 5-field cron expression read as wall-clock
time in an IANA time zone (the slots are cronsim's). Every datetime taken or returned is timezone-aware, and those
returned are UTC.

The anchor is `last_fired` (when the schedule last enqueued a run), else `last_run_started` (the sync's latest run
that tried every row, whatever started it: not a retry of failed rows nor a resend of chosen ones), else there
is none.

- manual: never due; next_run_at and overdue_by are None.
- every N: next_run_at = anchor + N; with no anchor the sync has never run and is due now. `due_slot` is `now` once
  next_run_at <= now; the caller stores it as last_fired, so the next run is at now + N. However many intervals a
  downtime missed, the sync is due once.
- cron: next_run_at = the first slot strictly after the anchor; with no anchor, the first slot after `now` (a cron
  sync that never ran waits for its first slot). `due_slot` is the latest slot <= now that is after the anchor
  (missed slots run once), else None; the caller stores it as last_fired. With no anchor nothing is due: the caller
  starts the count by storing `now` as last_fired the first time it sees such a sync (as a Kubernetes CronJob counts
  from its creation), and its first slot after that is then due when it comes.
- Either way, due_slot is None exactly when next_run_at is None or later than now.
- overdue_by: the lateness `now - next_run_at` once it exceeds one interval (N; for cron, the gap from next_run_at to
  the slot after it), for messages like "due 26 h ago"; else None.

Daylight saving, as cronsim handles it (Debian cron's rules) for an expression with a fixed minute and hour, such as
"30 2 * * *": a slot in the hour skipped in spring runs when the clock jumps (02:30 -> 03:00), and a slot in the hour
repeated in autumn runs once, at its first occurrence. An expression with `*` in the minute or hour field follows
real time instead: "0 * * * *" runs 23 times on the spring day and 25 on the autumn one.
"""

from __future__ import annotations

import difflib
import re
import zoneinfo
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Iterator

from cronsim import CronSim, CronSimError

KINDS = ("manual", "every", "cron")
EVERY = re.compile(r"^every (\d+)\s*(m|h|d)$")
UNITS = {"m": timedelta(minutes=1), "h": timedelta(hours=1), "d": timedelta(days=1)}
LONGEST_EVERY = timedelta(days=365)  # longer ones belong to cron, and anchor + N stays far from datetime's limits
CRON_FIELDS = "minute hour day-of-month month day-of-week"
_SETS = {"manual": "neither every nor cron", "every": "every and not cron", "cron": "cron and not every"}


class ScheduleError(ValueError):
    """A schedule that cannot be used. `key` is the setting at fault: "schedule", "cron" or "timezone"."""

    def __init__(self, key: str, message: str):
        super().__init__(message)
        self.key = key


@dataclass(frozen=True)
class Schedule:
    kind: str  # "manual" | "every" | "cron"
    every: timedelta | None = None
    cron: str | None = None
    timezone: str = "UTC"  # IANA name; cron slots are computed in this zone

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ScheduleError("schedule", f"kind must be one of {', '.join(KINDS)}, not {self.kind!r}")
        if (self.every is not None, self.cron is not None) != (self.kind == "every", self.kind == "cron"):
            raise ScheduleError("schedule", f"a {self.kind!r} schedule sets {_SETS[self.kind]} "
                                            f"(every={self.every!r}, cron={self.cron!r})")
        if self.kind != "cron" and self.timezone != "UTC":
            raise ScheduleError("timezone", "applies only to a `cron` schedule ('every N' counts real time)")
        if self.every is not None and not (timedelta(0) < self.every <= LONGEST_EVERY
                                           and self.every % timedelta(minutes=1) == timedelta(0)):
            raise ScheduleError("schedule", f"'every' must be whole minutes, more than 0 and at most "
                                            f"{LONGEST_EVERY.days}d (use cron for rarer runs), not {self.every}")
        if self.cron is not None:
            _check_zone(self.timezone)
            _check_cron(self.cron)

    def describe(self) -> str:
        """"manual", "every 24h", "cron 0 6 * * * (Europe/Paris)"."""
        if self.every is not None:
            return f"every {_interval_text(self.every)}"
        if self.cron is not None:
            return f"cron {self.cron} ({self.timezone})"
        return "manual"

    __str__ = describe

    @property
    def manual(self) -> bool:
        return self.kind == "manual"

    def next_run_at(self, *, last_fired: datetime | None, last_run_started: datetime | None,
                    now: datetime) -> datetime | None:
        """When the schedule next wants a run (the module docstring has the rules); at or before `now` when due."""
        anchor, now = _anchor(last_fired, last_run_started), _utc(now, "now")
        if self.every is not None:
            return now if anchor is None else anchor + self.every
        if self.cron is not None:
            return self._first_slot_after(now if anchor is None else anchor)
        return None

    def due_slot(self, *, last_fired: datetime | None, last_run_started: datetime | None,
                 now: datetime) -> datetime | None:
        """The moment to store as last_fired when a run is enqueued now, or None when nothing is due."""
        anchor, now = _anchor(last_fired, last_run_started), _utc(now, "now")
        if self.every is not None:
            return now if anchor is None or anchor + self.every <= now else None
        if self.cron is None or anchor is None:
            return None
        first = self._first_slot_after(anchor)
        if first is None or first > now:
            return None
        # Going back from now skips a long downtime's slots; cronsim's reverse can land a slot early around a repeated
        # hour, so the forward slots (the ones next_run_at gives) have the last word.
        latest, before = first, self._slot_at_or_before(now)
        if before is not None and first < before <= now:
            latest = before
        for slot in self._slots_after(latest):
            if slot > now:
                break
            latest = slot
        return latest

    def overdue_by(self, *, next_run_at: datetime | None, now: datetime) -> timedelta | None:
        """How late the run at next_run_at is (now - next_run_at), when that is more than one interval; else None."""
        now = _utc(now, "now")
        if next_run_at is None or self.manual:
            return None
        next_run_at = _utc(next_run_at, "next_run_at")
        interval = self.every
        if self.cron is not None:
            after = self._first_slot_after(next_run_at)
            interval = None if after is None else after - next_run_at
        late = now - next_run_at
        return late if interval is not None and late > interval else None

    # --- cron slots, in UTC ---------------------------------------------------------------------------------------

    def _slots_after(self, moment: datetime) -> Iterator[datetime]:
        """The slots strictly after `moment`. cronsim counts in wall-clock time, so a slot at a repeated hour's
        first occurrence can come out before a moment in its second: those are passed over."""
        for slot in CronSim(self.cron, moment.astimezone(zoneinfo.ZoneInfo(self.timezone))):
            slot = slot.astimezone(UTC)
            if slot > moment:
                yield slot

    def _first_slot_after(self, moment: datetime) -> datetime | None:
        return next(self._slots_after(moment), None)  # None: no slot within cronsim's 50-year horizon

    def _slot_at_or_before(self, moment: datetime) -> datetime | None:
        # Slots fall on whole seconds, and reverse iteration starts one second before the moment it is given.
        start = moment.replace(microsecond=0) + timedelta(seconds=1)
        slots = CronSim(self.cron, start.astimezone(zoneinfo.ZoneInfo(self.timezone)), reverse=True)
        return next((slot.astimezone(UTC) for slot in slots), None)


def parse_schedule(schedule: str | None = None, *, cron: str | None = None, timezone: str | None = None) -> Schedule:
    """A sync's `schedule`, or its `cron` and `timezone`, as written in workspace.toml (None: not given).

    Raises ScheduleError (a ValueError) with a message for the user and the key at fault."""
    if cron is not None and schedule is not None:
        raise ScheduleError("cron", f"give `schedule` or `cron`, not both (schedule is {schedule!r})")
    if cron is not None:
        return Schedule("cron", cron=" ".join(cron.split()), timezone="UTC" if timezone is None else timezone)
    if timezone is not None:
        raise ScheduleError("timezone", "applies only to a `cron` schedule: add cron = \"0 6 * * *\" (for example) "
                                        "or remove timezone")
    text = "manual" if schedule is None else schedule.strip()
    if text == "manual":
        return Schedule("manual")
    match = EVERY.match(text)
    if not match:
        raise ScheduleError("schedule", "must be 'manual' or 'every N' with m, h or d (e.g. 'every 24h'), or use "
                                        f"`cron` instead, not {text!r}")
    if int(match[1]) == 0:
        raise ScheduleError("schedule", f"{text!r} would never wait: give an interval of at least 1{match[2]}")
    count = int(match[1])
    if count > LONGEST_EVERY / UNITS[match[2]]:
        raise ScheduleError("schedule", f"{text!r} is longer than {LONGEST_EVERY.days}d: use `cron` for rarer runs")
    return Schedule("every", every=count * UNITS[match[2]])


def _interval_text(every: timedelta) -> str:
    """Days from two days up, else hours, else minutes: "every 24h" reads as written, "every 48h" as "every 2d"."""
    minutes = int(every.total_seconds()) // 60
    if minutes % (24 * 60) == 0 and minutes >= 2 * 24 * 60:
        return f"{minutes // (24 * 60)}d"
    return f"{minutes // 60}h" if minutes % 60 == 0 else f"{minutes}m"


def _check_cron(expression: str) -> None:
    fields = expression.split()
    if len(fields) != 5:
        raise ScheduleError("cron", f"{expression!r} has {len(fields)} field(s); a cron expression has 5 "
                                    f"({CRON_FIELDS}), e.g. \"0 6 * * *\" for 06:00 every day")
    try:
        CronSim(expression, datetime(2000, 1, 1, tzinfo=UTC))
    except CronSimError as exc:
        problem = str(exc).lower()  # cronsim names the field: "Bad hour"
        raise ScheduleError("cron", f"{expression!r} is not a valid cron expression: {problem} (fields: "
                                    f"{CRON_FIELDS}; e.g. \"0 6 * * *\" for 06:00 every day)") from None


def _check_zone(name: str) -> None:
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        hint = difflib.get_close_matches(name, sorted(zoneinfo.available_timezones()), n=1)
        did_you_mean = f" (did you mean '{hint[0]}'?)" if hint else ""
        raise ScheduleError("timezone", f"unknown time zone {name!r}{did_you_mean}: give an IANA name such as "
                                        "'Europe/Paris' or 'UTC'") from None


def _utc(moment: datetime, name: str) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, not the naive {moment.isoformat()}")
    return moment.astimezone(UTC)


def _anchor(last_fired: datetime | None, last_run_started: datetime | None) -> datetime | None:
    if last_fired is not None:
        return _utc(last_fired, "last_fired")
    return None if last_run_started is None else _utc(last_run_started, "last_run_started")
