"""Statutory deadlines count working days on the Chinese calendar, holidays and make-up days included."""

from __future__ import annotations

import datetime as dt

from fincredit.platform.core.workdays import add_workdays, is_workday, monthly_due_date, workdays_between


def test_five_working_days_across_the_national_day_holiday() -> None:
    # 2026: 1-7 October is the National Day holiday; Saturday 10 October is a make-up working day.
    deadline = add_workdays(dt.date(2026, 9, 30), 5)
    assert deadline.due == dt.date(2026, 10, 13)
    assert deadline.provisional is False


def test_make_up_saturday_counts_and_holiday_weekday_does_not() -> None:
    assert is_workday(dt.date(2026, 10, 10))  # Saturday, working
    assert not is_workday(dt.date(2026, 10, 5))  # Monday, holiday


def test_ordinary_week() -> None:
    assert add_workdays(dt.date(2026, 11, 20), 3).due == dt.date(2026, 11, 25)  # Fri + 3 → Wed
    assert workdays_between(dt.date(2026, 11, 20), dt.date(2026, 11, 25)) == 3


def test_years_without_published_holidays_are_flagged_provisional() -> None:
    deadline = add_workdays(dt.date(2030, 3, 1), 5)
    assert deadline.provisional is True
    assert deadline.due.weekday() < 5


def test_monthly_due_date_is_the_tenth_of_next_month() -> None:
    assert monthly_due_date(2026, 10) == dt.date(2026, 11, 10)
    assert monthly_due_date(2026, 12) == dt.date(2027, 1, 10)
