"""Outside witnesses co-sign the ledger's checkpoints: each new signed checkpoint goes to every configured
witness (a real ``fincredit-consent`` witness over HTTP here) with a consistency proof from the size it
last co-signed, and the checkpoint the platform publishes carries the cosignatures, so a reader holding
the witnesses' keys (a ``WitnessPolicy``) accepts it. The public key document names the witnesses and the
quorum the browser's verifier asks for. A witness that cannot be reached costs readers nothing: the
checkpoint is still published, and the failure is kept for the regulator."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import uvicorn
from fastapi.testclient import TestClient

from fincredit.consent import (
    Checkpoint,
    CosignatureSigner,
    EntryType,
    LedgerEntry,
    NoteVerifier,
    SqliteWitnessState,
    Witness,
    WitnessPolicy,
    format_time,
    open_note,
    witness_app,
)
from fincredit.platform.consents import append, note_signer
from fincredit.platform.consents._witnesses import witness_statuses
from fincredit.platform.core.db import utcnow
from fincredit.platform.core.services import Services, build_services
from fincredit.platform.core.settings import LedgerWitnessSetting
from fincredit.platform.testing.plugin import (
    make_settings,
    new_institution,
    staff_web_login,
    with_web_password,
)

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Witnessed:
    services: Services
    client: TestClient
    signer: CosignatureSigner
    state: SqliteWitnessState
    dead: CosignatureSigner


@pytest.fixture(scope="module")
def witnessed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Witnessed]:
    from fincredit.platform.core.app import create_app

    tmp: Path = tmp_path_factory.mktemp("witnessed")
    port = _free_port()
    signer = CosignatureSigner.generate("witness.regulator.test/w1")
    dead = CosignatureSigner.generate("witness.court.test/w1")  # configured, never running
    settings = make_settings(tmp / "var", f"sqlite:///{tmp / 'platform.db'}")
    settings.ledger_checkpoint_every = 4
    settings.ledger_witnesses = [
        LedgerWitnessSetting(url=f"http://127.0.0.1:{port}", vkey=signer.verifier.vkey()),
        LedgerWitnessSetting(url=f"http://127.0.0.1:{_free_port()}", vkey=dead.verifier.vkey()),
    ]
    settings.ledger_witness_quorum = 1
    settings.ledger_witness_timeout = 2.0
    services = build_services(settings)
    platform_key: NoteVerifier = note_signer(services).verifier
    state = SqliteWitnessState(tmp / "witness.db")
    witness = Witness(signer, {settings.ledger_origin: [platform_key]}, state)
    server = uvicorn.Server(
        uvicorn.Config(witness_app(witness), host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "the witness did not start"
        time.sleep(0.02)
    try:
        yield Witnessed(services, TestClient(create_app(services=services)), signer, state, dead)
    finally:
        server.should_exit = True
        thread.join(10)
        state.close()
        services.close()


def _append(services: Services, n: int) -> None:
    now = format_time(utcnow())
    with services.tx() as session:
        append(
            session,
            services,
            [
                lambda seq: LedgerEntry(
                    seq=seq, type=EntryType.REFUSAL, at=now, actor="test", reason="no_consent"
                )
                for _ in range(n)
            ],
        )


def _size(w: Witnessed, note: str) -> int:
    """The size of a checkpoint the platform's key signed (the cosignature lines do not disturb that)."""
    return Checkpoint.parse_body(open_note(note, [note_signer(w.services).verifier])).size


def _published(w: Witnessed) -> str:
    r = w.client.get("/api/v1/ledger/checkpoint")
    assert r.status_code == 200, r.text
    return r.text


def test_the_published_checkpoint_carries_a_valid_cosignature_of_each_new_tree(witnessed: Witnessed) -> None:
    w = witnessed
    policy = WitnessPolicy([w.signer.verifier], quorum=1)
    _append(w.services, 10)
    first = _published(w)
    assert _size(w, first) == 10
    [cosignature] = policy.check(first)
    assert cosignature.name == "witness.regulator.test/w1"

    # The tree grows: the witness checks the consistency proof from 10 and co-signs the larger tree.
    _append(w.services, 7)
    second = _published(w)
    assert _size(w, second) == 17
    policy.check(second)
    held = w.state.held(w.services.settings.ledger_origin)
    assert held is not None and held[0] == 17
    # Checkpoints signed along the way stay readable with the cosignatures they got.
    old = w.client.get("/api/v1/ledger/checkpoint", params={"size": 10}).text
    assert old == first


def test_the_public_key_document_names_the_witnesses_and_the_quorum(witnessed: Witnessed) -> None:
    doc = witnessed.client.get("/api/v1/ledger/public-key").json()
    assert doc["witnesses"] == [witnessed.signer.verifier.vkey(), witnessed.dead.verifier.vkey()]
    assert doc["witness_quorum"] == 1


def test_an_unreachable_witness_is_recorded_and_does_not_hold_the_checkpoint_back(
    witnessed: Witnessed,
) -> None:
    w = witnessed
    _append(w.services, 5)
    note = _published(w)
    with pytest.raises(Exception, match="co-signed by 0"):
        WitnessPolicy([w.dead.verifier], quorum=1).check(note)
    statuses = {s.name: s for s in witness_statuses(w.services)}
    live, down = statuses["witness.regulator.test/w1"], statuses["witness.court.test/w1"]
    assert live.size == _size(w, note) and live.error is None
    assert down.size is None and down.error is not None and "unreachable" in down.error


def test_the_regulators_status_page_shows_each_witness_and_the_size_it_last_co_signed(
    witnessed: Witnessed,
) -> None:
    w = witnessed
    _append(w.services, 3)
    size = _size(w, _published(w))
    regulator = new_institution(w.services, "regulator")
    username = with_web_password(w.services, regulator, "staff-pass-2026")
    w.client.cookies.clear()
    login = staff_web_login(w.client, w.services, username, "staff-pass-2026")
    assert login.status_code == 303, login.text
    page = w.client.get("/web/regulator/status", params={"lang": "en"}).text
    table = page[page.index('id="witnesses"') :]
    live = table[table.index("witness.regulator.test/w1") :]
    assert f"<td>{size}</td>" in live[: live.index("</tr>")]
    down = table[table.index("witness.court.test/w1") :]
    assert "unreachable" in down[: down.index("</tr>")]
    assert "self-check" in page  # the last replay's place, empty until it has run
