"""``fincredit`` — the operator's command line: serve, migrate, administer, run the demo."""

from __future__ import annotations

import os
import shutil
from typing import Annotated

import typer

from fincredit.platform.core.cli_support import cli_services as _services
from fincredit.platform.core.cli_support import console
from fincredit.platform.core.registry import capabilities
from fincredit.platform.core.settings import get_settings
from fincredit.platform.demo.data import demo_data

app = typer.Typer(help="fincredit: the financing credit service platform.", no_args_is_help=True)
db_app = typer.Typer(help="Database migrations.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.command("demo-data")(demo_data)
# Each capability brings its own commands; a Typer declared with an empty name joins the root directly.
for _capability in capabilities():
    for _name, _typer in _capability.cli:
        if _name:
            app.add_typer(_typer, name=_name)
        else:
            for _command in _typer.registered_commands:
                app.registered_commands.append(_command)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="default FINCREDIT_HOST or 127.0.0.1")] = None,
    port: Annotated[int | None, typer.Option(help="default FINCREDIT_PORT or 8000")] = None,
    workers: Annotated[
        int, typer.Option(min=1, help="worker processes; on PostgreSQL, one per core serves the most")
    ] = 1,
    tls: Annotated[
        bool,
        typer.Option(
            help="serve HTTPS, asking browsers for staff client certificates (FINCREDIT_TLS_CERT_FILE, or a "
            "server certificate from the staff CA made under <var_dir>/keys)"
        ),
    ] = False,
) -> None:
    """Run the API and web pages (migrates the database first)."""
    import uvicorn

    from fincredit.platform.core.app import create_app
    from fincredit.platform.core.observability import log_config

    settings = get_settings()
    if host:
        settings.host = host
    if port:
        settings.port = port
    from fincredit.platform.identity.tls import demo_server_certificate, uvicorn_tls_options

    if tls and settings.tls_cert_file is None:
        settings.tls_cert_file, settings.tls_key_file = demo_server_certificate(settings)
        os.environ["FINCREDIT_TLS_CERT_FILE"] = str(settings.tls_cert_file)
        os.environ["FINCREDIT_TLS_KEY_FILE"] = str(settings.tls_key_file)
    tls_options = uvicorn_tls_options(settings)
    scheme = "https" if tls_options else "http"
    if tls_options and not settings.public_url:
        settings.public_url = f"https://{settings.host}:{settings.port}"
        os.environ["FINCREDIT_PUBLIC_URL"] = settings.public_url
    console.print(
        f"fincredit on {settings.resolved_database_url.split('://')[0]}; "
        f"listening on {scheme}://{settings.host}:{settings.port}  (API docs: /docs)"
    )
    logging = log_config()
    if workers == 1:
        uvicorn.run(
            create_app(settings), host=settings.host, port=settings.port, log_config=logging, **tls_options
        )
        return
    # Each worker process builds its own app from the environment (settings cannot cross a fork).
    from fincredit.platform.catalog import ensure_catalog

    # Migrate and seed once, before the workers start (two workers seeding at once would collide).
    services = _services(settings)
    ensure_catalog(services.sessions)
    services.close()
    # Workers read their settings from the environment: what the options changed must be there too (the
    # port is part of the token audience).
    os.environ["FINCREDIT_HOST"], os.environ["FINCREDIT_PORT"] = settings.host, str(settings.port)
    # Each worker counts in its own files there; /metrics sums them, whichever worker answers the scrape.
    metrics_dir = settings.var_dir / "metrics" / str(os.getpid())
    shutil.rmtree(metrics_dir, ignore_errors=True)
    metrics_dir.mkdir(parents=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
    uvicorn.run(
        "fincredit.platform.core.app:create_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=workers,
        log_config=logging,
        # A worker builds the whole app before it answers the supervisor's first health check (14-30 s
        # on a busy 2-core machine); uvicorn's default 5 s would restart it forever.
        timeout_worker_healthcheck=settings.worker_start_timeout,
        **tls_options,
    )


@app.command()
def worker(
    concurrency: Annotated[int, typer.Option(min=1, help="jobs run at once (each in a thread)")] = 2,
    list_tasks: Annotated[
        bool, typer.Option("--list", help="show the tasks and their schedule, and exit")
    ] = False,
) -> None:
    """Run the scheduled work (consent expiry, national delivery, drop folders, push retries, checkpoints,
    missed deadlines, monthly report) from the job queue in PostgreSQL; run as many as you like."""
    import logging.config

    from fincredit.platform.core.migrate import current, heads
    from fincredit.platform.core.observability import log_config
    from fincredit.platform.core.services import build_services
    from fincredit.platform.core.tasks import WorkerUnavailable, conninfo, run_worker, schedule

    settings = get_settings()
    try:
        tasks = schedule(settings)
    except ValueError as exc:
        console.print(f"[red]error[/red]: {exc}")
        raise typer.Exit(2) from None
    if list_tasks:
        from rich.table import Table

        table = Table("task", "cron (UTC)", "what", "once, by hand")
        for task, cron in tasks:
            table.add_row(task.name, cron or "off", task.summary, task.command)
        console.print(table)
        return
    url = settings.resolved_database_url
    try:
        conninfo(url)
    except WorkerUnavailable as exc:
        console.print(f"[red]fincredit worker is not available[/red]: {exc}")
        raise typer.Exit(2) from None
    # The service instances migrate; a worker runs only against the schema its code expects.
    if current(url) != heads(url):
        console.print(
            f"[red]the database is at {', '.join(current(url)) or 'no revision'}, the code needs "
            f"{', '.join(heads(url))}[/red]: run `fincredit db upgrade` (or start `fincredit serve`) first"
        )
        raise typer.Exit(3)
    logging.config.dictConfig(log_config())
    services = build_services(settings, migrate=False)
    try:
        run_worker(services, concurrency=concurrency)
    finally:
        services.close()


@db_app.command("upgrade")
def db_upgrade(revision: str = "heads") -> None:
    """Apply migrations up to REVISION (default: every head)."""
    from fincredit.platform.core.migrate import current, upgrade

    settings = get_settings()
    settings.var_dir.mkdir(parents=True, exist_ok=True)
    url = settings.resolved_database_url
    upgrade(url, revision)
    console.print(f"database at revision [bold]{', '.join(current(url))}[/bold] ({url.split('://')[0]})")


@db_app.command("current")
def db_current() -> None:
    from fincredit.platform.core.migrate import current

    console.print(", ".join(current(get_settings().resolved_database_url)) or "(empty database)")


@app.command()
def demo(
    port: Annotated[int | None, typer.Option(help="default FINCREDIT_PORT or 8000")] = None,
    keep_serving: Annotated[bool, typer.Option(help="keep the service running after the story")] = True,
    fresh: Annotated[bool, typer.Option(help="start from an empty demo database")] = True,
) -> None:
    """The end-to-end story on the synthetic city, printed step by step; then keeps serving."""
    from fincredit.platform.demo.story import run_demo

    raise typer.Exit(run_demo(port=port, keep_serving=keep_serving, fresh=fresh))


if __name__ == "__main__":
    app()
