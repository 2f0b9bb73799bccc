"""What an operator's load balancer, monitoring and log shipping read: ``/ready`` says whether the
instance may take traffic, ``/metrics`` is Prometheus text with request and domain figures, and every log
line is one JSON object carrying the request id."""

from __future__ import annotations

import io
import json
import logging
import logging.config

from fincredit.platform.core.observability import log_config, request_id


def test_ready_reports_the_database_and_the_migrations(client) -> None:  # type: ignore[no-untyped-def]
    r = client.get("/ready")
    assert r.status_code == 200
    assert r.json() == {"status": "ready", "database": "ok", "migrations": "ok"}


def test_metrics_carry_request_counts_and_domain_figures(client) -> None:  # type: ignore[no-untyped-def]
    client.get("/health")
    client.get("/api/v1/me")  # 401: counted like any request
    text = client.get("/metrics").text
    assert "http_requests_total" in text
    assert "fincredit_ledger_entries " in text
    assert 'fincredit_queue_depth{queue="push_events"}' in text
    assert 'fincredit_queue_depth{queue="national_reports"}' in text
    assert "fincredit_free_queries_total" in text


def test_log_lines_are_json_with_the_request_id() -> None:
    stream = io.StringIO()
    config = log_config()
    config["handlers"]["stderr"]["stream"] = stream
    logging.config.dictConfig(config)
    try:
        token = request_id.set("req-42")
        logging.getLogger("fincredit.test").warning("consent %s refused", "c-1")
        request_id.reset(token)
        line = json.loads(stream.getvalue().splitlines()[-1])
    finally:
        logging.config.dictConfig({"version": 1, "disable_existing_loggers": False})
    assert line["message"] == "consent c-1 refused"
    assert line["request_id"] == "req-42" and line["levelname"] == "WARNING" and "time" in line
