"""pytest fixtures shared by every test directory (registered in the root conftest.py).

Storage and API tests take the ``services`` fixture and so run twice: on an embedded SQLite file and
on a PostgreSQL database created for this run (127.0.0.1:5432, trust auth) and dropped afterwards."""

from __future__ import annotations

import os
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from fincredit.consent.identifiers import generate_uscc
from fincredit.platform.core.services import Services, build_services
from fincredit.platform.core.settings import Settings
from fincredit.platform.identity.accounts import (
    create_institution_account,
    create_organisation,
    generate_key_pair,
    register_key,
    set_password,
)

PG_ADMIN_URL = os.environ.get("FINCREDIT_TEST_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432/postgres")
BACKENDS = ("sqlite", "postgresql")


@dataclass
class Institution:
    org_id: str
    account_id: str
    kid: str
    private_pem: str


def _pg_conn() -> psycopg.Connection[tuple[object, ...]]:

    return psycopg.connect(PG_ADMIN_URL, autocommit=True)


@pytest.fixture(scope="session", params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'fincredit.db'}"
        return
    name = f"fincredit_test_{uuid.uuid4().hex[:12]}"
    with _pg_conn() as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
    try:
        yield f"{base}/{name}"
    finally:
        with _pg_conn() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def make_settings(var_dir: Path, url: str) -> Settings:
    # The test client ("testclient") stands where the TLS-terminating proxy would: its client-certificate
    # header is believed, as a deployment believes its nginx's (staff_web_login).
    return Settings(
        var_dir=var_dir,
        database_url=url,
        public_url="http://testserver",
        gc_freeze=False,
        trusted_proxies=["testclient"],
        # Every test's requests come from the one address "testclient": the per-address lockout is tested
        # with addresses of its own (test_staff_login.py), not left to count the whole suite's failures.
        login_failures_per_address=100_000,
        _env_file=None,
    )


@pytest.fixture(scope="session")
def services(db_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Services]:
    svc = build_services(make_settings(tmp_path_factory.mktemp("var"), db_url))
    yield svc
    svc.close()


@pytest.fixture(scope="session")
def app(services: Services):  # type: ignore[no-untyped-def]
    from fincredit.platform.core.app import create_app

    return create_app(services=services)


@pytest.fixture
def client(app):  # type: ignore[no-untyped-def]
    from fastapi.testclient import TestClient

    with TestClient(app) as c:
        yield c


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def new_institution(
    services: Services, kind: str, *, org_id: str | None = None, district: str = "330212"
) -> Institution:
    """An organisation of ``kind`` with one account and a registered Ed25519 key. A district team is
    registered with a credit code issued in ``district`` (Yinzhou unless said), which bounds its boards."""
    org_id = org_id or unique(kind.replace("_", "-"))
    uscc = None
    if kind == "district_team":
        uscc = generate_uscc(random.Random(uuid.uuid4().int), district, authority="1", category="1")
    private_pem, public_pem = generate_key_pair()
    with services.tx() as session:
        create_organisation(session, org_id=org_id, kind=kind, name=f"{kind} {org_id}", uscc=uscc)
        account = create_institution_account(
            session,
            services.authz,
            org_id=org_id,
            username=unique("user"),
            real_name="测试员",
            stated_use="automated tests",
        )
        key = register_key(session, account.id, public_pem)
        return Institution(org_id, account.id, key.kid, private_pem)


def with_web_password(services: Services, inst: Institution, password: str) -> str:
    """Give the institution's account a web-page password, as ``fincredit account set-password`` does;
    returns the account's username for the login form."""
    from fincredit.platform.core.db import Account

    with services.tx() as session:
        account = session.get(Account, inst.account_id)
        assert account is not None
        set_password(session, account.username, password)
        return account.username


def obtain_token(client, inst: Institution) -> str:  # type: ignore[no-untyped-def]
    from fincredit.platform.identity.tokens import CLIENT_ASSERTION_TYPE, make_client_assertion

    assertion = make_client_assertion(
        inst.private_pem, inst.account_id, inst.kid, "http://testserver/oauth2/token"
    )
    r = client.post(
        "/oauth2/token",
        data={
            "grant_type": "client_credentials",
            "client_assertion_type": CLIENT_ASSERTION_TYPE,
            "client_assertion": assertion,
        },
    )
    assert r.status_code == 200, r.text
    return str(r.json()["access_token"])


def auth(client, inst: Institution) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {"Authorization": f"Bearer {obtain_token(client, inst)}"}


def staff_certificate(services: Services, username: str) -> str:
    """Issue the account a client certificate from the staff CA, as ``fincredit account issue-certificate``
    does; returns it as a TLS-terminating proxy passes it on (nginx's URL-escaped PEM)."""
    from urllib.parse import quote

    from fincredit.platform.identity.certificates import issue_client_certificate, load_staff_ca

    with services.tx() as session:
        issued = issue_client_certificate(session, load_staff_ca(services.settings), username)
    return quote(issued.certificate_pem)


def csrf_token(client, path: str = "/web/login") -> str:  # type: ignore[no-untyped-def]
    """The CSRF token of a page's forms, read from the page as a browser has it (the GET sets the cookie)."""
    import re

    page = client.get(path)
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert found, f"{path} has no form with a CSRF token"
    return found.group(1)


def web_login(client, username: str, password: str, *, certificate: str | None = None):  # type: ignore[no-untyped-def]
    """Sign in through the login form (with the CSRF token it carries, and the client certificate a proxy
    would pass); afterwards the client sends the token header with every request, as the pages' forms do."""
    client.headers.pop("X-CSRF-Token", None)  # a token of an earlier session (cookies cleared since)
    token = csrf_token(client)
    headers = {"X-SSL-Client-Cert": certificate} if certificate else {}
    response = client.post(
        "/web/login",
        data={"username": username, "password": password, "csrf_token": token},
        headers=headers,
        follow_redirects=False,
    )
    client.headers["X-CSRF-Token"] = token
    return response


def staff_web_login(client, services: Services, username: str, password: str):  # type: ignore[no-untyped-def]
    """Web sign-in of institution staff: password and a client certificate issued to the account (R§18)."""
    return web_login(client, username, password, certificate=staff_certificate(services, username))
