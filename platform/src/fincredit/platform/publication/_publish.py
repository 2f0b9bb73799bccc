"""Publication (R§17): blacklist entries, typical cases and joint reward/punishment results. A
department's account drafts, submits for review, and ANOTHER account of the same department approves
before anything is public; the privacy check runs at drafting and again at approval and refuses any
field the catalog marks sensitive (secret or private: the field itself, or a whole sensitive item) and
any personal number in the text (resident identity, mobile or bank card numbers, however written).
Publications for a month are due by the 10th of the next month (``workdays.monthly_due_date``);
:func:`late_report` says which departments are late."""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from fincredit.consent.identifiers import validate_resident_id, validate_uscc
from fincredit.platform.catalog import current_version, items_of
from fincredit.platform.core.db import Organisation, utcnow
from fincredit.platform.core.errors import Forbidden, InvalidInput, NotFound
from fincredit.platform.core.workdays import monthly_due_date
from fincredit.platform.identity.principal import Principal
from fincredit.platform.market import china_date
from fincredit.platform.publication.errors import PrivacyRefused, PublicationState, SelfApproval
from fincredit.platform.publication.tables import Publication

KINDS = ("blacklist", "typical_case", "joint_reward_punishment")
PUBLISHER_KINDS = ("data_provider",)  # the departments expected to publish every month
# Personal numbers are matched after normalising the text: full-width forms folded (NFKC) and the
# spaces, hyphens and dots people put inside a number removed, so "330203 19721201 7591" or
# "１３８－００１３－８０００" are found like the plain forms.
_SEPARATED = re.compile(r"(?<=[0-9Xx])[\s\-.·_/]{1,2}(?=[0-9Xx])")
_RID = re.compile(r"(?<![0-9A-Za-z])[1-9]\d{16}[\dXx](?![0-9A-Za-z])")
_MOBILE = re.compile(r"(?<![0-9])(?:\+?86)?1[3-9]\d{9}(?![0-9])")
_CARD = re.compile(r"(?<![0-9A-Za-z])\d{13,19}(?![0-9A-Za-z])")
_PERIOD = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def privacy_violations(session: Session, content: dict[str, Any]) -> list[str]:
    """What in ``content`` may not be published (empty: nothing)."""
    items = {i.code: i for i in items_of(session, current_version(session))}
    sensitive_fields = {f for i in items.values() for f in i.sensitive_fields}
    found: list[str] = []
    item_code = content.get("item")
    if item_code is not None:
        item = items.get(str(item_code))
        if item is None:
            raise InvalidInput(f"the catalog has no item {item_code!r}")
        if item.sensitive:
            found.append(f"item:{item_code}")
    fields = content.get("fields") or {}
    if not isinstance(fields, dict):
        raise InvalidInput("content.fields is an object of field name to value")
    found += [f"field:{name}" for name in sorted(fields) if name in sensitive_fields]
    for text in _strings(content):
        found += personal_numbers(text)
    return sorted(set(found))


def _luhn(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch) * (2 if i % 2 else 1)
        total += d - 9 if d > 9 else d
    return total % 10 == 0


def personal_numbers(text: str) -> list[str]:
    """The kinds of personal number in ``text``: resident identity numbers (with their check digit),
    mobile numbers, and bank card numbers (13-19 digits passing the Luhn check). Unified social credit
    codes are public and not flagged."""
    compact = _SEPARATED.sub("", unicodedata.normalize("NFKC", text))
    found: list[str] = []
    ids: set[str] = set()
    for match in _RID.finditer(compact):
        try:
            validate_resident_id(match.group(0))
        except ValueError:
            continue
        ids.add(match.group(0))
        found.append("resident_id_number")
    if _MOBILE.search(compact):
        found.append("mobile_number")
    for match in _CARD.finditer(compact):
        number = match.group(0)
        if number in ids or not _luhn(number):
            continue
        if len(number) == 18:
            try:
                validate_uscc(number)
                continue
            except ValueError:
                pass
        found.append("bank_card_number")
    return found


