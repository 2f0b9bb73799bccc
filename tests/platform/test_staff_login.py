"""Staff sign in with an account *and* a digital certificate (R§18); repeated failures lock the account and
the address out with a growing wait; cookies are HttpOnly, SameSite=Strict and Secure over HTTPS; no form
is accepted without its CSRF token. The TLS handshake itself is tested on loopback with a real HTTPS
client holding a certificate of the platform's staff CA."""

from __future__ import annotations

import datetime as dt
import re
import socket
import ssl
import threading
import time
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
import uvicorn
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from fastapi.testclient import TestClient

from fincredit.platform.core.db import utcnow
from fincredit.platform.core.services import Services
from fincredit.platform.identity.certificates import (
    issue_client_certificate,
    issue_server_certificate,
    load_staff_ca,
    revoke_certificate,
)
from fincredit.platform.identity.tables import LoginThrottle
from fincredit.platform.testing.plugin import (
    csrf_token,
    new_institution,
    staff_certificate,
    staff_web_login,
    with_web_password,
)

PASSWORD = "staff-pass-2026"


def _staff(services: Services, kind: str = "bank") -> str:
    return with_web_password(services, new_institution(services, kind), PASSWORD)


def _post_login(client, username: str, password: str, certificate: str | None = None):  # type: ignore[no-untyped-def]
    headers = {"X-SSL-Client-Cert": certificate} if certificate else {}
    return client.post(
        "/web/login",
        data={"username": username, "password": password, "csrf_token": csrf_token(client)},
        headers=headers,
        follow_redirects=False,
    )


def test_staff_need_the_password_and_their_own_certificate(client, services) -> None:  # type: ignore[no-untyped-def]
    username, other = _staff(services), _staff(services)
    # The right password without a certificate: refused, in the same words as a wrong password.
    alone = _post_login(client, username, PASSWORD)
    assert alone.status_code == 401 and "用户名或密码错误" in alone.text
    # Another staff member's certificate does not stand for this account.
    assert _post_login(client, username, PASSWORD, staff_certificate(services, other)).status_code == 401
    mine = staff_certificate(services, username)
    assert _post_login(client, username, "wrong-password", mine).status_code == 401
    assert _post_login(client, username, PASSWORD, mine).status_code == 303
    # The login page tells who the presented certificate names.
    page = client.get("/web/login", headers={"X-SSL-Client-Cert": mine}).text
    assert f"已出示数字证书：{username}" in page


