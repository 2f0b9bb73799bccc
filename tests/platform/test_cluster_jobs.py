"""Two ``fincredit serve`` instances on two loopback ports against one PostgreSQL database behave as one
platform: a joint-modelling job created through one continues through whichever instance each frame
reaches (a round-robin balancer in front, as nginx does), and continues through the survivor when one
instance is killed, even in the middle of a frame; a consent revoked through one refuses the very next
query on the other. (A role removed through one and refused by the other within a second:
``test_cluster_instances.py``.)"""

from __future__ import annotations

import datetime as dt
import itertools
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from fincredit.consent.identifiers import generate_uscc
from fincredit.federation import JointModel, LogisticParams, PlatformConnection
from fincredit.federation.training import SecureBoostParams
from fincredit.platform.core.services import Services
from fincredit.platform.identity.accounts import create_borrower_account
from fincredit.platform.metered.joint_lab.seed import (
    BANK_FEATURES,
    PLATFORM_FEATURES,
    SCOPES,
    entitle,
    seed_joint_setting,
)
from fincredit.platform.subjects import register_subject
from fincredit.platform.testing.plugin import Institution, new_institution, obtain_token, unique
from fincredit.platform.testing.seed import load_records

pytestmark = [
    pytest.mark.slow,
    pytest.mark.postgres,
    pytest.mark.parametrize("db_url", ["postgresql"], indirect=True),
]

