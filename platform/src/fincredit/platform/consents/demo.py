"""Demo steps of the consent ledger (appended to ``demo.STEPS``): a bank asks an enterprise for consent,
its authorised person approves, downloads the signed receipt and later revokes; the bank's next access is
refused and the refusal ledgered; the regulator verifies the exported log offline."""

from __future__ import annotations

import datetime as dt
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from fincredit.consent import NoteVerifier, open_checkpoint, read_export, verify_log, verify_receipt
from fincredit.platform.consents import authorize_access
from fincredit.platform.core.errors import ConsentRefused
from fincredit.platform.identity.principal import Principal

if TYPE_CHECKING:
    from fincredit.platform.demo.context import DemoContext

_BORROWER = ("consent-owner-01", "demo-password-2026")
_PURPOSE = "loan_application_assessment"


def _borrower(ctx: DemoContext) -> dict[str, str]:
    headers: dict[str, str] | None = ctx.data.get("consent_borrower")
    if headers is None:
        username, password = _BORROWER
        r = ctx.http.post("/api/v1/auth/login", json={"username": username, "password": password})
        r.raise_for_status()
        headers = {"Authorization": f"Bearer {r.json()['access_token']}"}
        ctx.data["consent_borrower"] = headers
    return headers


def _check(ctx: DemoContext) -> dict[str, object]:
    body = {
        "identifier": ctx.data["enterprises"][1],
        "scopes": ["tax.payment"],
        "purpose": _PURPOSE,
        "mode": "query",
    }
    r = ctx.http.post("/api/v1/consents/check", headers=ctx.as_("bank"), json=body)
    r.raise_for_status()
    result: dict[str, object] = r.json()
    return result


def step_consent_request(ctx: DemoContext) -> str:
    """The operator registers the enterprise's authorised person (real name); the bank asks the
    enterprise for a consent: loan assessment, tax and court records, query/report, 10 uses a day."""
    code = ctx.data["enterprises"][1]
    username, password = _BORROWER
    ctx.http.post(
        "/api/v1/borrower-accounts",
        headers=ctx.as_("operator"),
        json={"username": username, "real_name": "孙法人", "password": password, "identifier": code},
    ).raise_for_status()
    until = dt.datetime.now(dt.UTC) + dt.timedelta(days=90)
    r = ctx.http.post(
        "/api/v1/consents",
        headers=ctx.as_("bank"),
        json={
            "identifier": code,
            "purpose": _PURPOSE,
            "purpose_text": "评估流动资金贷款申请",
            "scopes": ["tax", "court"],
            "modes": ["query", "report"],
            "valid_until": until.isoformat(),
            "fetch_type": "PERIODIC",
            "frequency": {"value": 10, "unit": "DAY"},
            "data_life": {"value": 1, "unit": "YEAR"},
        },
    )
    r.raise_for_status()
    ctx.data["consent_id"] = r.json()["id"]
    return f"consent {r.json()['id']} for {r.json()['subject']}: {r.json()['state']}"


def step_consent_approve(ctx: DemoContext) -> str:
    """The authorised person logs in, sees the request and approves it (one call)."""
    me = _borrower(ctx)
    pending = ctx.http.get("/api/v1/me/consents", headers=me, params={"state": "PENDING"}).json()["items"]
    r = ctx.http.post(f"/api/v1/me/consents/{ctx.data['consent_id']}/approve", headers=me)
    r.raise_for_status()
    return f"{len(pending)} pending request(s); {r.json()['id']} is now {r.json()['state']}"


def step_consent_check(ctx: DemoContext) -> str:
    """The bank asks: may I query the tax payments of this enterprise for loan assessment now?"""
    answer = _check(ctx)
    left = answer["remaining_in_period"]
    return f"allowed={answer['allowed']} under {answer['consent_id']} ({left} uses left today)"


def step_consent_receipt(ctx: DemoContext) -> str:
    """The borrower downloads the consent receipt (ISO/IEC TS 27560) and verifies the platform's signature."""
    r = ctx.http.get(f"/api/v1/me/consents/{ctx.data['consent_id']}/receipt", headers=_borrower(ctx))
    r.raise_for_status()
    pem = ctx.http.get("/api/v1/ledger/public-key").json()["public_key_pem"]
    key = load_pem_public_key(pem.encode())
    assert isinstance(key, Ed25519PublicKey)
    receipt = verify_receipt(r.json()["jws"], key)
    return f"receipt {receipt['receipt_id']} signature verified: {receipt['event']['event_type']}, " + (
        f"recipient {receipt['purposes'][0]['pii_recipients'][0]['id']}"
    )


