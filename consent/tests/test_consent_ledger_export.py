"""The in-memory ledger keeps entries and tree in step; exports read back byte for byte."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from fincredit.consent import (
    ConsistencyProof,
    EntryType,
    InclusionProof,
    Ledger,
    LedgerEntry,
    LedgerError,
    ProofError,
    read_export,
    root_of,
)

T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)


def entry(seq: int, message: str = "") -> LedgerEntry:
    return LedgerEntry(
        seq=seq,
        type=EntryType.REFUSAL,
        at=T0 + dt.timedelta(seconds=seq),
        actor="user-1",
        message=message or None,
    )


@pytest.fixture
def ledger() -> Ledger:
    led = Ledger()
    led.append_many([entry(i, "拒绝: 无授权" if i % 5 == 0 else "") for i in range(37)])
    return led


def test_sequence_numbers_continue_without_gaps(ledger):
    with pytest.raises(LedgerError, match="seq 40 where 37 was next"):
        ledger.append(entry(40))
    assert len(ledger) == 37 and ledger.tree.size == 37
    ledger.append(entry(37))
    assert ledger.tree.root() == root_of([r.leaf_hash for r in ledger.rows()])


@pytest.mark.parametrize("suffix", [".parquet", ".jsonl"])
def test_an_export_reads_back_byte_for_byte(ledger, tmp_path, suffix):
    path = tmp_path / f"ledger{suffix}"
    assert ledger.export(path) == 37
    batches = list(read_export(path, batch_size=10))
    assert [len(b.seqs) for b in batches] == [10, 10, 10, 7]
    rows = [(s, e, h) for b in batches for s, e, h in zip(b.seqs, b.entries, b.leaf_hashes, strict=True)]
    assert rows == [(r.seq, r.entry, r.leaf_hash) for r in ledger.rows()]
    assert "拒绝".encode() in rows[0][1]


def test_a_malformed_json_lines_row_is_named(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"seq": 0, "entry": "{}", "leaf_hash": "' + "00" * 32 + '"}\n{"seq": 1}\n')
    with pytest.raises(LedgerError, match=r"bad\.jsonl:2"):
        list(read_export(path))


def test_proof_documents_round_trip_and_verify(ledger):
    root = ledger.tree.root()
    inc = ledger.inclusion_proof(12)
    again = InclusionProof.from_json(json.dumps(inc.to_json()))
    assert again == inc
    again.verify(root)
    only_entry = {k: v for k, v in inc.to_json().items() if k != "leaf_hash"}
    InclusionProof.from_json(only_entry).verify(root)
    cons = ledger.consistency_proof(20)
    assert ConsistencyProof.from_json(cons.to_json()) == cons
    cons.verify(ledger.tree.root(20), root)
    with pytest.raises(ProofError):
        cons.verify(ledger.tree.root(21), root)
    with pytest.raises(ProofError, match="malformed"):
        ConsistencyProof.from_json({"old_size": 1})