def test_a_revoked_or_foreign_certificate_is_refused(client, services) -> None:  # type: ignore[no-untyped-def]
    username = _staff(services)
    with services.tx() as session:
        issued = issue_client_certificate(session, load_staff_ca(services.settings), username)
    header = quote(issued.certificate_pem)
    assert _post_login(client, username, PASSWORD, header).status_code == 303
    with services.tx() as session:
        revoke_certificate(session, issued.serial, "left the bank")
    client.cookies.clear()
    assert _post_login(client, username, PASSWORD, header).status_code == 401
    # Self-made, with the CA's name: the signature does not verify.
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, username)])
    ca_name = load_staff_ca(services.settings).certificate.subject
    forged = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(utcnow() - dt.timedelta(days=1))
        .not_valid_after(utcnow() + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    forged_pem = quote(forged.public_bytes(serialization.Encoding.PEM).decode())
    assert _post_login(client, username, PASSWORD, forged_pem).status_code == 401


def test_a_certificate_header_from_anyone_but_the_proxy_is_ignored(app, services) -> None:  # type: ignore[no-untyped-def]
    username = _staff(services)
    certificate = staff_certificate(services, username)
    with TestClient(app, client=("198.51.100.7", 40000)) as stranger:
        assert _post_login(stranger, username, PASSWORD, certificate).status_code == 401


def test_borrowers_and_the_api_login_keep_their_rules(client, services) -> None:  # type: ignore[no-untyped-def]
    username = _staff(services)
    # The API's password login is no way around the certificate either.
    r = client.post("/api/v1/auth/login", json={"username": username, "password": PASSWORD})
    assert r.status_code == 401
    r = client.post(
        "/api/v1/auth/login",
        json={"username": username, "password": PASSWORD},
        headers={"X-SSL-Client-Cert": staff_certificate(services, username)},
    )
    assert r.status_code == 200


def test_twelve_wrong_passwords_lock_the_account_and_the_right_one_waits(client, services) -> None:  # type: ignore[no-untyped-def]
    username = _staff(services)
    certificate = staff_certificate(services, username)
    answers = [_post_login(client, username, f"wrong-{i}-password", certificate) for i in range(12)]
    assert [a.status_code for a in answers[:4]] == [401] * 4
    assert {a.status_code for a in answers[4:]} == {429}
    assert "登录失败次数过多" in answers[-1].text and "北京时间" in answers[-1].text
    assert int(answers[-1].headers["Retry-After"]) <= 30
    # The right password during the lockout is not even looked at.
    right = _post_login(client, username, PASSWORD, certificate)
    assert right.status_code == 429
    # Once the wait is over the right password gets in, and the count starts again; the next failure
    # after that would wait twice as long as the first.
    with services.tx() as session:
        row = session.get(LoginThrottle, f"account:{username.lower()}")
        assert row is not None and row.failures == 5
        row.locked_until = utcnow() - dt.timedelta(seconds=1)
    assert _post_login(client, username, PASSWORD, certificate).status_code == 303
    with services.read() as session:
        assert session.get(LoginThrottle, f"account:{username.lower()}") is None


def test_one_address_trying_many_accounts_is_locked_out(app, services, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(services.settings, "login_failures_per_address", 6)
    username = _staff(services)
    certificate = staff_certificate(services, username)
    with TestClient(app, client=("203.0.113.9", 40000)) as sprayer:
        codes = [_post_login(sprayer, f"guess-{i}-user", "password-guess").status_code for i in range(8)]
        assert codes[:5] == [401] * 5 and codes[5:] == [429] * 3
        # A real account from that address waits too (its certificate is not believed from there anyway).
        assert _post_login(sprayer, username, PASSWORD, certificate).status_code == 429
    # The account itself is not locked for its holder elsewhere.
    with TestClient(app) as office:
        assert _post_login(office, username, PASSWORD, certificate).status_code == 303


def test_session_and_csrf_cookies_are_http_only_strict_and_secure_over_https(app, services) -> None:  # type: ignore[no-untyped-def]
    username = _staff(services)
    with TestClient(app, base_url="https://testserver") as secure:
        r = staff_web_login(secure, services, username, PASSWORD)
        assert r.status_code == 303
        session = next(c for c in r.headers.get_list("set-cookie") if c.startswith("fincredit_session="))
        assert "HttpOnly" in session and "SameSite=strict" in session and "Secure" in session
        page = secure.get("/web/login")
        csrf = [c for c in page.headers.get_list("set-cookie") if c.startswith("fincredit_csrf=")]
        assert not csrf  # set once, with the first page
    with TestClient(app) as plain:
        first = plain.get("/web/login")
        csrf = next(c for c in first.headers.get_list("set-cookie") if c.startswith("fincredit_csrf="))
        # Over plain HTTP (the one-machine demo) a Secure cookie would never come back: HttpOnly and strict.
        assert "HttpOnly" in csrf and "SameSite=Strict" in csrf and "Secure" not in csrf


def test_no_form_is_accepted_without_its_token(client, services) -> None:  # type: ignore[no-untyped-def]
    username = _staff(services)
    # No token, a token of another browser, an altered token: each refused with a page saying why.
    bare = client.post("/web/login", data={"username": username, "password": PASSWORD})
    assert bare.status_code == 403 and "表单已失效" in bare.text
    with TestClient(client.app) as elsewhere:
        foreign = csrf_token(elsewhere)
    assert _post_with(client, username, foreign).status_code == 403
    token = csrf_token(client)
    assert (
        _post_with(client, username, token[:-2] + ("AA" if not token.endswith("AA") else "BB")).status_code
        == 403
    )
    # After signing in, every state-changing page request needs it too.
    assert staff_web_login(client, services, username, PASSWORD).status_code == 303
    assert client.post("/web/logout", headers={"X-CSRF-Token": ""}).status_code == 403
    assert client.post("/web/logout", follow_redirects=False).status_code == 303


def _post_with(client, username: str, token: str):  # type: ignore[no-untyped-def]
    return client.post(
        "/web/login",
        data={"username": username, "password": PASSWORD, "csrf_token": token},
        headers={"X-SSL-Client-Cert": staff_certificate(client.app.state.services, username)},
        follow_redirects=False,
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.slow
def test_the_tls_handshake_carries_the_certificate_to_the_login(services, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """uvicorn serves HTTPS with the staff CA asking for client certificates (as `serve --tls` does); an
    HTTPS client holding one signs in, one without a certificate reaches the page but not the staff login."""
    from fincredit.platform.core.app import create_app
    from fincredit.platform.identity.tls import uvicorn_tls_options

    username = _staff(services)
    ca = load_staff_ca(services.settings)
    with services.tx() as session:
        issued = issue_client_certificate(session, ca, username)
    assert issued.private_key_pem is not None
    (tmp_path / "me.crt").write_text(issued.certificate_pem)
    (tmp_path / "me.key").write_text(issued.private_key_pem)
    cert_pem, key_pem = issue_server_certificate(ca, ["127.0.0.1"])
    (tmp_path / "server.crt").write_text(cert_pem)
    (tmp_path / "server.key").write_text(key_pem)
    settings = services.settings.model_copy(
        update={"tls_cert_file": tmp_path / "server.crt", "tls_key_file": tmp_path / "server.key"}
    )
    options = uvicorn_tls_options(settings)
    assert options["ssl_cert_reqs"] == ssl.CERT_OPTIONAL
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(services=services), host="127.0.0.1", port=port, log_level="warning", **options
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "TLS server did not start"
        time.sleep(0.05)
    url = f"https://127.0.0.1:{port}"
    try:
        ca_file = str(ca.cert_path)
        # An HTTPS client holding the staff member's certificate and key, trusting the staff CA.
        holding = ssl.create_default_context(cafile=ca_file)
        holding.load_cert_chain(str(tmp_path / "me.crt"), str(tmp_path / "me.key"))
        with httpx.Client(base_url=url, verify=holding) as holder:
            page = holder.get("/web/login")
            assert f"已出示数字证书：{username}" in page.text
            token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
            assert token is not None
            r = holder.post(
                "/web/login",
                data={"username": username, "password": PASSWORD, "csrf_token": token.group(1)},
                follow_redirects=False,
            )
            assert r.status_code == 303, r.text
            cookie = next(c for c in r.headers.get_list("set-cookie") if c.startswith("fincredit_session="))
            assert "Secure" in cookie and "HttpOnly" in cookie
            assert holder.get("/web/bank").status_code == 200
        with httpx.Client(base_url=url, verify=ssl.create_default_context(cafile=ca_file)) as anonymous:
            page = anonymous.get("/web/login")
            assert "本连接未出示数字证书" in page.text
            token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
            assert token is not None
            r = anonymous.post(
                "/web/login",
                data={"username": username, "password": PASSWORD, "csrf_token": token.group(1)},
                follow_redirects=False,
            )
            assert r.status_code == 401
            # A header pretending to carry the certificate is not the handshake.
            forged = anonymous.post(
                "/web/login",
                data={"username": username, "password": PASSWORD, "csrf_token": token.group(1)},
                headers={"X-SSL-Client-Cert": quote(issued.certificate_pem)},
                follow_redirects=False,
            )
            assert forged.status_code == 401
    finally:
        server.should_exit = True
        thread.join(timeout=10)
