"""What every capability's API schemas share. Unknown fields are refused (extra="forbid")."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")
