"""Working days (工作日) on China's official calendar.

Publicity windows (评前公示 / 评后公示: "不少于5个工作日"), deadlines counted in working days and
anything else the bureau counts "in working days" use this module. It follows the State Council's
yearly holiday arrangement (国务院办公厅关于部分节假日安排的通知) through the maintained
``chinesecalendar`` package: statutory holidays are not working days, and make-up working days
(调休上班, e.g. Saturday 2023-10-07 and Sunday 2023-10-08 after National Day) are working days.

The arrangement for a year is only published late in the previous year, so the package only knows a
range of years. A date outside that range raises :class:`CalendarOutOfRange` instead of silently
guessing from weekdays: a publicity window counted on a guessed calendar could end on a holiday.

Pure: no transport or persistence imports; dates in, dates out.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import lru_cache

import chinese_calendar

from shared.clock import CHINA
from shared.errors import ZhichengError

__all__ = [
    "CalendarOutOfRange",
    "PublicityWindow",
    "add_working_days",
    "first_working_day_on_or_after",
    "holiday_name",
    "is_working_day",
    "publicity_window",
    "supported_years",
    "working_days_between",
    "working_days_window_end",
]


class CalendarOutOfRange(ZhichengError, ValueError):
    """The official holiday arrangement for this date is not in the calendar data we have."""

    status = 422
    code = "calendar_out_of_range"

    def __init__(self, day: date) -> None:
        first, last = supported_years()
        super().__init__(
            f"no official working-day calendar for {day.isoformat()}: the holiday arrangement is "
            f"known for {first}-{last} only (update the chinesecalendar package)",
            details={"date": day.isoformat(), "first_year": first, "last_year": last},
        )
        self.day = day


@lru_cache(maxsize=1)
def supported_years() -> tuple[int, int]:
    """First and last year whose holiday arrangement the calendar data contains."""
    years = {d.year for d in chinese_calendar.holidays} | {d.year for d in chinese_calendar.workdays}
    return min(years), max(years)


def _as_date(day: date | datetime) -> date:
    if isinstance(day, datetime):
        # a moment is read in China time: 2023-10-06T20:00Z is already 10-07 in Shanghai
        if day.tzinfo is not None:
            day = day.astimezone(CHINA)
        return day.date()
    return day


def _check_range(day: date) -> None:
    first, last = supported_years()
    if not first <= day.year <= last:
        raise CalendarOutOfRange(day)


def is_working_day(day: date | datetime) -> bool:
    """True on a working day: a weekday that is no statutory holiday, or a make-up working day."""
    d = _as_date(day)
    _check_range(d)
    try:
        return bool(chinese_calendar.is_workday(d))
    except NotImplementedError as exc:  # the package's own range check, should ours drift
        raise CalendarOutOfRange(d) from exc


def holiday_name(day: date | datetime) -> str | None:
    """The holiday (or the holiday a make-up working day belongs to), e.g. "National Day"."""
    d = _as_date(day)
    _check_range(d)
    try:
        _, name = chinese_calendar.get_holiday_detail(d)
    except NotImplementedError as exc:
        raise CalendarOutOfRange(d) from exc
    return name


def first_working_day_on_or_after(day: date | datetime) -> date:
    d = _as_date(day)
    while not is_working_day(d):
        d += timedelta(days=1)
    return d


def add_working_days(day: date | datetime, n: int) -> date:
    """The n-th working day after ``day`` (``day`` itself is not counted; n=0 gives ``day``).

    2023-09-28 (Thursday) + 1 working day = 2023-10-07 (the make-up Saturday), because 09-29..10-06
    are the Mid-Autumn/National Day holiday. Negative n counts backwards.
    """
    d = _as_date(day)
    if n == 0:
        _check_range(d)
        return d
    step = timedelta(days=1 if n > 0 else -1)
    remaining = abs(n)
    while remaining:
        d += step
        if is_working_day(d):
            remaining -= 1
    return d


def working_days_between(start: date | datetime, end: date | datetime) -> int:
    """Working days in the closed range [start, end] (0 if end is before start)."""
    s, e = _as_date(start), _as_date(end)
    count = 0
    d = s
    while d <= e:
        if is_working_day(d):
            count += 1
        d += timedelta(days=1)
    return count


def working_days_window_end(starts_on: date | datetime, working_days: int) -> date:
    """Last day of a window of ``working_days`` working days that starts on ``starts_on``.

    ``starts_on`` counts as the first day if it is a working day; a window announced on a holiday
    starts counting on the next working day.
    """
    if working_days < 1:
        raise ValueError("a window lasts at least one working day")
    first = first_working_day_on_or_after(starts_on)
    return add_working_days(first, working_days - 1)


@dataclass(frozen=True)
class PublicityWindow:
    """A public notice (公示) period of N working days.

    ``opens_at`` is the start of ``starts_on`` and ``closes_at`` the start of the day after
    ``last_day``, both in China time: the notice runs through the whole of its last day, and an
    objection filed at 23:59 on that day is still in time.
    """

    starts_on: date
    first_working_day: date
    last_day: date
    working_days: int

    @property
    def opens_at(self) -> datetime:
        return datetime.combine(self.starts_on, time(0, 0), tzinfo=CHINA)

    @property
    def closes_at(self) -> datetime:
        return datetime.combine(self.last_day + timedelta(days=1), time(0, 0), tzinfo=CHINA)

    def is_open(self, now: datetime) -> bool:
        return self.opens_at <= now < self.closes_at

    def has_ended(self, now: datetime) -> bool:
        return now >= self.closes_at

    def as_dict(self) -> dict[str, object]:
        return {
            "starts_on": self.starts_on.isoformat(),
            "first_working_day": self.first_working_day.isoformat(),
            "last_day": self.last_day.isoformat(),
            "working_days": self.working_days,
            "opens_at": self.opens_at.isoformat(),
            "closes_at": self.closes_at.isoformat(),
        }


def publicity_window(starts_on: date | datetime, working_days: int) -> PublicityWindow:
    """The window of ``working_days`` working days starting on ``starts_on``."""
    start = _as_date(starts_on)
    first = first_working_day_on_or_after(start)
    last = working_days_window_end(start, working_days)
    return PublicityWindow(starts_on=start, first_working_day=first, last_day=last,
                           working_days=working_days)