def _check_privacy(session: Session, content: dict[str, Any]) -> None:
    found = privacy_violations(session, content)
    if found:
        raise PrivacyRefused(f"secret or private content may not be published: {found}", fields=found)


def draft(session: Session, principal: Principal, spec: dict[str, Any]) -> Publication:
    if principal.org_id is None:
        raise Forbidden("publications are drafted by a department's account")
    if spec["kind"] not in KINDS:
        raise InvalidInput(f"kind is one of {KINDS}")
    if not _PERIOD.match(spec["period"]):
        raise InvalidInput("period is YYYY-MM")
    _check_privacy(session, spec["content"])
    row = Publication(
        id="pub_" + uuid.uuid4().hex[:16],
        org_id=principal.org_id,
        kind=spec["kind"],
        period=spec["period"],
        title=spec["title"],
        content=spec["content"],
        status="draft",
        drafted_by=principal.account_id,
    )
    session.add(row)
    session.flush()
    return row


def _own(session: Session, principal: Principal, publication_id: str) -> Publication:
    row = session.get(Publication, publication_id)
    if row is None or row.org_id != principal.org_id:
        raise NotFound(f"your department has no publication {publication_id!r}")
    return row


def submit(session: Session, principal: Principal, publication_id: str) -> Publication:
    row = _own(session, principal, publication_id)
    if row.status not in ("draft", "rejected"):
        raise PublicationState(f"publication {publication_id} is {row.status}")
    row.status, row.submitted_at = "submitted", utcnow()
    session.flush()
    return row


def review(
    session: Session, principal: Principal, publication_id: str, *, approve: bool, note: str | None = None
) -> Publication:
    """Approve (publish) or reject a submitted publication; the drafter may not review their own."""
    row = _own(session, principal, publication_id)
    if row.status != "submitted":
        raise PublicationState(f"publication {publication_id} is {row.status}, not submitted")
    if row.drafted_by == principal.account_id:
        raise SelfApproval("another account of the department must review this publication")
    row.reviewed_by, row.review_note = principal.account_id, note
    if approve:
        _check_privacy(session, row.content)
        row.status, row.published_at = "published", utcnow()
    else:
        row.status = "rejected"
    session.flush()
    return row


def public_view(row: Publication) -> dict[str, Any]:
    return {
        "id": row.id,
        "department": row.org_id,
        "kind": row.kind,
        "period": row.period,
        "title": row.title,
        "content": row.content,
        "published_at": row.published_at,
    }


def published(session: Session, *, kind: str | None = None, period: str | None = None) -> list[Publication]:
    q = select(Publication).where(Publication.status == "published")
    if kind:
        q = q.where(Publication.kind == kind)
    if period:
        q = q.where(Publication.period == period)
    return list(session.scalars(q.order_by(Publication.published_at.desc()).limit(1000)))


def late_report(session: Session, period: str, *, today: dt.date | None = None) -> dict[str, Any]:
    """Per department expected to publish: on time, late (published after the due date), overdue (not
    yet published and the due date passed) or pending (not yet due)."""
    if not _PERIOD.match(period):
        raise InvalidInput("period is YYYY-MM")
    today = today or china_date(utcnow())
    due = monthly_due_date(int(period[:4]), int(period[5:]))
    first: dict[str, dt.date] = {}
    for org_id, at in session.execute(
        select(Publication.org_id, Publication.published_at).where(
            Publication.period == period,
            Publication.status == "published",
            Publication.published_at.is_not(None),
        )
    ):
        if at is None:  # excluded by the query; this tells the type checker
            continue
        published = china_date(at)
        first[org_id] = min(first.get(org_id, published), published)
    expected = set(
        session.scalars(select(Organisation.id).where(Organisation.kind.in_(PUBLISHER_KINDS)))
    ) | set(first)
    rows = []
    for org_id in sorted(expected):
        day = first.get(org_id)
        if day is not None:
            status = "on_time" if day <= due else "late"
        else:
            status = "overdue" if today > due else "pending"
        rows.append({"department": org_id, "status": status, "first_published_on": day})
    late = [r["department"] for r in rows if r["status"] in ("late", "overdue")]
    return {"period": period, "due_on": due, "departments": rows, "late": late}
