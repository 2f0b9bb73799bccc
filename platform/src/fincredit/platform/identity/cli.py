"""``fincredit org …``, ``fincredit account …`` and ``fincredit token``: organisations, real-name accounts,
their keys and roles, from the operator's command line."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from fincredit.platform.core.cli_support import cli_services as _services
from fincredit.platform.core.cli_support import console
from fincredit.platform.core.cli_support import fail as _fail
from fincredit.platform.core.errors import FincreditError
from fincredit.platform.core.settings import get_settings

org_app = typer.Typer(help="Organisations.", no_args_is_help=True)
account_app = typer.Typer(help="Real-name accounts and their keys.", no_args_is_help=True)
# ``fincredit token`` is a top-level command: its Typer is merged into the root, not mounted under a name.
token_app = typer.Typer()


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
    from fincredit.platform.identity.accounts import create_organisation

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

    from fincredit.platform.core.db import Organisation

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
    from fincredit.platform.identity.accounts import (
        create_institution_account,
        generate_key_pair,
        register_key,
    )

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
    from fincredit.platform.identity.accounts import create_borrower_account
    from fincredit.platform.subjects import find_subject

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
    from fincredit.platform.identity.accounts import set_password

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
    from fincredit.platform.identity.accounts import register_key

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
    from fincredit.platform.identity.accounts import revoke_key

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
    from fincredit.platform.identity.accounts import get_account

    services = _services()
    try:
        with services.tx() as session:
            account = get_account(session, account_id)
            services.authz.assign_role(session, account_id, role, domain or account.org_id or "borrowers")
            console.print(f"granted {role} to {account_id}")
    except FincreditError as exc:
        raise _fail(exc) from None


@token_app.command("token")
def token(
    account_id: str,
    kid: str,
    key_file: Path,
    url: Annotated[str | None, typer.Option(help="platform base URL")] = None,
) -> None:
    """Obtain an access token with private_key_jwt and print it (for curl and scripts)."""
    import httpx

    from fincredit.platform.identity.tokens import CLIENT_ASSERTION_TYPE, make_client_assertion

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
