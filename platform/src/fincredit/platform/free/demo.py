"""Demo steps of the free services (appended to ``demo.STEPS``): the bank queries an enterprise under
its consent (allowed and ledgered), prints its credit report as a PDF that anyone can verify, and
receives a signed webhook when the tax bureau loads a changed rating."""

from __future__ import annotations

import base64
import datetime as dt
import io
import json
import time
from typing import TYPE_CHECKING

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from pypdf import PdfReader

from fincredit.platform.free import verify_webhook
from fincredit.platform.free.receiver import WebhookReceiver
from fincredit.platform.testing.seed import load_records

if TYPE_CHECKING:
    from fincredit.platform.demo.context import DemoContext

_BORROWER = ("free-services-owner", "demo-password-2026")
_SCOPES = ["tax_rating", "admin_penalty", "market_registration"]


def _rating(ctx: DemoContext, rating: str) -> None:
    code = ctx.data["free_enterprise"]
    load_records(
        ctx.services,
        "tax_rating",
        code,
        [
            {
                "provider_record_id": "NB-TAX-2025-0001",
                "rating_year": 2025,
                "rating": rating,
                "rated_date": "2025-04-01",
            }
        ],
    )


def _consent(ctx: DemoContext, borrower: dict[str, str], purpose: str, modes: list[str]) -> str:
    until = dt.datetime.now(dt.UTC) + dt.timedelta(days=180)
    r = ctx.http.post(
        "/api/v1/consents",
        headers=ctx.as_("bank"),
        json={
            "identifier": ctx.data["free_enterprise"],
            "purpose": purpose,
            "scopes": _SCOPES,
            "modes": modes,
            "valid_until": until.isoformat(),
            "fetch_type": "PERIODIC",
            "frequency": {"value": 100, "unit": "DAY"},
            "data_life": {"value": 1, "unit": "YEAR"},
        },
    )
    r.raise_for_status()
    cid = str(r.json()["id"])
    ctx.http.post(f"/api/v1/me/consents/{cid}/approve", headers=borrower).raise_for_status()
    return cid


def step_free_query(ctx: DemoContext) -> str:
    """The tax bureau's rating of an enterprise is loaded; its authorised person consents (loan
    assessment: query and report; post-loan monitoring: push); the bank's free query is allowed and
    ledgered with the digest of exactly what it received."""
    code = ctx.data["enterprises"][2]
    ctx.data["free_enterprise"] = code
    _rating(ctx, "B")
    username, password = _BORROWER
    ctx.http.post(
        "/api/v1/borrower-accounts",
        headers=ctx.as_("operator"),
        json={"username": username, "real_name": "钱法人", "password": password, "identifier": code},
    ).raise_for_status()
    login = ctx.http.post("/api/v1/auth/login", json={"username": username, "password": password})
    login.raise_for_status()
    borrower = {"Authorization": f"Bearer {login.json()['access_token']}"}
    _consent(ctx, borrower, "loan_application_assessment", ["query", "report"])
    ctx.data["free_push_consent"] = _consent(
        ctx, borrower, "post_loan_monitoring", ["query", "push_subscription"]
    )
    r = ctx.http.post(
        "/api/v1/free/query",
        headers=ctx.as_("bank"),
        json={
            "identifier": code,
            "purpose": "loan_application_assessment",
            "items": [{"code": "tax_rating"}],
        },
    )
    r.raise_for_status()
    out = r.json()
    rating = out["items"][0]["records"][0]["fields"]["rating"]
    return (
        f"tax rating {rating} disclosed under consent {out['consent_id'][:12]}…; "
        f"ledger entry #{out['ledger_seq']} holds sha256 {out['payload_sha256'][:16]}…"
    )


def step_free_report(ctx: DemoContext) -> str:
    """The bank prints the credit report as a PDF (Chinese text); anyone holding the file confirms with
    the platform, without logging in, that it is genuine."""
    r = ctx.http.post(
        "/api/v1/free/reports",
        headers=ctx.as_("bank"),
        json={
            "identifier": ctx.data["free_enterprise"],
            "purpose": "loan_application_assessment",
            "format": "pdf",
            "items": [{"code": c} for c in _SCOPES],
        },
    )
    r.raise_for_status()
    path = ctx.services.settings.var_dir / f"{r.headers['X-Report-Id']}.pdf"
    path.write_bytes(r.content)
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(r.content)).pages)
    assert "公共信用信息报告" in text and r.headers["X-Report-Id"] in text
    check = ctx.http.post(
        "/api/v1/free/reports/verify", content=r.content, headers={"Content-Type": "application/pdf"}
    )
    check.raise_for_status()
    return f"{path.name} ({len(r.content) // 1024} KiB) → verified genuine: {check.json()['genuine']}"


def step_free_push(ctx: DemoContext) -> str:
    """The bank subscribes with a webhook (a receiver on 127.0.0.1); the tax bureau loads a changed
    rating; the platform's worker delivers a signed event, which the bank verifies with the platform key."""
    receiver = WebhookReceiver().start()
    try:
        r = ctx.http.post(
            "/api/v1/free/push/subscriptions",
            headers=ctx.as_("bank"),
            json={
                "identifier": ctx.data["free_enterprise"],
                "items": ["tax_rating"],
                "webhook_url": receiver.url,
            },
        )
        r.raise_for_status()
        _rating(ctx, "A")
        deadline = time.monotonic() + 15
        while not receiver.received and time.monotonic() < deadline:
            time.sleep(0.1)
        if not receiver.received:
            raise RuntimeError("no webhook arrived within 15 s")
        hit = receiver.received[0]
        key = ctx.http.get("/api/v1/free/push/public-key").json()
        public = Ed25519PublicKey.from_public_bytes(base64.b64decode(key["public_key_raw_b64"]))
        ok = verify_webhook(
            public, hit.body, hit.headers["Fincredit-Timestamp"], hit.headers["Fincredit-Signature"]
        )
        event = json.loads(hit.body)
        return (
            f"{event['event']} #{event['sequence']}: rating {event['data']['fields']['rating']} "
            f"(version {event['data']['version']}); Ed25519 signature valid: {ok}"
        )
    finally:
        receiver.stop()


FREE_STEPS = [
    ("Free information query under consent", step_free_query),
    ("The credit report as a PDF, verified", step_free_report),
    ("A signed webhook when a record changes", step_free_push),
]
