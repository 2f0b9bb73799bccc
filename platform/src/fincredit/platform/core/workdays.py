"""Working-day arithmetic for the statutory deadlines (R§8: 5 working days; R§10: 3, 10, +15).

Holidays and the make-up working days (调休) come from the maintained ``chinesecalendar`` package,
which carries the State Council's annual holiday notices. The notice for a year appears late in the
year before; until the installed package knows a year, that year falls back to Monday–Friday and
every deadline computed through it is flagged ``provisional`` so nobody mistakes it for final.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import chinese_calendar


@dataclass(frozen=True, slots=True)
class Deadline:
    due: dt.date
    provisional: bool  # True when a year without published holiday data was crossed


def _is_workday(day: dt.date) -> tuple[bool, bool]:
    """(is a working day, is known from published data)."""
    try:
        return bool(chinese_calendar.is_workday(day)), True
    except NotImplementedError:
        return day.weekday() < 5, False


def is_workday(day: dt.date) -> bool:
    return _is_workday(day)[0]


def add_workdays(start: dt.date, days: int) -> Deadline:
    """The date ``days`` working days after ``start`` (the start day itself does not count)."""
    if days < 0:
        raise ValueError("days must be >= 0")
    day, counted, provisional = start, 0, False
    while counted < days:
        day += dt.timedelta(days=1)
        working, known = _is_workday(day)
        provisional = provisional or not known
        if working:
            counted += 1
    return Deadline(due=day, provisional=provisional)


def workdays_between(start: dt.date, end: dt.date) -> int:
    """Working days in (start, end]; negative if end is before start."""
    if end < start:
        return -workdays_between(end, start)
    day, counted = start, 0
    while day < end:
        day += dt.timedelta(days=1)
        if _is_workday(day)[0]:
            counted += 1
    return counted


def monthly_due_date(year: int, month: int, *, day_of_next_month: int = 10) -> dt.date:
    """R§7 / R§17: the report for ``month`` is due on the 10th of the following month."""
    if month == 12:
        return dt.date(year + 1, 1, day_of_next_month)
    return dt.date(year, month + 1, day_of_next_month)
