"""What every capability's commands share: one console, the services from the environment, and one way
to turn a domain error into an exit code."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer
from rich.console import Console

from fincredit.platform.core.errors import FincreditError

if TYPE_CHECKING:
    from fincredit.platform.core.services import Services
    from fincredit.platform.core.settings import Settings

console = Console()


def cli_services(settings: Settings | None = None) -> Services:
    """The platform's services for one command (migrates the database first, as the service does)."""
    from fincredit.platform.core.services import build_services
    from fincredit.platform.core.settings import get_settings

    return build_services(settings or get_settings())


def fail(exc: FincreditError) -> typer.Exit:
    console.print(f"[red]error[/red] ({exc.slug}): {exc.detail}")
    return typer.Exit(2)
