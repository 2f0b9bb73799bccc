"""A small, safe eligibility rule language over a subject's facts (JSON, evaluated by a tree walk —
never ``eval``). Loan products use it here; thematic boards can use the same :func:`evaluate` and
:func:`subject_facts` for their target populations.

    rule := {"all": [rule, ...]} | {"any": [rule, ...]} | {"not": rule}
          | {"fact": NAME, "op": OP, "value": VALUE}
    OP   := eq | ne | in | not_in | gt | gte | lt | lte | prefix | exists | missing

Facts (:func:`subject_facts`): ``region``, ``kind``, ``industry``, ``years_in_business``,
``tax_rating``, ``count.<item>`` (visible records of the item), and ``<item>.<field>`` (the field of
the item's latest visible record). A missing fact fails every comparison except ``missing``.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from sqlalchemy.orm import Session

from fincredit.platform.core.db import Subject
from fincredit.platform.free.errors import RuleInvalid
from fincredit.platform.ingestion import visible_records

OPS = frozenset({"eq", "ne", "in", "not_in", "gt", "gte", "lt", "lte", "prefix", "exists", "missing"})
_FACT = re.compile(
    r"^(region|kind|industry|years_in_business|tax_rating|count\.[a-z0-9_]+|[a-z0-9_]+\.[a-z0-9_]+)$"
)
MAX_DEPTH = 8
MAX_NODES = 64
# Which catalog item a derived fact reads (the consent must cover it).
DERIVED_ITEMS = {
    "region": None,
    "kind": None,
    "industry": "market_registration",
    "years_in_business": "market_registration",
    "tax_rating": "tax_rating",
}


def validate(rule: Any, *, depth: int = 0, budget: list[int] | None = None) -> None:
    budget = budget if budget is not None else [MAX_NODES]
    budget[0] -= 1
    if budget[0] < 0 or depth > MAX_DEPTH:
        raise RuleInvalid(f"a rule has at most {MAX_NODES} nodes and depth {MAX_DEPTH}")
    if not isinstance(rule, dict) or len(rule) == 0:
        raise RuleInvalid("a rule is a JSON object")
    if "all" in rule or "any" in rule:
        key = "all" if "all" in rule else "any"
        if set(rule) != {key} or not isinstance(rule[key], list) or not rule[key]:
            raise RuleInvalid(f'"{key}" takes a non-empty list of rules and nothing else')
        for sub in rule[key]:
            validate(sub, depth=depth + 1, budget=budget)
        return
    if "not" in rule:
        if set(rule) != {"not"}:
            raise RuleInvalid('"not" takes one rule and nothing else')
        validate(rule["not"], depth=depth + 1, budget=budget)
        return
    if not set(rule) <= {"fact", "op", "value"} or "fact" not in rule or "op" not in rule:
        raise RuleInvalid('a condition is {"fact", "op", "value"}')
    if not isinstance(rule["fact"], str) or not _FACT.match(rule["fact"]):
        raise RuleInvalid(f"unknown fact {rule['fact']!r}")
    if rule["op"] not in OPS:
        raise RuleInvalid(f"unknown operator {rule['op']!r}; one of {sorted(OPS)}")
    if rule["op"] in ("in", "not_in") and not isinstance(rule.get("value"), list):
        raise RuleInvalid(f'"{rule["op"]}" takes a list value')


def facts_used(rule: dict[str, Any]) -> set[str]:
    if "all" in rule or "any" in rule:
        return set().union(*(facts_used(r) for r in rule.get("all") or rule.get("any") or []))
    if "not" in rule:
        return facts_used(rule["not"])
    return {rule["fact"]}


def items_used(rule: dict[str, Any]) -> set[str]:
    """The catalog items a rule reads: what a consent must cover to evaluate it."""
    out: set[str] = set()
    for fact in facts_used(rule):
        if fact in DERIVED_ITEMS:
            if DERIVED_ITEMS[fact]:
                out.add(DERIVED_ITEMS[fact])  # type: ignore[arg-type]
        elif fact.startswith("count."):
            out.add(fact.removeprefix("count."))
        else:
            out.add(fact.split(".", 1)[0])
    return out


def _compare(op: str, have: Any, want: Any) -> bool:
    if op == "exists":
        return have is not None
    if op == "missing":
        return have is None
    if have is None:
        return False
    try:
        if op == "eq":
            return bool(have == want)
        if op == "ne":
            return bool(have != want)
        if op == "in":
            return have in want
        if op == "not_in":
            return have not in want
        if op == "prefix":
            return str(have).startswith(str(want))
        if op == "gt":
            return bool(have > want)
        if op == "gte":
            return bool(have >= want)
        if op == "lt":
            return bool(have < want)
        if op == "lte":
            return bool(have <= want)
    except TypeError:
        return False
    raise RuleInvalid(f"unknown operator {op!r}")


def evaluate(rule: dict[str, Any], facts: dict[str, Any]) -> bool:
    if "all" in rule:
        return all(evaluate(r, facts) for r in rule["all"])
    if "any" in rule:
        return any(evaluate(r, facts) for r in rule["any"])
    if "not" in rule:
        return not evaluate(rule["not"], facts)
    fact = rule["fact"]
    have = facts.get(fact, 0 if fact.startswith("count.") else None)
    return _compare(rule["op"], have, rule.get("value"))


def failing(rule: dict[str, Any], facts: dict[str, Any]) -> list[dict[str, Any]]:
    """The conditions that fail (for an explanation to the enterprise or a board)."""
    if "all" in rule:
        return [f for r in rule["all"] for f in failing(r, facts)]
    if "any" in rule:
        return [] if evaluate(rule, facts) else [rule]
    if "not" in rule:
        return [] if evaluate(rule, facts) else [rule]
    return [] if evaluate(rule, facts) else [rule]


def subject_facts(session: Session, subject: Subject, at: dt.date | None = None) -> dict[str, Any]:
    at = at or dt.date.today()
    facts: dict[str, Any] = {"region": subject.region, "kind": subject.kind}
    latest: dict[str, Any] = {}
    for r in visible_records(session, subject.id, at):
        facts[f"count.{r.item_code}"] = facts.get(f"count.{r.item_code}", 0) + 1
        prev = latest.get(r.item_code)
        if prev is None or (r.event_date or dt.date.min, r.id) >= (prev.event_date or dt.date.min, prev.id):
            latest[r.item_code] = r
    for code, r in latest.items():
        for k, v in r.data.items():
            facts[f"{code}.{k}"] = v
    reg = latest.get("market_registration")
    if reg is not None:
        facts["industry"] = reg.data.get("industry_code")
        started = reg.data.get("registration_date")
        if started:
            d = dt.date.fromisoformat(str(started))
            facts["years_in_business"] = round((at - d).days / 365.25, 2)
    if "tax_rating" in latest:
        facts["tax_rating"] = latest["tax_rating"].data.get("rating")
    return facts
