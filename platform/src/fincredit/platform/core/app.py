"""The FastAPI application, assembled from the capabilities (``core.registry``): their routers in route
order (the free public-interest routes first), their pages, body limits, state and background workers."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI
from fastapi.responses import RedirectResponse

from fincredit.platform.core import audit_router, problems, system_router, web
from fincredit.platform.core._audit_writer import AuditWriter
from fincredit.platform.core.coherence import POLICY, ChangeWatcher
from fincredit.platform.core.deps import public
from fincredit.platform.core.middleware import AuditMiddleware, BodyLimitMiddleware
from fincredit.platform.core.observability import RequestIdLogContext, install_metrics
from fincredit.platform.core.registry import capabilities
from fincredit.platform.core.services import Services, build_services
from fincredit.platform.core.settings import Settings, get_settings
from fincredit.platform.identity.tokens import VerifiedTokens

API_DESCRIPTION = """
fincredit — the city's financing credit service platform. Public credit information and purchased
market data reach banks only under a borrower's explicit consent; joint modelling and encrypted
scoring keep raw data with its owner. Errors are RFC 9457 problem+json (`/problems/{type}`).
Institutions authenticate with OAuth2 client credentials and `private_key_jwt` (RFC 7523).
"""


def create_app(settings: Settings | None = None, services: Services | None = None) -> FastAPI:
    settings = settings or (services.settings if services else get_settings())
    services = services or build_services(settings)
    audit_writer = AuditWriter(services.engine)
    declared = capabilities()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        audit_writer.start()
        # Everything built so far (routes, models, mappers, policies) lives as long as the process; left in
        # the collector's generations, every full collection walks it again, which was the service's
        # latency tail (p99 ~250 ms under load, ~80 ms frozen). Frozen objects are never scanned.
        if settings.gc_freeze:
            gc.collect()
            gc.freeze()
        # Policy changes made by other processes (workers, instances, the CLI) reach this one's authorizer.
        watcher = ChangeWatcher(services.engine, interval=settings.change_poll_seconds)
        watcher.subscribe(POLICY, services.authz.reload)
        watcher.start()
        stops: list[Callable[[], None]] = [watcher.stop]
        for capability in declared:
            for start in capability.workers:
                stop = start(app, services)
                if stop is not None:
                    stops.append(stop)
        try:
            yield
        finally:
            for stop in reversed(stops):
                stop()
            audit_writer.stop()  # writes the rows still queued, then joins its thread
            services.close()

    app = FastAPI(title="fincredit", version="0.1.0", description=API_DESCRIPTION, lifespan=lifespan)
    app.state.services = services
    app.state.verified_tokens = VerifiedTokens()
    for capability in declared:
        if capability.install is not None:
            capability.install(app, services)
    problems.install(app)
    overrides: dict[str, int] = {}
    for capability in declared:
        if capability.body_limits is not None:
            overrides.update(capability.body_limits(settings))
    app.add_middleware(RequestIdLogContext)
    app.add_middleware(BodyLimitMiddleware, default_limit=settings.max_body_bytes, overrides=overrides)
    # Added last, so outermost: refusals by the body limit are audited too, and carry the request id.
    app.add_middleware(AuditMiddleware, writer=audit_writer)
    # The router matches routes in order: capabilities in their declared route order.
    for capability in declared:
        for router in capability.routers:
            app.include_router(router)
    app.include_router(system_router.router)
    app.include_router(audit_router.router)
    web.install(app, [page for capability in declared for page in capability.pages])
    install_metrics(app, services)

    @app.get("/", include_in_schema=False, dependencies=[Depends(public)])
    def root() -> RedirectResponse:
        return RedirectResponse(f"{web.PREFIX}/")

    return app
