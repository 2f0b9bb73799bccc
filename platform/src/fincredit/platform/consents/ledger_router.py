"""The consent ledger over HTTP: regulators and the credit authority filter and export it; anyone holding
a signed tree head can fetch checkpoints, proofs and the public key and verify without trusting us."""

from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import FileResponse, PlainTextResponse
from starlette.background import BackgroundTask

from fincredit.consent import EntryType, Purpose
from fincredit.platform.consents import (
    EntryFilter,
    consistency_proof,
    entry_view,
    export_ledger,
    inclusion_proof,
    latest_checkpoint,
    list_entries,
    note_signer,
    read_size,
    subject_index_of,
)
from fincredit.platform.consents._witnesses import configured_witnesses, published_checkpoint, witness_quorum
from fincredit.platform.consents.schemas import LedgerEntryOut, LedgerPage, PublicKeyOut
from fincredit.platform.core.deps import ServicesDep, public, require, set_audit_subject
from fincredit.platform.core.schemas import INT64_MAX
from fincredit.platform.identity.principal import Principal
from fincredit.platform.subjects import find_subject

router = APIRouter(prefix="/api/v1/ledger", tags=["ledger"])
NOTE = "text/plain; charset=utf-8"


@router.get("/entries", response_model=LedgerPage)
def ledger_entries(
    request: Request,
    services: ServicesDep,
    _: Annotated[Principal, Depends(require("ledger", "read"))],
    subject: Annotated[str | None, Query(max_length=40, description="USCC or resident ID")] = None,
    grantee: Annotated[str | None, Query(max_length=64)] = None,
    purpose: Purpose | None = None,
    type: EntryType | None = None,
    consent_id: Annotated[str | None, Query(max_length=64)] = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    after: Annotated[
        int | None,
        Query(ge=0, le=INT64_MAX, description="cursor: seq of the last entry of the previous page"),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> LedgerPage:
    """The ledger filtered by subject, grantee, purpose, entry type (``refusal`` for refused attempts),
    consent and time, in sequence order."""
    with services.read() as session:
        index = None
        if subject is not None:
            row = find_subject(session, services.keyring, subject)
            set_audit_subject(request, row.id)
            index = subject_index_of(services, row)
        flt = EntryFilter(
            subject_index=index,
            grantee=grantee,
            purpose=None if purpose is None else purpose.value,
            type=None if type is None else type.value,
            consent_id=consent_id,
            since=since,
            until=until,
        )
        rows, cursor = list_entries(session, flt, after=after, limit=limit)
        items = [LedgerEntryOut.model_validate(entry_view(r)) for r in rows]
    return LedgerPage(items=items, next_cursor=cursor)


@router.get("/export", response_class=FileResponse)
def ledger_export(
    services: ServicesDep,
    _: Annotated[Principal, Depends(require("ledger", "export"))],
    format: Literal["parquet", "jsonl"] = "parquet",
    size: Annotated[
        int | None, Query(ge=0, le=INT64_MAX, description="export entries 0..size-1; default all")
    ] = None,
) -> FileResponse:
    """The whole ledger (seq, canonical entry, leaf hash) as Parquet or JSON lines: what
    ``fincredit-consent verify`` checks offline against a signed checkpoint."""
    tmp = Path(tempfile.mkdtemp(prefix="ledger-export-"))
    path = tmp / f"ledger.{format}"
    count = export_ledger(services, path, size=size)

    def cleanup() -> None:
        path.unlink(missing_ok=True)
        tmp.rmdir()

    media = "application/vnd.apache.parquet" if format == "parquet" else "application/jsonl"
    return FileResponse(
        path,
        media_type=media,
        filename=f"consent-ledger-{count}.{format}",
        headers={"X-Ledger-Size": str(count)},
        background=BackgroundTask(cleanup),
    )


@router.get("/checkpoint", response_class=PlainTextResponse, dependencies=[Depends(public)])
def ledger_checkpoint(
    services: ServicesDep,
    size: Annotated[
        int | None, Query(ge=0, le=INT64_MAX, description="a historic checkpoint's tree size")
    ] = None,
) -> PlainTextResponse:
    """The latest signed tree head (C2SP tlog-checkpoint, Ed25519 signed note), signed on demand if new
    entries arrived since the last one; with ``size``, a checkpoint signed earlier at that size. It carries
    the cosignature lines (C2SP tlog-cosignature) of the platform's witnesses that co-signed it."""
    return PlainTextResponse(published_checkpoint(services, size).note, media_type=NOTE)


@router.get("/proofs/inclusion", dependencies=[Depends(public)])
def ledger_inclusion_proof(
    services: ServicesDep,
    seq: Annotated[int, Query(ge=0, le=INT64_MAX)],
    size: Annotated[
        int | None, Query(ge=1, le=INT64_MAX, description="tree size; default the latest checkpoint's")
    ] = None,
) -> dict[str, object]:
    """RFC 9162 inclusion proof of entry ``seq`` in the tree of ``size`` entries (O(log n) stored hashes)."""
    if size is None:
        size = int(latest_checkpoint(services, fresh=True).size)
    with services.read() as session:
        return inclusion_proof(session, seq, size, with_entry=False).to_json()


@router.get("/proofs/consistency", dependencies=[Depends(public)])
def ledger_consistency_proof(
    services: ServicesDep,
    first: Annotated[int, Query(ge=0, le=INT64_MAX)],
    second: Annotated[int | None, Query(ge=0, le=INT64_MAX, description="default: the current size")] = None,
) -> dict[str, object]:
    """RFC 9162 consistency proof that the tree of ``second`` entries extends that of ``first``."""
    with services.read() as session:
        second = read_size(session) if second is None else second
        return consistency_proof(session, first, second).to_json()


@router.get("/public-key", response_model=PublicKeyOut, dependencies=[Depends(public)])
def ledger_public_key(services: ServicesDep) -> PublicKeyOut:
    """The platform's Ed25519 key that signs checkpoints and consent receipts, and the witnesses whose
    cosignatures its checkpoints carry."""
    verifier = note_signer(services).verifier
    return PublicKeyOut(
        origin=services.settings.ledger_origin,
        key_name=verifier.name,
        key_id=verifier.key_id.hex(),
        vkey=verifier.vkey(),
        public_key_pem=services.keyring.public_key_pem,
        witnesses=[w.vkey for w in configured_witnesses(services)],
        witness_quorum=witness_quorum(services),
    )
