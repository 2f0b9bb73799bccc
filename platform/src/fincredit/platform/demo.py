"""``make demo``: one end-to-end story on the synthetic city, printed step by step, against the real
service over HTTP; afterwards the service keeps running for the web pages.

Each capability adds its steps to ``STEPS`` (a provider submits, a borrower consents, a bank queries,
trains a joint model, scores encrypted applicants, a regulator verifies the log)."""

from __future__ import annotations

import datetime as dt
import random
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from rich.console import Console
from rich.panel import Panel

from fincredit.consent.identifiers import NINGBO_REGIONS, generate_resident_id, generate_uscc

from .identity.accounts import (
    create_institution_account,
    create_organisation,
    generate_key_pair,
    register_key,
)
from .identity.tokens import CLIENT_ASSERTION_TYPE, make_client_assertion
from .services import Services, build_services
from .settings import Settings, get_settings

console = Console()


@dataclass
class Actor:
    org_id: str
    account_id: str
    kid: str
    private_pem: str
    token: str = ""


@dataclass
class DemoContext:
    services: Services
    http: httpx.Client
    base_url: str
    actors: dict[str, Actor] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)
    rng: random.Random = field(default_factory=lambda: random.Random(20261122))

    def token_for(self, name: str) -> str:
        actor = self.actors[name]
        assertion = make_client_assertion(
            actor.private_pem, actor.account_id, actor.kid, self.base_url + "/oauth2/token"
        )
        r = self.http.post(
            "/oauth2/token",
            data={
                "grant_type": "client_credentials",
                "client_assertion_type": CLIENT_ASSERTION_TYPE,
                "client_assertion": assertion,
            },
        )
        r.raise_for_status()
        actor.token = r.json()["access_token"]
        return actor.token

    def as_(self, name: str) -> dict[str, str]:
        actor = self.actors[name]
        return {"Authorization": f"Bearer {actor.token or self.token_for(name)}"}


Step = Callable[[DemoContext], str]


def step_institutions(ctx: DemoContext) -> str:
    """The operator registers the institutions and their real-name accounts, each with a key."""
    orgs = [
        ("operator", "nb-platform", "platform_operator", "宁波市融资信用服务平台运营中心", "王运维"),
        ("authority", "nb-credit-office", "credit_authority", "宁波市信用办", "李主任"),
        ("bank", "nb-bank", "bank", "宁波示范银行", "陈风控"),
        ("tax", "nb-tax", "data_provider", "国家税务总局宁波市税务局", "周数据"),
        ("regulator", "nb-regulator", "regulator", "宁波金融监管局", "赵监管"),
    ]
    with ctx.services.tx() as session:
        for name, org_id, kind, title, person in orgs:
            create_organisation(session, org_id=org_id, kind=kind, name=title)
            account = create_institution_account(
                session,
                ctx.services.authz,
                org_id=org_id,
                username=f"{name}-api",
                real_name=person,
                stated_use=f"{title} API access",
            )
            private_pem, public_pem = generate_key_pair()
            key = register_key(session, account.id, public_pem)
            ctx.actors[name] = Actor(org_id, account.id, key.kid, private_pem)
    return f"{len(orgs)} organisations, each with a real-name account and an Ed25519 key"


def step_tokens(ctx: DemoContext) -> str:
    """Each institution signs a client assertion (private_key_jwt) and receives a short-lived token."""
    for name in ctx.actors:
        ctx.token_for(name)
    me = ctx.http.get("/api/v1/me", headers=ctx.as_("bank")).json()
    return f"tokens issued; the bank's account has roles {me['roles']} in domain {me['domain']}"


def step_subjects(ctx: DemoContext) -> str:
    """The provider registers enterprises (USCC) and persons (resident ID) of the synthetic city."""
    regions = list(NINGBO_REGIONS)
    created = []
    for i in range(20):
        code = generate_uscc(ctx.rng, ctx.rng.choice(regions))
        r = ctx.http.post(
            "/api/v1/subjects",
            headers=ctx.as_("tax"),
            json={"identifier": code, "name": f"宁波市示范{i:02d}科技有限公司", "industry": "I"},
        )
        r.raise_for_status()
        created.append(code)
    person = generate_resident_id(ctx.rng, regions[0])
    ctx.http.post(
        "/api/v1/subjects", headers=ctx.as_("tax"), json={"identifier": person, "name": "张三"}
    ).raise_for_status()
    ctx.data["enterprises"], ctx.data["person"] = created, person
    return f"{len(created)} enterprises and 1 person registered (identifiers stored AES-GCM encrypted)"


