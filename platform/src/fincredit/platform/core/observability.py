"""Operations: Prometheus metrics at ``/metrics`` and JSON logs that carry the request id.

Request metrics come from prometheus-fastapi-instrumentator. Domain figures are of two kinds: counters a
process increments as it works (free queries answered and refused, by reason), and gauges read from the
database at scrape time (ledger size, outbox depths), which every worker of every instance reports alike.
With several worker processes (``fincredit serve --workers N`` sets ``PROMETHEUS_MULTIPROC_DIR``) the
counters of all workers are summed at each scrape, whichever worker answers it.
"""

from __future__ import annotations

import contextvars
import logging
import os
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from fastapi import Depends, FastAPI
from fastapi.responses import Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from prometheus_fastapi_instrumentator import Instrumentator
from pythonjsonlogger.json import JsonFormatter
from sqlalchemy import text
from sqlalchemy.orm import Session
from starlette.types import ASGIApp, Receive, Scope, Send

from fincredit.platform.core.deps import public
from fincredit.platform.core.registry import capabilities

if TYPE_CHECKING:
    from prometheus_client.metrics_core import Metric

    from fincredit.platform.core.services import Services

FREE_QUERIES = Counter(
    "fincredit_free_queries_total",
    "Free information queries answered (G§11), by outcome and, for refusals, the problem type.",
    ["outcome", "reason"],
)

# The id the audit middleware gives each request, for every log line written while it is handled.
request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)


class _DatabaseGauges(Collector):
    """Figures read from the database at scrape time: the same whichever process is asked."""

    def __init__(self, services: Services) -> None:
        self._services = services

    def collect(self) -> Iterator[Metric]:
        gauges: list[tuple[str, str, float]] = []
        with self._services.read() as session:
            for capability in capabilities():
                if capability.gauges is not None:
                    gauges.extend(capability.gauges(session))
            if session.get_bind().dialect.name == "postgresql":
                gauges.extend(_job_queue(session))
        queue = GaugeMetricFamily("fincredit_queue_depth", "Work waiting in an outbox.", labels=["queue"])
        for kind, name, value in gauges:
            if kind == "queue":
                queue.add_metric([name], value)
            else:
                yield GaugeMetricFamily(f"fincredit_{name}", kind, value=value)
        yield queue


def _job_queue(session: Session) -> list[tuple[str, str, float]]:
    """The scheduled work's queue (``fincredit worker``): jobs waiting, and the failed runs kept (a week)."""
    rows = session.execute(text("SELECT status::text, count(*) FROM procrastinate_jobs GROUP BY status"))
    counts: dict[str, int] = {str(status): int(n) for status, n in rows}
    return [
        ("queue", "scheduled_jobs", float(counts.get("todo", 0))),
        (
            "Scheduled task runs that failed, kept a week.",
            "scheduled_jobs_failed",
            float(counts.get("failed", 0)),
        ),
    ]


def install_metrics(app: FastAPI, services: Services) -> None:
    Instrumentator(excluded_handlers=["/metrics", "/health", "/ready"]).instrument(app)
    database = CollectorRegistry(auto_describe=True)
    database.register(_DatabaseGauges(services))

    # Public like /health: a deployment keeps it off the public listener (infra/nginx-fincredit.conf).
    @app.get("/metrics", include_in_schema=False, dependencies=[Depends(public)])
    def metrics() -> Response:
        if "PROMETHEUS_MULTIPROC_DIR" in os.environ:
            processes = CollectorRegistry()
            multiprocess.MultiProcessCollector(processes)  # type: ignore[no-untyped-call]
            text = generate_latest(processes)
        else:
            text = generate_latest(REGISTRY)
        return Response(text + generate_latest(database), media_type=CONTENT_TYPE_LATEST)


class RequestIdLogContext:
    """Inside the audit middleware (which gives each request its id): makes the id the current one for
    every log line written while the request is handled."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            request_id.set(scope.get("state", {}).get("request_id"))
        await self.app(scope, receive, send)


class _RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get()
        return True


def log_config(level: str = "INFO") -> dict[str, Any]:
    """A ``logging.config.dictConfig`` for the service and uvicorn: one JSON object per line, with the
    request id when the line was written while handling a request."""
    fields = "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s"
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request_id": {"()": _RequestIdFilter}},
        "formatters": {"json": {"()": JsonFormatter, "fmt": fields, "rename_fields": {"asctime": "time"}}},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "json",
                "filters": ["request_id"],
                "stream": "ext://sys.stderr",
            }
        },
        "root": {"handlers": ["stderr"], "level": level},
        "loggers": {
            "uvicorn": {"handlers": ["stderr"], "level": level, "propagate": False},
            "uvicorn.error": {"handlers": ["stderr"], "level": level, "propagate": False},
            "uvicorn.access": {"handlers": ["stderr"], "level": level, "propagate": False},
        },
    }
