"""The OpenAPI document says what the API does: every operation documents its problem responses
(401/403/404/409/413/422 as application/problem+json), and OPTIONS names every method a path serves."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient

PROBLEMS = {"401", "403", "404", "409", "413", "422"}


def test_every_operation_documents_its_problem_responses(app: FastAPI) -> None:
    doc = app.openapi()
    assert "Problem" in doc["components"]["schemas"]
    missing = []
    for path, operations in doc["paths"].items():
        for method, op in operations.items():
            documented = {
                status
                for status, response in op["responses"].items()
                if "application/problem+json" in response.get("content", {})
            }
            if not documented >= PROBLEMS:
                missing.append(f"{method.upper()} {path}: {sorted(PROBLEMS - documented)}")
    assert missing == []


def test_options_and_405_name_every_method_of_the_path(client: TestClient, app: FastAPI) -> None:
    documented = {m.upper() for m in app.openapi()["paths"]["/api/v1/free/reports/verify"]}
    assert documented == {"GET", "POST"}
    r = client.options("/api/v1/free/reports/verify")
    assert r.status_code == 204 and set(r.headers["allow"].split(", ")) == documented | {"OPTIONS"}
    wrong = client.delete("/api/v1/free/reports/verify")
    assert wrong.status_code == 405 and set(wrong.headers["allow"].split(", ")) >= documented


def test_identifier_formats_are_in_the_schema_and_an_empty_identifier_is_refused(
    client: TestClient, app: FastAPI
) -> None:
    schemas = app.openapi()["components"]["schemas"]
    for model in ("SubjectIn", "ReportIn", "ConsentRequestIn", "VerifyIn"):
        identifier = schemas[model]["properties"]["identifier"]
        assert identifier["minLength"] == 18 and "pattern" in identifier, model
    r = client.post("/api/v1/free/reports", json={"identifier": "", "format": "json"})
    assert r.status_code in (401, 422)  # anonymous: refused before or at the body, never accepted
    from pydantic import TypeAdapter

    from fincredit.platform.core.schemas import Identifier

    adapter = TypeAdapter(Identifier)
    assert adapter.validate_python(" ９１３３０２１２ＭＡ２ＸＸＸＸＸ１Ｘ ")
    for bad in ("", "91330212", "9133021-MA2XXXXX1X", "9133021２MA2XXXXX1X1"):
        try:
            adapter.validate_python(bad)
        except ValueError:
            continue
        raise AssertionError(f"{bad!r} passed the identifier pattern")
