"""A live server on 127.0.0.1 (uvicorn in a thread, SQLite) and Debian's Chromium driven by Playwright.

The browser is the system package installed by scripts/system-deps.sh — never a Playwright download."""

from __future__ import annotations

import shutil
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import uvicorn

from fincredit.platform.core.services import Services, build_services
from fincredit.platform.core.settings import Settings
from fincredit.platform.testing.plugin import Institution, new_institution, with_web_password

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@dataclass
class LiveServer:
    url: str
    services: Services


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    from fincredit.platform.core.app import create_app

    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    var = tmp_path_factory.mktemp("browser-var")
    settings = Settings(
        var_dir=var,
        database_url=f"sqlite:///{var / 'fincredit.db'}",
        public_url=url,
        host="127.0.0.1",
        port=port,
        # Playwright stands in for the TLS-terminating proxy: it sends the client-certificate header
        # (login(), below); the real handshake is tested in tests/platform/test_staff_login.py.
        trusted_proxies=["127.0.0.1"],
        _env_file=None,
    )  # type: ignore[call-arg]
    services = build_services(settings)
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings, services), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "live server did not start"
        time.sleep(0.05)
    yield LiveServer(url, services)
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="session")
def browser(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(
            "Debian chromium is missing: scripts/system-deps.sh chromium installs it (make test does)"
        )
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        profile = tmp_path_factory.mktemp("chromium-profile")
        context = p.chromium.launch_persistent_context(
            str(profile),
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 390, "height": 844},
            locale="zh-CN",
        )
        yield context
        context.close()


@pytest.fixture
def page(browser):  # type: ignore[no-untyped-def]
    browser.clear_cookies()
    pg = browser.new_page()
    yield pg
    pg.close()


def shot(page, name: str) -> None:  # type: ignore[no-untyped-def]
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


STAFF_PASSWORD = "browser-pass-2026"


def staff(live: LiveServer, kind: str, **registration: str) -> tuple[Institution, str]:
    """A new institution of ``kind`` whose account has a web password; returns it and its username."""
    inst = new_institution(live.services, kind, **registration)
    return inst, with_web_password(live.services, inst, STAFF_PASSWORD)


def login(page, live: LiveServer, username: str, password: str = STAFF_PASSWORD) -> None:  # type: ignore[no-untyped-def]
    """Sign in through the form. Institution staff also present a client certificate issued to them (R§18),
    passed on every request as the TLS-terminating proxy passes it."""
    from sqlalchemy import select

    from fincredit.platform.core.db import Account
    from fincredit.platform.testing.plugin import staff_certificate

    with live.services.read() as session:
        kind = session.scalar(select(Account.kind).where(Account.username == username))
    if kind == "institution":
        page.set_extra_http_headers({"X-SSL-Client-Cert": staff_certificate(live.services, username)})
    else:
        page.set_extra_http_headers({})
    page.goto(f"{live.url}/web/login")
    page.get_by_label("用户名").fill(username)
    page.get_by_label("密码").fill(password)
    page.get_by_role("button", name="登录").click()
    page.wait_for_load_state()
