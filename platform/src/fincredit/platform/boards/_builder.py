"""The board editor's rule builder: a target population as rows of "fact, operator, value", all or any
of them, turned into the rule language of :mod:`fincredit.platform.free` (and back, for a saved rule that
is such a flat list). A rule nested deeper is edited as JSON, the builder's advanced view."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from fincredit.platform.free import validate

MAX_ROWS = 12
BASE_FACTS = ("region", "kind", "industry", "years_in_business", "tax_rating")
NUMERIC_OPS = ("gt", "gte", "lt", "lte")
LIST_OPS = ("in", "not_in")
NO_VALUE_OPS = ("exists", "missing")
OPS = ("eq", "ne", "in", "not_in", "gt", "gte", "lt", "lte", "prefix", "exists", "missing")
_SPLIT = re.compile(r"[,，、;；\s]+")


@dataclass
class Row:
    fact: str = ""
    op: str = "eq"
    value: str = ""
    problem: str | None = None  # a message key


def _numeric(fact: str) -> bool:
    return fact == "years_in_business" or fact.startswith("count.")


def _number(text: str) -> float | int:
    value = float(text)
    return int(value) if value.is_integer() else value


def _value(row: Row) -> Any:
    text = row.value.strip()
    if row.op in NO_VALUE_OPS:
        return None
    if row.op in LIST_OPS:
        parts = [p for p in _SPLIT.split(text) if p]
        if not parts:
            raise ValueError("boards.builder.problem.list")
        return [_number(p) for p in parts] if _numeric(row.fact) else parts
    if not text:
        raise ValueError("boards.builder.problem.value")
    if row.op in NUMERIC_OPS or _numeric(row.fact):
        try:
            return _number(text)
        except ValueError:
            raise ValueError("boards.builder.problem.number") from None
    return text


def rows_from_form(form: Any) -> tuple[str, list[Row]]:
    """``combine`` and the rows ``fact_<i>``/``op_<i>``/``value_<i>`` of a posted form, empty rows dropped."""
    combine = "any" if form.get("combine") == "any" else "all"
    rows = []
    for i in range(MAX_ROWS):
        fact = str(form.get(f"fact_{i}") or "").strip()
        if not fact:
            continue
        rows.append(Row(fact, str(form.get(f"op_{i}") or "eq"), str(form.get(f"value_{i}") or "")[:200]))
    return combine, rows


def build(combine: str, rows: list[Row]) -> tuple[dict[str, Any] | None, bool]:
    """The rule of the rows (None for no rows), and whether every row was understood (problems are left
    on the rows as message keys)."""
    conditions = []
    ok = True
    for row in rows:
        if row.op not in OPS:
            row.problem, ok = "boards.builder.problem.op", False
            continue
        try:
            value = _value(row)
        except ValueError as exc:
            row.problem, ok = str(exc), False
            continue
        condition: dict[str, Any] = {"fact": row.fact, "op": row.op}
        if row.op not in NO_VALUE_OPS:
            condition["value"] = value
        try:
            validate(condition)
        except Exception:  # the service's own words are for the JSON view; the row says what to fix
            row.problem, ok = "boards.builder.problem.fact", False
            continue
        conditions.append(condition)
    if not conditions:
        return None, ok
    if len(conditions) == 1:
        return conditions[0], ok
    return {combine: conditions}, ok


def _shown(value: Any) -> str:
    if isinstance(value, list):
        return "、".join(str(v) for v in value)
    return "" if value is None else str(value)


def rows_of(rule: Any) -> tuple[str, list[Row]] | None:
    """The builder's rows for a saved rule, or None when it is not a flat list of conditions."""
    if not isinstance(rule, dict):
        return None
    if "fact" in rule:
        conditions, combine = [rule], "all"
    elif set(rule) in ({"all"}, {"any"}):
        combine = next(iter(rule))
        conditions = rule[combine]
    else:
        return None
    if not isinstance(conditions, list) or not all(isinstance(c, dict) and "fact" in c for c in conditions):
        return None
    if len(conditions) > MAX_ROWS:
        return None
    return combine, [Row(c["fact"], c["op"], _shown(c.get("value"))) for c in conditions]
