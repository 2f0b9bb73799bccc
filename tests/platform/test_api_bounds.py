"""Numbers the API takes are bounded by their schema: nothing a client sends reaches the database as a
value it cannot store, and a value that still does not fit is a 422 problem, never a 500."""

from __future__ import annotations

import math
from typing import Any

from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.exc import DataError

from fincredit.platform.core.services import Services
from fincredit.platform.testing.plugin import auth, new_institution

INT64_MAX = 2**63 - 1
TOO_BIG = str(2**63)


def _integers(
    doc: dict[str, Any], schema: Any, where: str, seen: frozenset[str]
) -> list[tuple[str, dict[str, Any]]]:
    if not isinstance(schema, dict):
        return []
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        if name in seen:
            return []
        return _integers(doc, doc["components"]["schemas"][name], f"{where}->{name}", seen | {name})
    found = [(where, schema)] if schema.get("type") == "integer" else []
    for key in ("anyOf", "oneOf", "allOf"):
        for sub in schema.get(key, []):
            found += _integers(doc, sub, where, seen)
    for name, sub in schema.get("properties", {}).items():
        found += _integers(doc, sub, f"{where}.{name}", seen)
    for key in ("items", "additionalProperties"):
        found += _integers(doc, schema.get(key), f"{where}[]", seen)
    return found


def test_every_integer_the_api_takes_is_bounded_to_64_bits(app: FastAPI) -> None:
    doc = app.openapi()
    unbounded = []
    for path, operations in doc["paths"].items():
        for method, op in operations.items():
            inputs = [(f"{p['in']}:{p['name']}", p.get("schema")) for p in op.get("parameters", [])]
            inputs += [
                ("body", c.get("schema")) for c in op.get("requestBody", {}).get("content", {}).values()
            ]
            for where, schema in inputs:
                for name, s in _integers(doc, schema, f"{method.upper()} {path} {where}", frozenset()):
                    # The document's numbers are JSON floats: 2**63 - 1 reads as 2.0**63.
                    high, low = float(s.get("maximum", math.inf)), float(s.get("minimum", -math.inf))
                    if high > float(INT64_MAX) or low < -float(2**63):
                        unbounded.append(name)
    assert unbounded == []


def test_an_integer_beyond_64_bits_is_refused_with_422(client: TestClient, services: Services) -> None:
    regulator = auth(client, new_institution(services, "regulator"))
    for url in (
        f"/api/v1/ledger/checkpoint?size={TOO_BIG}",
        f"/api/v1/ledger/entries?after={TOO_BIG}",
        f"/api/v1/ledger/proofs/inclusion?seq={TOO_BIG}",
        f"/api/v1/catalog?version={TOO_BIG}",
        f"/api/v1/audit-events?after={TOO_BIG}",
    ):
        r = client.get(url, headers=regulator)
        assert r.status_code == 422, (url, r.status_code, r.text)
        assert r.json()["type"] == "/problems/invalid-input"


def test_a_value_the_database_cannot_store_is_a_422_problem(services: Services) -> None:
    from fincredit.platform.core.app import create_app
    from fincredit.platform.core.deps import public

    fresh = create_app(services=services)

    @fresh.get("/api/v1/test-overflow", dependencies=[Depends(public)])
    def overflow() -> None:
        raise OverflowError("Python int too large to convert to SQLite INTEGER")

    @fresh.get("/api/v1/test-data-error", dependencies=[Depends(public)])
    def data_error() -> None:
        raise DataError("SELECT 1", {}, Exception("value out of range for type bigint"))

    with TestClient(fresh, raise_server_exceptions=False) as c:
        for url in ("/api/v1/test-overflow", "/api/v1/test-data-error"):
            r = c.get(url)
            assert r.status_code == 422 and r.json()["type"] == "/problems/invalid-input"
            assert "bigint" not in r.text and "SQLite" not in r.text
