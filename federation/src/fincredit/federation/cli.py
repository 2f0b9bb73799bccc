"""``fincredit-bank``: the bank risk team's command line for joint-modelling jobs.

    export FINCREDIT_TOKEN=...            # the bank's API token, never on the command line
    fincredit-bank align applicants.csv --id-column uscc --platform https://credit.example \\
        --scope joint_modelling --job-id loans-2026q4 --out aligned.csv
    fincredit-bank jobs
    fincredit-bank status loans-2026q4
    fincredit-bank scoring score applicants.parquet scores.parquet --model bank_half.json \\
        --platform https://credit.example --id-column uscc

Job state lives in ``--workdir`` (default ``./.fincredit``). Rerunning ``align`` for a job that already
aligned reuses the saved alignment; for a job that failed or was interrupted it aligns again.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, NoReturn

import pandas as pd
import typer
from rich.console import Console
from rich.table import Table

from fincredit.federation._http_link import PlatformConnection
from fincredit.federation._jobs import JobState, JobStore
from fincredit.federation._psi_buckets import PlatformLinkSpec, align_parquet
from fincredit.federation._psi_protocol import Alignment
from fincredit.federation._ray import ray_available
from fincredit.federation._runtime import Channel
from fincredit.federation._scoring_cli import scoring_app
from fincredit.federation.errors import FederationError, WireError
from fincredit.federation.wire import Link

app = typer.Typer(
    add_completion=False, no_args_is_help=True, help="fincredit bank-side joint-modelling jobs."
)
app.add_typer(scoring_app, name="scoring")
_console = Console(stderr=True)

WorkdirOpt = Annotated[Path, typer.Option("--workdir", help="Where job state is kept.")]
_DEFAULT_WORKDIR = Path(".fincredit")


def _connect(platform: str, token: str, *, timeout: float, verify: bool | str) -> PlatformConnection:
    return PlatformConnection(platform, token, timeout=timeout, verify=verify)


def _write_alignment(alignment: Alignment, out: Path, id_column: str) -> None:
    frame = pd.DataFrame(
        {"join_index": range(alignment.size), "row": alignment.rows, id_column: alignment.ids}
    )
    frame.to_csv(out, index=False)


@app.command()
def align(
    csv: Annotated[
        Path,
        typer.Argument(
            help="CSV or Parquet file with the bank's applicants (Parquet: bucketed, resumable KKRT).",
            exists=True,
            dir_okay=False,
        ),
    ],
    id_column: Annotated[str, typer.Option(help="Column holding the USCC or resident ID.")],
    platform: Annotated[str, typer.Option(help="Platform base URL, e.g. https://credit.example.")] = "",
    job_id: Annotated[str | None, typer.Option(help="Job id; a new one is made when omitted.")] = None,
    scope: Annotated[list[str] | None, typer.Option(help="Consent scope the job needs (repeatable).")] = None,
    out: Annotated[Path | None, typer.Option(help="Write the aligned rows (join_index,row,id) here.")] = None,
    workdir: WorkdirOpt = _DEFAULT_WORKDIR,
    token_env: Annotated[
        str, typer.Option(help="Environment variable holding the bank token.")
    ] = "FINCREDIT_TOKEN",
    ca_bundle: Annotated[Path | None, typer.Option(help="CA bundle to verify the platform's TLS.")] = None,
    insecure: Annotated[bool, typer.Option(help="Skip TLS verification (local test servers only).")] = False,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for any one platform reply.")] = 120.0,
    progress: Annotated[bool, typer.Option(help="Show progress bars.")] = True,
    protocol: Annotated[
        str, typer.Option(help="PSI protocol: kkrt (OT extension, default) or ecdh (the slower fallback).")
    ] = "kkrt",
    ray: Annotated[bool, typer.Option(help="Parquet input: run the hash buckets as Ray tasks.")] = True,
    bucket_rows: Annotated[int, typer.Option(help="Parquet input: bank rows per hash bucket.")] = 1_000_000,
) -> None:
    """Privately intersect the CSV's identifiers with the platform's consenting subjects."""
    if protocol not in ("kkrt", "ecdh"):
        _fail(f"--protocol must be kkrt or ecdh, not {protocol!r}")
    with JobStore(workdir) as store:
        record = store.find(job_id) if job_id else None
        if record is None:
            record = store.create(job_id, meta={"source": str(csv), "id_column": id_column})
        elif record.running:
            _fail(f"job {record.job_id} is {record.state} in process {record.pid}; wait for it or kill it")
        saved = store.load_alignment(record.job_id)
        if saved is not None:
            _console.print(f"job {record.job_id}: reusing its alignment of {saved.size:,} rows")
            alignment = saved
        else:
            token = os.environ.get(token_env, "")
            if not token:
                _fail(f"set the bank token in ${token_env}")
            if not platform:
                _fail("--platform is required to align")
            verify: bool | str = False if insecure else (str(ca_bundle) if ca_bundle else True)
            parquet = csv.suffix.lower() == ".parquet"
            if parquet and protocol != "kkrt":
                _fail("Parquet input aligns by KKRT in hash buckets; use a CSV for --protocol ecdh")
            try:
                with store.step(record.job_id, JobState.ALIGNING, "private set intersection running"):
                    if parquet:
                        # The job's bucket state lives in the workdir: a rerun resumes unfinished buckets.
                        use_ray = ray and ray_available()
                        connect: Callable[[], Link | Channel] = (
                            PlatformLinkSpec(platform, token, verify=verify, timeout=timeout)
                            if use_ray
                            else lambda: _connect(platform, token, timeout=timeout, verify=verify)
                        )
                        alignment = align_parquet(
                            connect,
                            record.job_id,
                            csv,
                            id_column=id_column,
                            workdir=workdir,
                            scopes=scope or [],
                            bucket_rows=bucket_rows,
                            use_ray=use_ray,
                            progress=progress,
                        )
                        exchanged = None
                    else:
                        ids = pd.read_csv(csv, usecols=[id_column], dtype=str)[id_column].tolist()
                        with _connect(platform, token, timeout=timeout, verify=verify) as conn:
                            alignment = conn.align(
                                record.job_id,
                                ids,
                                scopes=scope or [],
                                progress=progress,
                                protocol="ecdh" if protocol == "ecdh" else "kkrt",
                            )
                            exchanged = conn.bytes_exchanged
                    store.save_alignment(alignment)
                    store.note(
                        record.job_id,
                        f"aligned {alignment.size:,} of {alignment.own_size:,} rows",
                        aligned=alignment.size,
                        alignment_id=alignment.alignment_id,
                        bytes_exchanged=exchanged,
                    )
            except (FederationError, WireError, ValueError) as exc:
                _fail(f"job {record.job_id} failed: {exc}")
        if out is not None:
            _write_alignment(alignment, out, id_column)
        typer.echo(
            f"{record.job_id}\taligned {alignment.size} of {alignment.own_size} rows"
            f"\t{alignment.alignment_id}"
        )


@app.command()
def jobs(workdir: WorkdirOpt = _DEFAULT_WORKDIR) -> None:
    """List the jobs in the working directory."""
    with JobStore(workdir) as store:
        table = Table("job", "state", "updated", "message")
        for rec in store.jobs():
            updated = dt.datetime.fromtimestamp(rec.updated_at, dt.UTC).strftime("%Y-%m-%d %H:%M:%S")
            table.add_row(
                rec.job_id, rec.state.value + (" (running)" if rec.running else ""), updated, rec.message
            )
        Console().print(table)


@app.command()
def status(job_id: str, workdir: WorkdirOpt = _DEFAULT_WORKDIR) -> None:
    """Show one job's state; exits 1 when the job failed."""
    with JobStore(workdir) as store:
        try:
            rec = store.get(job_id)
        except FederationError as exc:
            _fail(str(exc))
        typer.echo(f"{rec.job_id}\t{rec.state.value}{' (running)' if rec.running else ''}\t{rec.message}")
        if rec.state is JobState.FAILED:
            raise typer.Exit(1)


def _fail(message: str) -> NoReturn:
    _console.print(f"[red]error:[/red] {message}")
    raise typer.Exit(2)


if __name__ == "__main__":  # pragma: no cover
    app()