def step_bad_identifier(ctx: DemoContext) -> str:
    """A mistyped code is refused with a problem+json that names the wrong character."""
    good = ctx.data["enterprises"][0]
    bad = good[:-1] + ("0" if good[-1] != "0" else "1")
    r = ctx.http.get(f"/api/v1/subjects/{bad}", headers=ctx.as_("bank"))
    return f"{r.status_code} {r.headers['content-type']}: {r.json()['detail']}"


def step_masking(ctx: DemoContext) -> str:
    """The bank sees a masked identifier; the credit authority is entitled to the full one."""
    code = ctx.data["enterprises"][0]
    seen_by_bank = ctx.http.get(f"/api/v1/subjects/{code}", headers=ctx.as_("bank")).json()["identifier"]
    seen_by_authority = ctx.http.get(f"/api/v1/subjects/{code}", headers=ctx.as_("authority")).json()[
        "identifier"
    ]
    return f"bank sees {seen_by_bank}; credit authority sees {seen_by_authority}"


def step_key_revocation(ctx: DemoContext) -> str:
    """The bank rotates its key: the new key works, tokens from the revoked one are refused at once."""
    bank = ctx.actors["bank"]
    old_token = bank.token
    private_pem, public_pem = generate_key_pair()
    new_key = ctx.http.post(
        "/api/v1/me/keys", headers=ctx.as_("bank"), json={"public_key_pem": public_pem}
    ).json()
    ctx.http.post(
        f"/api/v1/me/keys/{bank.kid}/revoke", headers=ctx.as_("bank"), json={"reason": "rotation"}
    ).raise_for_status()
    refused = ctx.http.get("/api/v1/me", headers={"Authorization": f"Bearer {old_token}"})
    bank.kid, bank.private_pem = new_key["kid"], private_pem
    ctx.token_for("bank")
    ok = ctx.http.get("/api/v1/me", headers=ctx.as_("bank"))
    return (
        f"old token → {refused.status_code} ({refused.json()['detail']}); new key's token → {ok.status_code}"
    )


def step_audit(ctx: DemoContext) -> str:
    """The regulator reads the audit trail of every API operation (R§20)."""
    page = ctx.http.get("/api/v1/audit-events", headers=ctx.as_("regulator"), params={"limit": 1000}).json()
    refused = sum(1 for e in page["items"] if e["outcome"] == "refused")
    return f"{len(page['items'])} operations audited so far, {refused} of them refused"


STEPS: list[tuple[str, Step]] = [
    ("Institutions and real-name accounts", step_institutions),
    ("Authentication with private_key_jwt", step_tokens),
    ("Subjects of the synthetic city", step_subjects),
    ("Invalid identifiers are refused", step_bad_identifier),
    ("Identifier masking", step_masking),
    ("Key rotation and revocation", step_key_revocation),
    ("Audit trail", step_audit),
]

from .demo_consent import CONSENT_STEPS, step_ledger_verify  # noqa: E402  (steps type-hint DemoContext)
from .demo_free import FREE_STEPS  # noqa: E402
from .demo_ingest import INGEST_STEPS  # noqa: E402
from .demo_joint import JOINT_STEPS  # noqa: E402
from .demo_market import MARKET_STEPS  # noqa: E402
from .demo_products import PRODUCT_STEPS  # noqa: E402

WEB_PASSWORD = "demo-password-2026"
# Who signs in where once the story has run: (username, role, their page).
WEB_LOGINS = [
    ("consent-owner-01", "borrower (revoked a consent)", "/web/borrower"),
    ("joint-owner-01", "borrower (joint modelling and scoring)", "/web/borrower"),
    ("objector-01", "borrower (filed an objection)", "/web/borrower/objections"),
    ("bank-api", "bank", "/web/bank"),
    ("tax-api", "data provider", "/web/provider"),
    ("yinzhou-api", "district team", "/web/team/boards"),
    ("regulator-api", "regulator", "/web/regulator"),
]


