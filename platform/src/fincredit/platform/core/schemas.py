"""What every capability's API schemas share. Unknown fields are refused (extra="forbid"), and so are
non-finite numbers (Infinity, NaN, or a JSON number too large for a float) in any float or Decimal."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from fastapi import Path
from pydantic import BaseModel, ConfigDict, Field


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
