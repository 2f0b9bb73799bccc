"""The enterprise's financing-need form (G§11 matchmaking): amount, term and use of funds, published and
matched at once under the enterprise's consents, as the API does; and "match again" once new products or
consents exist. The needs and their matches are shown on /web/borrower/matches."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from fincredit.platform.core.deps import ServicesDep
from fincredit.platform.core.errors import FincreditError
from fincredit.platform.core.web.deps import PREFIX, lang_of, page, render
from fincredit.platform.core.web.i18n import translator
from fincredit.platform.free._matchmaking import match_need, own_need, publish_need
from fincredit.platform.free.pages import matches_context
from fincredit.platform.identity.principal import Principal

router = APIRouter(prefix=f"{PREFIX}/borrower", include_in_schema=False)
Publisher = Annotated[Principal, Depends(page("matchmaking", "publish_need"))]
MAX_AMOUNT = Decimal("100000000000")  # 1e11 yuan: far above any single loan


def need_problems(amount: str, term_months: str, use_of_funds: str) -> tuple[dict[str, str], Decimal, int]:
    """Field-by-field problems (message keys) of the form, and the parsed amount and term."""
    problems: dict[str, str] = {}
    try:
        value = Decimal(amount.replace(",", "").replace("，", "").strip())
        if not (value.is_finite() and 0 < value <= MAX_AMOUNT):
            raise InvalidOperation
    except InvalidOperation:
        problems["amount"] = "need.problem.amount"
        value = Decimal(0)
    try:
        term = int(term_months.strip())
        if not 1 <= term <= 600:
            raise ValueError
    except ValueError:
        problems["term_months"] = "need.problem.term"
        term = 0
    if not use_of_funds.strip():
        problems["use_of_funds"] = "need.problem.use"
    return problems, value, term


@router.post("/needs")
def publish(
    request: Request,
    services: ServicesDep,
    principal: Publisher,
    amount: Annotated[str, Form(max_length=30)] = "",
    term_months: Annotated[str, Form(max_length=5)] = "",
    use_of_funds: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    problems, value, term = need_problems(amount, term_months, use_of_funds)
    if problems:
        return render(
            request,
            "borrower/matches.html",
            status_code=422,
            problems=problems,
            form={"amount": amount, "term_months": term_months, "use_of_funds": use_of_funds},
            **matches_context(services, principal),
        )
    try:
        with services.tx() as session:
            need = publish_need(
                session,
                principal,
                {"amount": float(value), "term_months": term, "use_of_funds": use_of_funds.strip()},
            )
            match_need(session, services, need)
            need_id = need.id
    except FincreditError as exc:
        t = translator(lang_of(request))
        return render(
            request, "message.html", status_code=exc.status, title=t("need.refused"), text=exc.detail
        )
    return RedirectResponse(f"{PREFIX}/borrower/matches?notice=published#n-{need_id}", status_code=303)


@router.post("/needs/{need_id}/match")
def rematch(need_id: str, services: ServicesDep, principal: Publisher) -> Response:
    with services.tx() as session:
        need = own_need(session, principal, need_id)
        match_need(session, services, need)
    return RedirectResponse(f"{PREFIX}/borrower/matches?notice=matched#n-{need_id}", status_code=303)
