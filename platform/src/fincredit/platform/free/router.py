"""The FREE router: G§11 free public-interest services for financial institutions — information
query, credit report (JSON / HTML / PDF, with public verification), information push (webhooks and a
polling feed) and financing matchmaking.

These routes are never metered: this module has its own dependencies (authorization gate plus a
per-institution rate limit that answers 429 with Retry-After) and never imports the metering package;
a test asserts that calling every route here writes no ``usage_events`` row. Every disclosure passes
the consent ledger's one gate (``authorize_access``, or its batch form ``AccessBatch`` for the
information query, whose concurrent calls share a transaction) and is ledgered.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import Field, HttpUrl
from sqlalchemy import select

from fincredit.platform.core.deps import ServicesDep, public, require, require_confirmed, set_audit_subject
from fincredit.platform.core.errors import ConsentRefused, FincreditError
from fincredit.platform.core.middleware import audit_row
from fincredit.platform.core.observability import FREE_QUERIES
from fincredit.platform.core.schemas import INT64_MAX, Identifier, RowId, Strict
from fincredit.platform.free import (
    ItemRequest,
    QueryBatcher,
    QueryRequest,
    cancel,
    feed,
    issue_report,
    leads_for_bank,
    limiter,
    match_need,
    matches_for_need,
    own_need,
    publish_need,
    publish_product,
    record_outcome,
    register_pdf,
    render_html,
    render_pdf,
    statistics,
    subscribe,
    subscription_view,
    verify_report,
)
from fincredit.platform.free._report import own_report
from fincredit.platform.free.tables import LoanProduct, PushSubscription
from fincredit.platform.identity.principal import Principal

router = APIRouter(prefix="/api/v1/free", tags=["free services (G§11, never metered)"])
# A borrower's own report lives with its other /me routes.
me_router = APIRouter(prefix="/api/v1", tags=["free services (G§11, never metered)"])


def limited(
    resource: str, action: str, group: str, *, confirmed: bool = False
) -> Callable[..., Awaitable[Principal]]:
    """The authorization gate, then the institution's rate limit for ``group``. ``confirmed``: the route
    re-checks the caller in its own transaction (see :func:`require_confirmed`)."""

    gate = require_confirmed(resource, action) if confirmed else require(resource, action)

    # The gate is a default, not an Annotated string: under postponed annotations FastAPI resolves
    # annotation strings in the module's globals, where this closure's ``gate`` does not exist.
    # Async: the limiter is an in-memory bucket, so there is no reason to hop to the thread pool.
    async def dependency(principal: Principal = Depends(gate)) -> Principal:
        limiter.hit(principal.org_id or principal.account_id, group)
        return principal

    return dependency


def public_limited(group: str) -> Callable[..., None]:
    def dependency(request: Request, _: Annotated[None, Depends(public)]) -> None:
        limiter.hit(f"ip:{request.client.host if request.client else '-'}", group)

    return dependency


class ItemIn(Strict):
    code: str = Field(max_length=64)
    fields: list[str] | None = Field(default=None, max_length=50)


class QueryIn(Strict):
    identifier: str = Field(max_length=32)
    purpose: str = Field(default="loan_application_assessment", max_length=40)
    mode: Literal["query"] = "query"
    items: list[ItemIn] | None = Field(default=None, max_length=64)

    def item_requests(self) -> list[ItemRequest] | None:
        if self.items is None:
            return None
        return [ItemRequest(i.code, None if i.fields is None else tuple(i.fields)) for i in self.items]


class ReportIn(Strict):
    identifier: Identifier
    purpose: str | None = Field(
        default=None,
        max_length=40,
        description="default: the purpose your live consents from the subject share, else credit_report",
    )
    format: Literal["json", "html", "pdf"] = "json"
    items: list[ItemIn] | None = Field(default=None, max_length=64)


@router.post("/query", response_model=None)
async def query_route(
    body: QueryIn,
    request: Request,
    principal: Annotated[Principal, Depends(limited("free_query", "query", "query", confirmed=True))],
) -> Response:
    """The subject's public credit information the bank's consent covers (G§11; free).

    Concurrent queries are answered together in one transaction (group commit, see
    ``fincredit.platform.free.QueryBatcher``), their audit rows included; the response comes after that
    transaction commits."""
    batcher: QueryBatcher = request.app.state.query_batcher
    state = request.scope.get("state", {})
    ask = QueryRequest(
        principal=principal,
        identifier=body.identifier,
        items=None if body.items is None else tuple(body.item_requests() or ()),
        purpose=body.purpose,
        mode=body.mode,
        caller=request.state.caller,
        audit=_audit_in_transaction(request) if "started" in state else None,
    )
    answer = await batcher.ask(ask)
    if ask.audit is not None:  # the row is in the trail already, with this status
        state["audited_status"] = answer.status if isinstance(answer, FincreditError) else 200
    if isinstance(answer, Exception):
        outcome = "refused" if isinstance(answer, ConsentRefused) else "error"
        FREE_QUERIES.labels(outcome, answer.slug if isinstance(answer, FincreditError) else "internal").inc()
        raise answer
    FREE_QUERIES.labels("answered", "").inc()
    set_audit_subject(request, answer.pop("subject_id"))
    return JSONResponse(answer)


def _audit_in_transaction(request: Request) -> Callable[[int, str | None], dict[str, Any]]:
    """The query's audit row, made in its batch's transaction (see ``AuditMiddleware``)."""

    def row(status: int, subject_ref: str | None) -> dict[str, Any]:
        return {**audit_row(request.scope, request.scope["state"], status), "subject_ref": subject_ref}

    return row


@router.post("/reports", response_model=None)
def report_route(
    body: ReportIn,
    request: Request,
    services: ServicesDep,
    principal: Annotated[Principal, Depends(limited("free_report", "create", "report"))],
) -> Response:
    """A credit report (R§9) as JSON, HTML or PDF; the PDF's own digest is registered too."""
    items = QueryIn(identifier=body.identifier, items=body.items).item_requests()
    with services.tx() as session:
        issued = issue_report(
            session,
            services,
            principal=principal,
            identifier=body.identifier,
            purpose=body.purpose,
            items=items,
        )
        headers = {"X-Report-Id": issued.report["report_id"], "X-Report-Sha256": issued.content_sha256}
        if body.format == "pdf":
            pdf = render_pdf(issued)
            headers["X-Pdf-Sha256"] = register_pdf(session, issued.report["report_id"], pdf)
    set_audit_subject(request, issued.report["subject"]["identifier"])
    if body.format == "pdf":
        headers["Content-Disposition"] = f'attachment; filename="{issued.report["report_id"]}.pdf"'
        return Response(pdf, media_type="application/pdf", headers=headers)
    if body.format == "html":
        return HTMLResponse(render_html(issued), headers=headers)
    return JSONResponse({**issued.report, "content_sha256": issued.content_sha256}, headers=headers)


