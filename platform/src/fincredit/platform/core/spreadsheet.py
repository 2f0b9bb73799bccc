"""CSV the platform writes for people to open in a spreadsheet program. A cell that starts with ``=``,
``+``, ``-`` or ``@`` (or a tab or carriage return, which some programs strip first) would be run as a
formula — a provider record id ``=cmd|' /C calc'!A0`` in a feedback report is an attack on the clerk who
opens it — so such text cells get a leading apostrophe, the spreadsheet convention for "this is text"
(OWASP, CSV injection). Numbers are written as numbers."""

from __future__ import annotations

import csv
from collections.abc import Iterable
from typing import Any, Protocol

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


class _Writable(Protocol):
    def write(self, s: str, /) -> int: ...


def spreadsheet_cell(value: Any) -> Any:
    """``value`` as a cell no spreadsheet program evaluates: text starting like a formula is quoted."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


class SafeCsvWriter:
    """``csv.writer`` whose every row goes through :func:`spreadsheet_cell`."""

    def __init__(self, fh: _Writable, **fmtparams: Any) -> None:
        self._writer = csv.writer(fh, **fmtparams)

    def writerow(self, row: Iterable[Any]) -> Any:
        return self._writer.writerow([spreadsheet_cell(v) for v in row])