def step_consent_revoke(ctx: DemoContext) -> str:
    """The borrower revokes (one call). The bank's next check is refused, and an actual access through
    authorize_access (what every disclosure route calls) is refused and the refusal ledgered."""
    r = ctx.http.post(f"/api/v1/me/consents/{ctx.data['consent_id']}/revoke", headers=_borrower(ctx))
    r.raise_for_status()
    answer = _check(ctx)
    refused = _bank_query(ctx)
    refusal = (
        "NOT refused (unexpected)"
        if refused is None
        else f"403 {refused.extensions['reason']}, ledgered as entry {refused.extensions['ledger_seq']}"
    )
    check = f"check allowed={answer['allowed']} ({answer['reason']})"
    return f"consent {r.json()['state']}; {check}; access {refusal}"


def _bank_query(ctx: DemoContext) -> ConsentRefused | None:
    """The bank's query about the demo enterprise under the (revoked) consent, through the access gate:
    the refusal it gets, ledgered, or None if it was let through."""
    bank = ctx.actors["bank"]
    principal = Principal(bank.account_id, "institution", bank.org_id, "bank", bank.org_id)
    try:
        with ctx.services.tx() as session:
            authorize_access(
                session,
                ctx.services,
                principal=principal,
                subject=ctx.data["enterprises"][1],
                scopes=["tax.payment"],
                purpose=_PURPOSE,
                mode="query",
                route="demo:/api/v1/credit-info",
            )
    except ConsentRefused as exc:
        return exc
    return None


