"""``fincredit catalog ...``: the public credit information catalog from the operator's command line."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from fincredit.platform.core.cli_support import cli_services, console

if TYPE_CHECKING:
    from fincredit.platform.core.services import Services

catalog_app = typer.Typer(help="The public credit information catalog (R§6, G§7).", no_args_is_help=True)


def catalog_services() -> Services:
    """The services, with the default catalog seeded if the database has none yet."""
    from fincredit.platform.catalog import ensure_catalog

    services = cli_services()
    ensure_catalog(services.sessions)
    return services


@catalog_app.command("show")
def catalog_show(
    version: Annotated[int | None, typer.Option(help="default: the current version")] = None,
) -> None:
    """List the catalog's items with their attributes."""
    from fincredit.platform.catalog import get_version, items_of

    services = catalog_services()
    with services.read() as session:
        v = get_version(session, version)
        table = Table(title=f"catalog version {v.number} ({v.note})")
        for col in (
            "code",
            "name",
            "provider",
            "kind",
            "disclosure",
            "sharing",
            "validity",
            "negative",
            "list",
        ):
            table.add_column(col)
        for i in items_of(session, v):
            table.add_row(
                i.code,
                i.name,
                i.provider_org_id,
                i.subject_kind,
                i.disclosure,
                i.sharing,
                f"{i.validity_years}y" if i.validity_years else "-",
                "yes" if i.negative else "",
                "yes" if i.on_sharing_list else "",
            )
    console.print(table)


@catalog_app.command("seed")
def catalog_seed() -> None:
    """Write the default catalog as version 1 if there is no catalog yet (idempotent)."""
    from fincredit.platform.catalog import list_versions

    services = catalog_services()
    with services.read() as session:
        console.print(f"catalog versions: {len(list_versions(session))}")