@me_router.get("/me/credit-report", response_model=None)
def own_report_route(
    request: Request,
    services: ServicesDep,
    principal: Annotated[Principal, Depends(require("own_report", "read"))],
    format: Annotated[Literal["json", "pdf"], Query()] = "json",
) -> Response:
    """A borrower's own credit report (R§9: free access to one's own information), as JSON or PDF."""
    with services.tx() as session:
        issued = own_report(session, services, principal)
        pdf = render_pdf(issued) if format == "pdf" else None
        if pdf is not None:
            register_pdf(session, issued.report["report_id"], pdf)
    set_audit_subject(request, issued.report["subject"]["identifier"])
    headers = {"X-Report-Id": issued.report["report_id"], "X-Report-Sha256": issued.content_sha256}
    if pdf is not None:
        headers["Content-Disposition"] = f'attachment; filename="{issued.report["report_id"]}.pdf"'
        return Response(pdf, media_type="application/pdf", headers=headers)
    return JSONResponse({**issued.report, "content_sha256": issued.content_sha256}, headers=headers)


@router.get("/reports/verify")
def verify_by_hash(
    services: ServicesDep,
    _: Annotated[None, Depends(public_limited("verify"))],
    sha256: Annotated[str, Query(min_length=64, max_length=64, pattern="^[0-9a-fA-F]{64}$")],
    report_id: Annotated[str | None, Query(max_length=40)] = None,
) -> dict[str, Any]:
    """Anyone: is there a platform report with this digest (printed on it, or of the PDF file)?"""
    with services.read() as session:
        return verify_report(session, sha256=sha256, report_id=report_id)


