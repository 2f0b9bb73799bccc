"""Working-day arithmetic for the statutory deadlines (R§8: 5 working days; R§10: 3, 10, +15).

Holidays and the make-up working days (调休) come from the State Council's annual notice. Two sources
carry it: an operator-maintained holiday file (setting ``holiday_file``, environment
``FINCREDIT_HOLIDAY_FILE``; TOML, one table per year) and
the ``chinesecalendar`` package. The file wins for every year it declares, so the operator can enter a
new notice the day it is published, before a package release carries it (the package's data ends with
the years its release knew). A year neither knows falls back to Monday–Friday and every deadline computed
through it is flagged ``provisional``; from November on, :func:`missing_calendar_year` names next year
(shown on the regulator's pages in the reader's language and as the ``workday_calendar_missing`` metric).

The file, e.g. for the 2027 notice::

    [2027]
    holidays = ["2027-01-01", "2027-02-05..2027-02-11"]   # days off (ranges inclusive)
    workdays = ["2027-02-14"]                              # make-up working days on a weekend
"""

from __future__ import annotations

import datetime as dt
import functools
import tomllib
from dataclasses import dataclass
from pathlib import Path

import chinese_calendar

from fincredit.platform.core.settings import get_settings

HOLIDAY_FILE_ENV = "FINCREDIT_HOLIDAY_FILE"  # the environment name of the holiday_file setting
WARN_FROM_MONTH = 11


@dataclass(frozen=True, slots=True)
class YearCalendar:
    holidays: frozenset[dt.date]
    workdays: frozenset[dt.date]


def _days(values: list[str], year: int, where: str) -> set[dt.date]:
    out: set[dt.date] = set()
    for value in values:
        first, _, last = str(value).partition("..")
        try:
            start = dt.date.fromisoformat(first.strip())
            end = dt.date.fromisoformat(last.strip()) if last else start
        except ValueError:
            raise ValueError(f"{where}: {value!r} is not a date or a date..date range") from None
        if start.year != year or end.year != year or end < start:
            raise ValueError(f"{where}: {value!r} is not a range of days in {year}")
        out.update(start + dt.timedelta(days=i) for i in range((end - start).days + 1))
    return out


def parse_holiday_file(text: str, source: str = "holiday file") -> dict[int, YearCalendar]:
    """The years of an operator's holiday file; a malformed file is an error naming the place."""
    data = tomllib.loads(text)
    years: dict[int, YearCalendar] = {}
    for key, table in data.items():
        if not key.isdigit() or not isinstance(table, dict):
            raise ValueError(f"{source}: [{key}] is not a year table")
        unknown = set(table) - {"holidays", "workdays", "notice"}
        if unknown:
            raise ValueError(f"{source}: [{key}] has unknown keys {sorted(unknown)}")
        year = int(key)
        holidays = _days(table.get("holidays", []), year, f"{source} [{key}] holidays")
        workdays = _days(table.get("workdays", []), year, f"{source} [{key}] workdays")
        if holidays & workdays:
            raise ValueError(f"{source}: [{key}] lists {sorted(holidays & workdays)[0]} as both")
        years[year] = YearCalendar(frozenset(holidays), frozenset(workdays))
    return years


@functools.cache
def _file_years(path: str | None) -> dict[int, YearCalendar]:
    if not path:
        return {}
    return parse_holiday_file(Path(path).read_text(encoding="utf-8"), path)


def operator_years() -> dict[int, YearCalendar]:
    """The years the operator's holiday file (setting ``holiday_file``) declares, read once per path."""
    path = get_settings().holiday_file
    return _file_years(str(path) if path else None)


def _library_knows(year: int) -> bool:
    try:
        chinese_calendar.is_workday(dt.date(year, 1, 1))
        return True
    except NotImplementedError:
        return False


def year_known(year: int) -> bool:
    """Whether the holidays of ``year`` are published data (the operator's file or the package)."""
    return year in operator_years() or _library_knows(year)


def missing_calendar_year(today: dt.date | None = None) -> int | None:
    """From November on, next year when its holidays are known to neither source."""
    today = today or dt.date.today()
    if today.month < WARN_FROM_MONTH or year_known(today.year + 1):
        return None
    return today.year + 1


@dataclass(frozen=True, slots=True)
class Deadline:
    due: dt.date
    provisional: bool  # True when a year without published holiday data was crossed


def _is_workday(day: dt.date) -> tuple[bool, bool]:
    """(is a working day, is known from published data)."""
    declared = operator_years().get(day.year)
    if declared is not None:
        if day in declared.holidays:
            return False, True
        if day in declared.workdays:
            return True, True
        return day.weekday() < 5, True
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
