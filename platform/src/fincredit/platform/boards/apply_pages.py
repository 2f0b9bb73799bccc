"""Apply to a board's product from its public page (G§13, G§11 matchmaking). The enterprise's borrower
account sees, before anything is sent, whether its own records meet the product's conditions (checked by
the platform, nothing leaves it) and, in plain words, what applying authorizes: this one bank may receive
these items once, for financing matchmaking. Submitting is that explicit authorization — a consent granted
on the platform's page, in the ledger like any other — and the financing need it goes with, matched to
this product only, so the bank receives a lead under that consent."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from fincredit.consent import ConsentArtefact, DataLife
from fincredit.consent.identifiers import NINGBO_REGIONS
from fincredit.consent.vocabulary import AccessMode, DataLifeUnit, FetchType, Purpose
from fincredit.platform.boards.tables import Board, BoardProduct
from fincredit.platform.consents import RecordedGrant, library_subject, record_grants
from fincredit.platform.core.db import Organisation, Subject, utcnow
from fincredit.platform.core.deps import ServicesDep
from fincredit.platform.core.errors import FincreditError, NotFound
from fincredit.platform.core.services import Services
from fincredit.platform.core.web.deps import PREFIX, lang_of, page, render
from fincredit.platform.core.web.i18n import translator
from fincredit.platform.free import (
    evaluate,
    failing,
    item_scope,
    items_used,
    match_need,
    publish_need,
    subject_facts,
)
from fincredit.platform.free.need_pages import need_problems
from fincredit.platform.free.tables import FinancingNeed, LoanProduct
from fincredit.platform.identity.principal import Principal

router = APIRouter(prefix=f"{PREFIX}/boards", include_in_schema=False)
Applicant = Annotated[Principal, Depends(page("matchmaking", "publish_need"))]
CONSENT_DAYS = 30
PURPOSE = Purpose("financing_matchmaking")


def _product_on_board(session: Session, board_id: str, product_id: str) -> tuple[Board, LoanProduct]:
    board = session.get(Board, board_id)
    if board is None or board.status != "published":
        raise NotFound(f"no published board {board_id!r}")
    on_board = session.get(BoardProduct, (board_id, product_id))
    product = session.get(LoanProduct, product_id)
    if on_board is None or product is None or not product.active:
        raise NotFound(f"board {board_id!r} offers no product {product_id!r}")
    return board, product


def _items(product: LoanProduct) -> list[str]:
    """The catalog items the product's conditions read: what the bank would receive."""
    return sorted(items_used(product.rules)) or ["market_registration"]


def _context(session: Session, principal: Principal, board: Board, product: LoanProduct) -> dict[str, Any]:
    subject = session.get(Subject, principal.subject_id) if principal.subject_id is not None else None
    facts = subject_facts(session, subject) if subject is not None else {}
    eligible = subject is not None and subject.kind == "legal" and evaluate(product.rules, facts)
    need = session.scalar(
        select(FinancingNeed)
        .where(FinancingNeed.subject_id == principal.subject_id, FinancingNeed.status == "open")
        .order_by(FinancingNeed.created_at.desc())
        .limit(1)
    )
    bank = session.get(Organisation, product.org_id)
    return {
        "board": board,
        "product": product,
        "bank_name": bank.name if bank else product.org_id,
        "items": _items(product),
        "eligible": eligible,
        "enterprise": subject is not None and subject.kind == "legal",
        "unmet": [] if eligible else failing(product.rules, facts),
        "until": utcnow() + dt.timedelta(days=CONSENT_DAYS),
        "regions": NINGBO_REGIONS,
        "form": {
            "amount": f"{need.amount:.0f}" if need else "",
            "term_months": str(need.term_months) if need else "",
            "use_of_funds": need.use_of_funds if need else "",
        },
        "problems": {},
    }


@router.get("/{board_id}/apply", response_model=None)
def apply_form(
    board_id: str,
    request: Request,
    services: ServicesDep,
    principal: Applicant,
    product: Annotated[str, Query(max_length=40)] = "",
) -> Response:
    with services.read() as session:
        if not product:
            board = session.get(Board, board_id)
            if board is None or board.status != "published":
                raise NotFound(f"no published board {board_id!r}")
            return RedirectResponse(f"{PREFIX}/boards/{board_id}#products", status_code=303)
        board, chosen = _product_on_board(session, board_id, product)
        context = _context(session, principal, board, chosen)
    return render(request, "boards/apply.html", **context)


def _apply(
    services: Services,
    principal: Principal,
    board_id: str,
    product_id: str,
    amount: float,
    term: int,
    use: str,
) -> tuple[str | None, dict[str, Any] | None]:
    """Grant the one-time matchmaking consent, publish the need, match it to this product: the need's id;
    or, when the enterprise does not (or no longer) meet the conditions, the page's context to say so."""
    with services.tx() as session:
        board, product = _product_on_board(session, board_id, product_id)
        context = _context(session, principal, board, product)
        if not context["eligible"]:
            return None, context
        subject = session.get(Subject, principal.subject_id)
        assert subject is not None
        now = utcnow()
        artefact = ConsentArtefact(
            subject=library_subject(services.keyring, subject),
            grantee=product.org_id,
            requested_by_account=principal.account_id,
            purpose=PURPOSE,
            purpose_text=f"{board.title} · {product.name}"[:1000],
            scopes=frozenset(item_scope(code) for code in context["items"]),
            modes=frozenset({AccessMode.QUERY}),
            valid_from=now,
            valid_until=now + dt.timedelta(days=CONSENT_DAYS),
            fetch_type=FetchType.ONETIME,
            data_life=DataLife(value=1, unit=DataLifeUnit.YEAR),
            created_at=now,
        )
        record_grants(
            session,
            services,
            [RecordedGrant(subject.id, artefact, principal.account_id, now, "web")],
            actor=principal.account_id,
        )
        need = publish_need(session, principal, {"amount": amount, "term_months": term, "use_of_funds": use})
        match_need(session, services, need, only_product=product.id)
        return need.id, None


@router.post("/{board_id}/apply")
def apply(
    board_id: str,
    request: Request,
    services: ServicesDep,
    principal: Applicant,
    product: Annotated[str, Form(max_length=40)],
    amount: Annotated[str, Form(max_length=30)] = "",
    term_months: Annotated[str, Form(max_length=5)] = "",
    use_of_funds: Annotated[str, Form(max_length=200)] = "",
    agree: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    problems, value, term = need_problems(amount, term_months, use_of_funds)
    if agree != "yes":
        problems["agree"] = "apply.problem.agree"
    if problems:
        with services.read() as session:
            board, chosen = _product_on_board(session, board_id, product)
            context = _context(session, principal, board, chosen)
        context.update(
            problems=problems,
            form={"amount": amount, "term_months": term_months, "use_of_funds": use_of_funds},
        )
        return render(request, "boards/apply.html", status_code=422, **context)
    try:
        need_id, refused = _apply(
            services, principal, board_id, product, float(value), term, use_of_funds.strip()
        )
    except FincreditError as exc:
        t = translator(lang_of(request))
        return render(
            request, "message.html", status_code=exc.status, title=t("apply.refused"), text=exc.detail
        )
    if refused is not None:
        return render(request, "boards/apply.html", status_code=409, **refused)
    return RedirectResponse(f"{PREFIX}/borrower/matches?notice=applied#n-{need_id}", status_code=303)