@router.post("/reports/verify")
async def verify_by_file(
    request: Request,
    services: ServicesDep,
    _: Annotated[None, Depends(public_limited("verify"))],
) -> dict[str, Any]:
    """Anyone: upload the PDF (raw body, application/pdf); the platform compares its SHA-256."""
    body = await request.body()
    sha = hashlib.sha256(body).hexdigest()
    with services.read() as session:
        return {**verify_report(session, sha256=sha), "sha256": sha}


@router.get("/push/public-key")
def push_public_key(services: ServicesDep, _: Annotated[None, Depends(public)]) -> dict[str, str]:
    """The platform's Ed25519 public key that signs webhooks (see the push module for the scheme)."""
    import base64

    return {
        "algorithm": "Ed25519",
        "public_key_pem": services.keyring.public_key_pem,
        "public_key_raw_b64": base64.b64encode(services.keyring.public_key_raw).decode(),
        "signature_header": "Fincredit-Signature: ed25519=<base64(sign(timestamp + '.' + body))>",
        "timestamp_header": "Fincredit-Timestamp",
    }


class SubscriptionIn(Strict):
    identifier: Identifier
    webhook_url: HttpUrl | None = None
    items: list[str] | None = Field(default=None, max_length=64)
    purpose: Literal["post_loan_monitoring"] = "post_loan_monitoring"


@router.post("/push/subscriptions", status_code=201)
def subscribe_route(
    body: SubscriptionIn,
    request: Request,
    services: ServicesDep,
    principal: Annotated[Principal, Depends(limited("free_push", "subscribe", "push"))],
) -> dict[str, Any]:
    """Watch a subject under a post-loan-monitoring consent (mode push_subscription)."""
    with services.tx() as session:
        sub = subscribe(
            session,
            services,
            principal=principal,
            identifier=body.identifier,
            webhook_url=None if body.webhook_url is None else str(body.webhook_url),
            items=body.items,
            purpose=body.purpose,
        )
        set_audit_subject(request, sub.subject_id)
        return subscription_view(sub)


@router.get("/push/subscriptions")
def list_subscriptions(
    services: ServicesDep,
    principal: Annotated[Principal, Depends(limited("free_push", "read", "push"))],
    status: Literal["active", "ended"] | None = None,
) -> list[dict[str, Any]]:
    with services.read() as session:
        q = select(PushSubscription).where(
            PushSubscription.org_id == (principal.org_id or principal.account_id)
        )
        if status is not None:
            q = q.where(PushSubscription.status == status)
        return [
            subscription_view(s) for s in session.scalars(q.order_by(PushSubscription.created_at).limit(1000))
        ]


@router.delete("/push/subscriptions/{subscription_id}")
def cancel_subscription(
    subscription_id: str,
    services: ServicesDep,
    principal: Annotated[Principal, Depends(limited("free_push", "subscribe", "push"))],
) -> dict[str, Any]:
    with services.tx() as session:
        return subscription_view(cancel(session, principal, subscription_id))


