"""When a list's issues are due: a schedule's time slots, in the list's time zone.

A slot is one moment a list's issue is due, e.g. Monday 08:00 Europe/Madrid. It
is computed in local time and then turned into UTC, so it stays at 08:00 local
across daylight-saving changes. Local times that do not exist (the hour skipped
in spring) move forward by the gap (02:30 becomes 03:30); times that occur twice
(autumn) take the first. A slot's id (its UTC minute) names the issue it makes,
which is what makes starting a slot idempotent (digest/dispatch.py).
"""

from __future__ import annotations

import calendar
from collections.abc import Iterator
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from digest.models import WEEKDAYS, Schedule

# A monthly cadence has a slot at least every 31 days; looking this far back or
# ahead always finds one.
_SEARCH_DAYS = 33


def _local_days(start: date, step: int) -> Iterator[date]:
    for n in range(_SEARCH_DAYS):
        yield start + timedelta(days=n * step)


def _is_slot_day(schedule: Schedule, day: date) -> bool:
    if schedule.cadence == "daily":
        return True
    if schedule.cadence == "weekly":
        return day.weekday() == WEEKDAYS.index(schedule.weekday)
    last = calendar.monthrange(day.year, day.month)[1]
    return day.day == min(schedule.day, last)  # day 31 in a 30-day month: its last day


def _at(schedule: Schedule, day: date, zone: ZoneInfo) -> datetime:
    hour, minute = map(int, schedule.time.split(":"))
    local = datetime(day.year, day.month, day.day, hour, minute, tzinfo=zone)  # fold=0: see the docstring
    return local.astimezone(timezone.utc)


def last_slot(schedule: Schedule, tz: str, now: datetime) -> datetime:
    """The latest slot at or before `now` (UTC)."""
    zone = ZoneInfo(tz)
    today = now.astimezone(zone).date()
    for day in _local_days(today, -1):
        if _is_slot_day(schedule, day) and (slot := _at(schedule, day, zone)) <= now:
            return slot
    raise AssertionError("a schedule has a slot every 31 days")  # pragma: no cover


def next_slot(schedule: Schedule, tz: str, now: datetime) -> datetime:
    """The first slot after `now` (UTC)."""
    zone = ZoneInfo(tz)
    today = now.astimezone(zone).date()
    for day in _local_days(today - timedelta(days=1), 1):
        if _is_slot_day(schedule, day) and (slot := _at(schedule, day, zone)) > now:
            return slot
    raise AssertionError("a schedule has a slot every 31 days")  # pragma: no cover


def slot_id(slot: datetime) -> str:
    """A slot's name: its UTC minute, e.g. 20261130T0700Z."""
    return f"{slot.astimezone(timezone.utc):%Y%m%dT%H%MZ}"


def parse_slot_id(value: str) -> datetime:
    return datetime.strptime(value, "%Y%m%dT%H%MZ").replace(tzinfo=timezone.utc)
