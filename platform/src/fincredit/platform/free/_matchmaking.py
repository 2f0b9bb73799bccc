"""Financing matchmaking (G§11): enterprises publish needs, banks publish loan products with
eligibility rules (``_rules``), the platform matches and ranks.

A need is evaluated against a product's rules only if the enterprise's consent lets that product's
bank receive the data the rules read (purpose ``financing_matchmaking``, mode ``query``): the pair is
first asked with :func:`check_access` (nothing used, nothing ledgered), and every lead that is created
passes :func:`authorize_access`, so each bank's receipt of a lead is a ledgered disclosure whose
payload digest is the lead as the bank sees it.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fincredit.consent import Allowed as Decided
from fincredit.platform.consents import authorize_access, check_access
from fincredit.platform.core.db import Subject, utcnow
from fincredit.platform.core.errors import Forbidden, InvalidInput, NotFound
from fincredit.platform.core.services import Services
from fincredit.platform.free import _rules
from fincredit.platform.free._catalog import item_scope
from fincredit.platform.free._query import digest
from fincredit.platform.free.tables import FinancingNeed, LoanProduct, MatchLead
from fincredit.platform.identity.principal import Principal
from fincredit.platform.subjects import subject_name

PURPOSE = "financing_matchmaking"
OUTCOMES = ("contacted", "approved", "granted", "declined")


def _bank(org_id: str, account_id: str) -> Principal:
    return Principal(
        account_id=account_id, account_kind="institution", org_id=org_id, org_kind="bank", domain=org_id
    )


def publish_product(session: Session, principal: Principal, spec: dict[str, Any]) -> LoanProduct:
    if principal.org_id is None:
        raise Forbidden("only a bank publishes loan products")
    _rules.validate(spec["rules"])
    if spec["amount_min"] > spec["amount_max"] or spec["term_min"] > spec["term_max"]:
        raise InvalidInput("a product's minimum is not above its maximum")
    if spec["rate_min"] > spec["rate_max"]:
        raise InvalidInput("a product's minimum rate is not above its maximum")
    product = LoanProduct(id=f"prod_{uuid.uuid4().hex[:16]}", org_id=principal.org_id, active=True, **spec)
    session.add(product)
    session.flush()
    return product


def publish_need(session: Session, principal: Principal, spec: dict[str, Any]) -> FinancingNeed:
    if principal.subject_id is None:
        raise Forbidden("only an enterprise's borrower account publishes a financing need")
    subject = session.get(Subject, principal.subject_id)
    if subject is None or subject.kind != "legal":
        raise Forbidden("financing needs are published by enterprises (legal persons)")
    need = FinancingNeed(
        id=f"need_{uuid.uuid4().hex[:16]}",
        subject_id=subject.id,
        account_id=principal.account_id,
        status="open",
        **spec,
    )
    session.add(need)
    session.flush()
    return need


def score(need: FinancingNeed, product: LoanProduct) -> float:
    """Cheaper first; among equals, a need near the middle of the product's range."""
    mid = (product.amount_min + product.amount_max) / 2
    spread = max(product.amount_max - product.amount_min, 1.0)
    return round(100.0 - 10.0 * product.rate_min - 10.0 * abs(need.amount - mid) / spread, 4)


def _lead_payload(need: FinancingNeed, product: LoanProduct, subject_view: dict[str, Any]) -> dict[str, Any]:
    return {
        "need_id": need.id,
        "product_id": product.id,
        "enterprise": subject_view,
        "amount": need.amount,
        "term_months": need.term_months,
        "use_of_funds": need.use_of_funds,
        "eligible": True,
    }


