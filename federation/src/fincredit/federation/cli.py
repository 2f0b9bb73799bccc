"""``fincredit-bank``: the bank risk team's command line for joint-modelling jobs.

    export FINCREDIT_TOKEN=...            # the bank's API token, never on the command line
    export FINCREDIT_URL=https://credit.example
    fincredit-bank train loans.csv --id-column uscc --label default -f loan_amount_log,term_months \\
        -p tax_rating_latest -p tax_rating_worst_3y --algorithm secureboost
    fincredit-bank jobs
    fincredit-bank status                 # the most recent job, here and on the platform
    fincredit-bank scoring score applicants.parquet scores.parquet   # with the latest trained model
    fincredit-bank align applicants.csv --id-column uscc -p tax_rating_latest --out aligned.csv

``train`` creates the job on the platform (the platform names it), aligns by PSI, trains, evaluates on
a held-out split and completes the job, with a progress bar per step; nothing needs a hand-made job id.
Job state lives in ``--workdir`` (default ``./.fincredit``). Rerunning ``align`` for a job that already
aligned reuses the saved alignment; for a job that failed or was interrupted it aligns again.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, NoReturn

import pandas as pd
import typer
from rich.console import Console
from rich.table import Table

from fincredit.federation._http_link import PlatformConnection
from fincredit.federation._jobs import JobRecord, JobState, JobStore
from fincredit.federation._mlflow_log import log_bank_model
from fincredit.federation._platform_api import JointJobInfo, JointLab, TrainedJob
from fincredit.federation._psi_buckets import PlatformLinkSpec, align_parquet
from fincredit.federation._psi_protocol import Alignment
from fincredit.federation._ray import ray_available
from fincredit.federation._runtime import Channel
from fincredit.federation._scoring_cli import save_bank_part, scoring_app
from fincredit.federation._secureboost import SecureBoostParams
from fincredit.federation._vertical_lr import LogisticParams
from fincredit.federation.errors import FederationError, WireError
from fincredit.federation.wire import Link

app = typer.Typer(
    add_completion=False, no_args_is_help=True, help="fincredit bank-side joint-modelling jobs."
)
app.add_typer(scoring_app, name="scoring")
_console = Console(stderr=True)

WorkdirOpt = Annotated[Path, typer.Option("--workdir", help="Where job state is kept.")]
PlatformOpt = Annotated[
    str, typer.Option(envvar="FINCREDIT_URL", help="Platform base URL, e.g. https://credit.example.")
]
TokenEnvOpt = Annotated[str, typer.Option(help="Environment variable holding the bank token.")]
CaOpt = Annotated[Path | None, typer.Option(help="CA bundle to verify the platform's TLS.")]
InsecureOpt = Annotated[bool, typer.Option(help="Skip TLS verification (local test servers only).")]
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
    platform: PlatformOpt = "",
    job_id: Annotated[
        str | None, typer.Option(help="The platform job; omitted: a new job is created on the platform.")
    ] = None,
    algorithm: Annotated[str, typer.Option(help="New job: secureboost or logistic.")] = "secureboost",
    platform_feature: Annotated[
        list[str] | None,
        typer.Option("--platform-feature", "-p", help="New job: a platform feature (repeatable)."),
    ] = None,
    scope: Annotated[list[str] | None, typer.Option(help="Consent scope the job needs (repeatable).")] = None,
    out: Annotated[Path | None, typer.Option(help="Write the aligned rows (join_index,row,id) here.")] = None,
    workdir: WorkdirOpt = _DEFAULT_WORKDIR,
    token_env: TokenEnvOpt = "FINCREDIT_TOKEN",
    ca_bundle: CaOpt = None,
    insecure: InsecureOpt = False,
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
    if job_id is None:
        # The platform names jobs: it checks the bank's quota and the requested features' scopes first.
        with _lab(platform, token_env, ca_bundle, insecure, timeout) as lab:
            try:
                wanted = _split(platform_feature or []) or _offered_for(lab, scope or [])
                job = lab.create_job(algorithm=algorithm, platform_features=wanted, catalog_items=scope or [])
            except (FederationError, ValueError) as exc:
                _fail(f"cannot create the job: {exc}", code=1)
        job_id, scope = job.id, job.scopes
        _console.print(f"job {job.id} created on the platform (scopes {', '.join(job.scopes)})")
    with JobStore(workdir) as store:
        record = store.find(job_id)
        if record is None:
            meta = {"source": str(csv), "id_column": id_column, "platform": platform, "scopes": scope or []}
            record = store.create(job_id, meta=meta)
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
def train(
    data: Annotated[
        Path,
        typer.Argument(
            help="CSV or Parquet with the bank's loans: id, features, label.", exists=True, dir_okay=False
        ),
    ],
    id_column: Annotated[str, typer.Option(help="Column holding the USCC of each applicant.")],
    label: Annotated[str, typer.Option(help="Column holding the 0/1 outcome (1 = default).")],
    feature: Annotated[
        list[str],
        typer.Option("--feature", "-f", help="A bank feature column (repeatable, or comma-separated)."),
    ],
    platform_feature: Annotated[
        list[str] | None,
        typer.Option(
            "--platform-feature",
            "-p",
            help="A platform feature (repeatable). Omitted: every feature the platform offers from --scope.",
        ),
    ] = None,
    algorithm: Annotated[str, typer.Option(help="secureboost (trees) or logistic.")] = "secureboost",
    purpose: Annotated[str, typer.Option(help="What the model is for (shown to the platform).")] = (
        "joint credit-risk model"
    ),
    scope: Annotated[
        list[str] | None,
        typer.Option(
            help="Catalog item or market dataset the job may use (repeatable; default: the features')."
        ),
    ] = None,
    job_id: Annotated[
        str | None, typer.Option(help="Continue a platform job made by 'align' (default: a new job).")
    ] = None,
    trees: Annotated[int, typer.Option(help="secureboost: number of trees.")] = 20,
    depth: Annotated[int, typer.Option(help="secureboost: maximum tree depth.")] = 3,
    categorical: Annotated[
        list[str] | None,
        typer.Option(
            help="secureboost: a feature, the bank's or the platform's, whose values are category codes "
            "(repeatable; split as LightGBM splits categorical_feature)."
        ),
    ] = None,
    iterations: Annotated[int, typer.Option(help="logistic: gradient iterations.")] = 30,
    test_size: Annotated[float, typer.Option(help="Share of aligned rows held out for evaluation.")] = 0.2,
    deposit: Annotated[
        bool,
        typer.Option(help="logistic: deposit the bank's weights with the platform (lr-deposited scoring)."),
    ] = False,
    platform: PlatformOpt = "",
    workdir: WorkdirOpt = _DEFAULT_WORKDIR,
    token_env: TokenEnvOpt = "FINCREDIT_TOKEN",
    ca_bundle: CaOpt = None,
    insecure: InsecureOpt = False,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for any one platform reply.")] = 600.0,
    progress: Annotated[bool, typer.Option(help="Show progress bars.")] = True,
    mlflow_uri: Annotated[
        str | None,
        typer.Option(
            help="The bank's MLflow (e.g. sqlite:///mlflow.db): log the bank's half there and register it "
            "as a version of --registered-model (needs fincredit-federation[mlflow])."
        ),
    ] = None,
    registered_model: Annotated[
        str, typer.Option(help="With --mlflow-uri: the model the bank's half becomes a version of.")
    ] = "fincredit-joint-model",
) -> None:
    """Create a joint-modelling job on the platform, align, train, evaluate and complete it, end to end.

    Writes the bank's half of the model, the evaluation, the held-out scores (keyed by --id-column) and
    the alignment under --workdir/jobs/<job id>/; 'fincredit-bank scoring score' then uses the model."""
    features = _split(feature)
    if algorithm not in ("secureboost", "logistic"):
        _fail(f"--algorithm must be secureboost or logistic, not {algorithm!r}")
    if not 0.0 < test_size < 1.0:
        _fail(f"--test-size must be between 0 and 1, not {test_size}")
    if deposit and algorithm != "logistic":
        _fail("--deposit applies to logistic models only")
    df = _read_frame(data, id_column)
    params = (
        SecureBoostParams(n_trees=trees, max_depth=depth, categorical_feature=_split(categorical or []))
        if algorithm == "secureboost"
        else None
    )
    if categorical and algorithm != "secureboost":
        _fail("--categorical applies to secureboost models only")
    logistic = LogisticParams(iterations=iterations) if algorithm == "logistic" else None
    try:
        with _lab(platform, token_env, ca_bundle, insecure, timeout) as lab, JobStore(workdir) as store:
            wanted = _split(platform_feature or [])
            if not wanted:
                wanted = _offered_for(lab, scope or [])
            saved = None
            if job_id is not None:
                record = store.find(job_id)
                saved = store.load_alignment(job_id) if record is not None else None
                job = lab.job(job_id)
                if record is None:
                    record = store.create(job.id, meta=_meta(job, data, id_column, platform))
                elif record.running:
                    _fail(f"job {job_id} is {record.state} in process {record.pid}; wait for it or kill it")
            else:
                job = lab.create_job(
                    algorithm=algorithm,
                    platform_features=wanted,
                    purpose=purpose,
                    catalog_items=[s for s in scope or []],
                )
                record = store.create(job.id, meta=_meta(job, data, id_column, platform))
            _console.print(f"job [bold]{job.id}[/bold] on {lab.base_url}: scopes {', '.join(job.scopes)}")

            def stage(message: str) -> None:
                _console.print(f"  [bold cyan]>[/bold cyan] {message}")
                if message.startswith("training "):  # the SDK's stage line once the alignment is done
                    store.transition(job.id, JobState.TRAINING, message)

            with store.step(job.id, JobState.ALIGNING, "aligning with the platform (PSI)"):
                trained = lab.train(
                    df,
                    id_column=id_column,
                    label=label,
                    features=features,
                    platform_features=job.platform_features,
                    algorithm=algorithm,  # type: ignore[arg-type]
                    logistic=logistic,
                    secureboost=params,
                    test_size=test_size,
                    deposit=deposit,
                    job_id=job.id,
                    alignment=saved,
                    progress=progress,
                    on_stage=stage,
                )
                paths = _write_fit(store, trained)
            store.transition(
                job.id,
                JobState.DONE,
                f"completed; AUC {trained.fit.report.auc_joint:.4f} "
                f"(bank-only {trained.fit.report.auc_bank_only:.4f})",
                model=str(paths["model"]),
                mlflow_run_id=trained.job.mlflow_run_id,
                aligned=trained.job.aligned,
            )
    except (FederationError, WireError, ValueError, OSError) as exc:
        _fail(f"training failed: {exc}", code=1)
    if mlflow_uri is not None:
        _register_bank_half(trained, mlflow_uri, registered_model)
    rep = trained.fit.report
    _console.print(
        f"aligned {trained.job.aligned} rows; AUC bank-only {rep.auc_bank_only:.4f} -> joint "
        f"{rep.auc_joint:.4f} ({rep.auc_uplift:+.4f}), KS {rep.ks_bank_only:.3f} -> {rep.ks_joint:.3f}; "
        f"platform's MLflow run {trained.job.mlflow_run_id}"
    )
    typer.echo(f"{trained.job.id}\t{trained.job.state}\t{paths['model']}")


def _register_bank_half(trained: TrainedJob, uri: str, name: str) -> None:
    """The bank's counterpart of the platform's registry entry: its half, with the job's lineage."""
    lineage = {
        "job_id": trained.job.id,
        "scopes": trained.job.scopes,
        "platform_features": trained.job.platform_features,
        "aligned_rows": trained.job.aligned,
        "platform_mlflow_run_id": trained.job.mlflow_run_id,
    }
    try:
        run_id = log_bank_model(trained.fit, lineage=lineage, tracking_uri=uri, registered_model=name)
    except ImportError as exc:
        _fail(str(exc), code=1)
    _console.print(f"the bank's half: MLflow run {run_id}, a new version of {name!r} at {uri}")


