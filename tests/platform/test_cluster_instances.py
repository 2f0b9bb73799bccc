"""Several service processes against one database behave as one: a policy or role change made through
one instance, through one worker, or by the CLI reaches every other process within a second; and
``fincredit serve --workers N`` comes up and becomes ready on this machine."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from fincredit.platform.core.services import Services
from fincredit.platform.testing.plugin import Institution, new_institution, obtain_token

FINCREDIT = str(Path(sys.executable).with_name("fincredit"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def _instance(services: Services, *, workers: int = 1, timeout: float = 240) -> Iterator[httpx.Client]:
    """``fincredit serve`` in its own process group on a free loopback port, sharing the test's database
    and keys (the instances of one deployment share both); yields a client once ``/ready`` answers 200."""
    port = _free_port()
    env = {
        **os.environ,
        "FINCREDIT_VAR_DIR": str(services.settings.var_dir),
        "FINCREDIT_DATABASE_URL": services.settings.resolved_database_url,
        "FINCREDIT_PUBLIC_URL": "http://testserver",
        "FINCREDIT_PUSH_WORKER": "0",
    }
    log = services.settings.var_dir / f"serve-{port}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [FINCREDIT, "serve", "--port", str(port), "--workers", str(workers)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
            deadline = time.monotonic() + timeout
            while True:
                assert proc.poll() is None, f"fincredit serve exited: {log.read_text()[-3000:]}"
                assert time.monotonic() < deadline, f"not ready within {timeout} s"
                try:
                    if http.get("/ready").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                time.sleep(0.5)
            yield http
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def _bearer(http: httpx.Client, inst: Institution) -> dict[str, str]:
    return {"Authorization": f"Bearer {obtain_token(http, inst)}"}


def _seconds_until(http: httpx.Client, headers: dict[str, str], status: int, *, within: float) -> float:
    """Seconds until ``/api/v1/me`` answers ``status`` (checked every 20 ms), failing after ``within``."""
    started = time.monotonic()
    while True:
        if http.get("/api/v1/me", headers=headers).status_code == status:
            return time.monotonic() - started
        assert time.monotonic() - started < within, f"still not {status} after {within} s"
        time.sleep(0.02)


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_a_role_removed_through_one_instance_is_refused_by_the_other_within_a_second(
    services: Services,
) -> None:
    bank = new_institution(services, "bank")
    operator = new_institution(services, "platform_operator")
    with _instance(services) as first, _instance(services) as second:
        as_bank = _bearer(first, bank)
        assert second.get("/api/v1/me", headers=as_bank).status_code == 200  # cached as allowed there

        removed = first.post(
            f"/api/v1/accounts/{bank.account_id}/roles/remove",
            headers=_bearer(first, operator),
            json={"role": "bank"},
        )
        assert removed.status_code == 204
        assert _seconds_until(second, as_bank, 403, within=1.0) < 1.0

        # The CLI changes roles in its own process, as this test process does here.
        with services.tx() as session:
            services.authz.assign_role(session, bank.account_id, "bank", bank.org_id)
        assert _seconds_until(first, as_bank, 200, within=1.0) < 1.0
        assert _seconds_until(second, as_bank, 200, within=1.0) < 1.0


@pytest.mark.slow
@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_serve_with_two_workers_becomes_ready_and_every_worker_sees_a_role_change(
    services: Services,
) -> None:
    bank = new_institution(services, "bank")
    with _instance(services, workers=2) as http:
        as_bank = _bearer(http, bank)
        for _ in range(10):  # requests spread over both workers; each caches the decision
            assert http.get("/api/v1/me", headers=as_bank).status_code == 200
        with services.tx() as session:
            services.authz.remove_role(session, bank.account_id, "bank", bank.org_id)
        time.sleep(1.0)
        assert {http.get("/api/v1/me", headers=as_bank).status_code for _ in range(20)} == {403}