def match_need(
    session: Session, services: Services, need: FinancingNeed, *, only_product: str | None = None
) -> list[MatchLead]:
    """Evaluate every fitting active product under the enterprise's consent; create leads, ranked.
    ``only_product``: just that one (an application to a product from a board's page)."""
    subject = session.get(Subject, need.subject_id)
    assert subject is not None
    fitting = select(LoanProduct).where(
        LoanProduct.active.is_(True),
        LoanProduct.amount_min <= need.amount,
        LoanProduct.amount_max >= need.amount,
        LoanProduct.term_min <= need.term_months,
        LoanProduct.term_max >= need.term_months,
    )
    if only_product is not None:
        fitting = fitting.where(LoanProduct.id == only_product)
    products = list(session.scalars(fitting))
    facts: dict[str, Any] | None = None
    existing = set(session.scalars(select(MatchLead.product_id).where(MatchLead.need_id == need.id)))
    made: list[MatchLead] = []
    from fincredit.platform.consents import library_subject

    view = {
        "identifier": library_subject(services.keyring, subject).masked,
        "name": subject_name(session, services.keyring, subject),
        "region": subject.region,
    }
    for product in sorted(products, key=lambda p: -score(need, p)):
        if product.id in existing:
            continue
        scopes = sorted(item_scope(c) for c in _rules.items_used(product.rules)) or [
            item_scope("market_registration")
        ]
        bank = _bank(product.org_id, f"matchmaking:{product.org_id}")
        decision = check_access(
            session, services, principal=bank, subject=subject, scopes=scopes, purpose=PURPOSE, mode="query"
        )
        if not isinstance(decision, Decided):
            continue
        if facts is None:
            facts = _rules.subject_facts(session, subject)
        if not _rules.evaluate(product.rules, facts):
            continue
        allowed = authorize_access(
            session,
            services,
            principal=bank,
            subject=subject,
            scopes=scopes,
            purpose=PURPOSE,
            mode="query",
            route="/api/v1/free/matchmaking/leads",
            payload_digest=digest(_lead_payload(need, product, view)),
        )
        lead = MatchLead(
            need_id=need.id,
            product_id=product.id,
            org_id=product.org_id,
            score=score(need, product),
            ledger_seq=allowed.ledger_seq,
        )
        session.add(lead)
        made.append(lead)
    session.flush()
    return made


def own_need(session: Session, principal: Principal, need_id: str) -> FinancingNeed:
    need = session.get(FinancingNeed, need_id)
    if need is None or need.subject_id != principal.subject_id:
        raise NotFound(f"you have no financing need {need_id}")
    return need


def matches_for_need(session: Session, need: FinancingNeed) -> list[dict[str, Any]]:
    rows = session.execute(
        select(MatchLead, LoanProduct)
        .join(LoanProduct, LoanProduct.id == MatchLead.product_id)
        .where(MatchLead.need_id == need.id)
        .order_by(MatchLead.score.desc(), MatchLead.id)
    ).all()
    return [
        {
            "lead_id": lead.id,
            "product_id": p.id,
            "bank": p.org_id,
            "name": p.name,
            "amount_range": [p.amount_min, p.amount_max],
            "term_range": [p.term_min, p.term_max],
            "rate_range": [p.rate_min, p.rate_max],
            "score": lead.score,
            "rank": rank,
            "outcome": lead.outcome,
        }
        for rank, (lead, p) in enumerate(rows, start=1)
    ]


def leads_for_bank(session: Session, services: Services, org_id: str) -> list[dict[str, Any]]:
    from fincredit.platform.consents import library_subject

    rows = session.execute(
        select(MatchLead, FinancingNeed, Subject)
        .join(FinancingNeed, FinancingNeed.id == MatchLead.need_id)
        .join(Subject, Subject.id == FinancingNeed.subject_id)
        .where(MatchLead.org_id == org_id)
        .order_by(MatchLead.id.desc())
        .limit(500)
    ).all()
    return [
        {
            "lead_id": lead.id,
            "product_id": lead.product_id,
            "need_id": need.id,
            "enterprise": {
                "identifier": library_subject(services.keyring, s).masked,
                "name": subject_name(session, services.keyring, s),
            },
            "amount": need.amount,
            "term_months": need.term_months,
            "use_of_funds": need.use_of_funds,
            "score": lead.score,
            "outcome": lead.outcome,
            "created_at": lead.created_at,
        }
        for lead, need, s in rows
    ]


def record_outcome(session: Session, principal: Principal, lead_id: int, outcome: str) -> MatchLead:
    if outcome not in OUTCOMES:
        raise InvalidInput(f"outcome is one of {OUTCOMES}")
    lead = session.get(MatchLead, lead_id)
    if lead is None or lead.org_id != principal.org_id:
        raise NotFound(f"your organisation has no lead {lead_id}")
    lead.outcome, lead.outcome_at = outcome, utcnow()
    session.flush()
    return lead


def statistics(session: Session, org_id: str | None = None) -> dict[str, Any]:
    q = select(MatchLead.outcome, func.count()).group_by(MatchLead.outcome)
    if org_id is not None:
        q = q.where(MatchLead.org_id == org_id)
    counts = {(k or "open"): int(v) for k, v in session.execute(q).all()}
    total = sum(counts.values())
    granted = counts.get("granted", 0)
    return {"leads": total, "by_outcome": counts, "grant_rate": round(granted / total, 4) if total else None}