@router.get("/push/feed")
def push_feed(
    services: ServicesDep,
    principal: Annotated[Principal, Depends(limited("free_push", "read", "push"))],
    after: Annotated[int, Query(ge=0, le=INT64_MAX, description="cursor: the last event's cursor")] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> dict[str, Any]:
    """The polling alternative to webhooks: consent-checked events after the cursor, in order."""
    with services.read() as session:
        items, cursor = feed(session, principal, after=after, limit=limit)
    return {"items": items, "next_cursor": cursor}


class ProductIn(Strict):
    name: str = Field(max_length=200)
    amount_min: float = Field(ge=0)
    amount_max: float = Field(gt=0)
    term_min: int = Field(ge=1, le=600)
    term_max: int = Field(ge=1, le=600)
    rate_min: float = Field(ge=0, le=100)
    rate_max: float = Field(ge=0, le=100)
    rules: dict[str, Any]


class NeedIn(Strict):
    amount: float = Field(gt=0)
    term_months: int = Field(ge=1, le=600)
    use_of_funds: str = Field(max_length=200)


class OutcomeIn(Strict):
    outcome: Literal["contacted", "approved", "granted", "declined"]


def _product_view(p: LoanProduct) -> dict[str, Any]:
    return {
        "id": p.id,
        "bank": p.org_id,
        "name": p.name,
        "amount_range": [p.amount_min, p.amount_max],
        "term_range": [p.term_min, p.term_max],
        "rate_range": [p.rate_min, p.rate_max],
        "rules": p.rules,
        "active": p.active,
    }


@router.post("/matchmaking/products", status_code=201)
def publish_product_route(
    body: ProductIn,
    services: ServicesDep,
    principal: Annotated[Principal, Depends(limited("matchmaking", "publish_product", "matchmaking"))],
) -> dict[str, Any]:
    """A bank publishes a loan product with JSON eligibility rules over catalog facts."""
    with services.tx() as session:
        return _product_view(publish_product(session, principal, body.model_dump()))


@router.get("/matchmaking/products")
def list_products(
    services: ServicesDep,
    principal: Annotated[Principal, Depends(limited("matchmaking", "read_products", "matchmaking"))],
) -> list[dict[str, Any]]:
    with services.read() as session:
        rows = session.scalars(
            select(LoanProduct).where(LoanProduct.active.is_(True)).order_by(LoanProduct.id)
        )
        return [_product_view(p) for p in rows]


@router.post("/matchmaking/needs", status_code=201)
def publish_need_route(
    body: NeedIn,
    services: ServicesDep,
    principal: Annotated[Principal, Depends(limited("matchmaking", "publish_need", "matchmaking"))],
) -> dict[str, Any]:
    """An enterprise publishes a financing need; it is matched at once (under its consents)."""
    with services.tx() as session:
        need = publish_need(session, principal, body.model_dump())
        match_need(session, services, need)
        return {"id": need.id, "status": need.status, "matches": matches_for_need(session, need)}


@router.post("/matchmaking/needs/{need_id}/match")
def rematch_route(
    need_id: str,
    services: ServicesDep,
    principal: Annotated[Principal, Depends(limited("matchmaking", "publish_need", "matchmaking"))],
) -> dict[str, Any]:
    """Match again (new products, or consents given since)."""
    with services.tx() as session:
        need = own_need(session, principal, need_id)
        match_need(session, services, need)
        return {"id": need.id, "matches": matches_for_need(session, need)}


@router.get("/matchmaking/needs/{need_id}/matches")
def matches_route(
    need_id: str,
    services: ServicesDep,
    principal: Annotated[Principal, Depends(limited("matchmaking", "publish_need", "matchmaking"))],
) -> list[dict[str, Any]]:
    with services.read() as session:
        return matches_for_need(session, own_need(session, principal, need_id))


@router.get("/matchmaking/leads")
def leads_route(
    services: ServicesDep,
    principal: Annotated[Principal, Depends(limited("matchmaking", "leads", "matchmaking"))],
) -> list[dict[str, Any]]:
    with services.read() as session:
        return leads_for_bank(session, services, principal.org_id or "")


@router.post("/matchmaking/leads/{lead_id}/outcome")
def outcome_route(
    lead_id: RowId,
    body: OutcomeIn,
    services: ServicesDep,
    principal: Annotated[Principal, Depends(limited("matchmaking", "leads", "matchmaking"))],
) -> dict[str, Any]:
    with services.tx() as session:
        lead = record_outcome(session, principal, lead_id, body.outcome)
        return {"lead_id": lead.id, "outcome": lead.outcome, "outcome_at": lead.outcome_at}


@router.get("/matchmaking/stats")
def stats_route(
    services: ServicesDep,
    principal: Annotated[Principal, Depends(limited("matchmaking", "leads", "matchmaking"))],
) -> dict[str, Any]:
    """Lead outcomes of this bank (contacted / approved / granted / declined)."""
    with services.read() as session:
        return statistics(session, principal.org_id)