def _start_witness(key_file: Path, state_file: Path, log_vkey: str) -> tuple[str, str]:
    """The regulator's witness server on a loopback port, in a thread of this process (it stops with the
    demo): the same ``Witness`` and HTTP app as ``fincredit-consent witness serve``. Returns URL and vkey."""
    import socket
    import threading

    import uvicorn
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import (
        Encoding,
        NoEncryption,
        PrivateFormat,
        load_pem_private_key,
    )

    from fincredit.consent import CosignatureSigner, SqliteWitnessState, Witness, witness_app

    if not key_file.exists():  # the witness keeps its key (and its state) across runs, as a real one does
        key_file.parent.mkdir(parents=True, exist_ok=True)
        pem = Ed25519PrivateKey.generate().private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
        key_file.touch(mode=0o600)
        key_file.write_bytes(pem)
    private = load_pem_private_key(key_file.read_bytes(), None)
    assert isinstance(private, Ed25519PrivateKey)
    signer = CosignatureSigner(_WITNESS_NAME, private)
    log = NoteVerifier.from_vkey(log_vkey)
    witness = Witness(signer, {log.name: [log]}, SqliteWitnessState(state_file))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    config = uvicorn.Config(witness_app(witness), host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    threading.Thread(target=server.run, name="regulator-witness", daemon=True).start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("the regulator's witness did not start")
        time.sleep(0.05)
    return f"http://127.0.0.1:{port}", signer.verifier.vkey()


_WITNESS_NAME = "witness.regulator.fincredit.demo/w1"


def step_regulator_witness(ctx: DemoContext) -> str:
    """The regulator's organisation runs a witness (C2SP tlog-witness) with its own Ed25519 key; the
    platform's operator adds it to the ledger's witnesses (FINCREDIT_LEDGER_WITNESSES, here at run time)
    with a quorum of 1. The platform submits its checkpoint with a consistency proof from the size the
    witness last co-signed; the published checkpoint carries the cosignature, which the regulator checks
    against its policy (its own witness key, 1 of 1) — and so does every borrower's verify button."""
    from fincredit.consent import CosignatureVerifier, WitnessPolicy
    from fincredit.platform.core.settings import LedgerWitnessSetting

    services = ctx.services
    keys = ctx.http.get("/api/v1/ledger/public-key").json()
    folder = services.settings.var_dir / "regulator-witness"
    url, vkey = _start_witness(folder / "witness.pem", folder / "state.sqlite", keys["vkey"])
    services.settings = services.settings.model_copy(
        update={"ledger_witnesses": [LedgerWitnessSetting(url=url, vkey=vkey)], "ledger_witness_quorum": 1}
    )
    first = ctx.http.get("/api/v1/ledger/checkpoint").text
    # The log grows (the bank tries the revoked consent again: refused, and the refusal ledgered); the next
    # checkpoint is co-signed only with a proof that it extends the one the witness holds.
    _bank_query(ctx)
    note = ctx.http.get("/api/v1/ledger/checkpoint").text
    verifier = NoteVerifier.from_vkey(keys["vkey"])
    policy = WitnessPolicy([CosignatureVerifier.from_vkey(vkey)], quorum=1)
    sizes = []
    for text in (first, note):
        checkpoint = open_checkpoint(text, verifier, services.settings.ledger_origin)
        cosigned = policy.check(text)
        sizes.append(f"{checkpoint.size} (co-signed at {cosigned[0].timestamp})")
    published = ctx.http.get("/api/v1/ledger/public-key").json()
    assert published["witnesses"] == [vkey] and published["witness_quorum"] == 1
    ctx.data["regulator_witness_vkey"] = vkey
    return (
        f"witness {_WITNESS_NAME} at {url}; checkpoints of sizes {' then '.join(sizes)} verified with "
        f"the policy 1 of [{vkey.split('+')[1]}]; the public-key document names it for the verify button"
    )


def step_ledger_verify(ctx: DemoContext) -> str:
    """The regulator exports the ledger (Parquet) and verifies it OFFLINE with fincredit.consent against
    the signed checkpoint, the platform's public key and its witness policy (its own witness, 1 of 1), and
    replays every consent from the log alone (each access covered by a grant active at its moment); the
    platform's self-check runs the same replay and compares the consents table (the regulator's ledger
    page shows it, with the witnesses' last co-signed sizes); the borrower sees each access with a proof."""
    from fincredit.consent import CosignatureVerifier, WitnessPolicy, replay_authorisation
    from fincredit.platform.consents import run_self_check

    note = ctx.http.get("/api/v1/ledger/checkpoint").text
    export = ctx.http.get("/api/v1/ledger/export", headers=ctx.as_("regulator"), params={"format": "parquet"})
    export.raise_for_status()
    verifier = NoteVerifier.from_vkey(ctx.http.get("/api/v1/ledger/public-key").json()["vkey"])
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "ledger.parquet"
        path.write_bytes(export.content)
        checkpoint = open_checkpoint(note, verifier, ctx.services.settings.ledger_origin)
        witness = ctx.data.get("regulator_witness_vkey")
        cosigned = "no witness policy"
        if witness is not None:
            WitnessPolicy([CosignatureVerifier.from_vkey(witness)], quorum=1).check(note)
            cosigned = "co-signed by the regulator's witness (policy 1 of 1)"
        report = verify_log(read_export(path), [("checkpoint", checkpoint)])
        replay, _ = replay_authorisation(read_export(path))
    check = run_self_check(ctx.services)
    accesses = ctx.http.get("/api/v1/me/accesses", headers=_borrower(ctx)).json()
    proved = sum(1 for i in accesses["items"] if i["inclusion_proof"])
    return (
        f"{report.entries} entries, checkpoint size {checkpoint.size}, {cosigned}: {report.lines()[-1]}; "
        f"authorisation replay: {replay.accesses} accesses, {replay.violation_count} violations; "
        f"self-check {'ok' if check.ok else 'FAILED'} ({check.differences} table/log differences); "
        f"the borrower sees {len(accesses['items'])} entries about them, {proved} with inclusion proofs"
    )


CONSENT_STEPS = [
    ("A bank requests a consent", step_consent_request),
    ("The borrower approves", step_consent_approve),
    ("The bank's consent check", step_consent_check),
    ("The signed consent receipt", step_consent_receipt),
    ("Revocation, and the refused access on the ledger", step_consent_revoke),
    ("The regulator's organisation runs a witness of the ledger", step_regulator_witness),
    ("The regulator verifies the ledger offline", step_ledger_verify),
]
