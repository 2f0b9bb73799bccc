"""What every capability's API schemas share. Unknown fields are refused (extra="forbid")."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path
from pydantic import BaseModel, ConfigDict, Field


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# The database's integers are 64-bit (PostgreSQL bigint, SQLite INTEGER): a larger number in a path, query
# or body would fail in the driver, so every integer the API takes is bounded by its schema.
INT64_MAX = 2**63 - 1
Int64 = Annotated[int, Field(ge=-(2**63), le=INT64_MAX)]
Count = Annotated[int, Field(ge=0, le=INT64_MAX)]
RowId = Annotated[int, Path(ge=1, le=INT64_MAX, description="a row id")]
