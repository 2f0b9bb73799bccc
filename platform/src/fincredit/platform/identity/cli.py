"""``fincredit org …``, ``fincredit account …`` and ``fincredit token``: organisations, real-name accounts,
their keys and roles, from the operator's command line."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from fincredit.platform.core.cli_support import cli_services as _services
from fincredit.platform.core.cli_support import console
from fincredit.platform.core.cli_support import fail as _fail
from fincredit.platform.core.errors import FincreditError
from fincredit.platform.core.settings import get_settings

if TYPE_CHECKING:
    from fincredit.platform.identity.certificates import IssuedCertificate, StaffCA

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


def write_certificate_files(
    out: Path, username: str, issued: IssuedCertificate, ca: StaffCA, p12_password: str | None
) -> list[Path]:
    """<username>.crt.pem, <username>.key.pem (0600) and, with a password, <username>.p12 for a browser."""
    out.mkdir(parents=True, exist_ok=True)
    written = [out / f"{username}.crt.pem"]
    written[0].write_text(issued.certificate_pem + ca.certificate_pem)
    if issued.private_key_pem is not None:
        key = out / f"{username}.key.pem"
        key.write_text(issued.private_key_pem)
        key.chmod(0o600)
        written.append(key)
        if p12_password:
            bundle = out / f"{username}.p12"
            bundle.write_bytes(issued.pkcs12(ca, p12_password))
            bundle.chmod(0o600)
            written.append(bundle)
    return written


@account_app.command("issue-certificate")
def account_issue_certificate(
    username: str,
    out: Annotated[Path, typer.Option(help="folder for the certificate, key and .p12")] = Path("."),
    days: Annotated[int, typer.Option(min=1, max=1095)] = 365,
    public_key: Annotated[
        Path | None, typer.Option(help="certify this PEM ECDSA public key (the holder keeps the private key)")
    ] = None,
    p12_password: Annotated[
        str | None, typer.Option(help="also write <username>.p12 for importing into a browser")
    ] = None,
) -> None:
    """Issue a staff member's client certificate from the platform's staff CA (R§18: account + digital
    certificate). Staff web sign-in needs the password and this certificate."""
    from fincredit.platform.identity.certificates import issue_client_certificate, load_staff_ca

    services = _services()
    ca = load_staff_ca(services.settings)
    try:
        with services.tx() as session:
            issued = issue_client_certificate(
                session,
                ca,
                username,
                days=days,
                public_key_pem=public_key.read_text() if public_key is not None else None,
            )
    except FincreditError as exc:
        raise _fail(exc) from None
    for path in write_certificate_files(out, username, issued, ca, p12_password):
        console.print(f"wrote {path}")
    console.print(f"certificate serial [bold]{issued.serial}[/bold], valid until {issued.not_after:%Y-%m-%d}")


@account_app.command("revoke-certificate")
def account_revoke_certificate(serial: str, reason: str = "revoked by operator") -> None:
    """Revoke a staff certificate: its holder can no longer sign in with it."""
    from fincredit.platform.identity.certificates import revoke_certificate

    services = _services()
    try:
        with services.tx() as session:
            revoke_certificate(session, serial, reason)
            console.print(f"revoked certificate {serial}")
    except FincreditError as exc:
        raise _fail(exc) from None


@account_app.command("certificates")
def account_certificates() -> None:
    """The staff certificates issued, with their state."""
    from fincredit.platform.identity.certificates import list_certificates

    services = _services()
    table = Table("serial", "account", "subject", "valid until", "revoked")
    with services.read() as session:
        for c in list_certificates(session):
            table.add_row(
                c.serial, c.account_id, c.subject, f"{c.not_after:%Y-%m-%d}", str(c.revoked_at or "")
            )
    console.print(table)


@account_app.command("server-certificate")
def account_server_certificate(
    host: Annotated[list[str], typer.Option(help="host names or addresses the server answers on")],
    out: Annotated[Path, typer.Option()] = Path("."),
) -> None:
    """A server certificate from the staff CA for `serve` over HTTPS (FINCREDIT_TLS_CERT_FILE/_KEY_FILE),
    and the CA certificate browsers import to trust it."""
    from fincredit.platform.identity.certificates import issue_server_certificate, load_staff_ca

    ca = load_staff_ca(get_settings())
    cert_pem, key_pem = issue_server_certificate(ca, host)
    out.mkdir(parents=True, exist_ok=True)
    (out / "server.crt.pem").write_text(cert_pem + ca.certificate_pem)
    (out / "server.key.pem").write_text(key_pem)
    (out / "server.key.pem").chmod(0o600)
    (out / "staff-ca.pem").write_text(ca.certificate_pem)
    console.print(f"wrote {out / 'server.crt.pem'}, {out / 'server.key.pem'} and {out / 'staff-ca.pem'}")


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
