"""Free public-interest services (G§11): information query, credit report, information push and
financing matchmaking. Never metered: nothing in this package imports ``fincredit.platform.metered``."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fincredit.platform.core.registry import Capability, DemoStep, ScheduledTask
from fincredit.platform.free import QueryBatcher, drain, need_pages, pages, router, start_push_worker
from fincredit.platform.free.cli import push_app
from fincredit.platform.free.demo import FREE_STEPS
from fincredit.platform.free.tables import PushEvent
from fincredit.platform.identity.kinds import BORROWER_ROLE


def _gauges(session: Session) -> Iterable[tuple[str, str, float]]:
    pending = session.scalar(select(func.count()).where(PushEvent.status == "pending")) or 0
    return [("queue", "push_events", pending)]


if TYPE_CHECKING:
    from fastapi import FastAPI

    from fincredit.platform.core.services import Services


def _install(app: FastAPI, services: Services) -> None:
    # Present even when the app runs without its lifespan: then each query is answered alone.
    app.state.query_batcher = QueryBatcher(services)


def _query_batcher(app: FastAPI, services: Services) -> Callable[[], None]:
    batcher: QueryBatcher = app.state.query_batcher
    batcher.start()
    return batcher.stop  # answers the queries still queued


def _push_worker(app: FastAPI, services: Services) -> Callable[[], None] | None:
    worker = start_push_worker(services)
    return worker.stop if worker is not None else None


def _push_retries(services: Services, tick: dt.datetime) -> str:
    stats = drain(services)
    return f"{stats.attempted} push(es) attempted, {stats.delivered} delivered, {stats.failed} to retry"


CAPABILITY = Capability(
    name="free",
    summary="Information query, credit report, push and matchmaking, free to banks (G§11)",
    # The information query is the busiest route of the platform: matched first (behind ~200 other routes
    # it cost a tenth of its CPU).
    route_order=0,
    routers=(router.router, router.me_router),
    pages=(pages.router, need_pages.router),
    policies=(
        ("bank", "free_query", "query"),
        ("credit_authority", "free_query", "query"),
        # G§16: the credit authority may receive public credit information without the subject's consent.
        ("credit_authority", "credit_info", "query_without_consent"),
        ("bank", "free_report", "create"),
        ("credit_authority", "free_report", "create"),
        ("bank", "free_push", "subscribe"),
        ("bank", "free_push", "read"),
        ("bank", "matchmaking", "publish_product"),
        ("bank", "matchmaking", "read_products"),
        ("bank", "matchmaking", "leads"),
        (BORROWER_ROLE, "matchmaking", "publish_need"),
        (BORROWER_ROLE, "matchmaking", "read_products"),
        (BORROWER_ROLE, "own_report", "read"),
    ),
    cli=(("push", push_app),),
    demo_steps=tuple(DemoStep(50 + i, title, run) for i, (title, run) in enumerate(FREE_STEPS)),
    install=_install,
    gauges=_gauges,
    workers=(_query_batcher, _push_worker),
    tasks=(
        # Beside the service's own delivery loop (or instead of it, with FINCREDIT_PUSH_WORKER=0 on the
        # instances): events wait at most a minute.
        ScheduledTask(
            "free.push",
            "* * * * *",
            _push_retries,
            "Deliver due push events, retrying failures",
            "fincredit push deliver",
        ),
    ),
)