def _split(values: list[str]) -> list[str]:
    return [v.strip() for item in values for v in item.split(",") if v.strip()]


def _read_frame(path: Path, id_column: str) -> pd.DataFrame:
    try:
        if path.suffix.lower() in (".parquet", ".pq"):
            df = pd.read_parquet(path)
        else:
            df = pd.read_csv(path, dtype={id_column: str})
    except (OSError, ValueError) as exc:
        _fail(f"cannot read {path}: {exc}")
    if id_column not in df.columns:
        _fail(f"{path} has no column {id_column!r} (columns: {', '.join(map(str, df.columns[:20]))})")
    return df


def _offered_for(lab: JointLab, scopes: list[str]) -> list[str]:
    offered = lab.features()
    if not scopes:
        names = ", ".join(f.name for f in offered)
        _fail(f"name the platform features with --platform-feature, or scopes with --scope; offered: {names}")
    chosen = [f.name for f in offered if f.sources and set(f.sources) <= set(scopes)]
    if not chosen:
        _fail(f"the platform offers no feature computed only from {scopes}")
    return chosen


def _meta(job: JointJobInfo, data: Path, id_column: str, platform: str) -> dict[str, object]:
    return {
        "platform": platform,
        "source": str(data),
        "id_column": id_column,
        "algorithm": job.algorithm,
        "platform_features": job.platform_features,
        "scopes": job.scopes,
    }