FINCREDIT = str(Path(sys.executable).with_name("fincredit"))
PRODUCTS = ("market.joint_modelling", "market.encrypted_scoring")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Instance:
    url: str
    proc: subprocess.Popen[bytes]
    http: httpx.Client

    def kill(self) -> None:
        """SIGKILL, as a crash or an OOM kill would: nothing is cleaned up."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


@contextmanager
def _instance(services: Services, *, timeout: float = 240) -> Iterator[Instance]:
    """``fincredit serve`` in its own process group on a free loopback port, sharing the test's database,
    keys and federation store (the instances of one deployment share all three)."""
    port = _free_port()
    env = {
        **os.environ,
        "FINCREDIT_VAR_DIR": str(services.settings.var_dir),
        "FINCREDIT_DATABASE_URL": services.settings.resolved_database_url,
        "FINCREDIT_FEDERATION_STORE_DIR": str(services.settings.resolved_federation_store),
        "FINCREDIT_PUBLIC_URL": "http://testserver",
        "FINCREDIT_PUSH_WORKER": "0",
    }
    log = services.settings.var_dir / f"serve-{port}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [FINCREDIT, "serve", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=url, timeout=60) as http:
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
            yield Instance(url, proc, http)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


@dataclass
class Balancer(httpx.BaseTransport):
    """Round-robin over the instances, passing a request to the next one when an instance refuses the
    connection or drops it mid-request — nginx's ``proxy_next_upstream error timeout non_idempotent``,
    which the frames location of infra/nginx-fincredit.conf sets (a retried frame is answered once: the
    platform replays its recorded answer). ``before(n, instance)`` runs before the n-th request."""

    instances: list[Instance]
    before: Callable[[int, Instance], None] | None = None
    served: list[str] = field(default_factory=list)
    _next: Iterator[int] = field(default_factory=itertools.count)
    _inner: httpx.HTTPTransport = field(default_factory=lambda: httpx.HTTPTransport(retries=0))

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        n = next(self._next)
        body = request.read()
        errors: list[Exception] = []
        for k in range(len(self.instances)):
            target = self.instances[(n + k) % len(self.instances)]
            if k == 0 and self.before is not None:
                self.before(n, target)
            url = httpx.URL(target.url).join(request.url.raw_path.decode())
            upstream = httpx.Request(request.method, url, headers=request.headers, content=body)
            try:
                response = self._inner.handle_request(upstream)
                response.read()
            except (httpx.ConnectError, httpx.ReadError, httpx.RemoteProtocolError) as exc:
                errors.append(exc)
                continue
            self.served.append(target.url)
            return httpx.Response(response.status_code, headers=response.headers, content=response.content)
        raise httpx.ConnectError(f"no instance answered: {errors}")


def _job(http: httpx.Client, headers: dict[str, str], algorithm: str) -> str:
    r = http.post(
        "/api/v1/joint-lab/jobs",
        headers=headers,
        json={
            "purpose": "SME working-capital scorecard",
            "algorithm": algorithm,
            "catalog_items": list(SCOPES),
            "platform_features": list(PLATFORM_FEATURES),
        },
    )
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def _fit(balancer: Balancer, token: str, setting, job_id: str, algorithm: str):  # type: ignore[no-untyped-def]
    with PlatformConnection("http://balancer", token, timeout=300, transport=balancer) as conn:
        return JointModel(
            conn,
            logistic=LogisticParams(iterations=4),
            secureboost=SecureBoostParams(n_trees=2, max_depth=2, min_data_in_leaf=20),
            progress=False,
        ).fit(
            setting.bank,
            id_column="uscc",
            label="default",
            features=list(BANK_FEATURES),
            platform_features=list(PLATFORM_FEATURES),
            algorithm=algorithm,
            job_id=job_id,
            align=True,
            scopes=list(SCOPES),
        )


def test_a_job_continues_through_either_instance_and_through_the_survivor_of_a_kill(
    services: Services,
) -> None:
    bank = new_institution(services, "bank")
    entitle(services, bank.org_id, PRODUCTS)
    setting = seed_joint_setting(services, bank.org_id, n=160, seed=3)
    with ExitStack() as stack:
        first = stack.enter_context(_instance(services))
        second = stack.enter_context(_instance(services))
        token = obtain_token(first.http, bank)
        headers = {"Authorization": f"Bearer {token}"}

        # Created through the first; every other frame reaches the second.
        job_id = _job(first.http, headers, "logistic")
        balancer = Balancer([first, second])
        fit = _fit(balancer, token, setting, job_id, "logistic")
        assert {first.url, second.url} <= set(balancer.served)
        assert (
            second.http.get(f"/api/v1/joint-lab/jobs/{job_id}", headers=headers).json()["state"] == "trained"
        )
        done = second.http.post(
            f"/api/v1/joint-lab/jobs/{job_id}/complete",
            headers=headers,
            json={"evaluation": {**fit.report.to_dict(), "params": fit.params}},
        )
        assert done.status_code == 200, done.text
        assert done.json()["aligned"] == fit.report.rows_train + fit.report.rows_test
        assert not (services.settings.resolved_federation_store / job_id).exists()  # its secrets went

        # The first instance is killed in the middle of the tenth frame of a tree job (after the PSI):
        # the frame passes to the second, which continues the job from its last recorded step.
        tree_job = _job(second.http, headers, "secureboost")

        def kill_first_mid_frame(n: int, target: Instance) -> None:
            if n == 10 and target is first:
                threading.Timer(0.05, first.kill).start()

        balancer = Balancer([first, second], before=kill_first_mid_frame)
        tree = _fit(balancer, token, setting, tree_job, "secureboost")
        assert first.proc.poll() is not None
        state = second.http.get(f"/api/v1/joint-lab/jobs/{tree_job}", headers=headers).json()
        assert (
            state["state"] == "trained" and state["aligned"] == tree.report.rows_train + tree.report.rows_test
        )
        assert balancer.served[-1] == second.url and tree.report.auc_joint > 0.5


def _borrower(services: Services, http: httpx.Client) -> tuple[str, int, dict[str, str]]:
    code = generate_uscc(random.Random(uuid.uuid4().int), "330212")
    username, password = unique("borrower"), "correct horse battery"
    with services.tx() as session:
        subject = register_subject(session, services.keyring, code, f"宁波{username}有限公司")
        create_borrower_account(
            session,
            services.authz,
            username=username,
            real_name="王法人",
            password=password,
            subject_id=subject.id,
        )
        subject_id = subject.id
    r = http.post("/api/v1/auth/login", json={"username": username, "password": password})
    assert r.status_code == 200, r.text
    return code, subject_id, {"Authorization": f"Bearer {r.json()['access_token']}"}


def _bearer(http: httpx.Client, inst: Institution) -> dict[str, str]:
    return {"Authorization": f"Bearer {obtain_token(http, inst)}"}


def test_a_consent_revoked_through_one_instance_refuses_the_next_query_on_the_other(
    services: Services,
) -> None:
    bank = new_institution(services, "bank")
    with _instance(services) as first, _instance(services) as second:
        code, _, borrower = _borrower(services, first.http)
        load_records(
            services,
            "tax_rating",
            code,
            [
                {
                    "provider_record_id": f"T-{code}",
                    "rating_year": 2025,
                    "rating": "A",
                    "rated_date": "2025-04-01",
                }
            ],
        )
        as_bank = _bearer(first.http, bank)
        asked = first.http.post(
            "/api/v1/consents",
            headers=as_bank,
            json={
                "identifier": code,
                "purpose": "loan_application_assessment",
                "scopes": ["tax_rating"],
                "modes": ["query", "report"],
                "valid_until": (dt.datetime.now(dt.UTC) + dt.timedelta(days=30)).isoformat(),
                "fetch_type": "PERIODIC",
                "frequency": {"value": 100, "unit": "DAY"},
                "data_life": {"value": 1, "unit": "YEAR"},
            },
        )
        assert asked.status_code == 201, asked.text
        consent = asked.json()["id"]
        assert first.http.post(f"/api/v1/me/consents/{consent}/approve", headers=borrower).status_code == 200
        query = {"identifier": code, "items": [{"code": "tax_rating"}]}
        for _ in range(3):  # the second instance has answered (and cached what it may) before the revocation
            assert second.http.post("/api/v1/free/query", headers=as_bank, json=query).status_code == 200

        assert first.http.post(f"/api/v1/me/consents/{consent}/revoke", headers=borrower).status_code == 200
        refused = second.http.post("/api/v1/free/query", headers=as_bank, json=query)
        assert refused.status_code == 403 and refused.json()["reason"] == "revoked", refused.text
