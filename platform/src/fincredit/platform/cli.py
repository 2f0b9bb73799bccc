"""``fincredit`` — the operator's command line: serve, migrate, administer, run the demo."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from .cli_demo_data import demo_data
from .cli_ingest import catalog_app, ingest_app
from .cli_market import market_app, objections_app
from .cli_products import national_app, products_app
from .errors import FincreditError
from .settings import Settings, get_settings

app = typer.Typer(help="fincredit: the financing credit service platform.", no_args_is_help=True)
db_app = typer.Typer(help="Database migrations.", no_args_is_help=True)
org_app = typer.Typer(help="Organisations.", no_args_is_help=True)
account_app = typer.Typer(help="Real-name accounts and their keys.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.command("demo-data")(demo_data)
app.add_typer(org_app, name="org")
app.add_typer(account_app, name="account")
app.add_typer(market_app, name="market")
app.add_typer(objections_app, name="objections")
app.add_typer(catalog_app, name="catalog")
app.add_typer(ingest_app, name="ingest")
app.add_typer(products_app, name="products")
app.add_typer(national_app, name="national")
console = Console()


def _services(settings: Settings | None = None):  # type: ignore[no-untyped-def]
    from .services import build_services

    return build_services(settings or get_settings())


def _fail(exc: FincreditError) -> typer.Exit:
    console.print(f"[red]error[/red] ({exc.slug}): {exc.detail}")
    return typer.Exit(2)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="default FINCREDIT_HOST or 127.0.0.1")] = None,
    port: Annotated[int | None, typer.Option(help="default FINCREDIT_PORT or 8000")] = None,
    workers: Annotated[
        int, typer.Option(min=1, help="worker processes; on PostgreSQL, one per core serves the most")
    ] = 1,
) -> None:
    """Run the API and web pages (migrates the database first)."""
    import uvicorn

    from .api import create_app

    settings = get_settings()
    if host:
        settings.host = host
    if port:
        settings.port = port
    console.print(
        f"fincredit on {settings.resolved_database_url.split('://')[0]}; "
        f"listening on http://{settings.host}:{settings.port}  (API docs: /docs)"
    )
    if workers == 1:
        uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_level="info")
        return
    # Each worker process builds its own app from the environment (settings cannot cross a fork).
    from .catalog import ensure_catalog

    # Migrate and seed once, before the workers start (two workers seeding at once would collide).
    services = _services(settings)
    ensure_catalog(services.sessions)
    services.close()
    uvicorn.run(
        "fincredit.platform.api:create_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=workers,
        log_level="info",
    )


@db_app.command("upgrade")
def db_upgrade(revision: str = "heads") -> None:
    """Apply migrations up to REVISION (default: every head)."""
    from .migrate import current, upgrade

    settings = get_settings()
    settings.var_dir.mkdir(parents=True, exist_ok=True)
    url = settings.resolved_database_url
    upgrade(url, revision)
    console.print(f"database at revision [bold]{', '.join(current(url))}[/bold] ({url.split('://')[0]})")


@db_app.command("current")
def db_current() -> None:
    from .migrate import current

    console.print(", ".join(current(get_settings().resolved_database_url)) or "(empty database)")


@org_app.command("create")
def org_create(
    org_id: Annotated[str, typer.Argument(help="short id, e.g. nb-bank")],
    kind: Annotated[
        str,
        typer.Option(
            help="bank, data_provider, market_vendor, district_team, sector_team, "
            "regulator, credit_authority, platform_operator"
        ),
    ],
    name: Annotated[str, typer.Option()],
    uscc: Annotated[str | None, typer.Option()] = None,
) -> None:
    from .identity.accounts import create_organisation

    services = _services()
    try:
        with services.tx() as session:
            org = create_organisation(session, org_id=org_id, kind=kind, name=name, uscc=uscc)
            console.print(f"created organisation [bold]{org.id}[/bold] ({org.kind})")
    except FincreditError as exc:
        raise _fail(exc) from None


@org_app.command("list")
def org_list() -> None:
    from sqlalchemy import select

    from .db import Organisation

    services = _services()
    table = Table("id", "kind", "name", "uscc", "active")
    with services.read() as session:
        for o in session.scalars(select(Organisation).order_by(Organisation.id)):
            table.add_row(o.id, o.kind, o.name, o.uscc or "", str(o.active))
    console.print(table)


@account_app.command("create")
def account_create(
    org: Annotated[str, typer.Option(help="organisation id")],
    username: Annotated[str, typer.Option()],
    real_name: Annotated[str, typer.Option(help="the holder's real name (R§18)")],
    use: Annotated[str, typer.Option(help="stated use of the account (R§18)")],
    key_out: Annotated[Path | None, typer.Option(help="write a fresh Ed25519 private key here")] = None,
    public_key: Annotated[Path | None, typer.Option(help="register this PEM public key instead")] = None,
) -> None:
    """Create an institution account and register its key (its 'digital certificate')."""
    from .identity.accounts import create_institution_account, generate_key_pair, register_key

    services = _services()
    private_pem = None
    if public_key is not None:
        public_pem = public_key.read_text()
    else:
        private_pem, public_pem = generate_key_pair()
    try:
        with services.tx() as session:
            account = create_institution_account(
                session, services.authz, org_id=org, username=username, real_name=real_name, stated_use=use
            )
            key = register_key(session, account.id, public_pem)
            account_id, kid = account.id, key.kid
    except FincreditError as exc:
        raise _fail(exc) from None
    if private_pem is not None:
        out = key_out or Path(f"{username}.key.pem")
        out.write_text(private_pem)
        out.chmod(0o600)
        console.print(f"private key written to {out} (keep it secret)")
    console.print(f"account [bold]{account_id}[/bold] key [bold]{kid}[/bold]")


@account_app.command("borrower")
def account_borrower(
    identifier: Annotated[str, typer.Option(help="USCC of the enterprise or resident ID of the person")],
    username: Annotated[str, typer.Option()],
    real_name: Annotated[str, typer.Option()],
    password: Annotated[str, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True)],
) -> None:
    """Create a borrower account for a registered subject (password login for the web pages)."""
    from .identity.accounts import create_borrower_account
    from .subjects import find_subject

    services = _services()
    try:
        with services.tx() as session:
            subject = find_subject(session, services.keyring, identifier)
            account = create_borrower_account(
                session,
                services.authz,
                username=username,
                real_name=real_name,
                password=password,
                subject_id=subject.id,
            )
            console.print(f"borrower account [bold]{account.id}[/bold] for subject {subject.code_masked}")
    except FincreditError as exc:
        raise _fail(exc) from None


@account_app.command("set-password")
def account_set_password(
    username: str,
    password: Annotated[str, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True)],
) -> None:
    """Set the web-page password of an account (bank, regulator, provider or board-team staff)."""
    from .identity.accounts import set_password

    services = _services()
    try:
        with services.tx() as session:
            account = set_password(session, username, password)
            console.print(f"password set for [bold]{account.username}[/bold]")
    except FincreditError as exc:
        raise _fail(exc) from None


@account_app.command("add-key")
def account_add_key(account_id: str, public_key: Path) -> None:
    """Register another key for an account (rotation: add the new key, then revoke the old)."""
    from .identity.accounts import register_key

    services = _services()
    try:
        with services.tx() as session:
            key = register_key(session, account_id, public_key.read_text())
            console.print(f"registered key [bold]{key.kid}[/bold] ({key.algorithm})")
    except FincreditError as exc:
        raise _fail(exc) from None


@account_app.command("revoke-key")
def account_revoke_key(account_id: str, kid: str, reason: str = "revoked by operator") -> None:
    """Revoke a key: tokens obtained with it stop working at once."""
    from .identity.accounts import revoke_key

    services = _services()
    try:
        with services.tx() as session:
            revoke_key(session, account_id, kid, reason)
            console.print(f"revoked {kid}")
    except FincreditError as exc:
        raise _fail(exc) from None


@account_app.command("grant-role")
def account_grant_role(
    account_id: str, role: str, domain: Annotated[str | None, typer.Option()] = None
) -> None:
    """Grant a role (only the platform operator administers permissions)."""
    from .identity.accounts import get_account

    services = _services()
    try:
        with services.tx() as session:
            account = get_account(session, account_id)
            services.authz.assign_role(session, account_id, role, domain or account.org_id or "borrowers")
            console.print(f"granted {role} to {account_id}")
    except FincreditError as exc:
        raise _fail(exc) from None


@app.command()
def token(
    account_id: str,
    kid: str,
    key_file: Path,
    url: Annotated[str | None, typer.Option(help="platform base URL")] = None,
) -> None:
    """Obtain an access token with private_key_jwt and print it (for curl and scripts)."""
    import httpx

    from .identity.tokens import CLIENT_ASSERTION_TYPE, make_client_assertion

    base = (url or get_settings().base_url).rstrip("/")
    assertion = make_client_assertion(key_file.read_text(), account_id, kid, base + "/oauth2/token")
    r = httpx.post(
        base + "/oauth2/token",
        data={
            "grant_type": "client_credentials",
            "client_assertion_type": CLIENT_ASSERTION_TYPE,
            "client_assertion": assertion,
        },
    )
    if r.status_code != 200:
        console.print(f"[red]{r.status_code}[/red] {r.text}")
        raise typer.Exit(1)
    typer.echo(r.json()["access_token"])


@app.command()
def demo(
    port: Annotated[int | None, typer.Option(help="default FINCREDIT_PORT or 8000")] = None,
    keep_serving: Annotated[bool, typer.Option(help="keep the service running after the story")] = True,
    fresh: Annotated[bool, typer.Option(help="start from an empty demo database")] = True,
) -> None:
    """The end-to-end story on the synthetic city, printed step by step; then keeps serving."""
    from .demo import run_demo

    raise typer.Exit(run_demo(port=port, keep_serving=keep_serving, fresh=fresh))


consents_app = typer.Typer(help="Consents and the consent ledger.", no_args_is_help=True)
app.add_typer(consents_app, name="consents")


@consents_app.command("expire")
def consents_expire() -> None:
    """Expire every ACTIVE or PAUSED consent past its end (each ledgered); run it periodically."""
    from .consents import expire_due

    services = _services()
    try:
        console.print(f"{expire_due(services)} consent(s) expired")
    finally:
        services.close()


@consents_app.command("checkpoint")
def consents_checkpoint() -> None:
    """Sign a checkpoint of the ledger at its current size (if new entries arrived) and print it."""
    from .consents import latest_checkpoint

    services = _services()
    try:
        typer.echo(latest_checkpoint(services).note, nl=False)
    finally:
        services.close()


push_app = typer.Typer(help="Information push (post-loan monitoring webhooks).", no_args_is_help=True)
app.add_typer(push_app, name="push")

# Push events are written by hooks inside the loading transaction, so every process that may load records
# (the ingest CLI, the drop-folder watcher) registers them — not only the API server.
from .free import install_hooks  # noqa: E402

install_hooks()


@push_app.command("deliver")
def push_deliver() -> None:
    """One-shot drain of the push outbox: objection notices in, consent gate, due webhooks out."""
    from .free import drain

    services = _services()
    try:
        stats = drain(services)
        console.print(f"{stats.attempted} attempted, {stats.delivered} delivered, {stats.failed} to retry")
    finally:
        services.close()


if __name__ == "__main__":
    app()
