"""``fincredit-bank scoring score``: encrypted scoring of an applicant file (Parquet or CSV in and out).

``fincredit.federation.cli`` mounts ``scoring_app`` under ``fincredit-bank scoring``. The file is
read and written in batches (Parquet row groups, CSV chunks), so a file of any size scores in bounded
memory; inside a batch the scorer sizes its requests itself.

The bank's model half is a JSON file written by :func:`save_bank_part`::

    {"type": "logistic", "model_id": ..., "features": [...], "weights": [...], "intercept": ...,
     "means": [...], "scales": [...]}
    {"type": "tree", "model_id": ..., "base_score": ..., "learning_rate": ..., "bank_features": [...],
     "trees": [[{"node_id": 0, "owner": "bank", "feature": ..., ...}, ...], ...]}
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import typer
from rich.console import Console

from fincredit.federation.errors import FederationError
from fincredit.federation.joint_model import BankLogisticPart, BankTreePart, TreeNode

__all__ = ["ScoreFileSummary", "load_bank_part", "save_bank_part", "score_file", "scoring_app"]

scoring_app = typer.Typer(
    add_completion=False, no_args_is_help=True, help="Encrypted (CKKS) scoring with a joint model."
)
_console = Console(stderr=True)


def save_bank_part(part: BankLogisticPart | BankTreePart, path: Path) -> None:
    body = dataclasses.asdict(part)
    body["type"] = "tree" if isinstance(part, BankTreePart) else "logistic"
    path.write_text(json.dumps(body, indent=1))


def load_bank_part(path: Path) -> BankLogisticPart | BankTreePart:
    body: dict[str, Any] = json.loads(path.read_text())
    kind = body.pop("type", None)
    if kind == "logistic":
        return BankLogisticPart(**body)
    if kind == "tree":
        body["trees"] = [[TreeNode(**node) for node in tree] for tree in body["trees"]]
        return BankTreePart(**body)
    raise ValueError(f"{path}: 'type' must be 'logistic' or 'tree', not {kind!r}")


@dataclasses.dataclass(slots=True)
class ScoreFileSummary:
    rows: int = 0
    scored: int = 0
    refused: int = 0
    refusal_reasons: dict[str, int] = dataclasses.field(default_factory=dict)


def _is_parquet(path: Path) -> bool:
    return path.suffix.lower() in (".parquet", ".pq")


def _batches(path: Path, columns: list[str], batch_rows: int) -> Iterator[pd.DataFrame]:
    if _is_parquet(path):
        for batch in pq.ParquetFile(path).iter_batches(batch_size=batch_rows, columns=columns):
            yield batch.to_pandas()
    else:
        yield from pd.read_csv(path, usecols=columns, chunksize=batch_rows, dtype={columns[0]: str})


def score_file(scorer: Any, source: Path, target: Path, *, batch_rows: int = 100_000) -> ScoreFileSummary:
    """Score ``source`` batch by batch with an :class:`EncryptedScorer` and write ``target``.

    The output has the id column, ``score`` (log-odds), ``probability`` and ``refused`` (reason code,
    empty when scored); its format follows the target's suffix (``.parquet``/``.pq`` or CSV).
    """
    summary = ScoreFileSummary()
    columns = [scorer.id_column, *scorer.features]
    writer: pq.ParquetWriter | None = None
    first = True
    try:
        for batch in _batches(source, columns, batch_rows):
            out = scorer.score(batch)
            stats = scorer.stats
            summary.rows += stats.rows
            summary.scored += stats.scored
            summary.refused += stats.refused
            for reason, count in stats.refusal_reasons.items():
                summary.refusal_reasons[reason] = summary.refusal_reasons.get(reason, 0) + count
            if _is_parquet(target):
                schema = pa.schema(
                    [
                        (scorer.id_column, pa.string()),
                        ("score", pa.float64()),
                        ("probability", pa.float64()),
                        ("refused", pa.string()),
                    ]
                )
                table = pa.Table.from_pandas(out, schema=schema, preserve_index=False)
                if writer is None:
                    writer = pq.ParquetWriter(target, schema)
                writer.write_table(table)
            else:
                out.to_csv(target, mode="w" if first else "a", header=first, index=False)
            first = False
    finally:
        if writer is not None:
            writer.close()
    if first:  # an empty input still gets an output with the header
        empty = pd.DataFrame(columns=[scorer.id_column, "score", "probability", "refused"])
        if _is_parquet(target):
            empty.to_parquet(target, index=False)
        else:
            empty.to_csv(target, index=False)
    return summary


@scoring_app.command("score")
def score_command(
    source: Annotated[Path, typer.Argument(help="Applicants (Parquet or CSV).", exists=True, dir_okay=False)],
    target: Annotated[Path, typer.Argument(help="Where to write the scores (.parquet or .csv).")],
    model: Annotated[
        Path | None,
        typer.Option(
            help="The bank's half (JSON). Default: the model of --job, or of the latest trained job."
        ),
    ] = None,
    job: Annotated[str | None, typer.Option(help="A job trained with 'fincredit-bank train'.")] = None,
    platform: Annotated[
        str, typer.Option(envvar="FINCREDIT_URL", help="Platform base URL (default: the job's platform).")
    ] = "",
    id_column: Annotated[
        str | None, typer.Option(help="Column with the applicant's USCC or resident ID (default: the job's).")
    ] = None,
    protocol: Annotated[
        str | None,
        typer.Option(
            help="LR: lr-partial (default: no deposit), lr-deposited, lr-masked; trees: tree-groups or "
            "tree-masked (default: chosen per request)."
        ),
    ] = None,
    batch_rows: Annotated[int, typer.Option(help="Rows read from the file at a time.")] = 100_000,
    workdir: Annotated[Path, typer.Option(help="Where 'fincredit-bank train' keeps its jobs.")] = Path(
        ".fincredit"
    ),
    token_env: Annotated[
        str, typer.Option(help="Environment variable holding the bank token.")
    ] = "FINCREDIT_TOKEN",
    ca_bundle: Annotated[Path | None, typer.Option(help="CA bundle to verify the platform's TLS.")] = None,
    insecure: Annotated[bool, typer.Option(help="Skip TLS verification (local test servers only).")] = False,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for any one platform reply.")] = 300.0,
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
) -> None:
    """Score every applicant of a file under CKKS; the platform never sees the bank's features."""
    from fincredit.federation._http_link import PlatformConnection
    from fincredit.federation.scorer import EncryptedScorer

    token = os.environ.get(token_env, "")
    if not token:
        _console.print(f"[red]set {token_env} to the bank's API token[/red]")
        raise typer.Exit(2)
    if model is None:
        model, meta = _trained_model(workdir, job)
        platform = platform or str(meta.get("platform") or "")
        id_column = id_column or str(meta.get("id_column") or "") or None
    elif not model.is_file():
        _console.print(f"[red]no model file {model}[/red]")
        raise typer.Exit(2)
    if not platform:
        _console.print("[red]name the platform with --platform or $FINCREDIT_URL[/red]")
        raise typer.Exit(2)
    verify: bool | str = False if insecure else (str(ca_bundle) if ca_bundle else True)
    try:
        part = load_bank_part(model)
        with PlatformConnection(platform, token, timeout=timeout, retries=0, verify=verify) as conn:
            scorer = EncryptedScorer(
                conn, part, id_column=id_column or "id", protocol=protocol, progress=progress
            )
            summary = score_file(scorer, source, target, batch_rows=batch_rows)
    except (FederationError, ValueError, KeyError, OSError) as exc:
        _console.print(f"[red]scoring failed:[/red] {exc}")
        raise typer.Exit(1) from None
    reasons = ", ".join(f"{k}: {v}" for k, v in sorted(summary.refusal_reasons.items())) or "none"
    _console.print(
        f"scored {summary.scored} of {summary.rows} applicants -> {target} "
        f"(refused {summary.refused}: {reasons})"
    )


def _trained_model(workdir: Path, job_id: str | None) -> tuple[Path, dict[str, Any]]:
    """The model file of ``job_id``, or of the most recently trained job in ``workdir``."""
    from fincredit.federation._jobs import JobState, JobStore

    if not (workdir / "jobs.sqlite3").exists():
        _console.print(
            f"[red]no --model given and no jobs in {workdir}: train one with 'fincredit-bank train'[/red]"
        )
        raise typer.Exit(2)
    with JobStore(workdir) as store:
        done = [r for r in store.jobs() if r.state is JobState.DONE and r.meta.get("model")]
        if job_id is not None:
            done = [r for r in done if r.job_id == job_id]
            if not done:
                _console.print(f"[red]job {job_id} has no trained model in {workdir}[/red]")
                raise typer.Exit(2)
        if not done:
            _console.print(f"[red]no trained job in {workdir}: train one with 'fincredit-bank train'[/red]")
            raise typer.Exit(2)
        record = max(done, key=lambda r: r.updated_at)
    _console.print(f"scoring with job {record.job_id}'s model")
    return Path(str(record.meta["model"])), dict(record.meta)
