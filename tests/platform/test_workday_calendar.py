"""Working days past the years the chinesecalendar package knows: the operator's holiday file (the State
Council's notice, setting ``holiday_file``) is used for the years it declares, and from November on a
missing next-year calendar is a visible warning (regulator's page in Chinese, metric) rather than a silent
Monday-to-Friday guess."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from fincredit.platform.core import workdays
from fincredit.platform.core.services import Services
from fincredit.platform.core.settings import get_settings
from fincredit.platform.testing.plugin import new_institution, staff_web_login, with_web_password

NOTICE_2027 = """
[2027]
notice = "国务院办公厅关于2027年部分节假日安排的通知"
holidays = ["2027-01-01", "2027-02-05..2027-02-11"]
workdays = ["2027-02-14"]
"""


@pytest.fixture
def holiday_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    path = tmp_path / "holidays.toml"
    path.write_text(NOTICE_2027, encoding="utf-8")
    monkeypatch.setenv(workdays.HOLIDAY_FILE_ENV, str(path))
    get_settings.cache_clear()
    yield path
    get_settings.cache_clear()


@pytest.fixture
def no_holiday_file(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv(workdays.HOLIDAY_FILE_ENV, raising=False)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_without_published_data_new_years_day_2027_is_a_provisional_working_day(
    no_holiday_file: None,
) -> None:
    assert not workdays.year_known(2027)
    deadline = workdays.add_workdays(dt.date(2026, 12, 31), 1)
    assert deadline == workdays.Deadline(dt.date(2027, 1, 1), provisional=True)


def test_the_operators_holiday_file_gives_holidays_and_make_up_days(holiday_file: Path) -> None:
    assert workdays.year_known(2027)
    assert workdays.add_workdays(dt.date(2026, 12, 31), 1) == workdays.Deadline(dt.date(2027, 1, 4), False)
    assert not workdays.is_workday(dt.date(2027, 2, 8))  # spring festival, a Monday
    assert workdays.is_workday(dt.date(2027, 2, 14))  # a Sunday worked in exchange
    assert workdays.workdays_between(dt.date(2027, 2, 4), dt.date(2027, 2, 15)) == 3  # the 12th, 14th, 15th


def test_a_malformed_holiday_file_names_the_place() -> None:
    with pytest.raises(ValueError, match=r"\[2027\] holidays"):
        workdays.parse_holiday_file('[2027]\nholidays = ["2028-01-01"]')
    with pytest.raises(ValueError, match="unknown keys"):
        workdays.parse_holiday_file('[2027]\nholiday = ["2027-01-01"]')


def test_a_missing_next_year_is_warned_from_november(
    no_holiday_file: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert workdays.missing_calendar_year(dt.date(2026, 10, 31)) is None
    assert workdays.missing_calendar_year(dt.date(2026, 11, 1)) == 2027


def test_the_holiday_file_is_a_setting(holiday_file: Path) -> None:
    assert get_settings().holiday_file == holiday_file
    assert workdays.missing_calendar_year(dt.date(2026, 11, 1)) is None


def test_the_warning_is_on_the_regulators_page_and_a_metric(
    client: TestClient, services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fincredit.platform.supervision import capability, pages

    def missing(today: dt.date | None = None) -> int:
        return 2027

    monkeypatch.setattr(pages, "missing_calendar_year", missing)
    monkeypatch.setattr(capability, "missing_calendar_year", missing)
    with services.read() as session:
        assert ("workday_calendar_missing", 1.0) in [(n, v) for _, n, v in capability._gauges(session)]
    regulator = new_institution(services, "regulator")
    client.cookies.clear()
    username = with_web_password(services, regulator, "staff-pass-2026")
    login = staff_web_login(client, services, username, "staff-pass-2026")
    assert login.status_code == 303, login.text
    page = client.get("/web/regulator/supervision")
    assert page.status_code == 200 and 'id="calendar-warning"' in page.text
    assert "2027 年的工作日历尚未录入" in page.text
