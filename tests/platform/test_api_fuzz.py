"""Property-based check of the whole API against its own OpenAPI document (schemathesis, fixed seed):
every operation, called anonymously, as a bank and as a borrower, answers without a server error and with
a response that matches the document. Few examples per operation, so the run stays within minutes."""

from __future__ import annotations

import pathlib
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from fincredit.platform.core.services import Services, build_services
from fincredit.platform.identity.accounts import create_borrower_account
from fincredit.platform.testing.plugin import auth, make_settings, new_institution, unique
from fincredit.platform.testing.seed import new_enterprise

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def fuzz_services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Services]:
    var = pathlib.Path(tmp_path_factory.mktemp("fuzz"))
    services = build_services(make_settings(var, f"sqlite:///{var / 'fuzz.db'}"))
    yield services
    services.close()


@pytest.fixture(scope="module")
def fuzz_app(fuzz_services: Services) -> FastAPI:
    from fincredit.platform.core.app import create_app

    return create_app(services=fuzz_services)


@pytest.fixture(scope="module")
def principals(fuzz_app: FastAPI, fuzz_services: Services) -> dict[str, dict[str, str]]:
    with TestClient(fuzz_app) as client:
        bank = auth(client, new_institution(fuzz_services, "bank"))
        _, sid = new_enterprise(fuzz_services)
        username = unique("ent")
        with fuzz_services.tx() as session:
            create_borrower_account(
                session,
                fuzz_services.authz,
                username=username,
                real_name="王五",
                password="pw-2026-fuzz",
                subject_id=sid,
            )
        token = client.post(
            "/api/v1/auth/login", json={"username": username, "password": "pw-2026-fuzz"}
        ).json()
    return {"anonymous": {}, "bank": bank, "borrower": {"Authorization": f"Bearer {token['access_token']}"}}


def test_every_operation_keeps_to_its_document(
    fuzz_app: FastAPI, principals: dict[str, dict[str, str]]
) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", fuzz_app)
    failures: list[str] = []
    calls: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy())
        @settings(
            max_examples=1,
            derandomize=True,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def call(case: Any) -> None:
            for who, headers in principals.items():
                calls.append(who)
                try:
                    case.call_and_validate(
                        headers=headers, checks=[not_a_server_error, response_schema_conformance]
                    )
                except Exception as exc:  # collect them all, to report every operation that fails
                    failures.append(f"{who} {case.operation.label}: {type(exc).__name__}: {str(exc)[:300]}")

        call()
    assert len(calls) >= 3 * 100  # every operation (well over a hundred), each as all three callers
    assert failures == []
