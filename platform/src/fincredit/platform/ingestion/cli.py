"""``fincredit ingest ...``: provider submissions from the
operator's command line (one-shot files, nil reports, a watched drop folder)."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from fincredit.platform.core.cli_support import console, fail
from fincredit.platform.core.errors import FincreditError

if TYPE_CHECKING:
    from fincredit.platform.core.services import Services
    from fincredit.platform.ingestion import DropResult

ingest_app = typer.Typer(
    help="Provider submissions: files, nil reports, drop folders (R§7, R§8).", no_args_is_help=True
)


def _services() -> Services:
    from fincredit.platform.catalog.cli import catalog_services

    return catalog_services()


def _fail(exc: FincreditError) -> typer.Exit:
    return fail(exc)


@ingest_app.command("file")
def ingest_one(
    path: Path,
    provider: Annotated[str, typer.Option(help="the providing organisation's id")],
    item: Annotated[str, typer.Option(help="catalog item code")],
    month: Annotated[str, typer.Option(help="the month reported on, YYYY-MM")],
    file_format: Annotated[str | None, typer.Option("--format", help="csv, parquet or arrow")] = None,
    feedback: Annotated[Path | None, typer.Option(help="write the feedback report (CSV) here")] = None,
) -> None:
    """Process one file now (validate, clean, match, load) and print the outcome."""
    from fincredit.platform.ingestion import ingest_file, write_feedback_csv

    services = _services()
    try:
        r = ingest_file(
            services,
            provider_org_id=provider,
            item_code=item,
            month=month,
            path=path,
            file_format=file_format,
            channel="cli",
        )
    except FincreditError as exc:
        raise _fail(exc) from None
    console.print(
        f"submission {r.submission_id}{' (already processed)' if r.duplicate else ''}: {r.rows_total} rows, "
        f"{r.rows_new} new, {r.rows_changed} changed, {r.rows_unchanged} unchanged, "
        f"{r.rows_rejected} rejected, {r.subjects_registered} subjects registered"
    )
    if feedback is not None:
        n = write_feedback_csv(services, r.submission_id, feedback)
        console.print(f"feedback report: {n} rows → {feedback}")


@ingest_app.command("nil")
def ingest_nil(
    provider: Annotated[str, typer.Option()],
    item: Annotated[str, typer.Option()],
    month: Annotated[str, typer.Option(help="YYYY-MM")],
) -> None:
    """File a nil report: nothing new for ITEM in MONTH."""
    from fincredit.platform.ingestion import file_nil_report

    try:
        sub = file_nil_report(
            _services(), provider_org_id=provider, item_code=item, month=month, channel="cli"
        )
    except FincreditError as exc:
        raise _fail(exc) from None
    console.print(f"nil report {sub.id}: {item} {month}, due {sub.due_date}{' (late)' if sub.late else ''}")


@ingest_app.command("watch")
def ingest_watch(
    folder: Path,
    provider: Annotated[str, typer.Option(help="the organisation this folder belongs to")],
    interval: Annotated[float, typer.Option(help="seconds between scans")] = 5.0,
    once: Annotated[bool, typer.Option(help="process what is there now and exit")] = False,
) -> None:
    """Watch a drop folder: <item>__<YYYY-MM>.<csv|parquet|arrow> files are submissions, .nil files nil
    reports; results go to processed/ and rejected/ beside them."""
    from fincredit.platform.ingestion import scan_once, watch

    services = _services()

    def show(r: DropResult) -> None:
        colour = "red" if r.outcome == "rejected" else "green"
        console.print(f"[{colour}]{r.outcome}[/{colour}] {r.file}: {r.detail}")

    if once:
        folder.mkdir(parents=True, exist_ok=True)
        for r in scan_once(services, provider, folder, {}, settle=False):
            show(r)
        return
    console.print(f"watching {folder} for {provider} every {interval}s (Ctrl-C stops)")
    with contextlib.suppress(KeyboardInterrupt):
        watch(services, provider, folder, interval=interval, on_result=show)
