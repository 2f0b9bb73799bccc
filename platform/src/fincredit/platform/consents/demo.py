"""Demo steps of the consent ledger (appended to ``demo.STEPS``): a bank asks an enterprise for consent,
its authorised person approves, downloads the signed receipt and later revokes; the bank's next access is
refused and the refusal ledgered; the regulator verifies the exported log offline."""

from __future__ import annotations

import datetime as dt
import tempfile
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
        refusal = "NOT refused (unexpected)"
    except ConsentRefused as exc:
        refusal = f"403 {exc.extensions['reason']}, ledgered as entry {exc.extensions['ledger_seq']}"
    check = f"check allowed={answer['allowed']} ({answer['reason']})"
    return f"consent {r.json()['state']}; {check}; access {refusal}"


def step_ledger_verify(ctx: DemoContext) -> str:
    """The regulator exports the ledger (Parquet) and verifies it OFFLINE with fincredit.consent against
    the signed checkpoint and the platform's public key; the borrower sees each access with a proof."""
    note = ctx.http.get("/api/v1/ledger/checkpoint").text
    export = ctx.http.get("/api/v1/ledger/export", headers=ctx.as_("regulator"), params={"format": "parquet"})
    export.raise_for_status()
    verifier = NoteVerifier.from_vkey(ctx.http.get("/api/v1/ledger/public-key").json()["vkey"])
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "ledger.parquet"
        path.write_bytes(export.content)
        checkpoint = open_checkpoint(note, verifier, ctx.services.settings.ledger_origin)
        report = verify_log(read_export(path), [("checkpoint", checkpoint)])
    accesses = ctx.http.get("/api/v1/me/accesses", headers=_borrower(ctx)).json()
    proved = sum(1 for i in accesses["items"] if i["inclusion_proof"])
    return (
        f"{report.entries} entries, checkpoint size {checkpoint.size}: {report.lines()[-1]}; "
        f"the borrower sees {len(accesses['items'])} entries about them, {proved} with inclusion proofs"
    )


CONSENT_STEPS = [
    ("A bank requests a consent", step_consent_request),
    ("The borrower approves", step_consent_approve),
    ("The bank's consent check", step_consent_check),
    ("The signed consent receipt", step_consent_receipt),
    ("Revocation, and the refused access on the ledger", step_consent_revoke),
    ("The regulator verifies the ledger offline", step_ledger_verify),
]