def step_web_pages(ctx: DemoContext) -> str:
    """The staff of each institution get a web password (the API keeps using keys); everyone signs in
    at /web/login. Public board pages need no login."""
    from .identity.accounts import set_password

    with ctx.services.tx() as session:
        for username, _, _ in WEB_LOGINS:
            if not username.endswith("-api"):
                continue  # borrowers chose their password when they registered
            set_password(session, username, WEB_PASSWORD)
    # A fresh request waits for consent-owner-01 (who revoked the first one), so a visitor can approve
    # or reject a real request in the browser; it names a catalog item, shown by its name.
    until = dt.datetime.now(dt.UTC) + dt.timedelta(days=30)
    ctx.http.post(
        "/api/v1/consents",
        headers=ctx.as_("bank"),
        json={
            "identifier": ctx.data["enterprises"][1],
            "purpose": "post_loan_monitoring",
            "purpose_text": "贷后监测：流动资金贷款存续期间",
            "scopes": ["tax_rating"],
            "modes": ["query", "push_subscription"],
            "valid_until": until.isoformat(),
            "fetch_type": "PERIODIC",
            "frequency": {"value": 4, "unit": "MONTH"},
            "data_life": {"value": 1, "unit": "YEAR"},
        },
    ).raise_for_status()
    table = "\n".join(
        f"      {role:<40} {username:<18} {ctx.base_url}{page}" for username, role, page in WEB_LOGINS
    )
    return (
        f"sign in at {ctx.base_url}/web/login with password {WEB_PASSWORD!r} as\n{table}\n"
        "      consent-owner-01 has a post-loan monitoring request from the bank waiting to approve\n"
        f"      public thematic boards (no login): {ctx.base_url}/web/boards"
    )


# The story in the order the brief tells it: a provider submits, market data arrives, a borrower
# consents, the bank queries, buys market products, trains a joint model, scores encrypted
# applicants, and a regulator verifies the whole log offline.
STEPS += INGEST_STEPS
STEPS += MARKET_STEPS
STEPS += [step for step in CONSENT_STEPS if step[1] is not step_ledger_verify]
STEPS += FREE_STEPS
STEPS += PRODUCT_STEPS
STEPS += JOINT_STEPS
STEPS += [
    ("The regulator verifies the ledger offline", step_ledger_verify),
    ("Web pages: who signs in where", step_web_pages),
]


def _start_server(services: Services, settings: Settings) -> uvicorn.Server:
    from .api import create_app

    config = uvicorn.Config(
        create_app(settings, services), host=settings.host, port=settings.port, log_level="warning"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError(f"the service did not start on {settings.host}:{settings.port}")
        time.sleep(0.05)
    return server


def run_demo(*, port: int | None = None, keep_serving: bool = True, fresh: bool = True) -> int:
    base = get_settings()
    demo_var = base.var_dir / "demo"
    if fresh and demo_var.exists() and base.database_url is None:
        shutil.rmtree(demo_var)
    settings = base.model_copy(update={"var_dir": Path(demo_var), "port": port or base.port})
    if settings.public_url is None:
        settings = settings.model_copy(update={"public_url": f"http://{settings.host}:{settings.port}"})
    console.print(
        Panel.fit(
            f"fincredit demo — database: {settings.resolved_database_url}\nservice: {settings.base_url}  "
            f"(OpenAPI: {settings.base_url}/docs)",
            title="fincredit",
        )
    )
    services = build_services(settings)
    server = _start_server(services, settings)
    console.print(f"[green]listening on {settings.base_url}[/green]")
    ctx = DemoContext(
        services=services,
        http=httpx.Client(base_url=settings.base_url, timeout=120),
        base_url=settings.base_url,
    )
    failed = 0
    for number, (title, step) in enumerate(STEPS, start=1):
        started = time.perf_counter()
        try:
            outcome = step(ctx)
            took = time.perf_counter() - started
            console.print(f"[bold cyan]{number:>2}. {title}[/bold cyan] [dim]({took:.2f}s)[/dim]")
            console.print(f"    {(step.__doc__ or '').strip()}")
            console.print(f"    [green]→ {outcome}[/green]")
        except Exception as exc:  # a failed step is shown and counted; the service still serves
            failed += 1
            console.print(f"[bold red]{number:>2}. {title} FAILED[/bold red]: {exc!r}")
    console.print(
        Panel.fit(
            f"{len(STEPS) - failed}/{len(STEPS)} steps succeeded.\n"
            f"The service keeps running at {settings.base_url} (docs: {settings.base_url}/docs).\n"
            "Ctrl-C stops it.",
            title="demo finished",
        )
    )
    if keep_serving:
        try:
            while not server.should_exit:
                time.sleep(0.5)
        except KeyboardInterrupt:
            pass
    server.should_exit = True
    return 1 if failed else 0
