"""What every capability's API schemas share. Unknown fields are refused (extra="forbid"), and so are
non-finite numbers (Infinity, NaN, or a JSON number too large for a float) in any float or Decimal."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import Path
from pydantic import AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


# The database's integers are 64-bit (PostgreSQL bigint, SQLite INTEGER): a larger number in a path, query
# or body would fail in the driver, so every integer the API takes is bounded by its schema.
INT64_MAX = 2**63 - 1
Int64 = Annotated[int, Field(ge=-(2**63), le=INT64_MAX)]
Count = Annotated[int, Field(ge=0, le=INT64_MAX)]
RowId = Annotated[int, Path(ge=1, le=INT64_MAX, description="a row id")]

# An amount of money or of units: finite (Strict refuses Infinity and NaN), and at most 18 digits, 4 after
# the point, so ``1e999999`` is refused rather than stored as infinity.
Amount = Annotated[Decimal, Field(ge=0, max_digits=18, decimal_places=4)]

# A moment may be given as a date alone: the day is a day in China (Asia/Shanghai), a start is its first
# instant and an end the first instant of the next day (ends are exclusive). A date-time without an
# offset is refused (422): the platform will not guess the zone of an instant.
CHINA = ZoneInfo("Asia/Shanghai")
_DATE_ONLY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _as_day(value: object, *, end: bool) -> object:
    if isinstance(value, str) and _DATE_ONLY.match(value):
        try:
            value = dt.date.fromisoformat(value)
        except ValueError:
            return value  # pydantic names the bad date
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        day = value + dt.timedelta(days=1) if end else value
        return dt.datetime.combine(day, dt.time(), CHINA)
    return value


StartTime = Annotated[
    AwareDatetime,
    BeforeValidator(lambda v: _as_day(v, end=False)),
    Field(description="an RFC 3339 date-time with offset, or a date: 00:00 that day in Asia/Shanghai"),
]
EndTime = Annotated[
    AwareDatetime,
    BeforeValidator(lambda v: _as_day(v, end=True)),
    Field(description="an RFC 3339 date-time with offset, or a date: through that day in Asia/Shanghai"),
]

# A credit subject's identifier as a client may type it: 18 letters or digits (half- or full-width, any
# case, surrounding spaces allowed); the platform normalises it and checks the code's own rules after.
Identifier = Annotated[
    str,
    Field(
        min_length=18,
        max_length=40,
        pattern=r"^\s*[0-9A-Za-z０-９Ａ-Ｚａ-ｚ]{18}\s*$",
        description="unified social credit code (GB 32100) or resident identity number (GB 11643)",
    ),
]
