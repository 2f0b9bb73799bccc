"""``make demo``: one end-to-end story on the synthetic city, printed step by step, against the real
service over HTTP; afterwards the service keeps running for the web pages.

Each capability declares its steps (``Capability.demo_steps``): a provider submits, a borrower
consents, a bank queries, trains a joint model, scores encrypted applicants, a regulator verifies the log."""

from __future__ import annotations

import datetime as dt
import shutil
import threading
import time
from pathlib import Path

import httpx
import uvicorn
from rich.console import Console
from rich.panel import Panel

from fincredit.platform.core.registry import DemoStep, demo_steps
from fincredit.platform.core.services import Services, build_services
from fincredit.platform.core.settings import Settings, get_settings
from fincredit.platform.demo.context import DemoContext

console = Console()


def step_audit(ctx: DemoContext) -> str:
    """The regulator reads the audit trail of every API operation (R§20)."""
    page = ctx.http.get("/api/v1/audit-events", headers=ctx.as_("regulator"), params={"limit": 1000}).json()
    refused = sum(1 for e in page["items"] if e["outcome"] == "refused")
    return f"{len(page['items'])} operations audited so far, {refused} of them refused"


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
    """The staff of each institution get a web password and a client certificate from the platform's staff
    CA (R§18: account + digital certificate; the API keeps using keys); everyone signs in at /web/login,
    staff over HTTPS with the certificate in their browser. Public board pages need no login."""
    from fincredit.platform.identity.accounts import set_password
    from fincredit.platform.identity.certificates import issue_client_certificate, load_staff_ca

    ca = load_staff_ca(ctx.services.settings)
    certs = (ctx.services.settings.var_dir / "certs").resolve()
    certs.mkdir(parents=True, exist_ok=True)
    (certs / "staff-ca.pem").write_text(ca.certificate_pem)
    with ctx.services.tx() as session:
        for username, _, _ in WEB_LOGINS:
            if not username.endswith("-api"):
                continue  # borrowers chose their password when they registered
            set_password(session, username, WEB_PASSWORD)
            issued = issue_client_certificate(session, ca, username)
            bundle = certs / f"{username}.p12"
            bundle.write_bytes(issued.pkcs12(ca, WEB_PASSWORD))
            bundle.chmod(0o600)
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
        f"      staff also present their certificate {certs}/<username>.p12 (password {WEB_PASSWORD!r}),\n"
        "      imported into the browser, at `fincredit serve --tls` (HTTPS; trust staff-ca.pem there);\n"
        "      over plain HTTP only borrowers sign in (FINCREDIT_STAFF_CERTIFICATE_REQUIRED=false lifts\n"
        "      the certificate check, on one's own machine only)\n"
        "      consent-owner-01 has a post-loan monitoring request from the bank waiting to approve\n"
        f"      public thematic boards (no login): {ctx.base_url}/web/boards"
    )


# The story in the order the brief tells it: a provider submits, market data arrives, a borrower
# consents, the bank queries, buys market products, trains a joint model, scores encrypted
# applicants, and a regulator verifies the whole log offline.


def story() -> list[DemoStep]:
    """Every capability's steps in story order, with the story's own: the audit trail after the first
    operations, the web pages at the end."""
    steps = [
        *demo_steps(),
        DemoStep(16, "Audit trail", step_audit),
        DemoStep(95, "Web pages: who signs in where", step_web_pages),
    ]
    return sorted(steps, key=lambda s: s.position)


def _start_server(services: Services, settings: Settings) -> uvicorn.Server:
    from fincredit.platform.core.app import create_app

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
    steps = story()
    for number, step in enumerate(steps, start=1):
        title = step.title
        started = time.perf_counter()
        try:
            outcome = step.run(ctx)
            took = time.perf_counter() - started
            console.print(f"[bold cyan]{number:>2}. {title}[/bold cyan] [dim]({took:.2f}s)[/dim]")
            console.print(f"    {(step.run.__doc__ or '').strip()}")
            console.print(f"    [green]→ {outcome}[/green]")
        except Exception as exc:  # a failed step is shown and counted; the service still serves
            failed += 1
            console.print(f"[bold red]{number:>2}. {title} FAILED[/bold red]: {exc!r}")
    console.print(
        Panel.fit(
            f"{len(steps) - failed}/{len(steps)} steps succeeded.\n"
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
