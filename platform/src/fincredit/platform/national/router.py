"""National network reporting (G§12): the outbox of financing results for the provincial node, and the
built-in receiver standing in for the node (``/national-node/...``: no platform login, but the node's
bearer token is required)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header
from fastapi.responses import JSONResponse

from fincredit.platform.core.deps import ServicesDep, public, require
from fincredit.platform.identity.principal import Principal
from fincredit.platform.national import (
    RECEIVER_PATH,
    check_token,
    deliver_due,
    endpoint,
    enqueue_granted,
    outbox_status,
    receive,
)

router = APIRouter(tags=["national network reporting"])


@router.post(RECEIVER_PATH, dependencies=[Depends(public)])
def node_receive(
    body: dict[str, Any],
    services: ServicesDep,
    authorization: Annotated[str | None, Header()] = None,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
) -> JSONResponse:
    """The stand-in provincial node: 201 for a new result, 200 with the same receipt for a repeat."""
    check_token(services, authorization)
    with services.tx() as session:
        receipt, duplicate = receive(session, body, idempotency_key)
    return JSONResponse(
        {"receipt_id": receipt, "duplicate": duplicate}, status_code=200 if duplicate else 201
    )


@router.post("/api/v1/national/reports/deliver")
def run_outbox(
    services: ServicesDep, principal: Annotated[Principal, Depends(require("national", "deliver"))]
) -> dict[str, Any]:
    """Queue every granted loan not yet reported and send what is due to the configured node."""
    with services.tx() as session:
        queued = enqueue_granted(session, services)
    run = deliver_due(services)
    with services.read() as session:
        return {
            "queued": queued,
            "delivered": run.delivered,
            "failed": run.failed,
            "endpoint": endpoint(services),
            **outbox_status(session),
        }


@router.get("/api/v1/national/outbox")
def outbox(
    services: ServicesDep, principal: Annotated[Principal, Depends(require("national", "read"))]
) -> dict[str, Any]:
    with services.read() as session:
        return {"endpoint": endpoint(services), **outbox_status(session)}