def _write_fit(store: JobStore, trained: TrainedJob) -> dict[str, Path]:
    fit = trained.fit
    folder = store.job_dir(trained.job.id)
    paths = {
        "model": folder / "bank_part.json",
        "evaluation": folder / "evaluation.json",
        "scores": folder / "heldout_scores.csv",
        "alignment": folder / "alignment.csv",
    }
    save_bank_part(fit.bank_part, paths["model"])
    paths["evaluation"].write_text(json.dumps(fit.evaluation(), indent=1))
    pd.DataFrame({"joint": fit.scores, "bank_only": fit.bank_only_scores, "label": fit.labels}).to_csv(
        paths["scores"]
    )
    fit.alignment.to_csv(paths["alignment"], index=False)
    return paths


def _lab(platform: str, token_env: str, ca_bundle: Path | None, insecure: bool, timeout: float) -> JointLab:
    token = os.environ.get(token_env, "")
    if not token:
        _fail(f"set the bank token in ${token_env}")
    if not platform:
        _fail("name the platform with --platform or $FINCREDIT_URL")
    verify: bool | str = False if insecure else (str(ca_bundle) if ca_bundle else True)
    return JointLab(platform, token, timeout=timeout, verify=verify)


@app.command()
def approve(
    job_id: Annotated[
        str | None, typer.Argument(help="The job whose model to approve (default: latest).")
    ] = None,
    note: Annotated[str, typer.Option(help="What was reviewed (the validation report, its date).")] = "",
    alias: Annotated[
        str | None, typer.Option(help="Then point this alias at it: champion or challenger.")
    ] = None,
    platform: PlatformOpt = "",
    workdir: WorkdirOpt = _DEFAULT_WORKDIR,
    token_env: TokenEnvOpt = "FINCREDIT_TOKEN",
    ca_bundle: CaOpt = None,
    insecure: InsecureOpt = False,
) -> None:
    """Model-risk sign-off: approve a trained model's version (run it with a second person's token;
    the platform refuses the account that trained it). Encrypted scoring needs an approved version."""
    if not note.strip():
        _fail("say what was reviewed with --note")
    if job_id is None:
        with JobStore(workdir) as store:
            job_id = _job_or_latest(store, None).job_id
    try:
        with _lab(platform, token_env, ca_bundle, insecure, 60.0) as lab:
            version = lab.approve(job_id, note)
            if alias is not None:
                version = lab.set_alias(job_id, alias)
    except (FederationError, ValueError) as exc:
        _fail(f"approval failed: {exc}", code=1)
    aliases = ",".join(version["aliases"])
    typer.echo(f"{job_id}\t{version['name']} v{version['version']}\t{version['status']}\t{aliases}")


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
def status(
    job_id: Annotated[str | None, typer.Argument(help="The job (default: the most recent one).")] = None,
    workdir: WorkdirOpt = _DEFAULT_WORKDIR,
    token_env: TokenEnvOpt = "FINCREDIT_TOKEN",
) -> None:
    """Show one job's state here and, when the token is set, on the platform; exits 1 when it failed."""
    with JobStore(workdir) as store:
        rec = _job_or_latest(store, job_id)
        typer.echo(f"{rec.job_id}\t{rec.state.value}{' (running)' if rec.running else ''}\t{rec.message}")
        platform = str(rec.meta.get("platform") or "")
        if platform and os.environ.get(token_env):
            try:
                with JointLab(platform, os.environ[token_env], timeout=30) as lab:
                    remote = lab.job(rec.job_id)
                typer.echo(f"platform\t{remote.state}\t{remote.status}")
            except FederationError as exc:
                _console.print(f"[yellow]platform state unavailable:[/yellow] {exc}")
        if rec.state is JobState.FAILED:
            raise typer.Exit(1)


def _job_or_latest(store: JobStore, job_id: str | None) -> JobRecord:
    if job_id is not None:
        try:
            return store.get(job_id)
        except FederationError as exc:
            _fail(str(exc))
    records = store.jobs()
    if not records:
        _fail(f"no jobs in {store.workdir}: start one with 'fincredit-bank train' or 'fincredit-bank align'")
    return max(records, key=lambda r: r.updated_at)


def _fail(message: str, *, code: int = 2) -> NoReturn:
    """Exit 2 for a wrong invocation or input, 1 when the work itself failed."""
    _console.print(f"[red]error:[/red] {message}")
    raise typer.Exit(code)


if __name__ == "__main__":  # pragma: no cover
    app()
