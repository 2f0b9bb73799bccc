"""The ledger is verifiable by anyone: borrowers see every access to their data with an inclusion proof
that checks out under an RFC 9162 verifier written here from the RFC (not the library's), checkpoints are
signed C2SP notes that extend each other, and a regulator's export fails offline verification, naming
the entry, as soon as one byte of one entry changes."""

from __future__ import annotations

import hashlib
import json

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from typer.testing import CliRunner

from fincredit.consent import NoteVerifier, open_checkpoint
from fincredit.consent.cli import app as verifier_cli
from fincredit.platform.testing.plugin import auth, new_institution

from .test_consent_lifecycle import consent_request, new_borrower


# --- RFC 9162 §2.1, written from the text -------------------------------------------------------------
def _node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def rfc9162_verify_inclusion(index: int, size: int, leaf: bytes, path: list[bytes], root: bytes) -> bool:
    """§2.1.3.2: verifying an inclusion proof."""
    if index >= size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            return False
        if fn % 2 == 1 or fn == sn:
            r = _node(p, r)
            while fn % 2 == 0 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = _node(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def rfc9162_verify_consistency(first: int, second: int, first_root: bytes, second_root: bytes,
                               path: list[bytes]) -> bool:  # fmt: skip
    """§2.1.4.2: verifying a consistency proof (0 < first < second)."""
    if first & (first - 1) == 0:
        path = [first_root, *path]
    fn, sn = first - 1, second - 1
    while fn % 2 == 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn % 2 == 1 or fn == sn:
            fr, sr = _node(c, fr), _node(c, sr)
            while fn % 2 == 0 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = _node(sr, c)
        fn >>= 1
        sn >>= 1
    return fr == first_root and sr == second_root and sn == 0


# ---------------------------------------------------------------------------------------------------------


def _verifier(client) -> NoteVerifier:  # type: ignore[no-untyped-def]
    return NoteVerifier.from_vkey(client.get("/api/v1/ledger/public-key").json()["vkey"])


def _story(client, services):  # type: ignore[no-untyped-def]
    """A consent requested and approved, a check, a revocation: ledger entries about one borrower."""
    bank = new_institution(services, "bank")
    bank_h = auth(client, bank)
    borrower = new_borrower(client, services)
    cid = client.post("/api/v1/consents", headers=bank_h, json=consent_request(borrower.identifier)).json()[
        "id"
    ]
    client.post(f"/api/v1/me/consents/{cid}/approve", headers=borrower.headers)
    client.post(f"/api/v1/me/consents/{cid}/revoke", headers=borrower.headers)
    return bank, borrower, cid


def test_borrowers_see_every_access_with_proofs_that_verify_independently(client, services) -> None:  # type: ignore[no-untyped-def]
    bank, borrower, cid = _story(client, services)
    page = client.get("/api/v1/me/accesses", headers=borrower.headers).json()
    checkpoint = open_checkpoint(page["checkpoint"], _verifier(client), services.settings.ledger_origin)
    assert checkpoint.size == page["tree_size"]
    items = page["items"]
    assert [i["type"] for i in items] == ["consent_requested", "consent_granted", "consent_revoked"]
    assert all(i["consent_id"] == cid and i["grantee"] == bank.org_id for i in items)
    for item in items:
        leaf = hashlib.sha256(b"\x00" + item["canonical"].encode()).digest()
        assert leaf.hex() == item["leaf_hash"]
        proof = item["inclusion_proof"]
        assert proof["tree_size"] == checkpoint.size and proof["leaf_index"] == item["seq"]
        path = [bytes.fromhex(h) for h in proof["hashes"]]
        assert rfc9162_verify_inclusion(item["seq"], checkpoint.size, leaf, path, checkpoint.root_hash)
        assert not rfc9162_verify_inclusion(
            item["seq"] ^ 1, checkpoint.size, leaf, path, checkpoint.root_hash
        )


def test_public_proof_endpoints_verify_against_signed_checkpoints(client, services) -> None:  # type: ignore[no-untyped-def]
    verifier = _verifier(client)
    old_note = client.get("/api/v1/ledger/checkpoint").text
    old = open_checkpoint(old_note, verifier)
    _story(client, services)
    new_note = client.get("/api/v1/ledger/checkpoint")
    assert new_note.headers["content-type"].startswith("text/plain")
    new = open_checkpoint(new_note.text, verifier)
    assert new.size > old.size
    # historic checkpoints stay available and unchanged
    assert client.get("/api/v1/ledger/checkpoint", params={"size": old.size}).text == old_note
    assert client.get("/api/v1/ledger/checkpoint", params={"size": new.size + 10**6}).status_code == 404
    c = client.get("/api/v1/ledger/proofs/consistency", params={"first": old.size, "second": new.size}).json()
    path = [bytes.fromhex(h) for h in c["hashes"]]
    if old.size:
        assert rfc9162_verify_consistency(old.size, new.size, old.root_hash, new.root_hash, path)
    seq = new.size - 1
    p = client.get("/api/v1/ledger/proofs/inclusion", params={"seq": seq, "size": new.size}).json()
    leaf = bytes.fromhex(p["leaf_hash"])
    hashes = [bytes.fromhex(h) for h in p["hashes"]]
    assert rfc9162_verify_inclusion(seq, new.size, leaf, hashes, new.root_hash)
    assert "entry" not in p  # the public gets hashes, not the entry's content


def test_regulator_filters_the_ledger_and_sees_refusals(client, services) -> None:  # type: ignore[no-untyped-def]
    bank, borrower, cid = _story(client, services)
    regulator = auth(client, new_institution(services, "regulator"))
    by_subject = client.get(
        "/api/v1/ledger/entries", headers=regulator, params={"subject": borrower.identifier}
    ).json()
    assert [e["consent_id"] for e in by_subject["items"]] == [cid] * 3
    assert all(borrower.identifier not in e["canonical"] for e in by_subject["items"])  # never the raw code
    page = client.get(
        "/api/v1/ledger/entries", headers=regulator, params={"grantee": bank.org_id, "limit": 2}
    ).json()
    assert len(page["items"]) == 2 and page["next_cursor"] == page["items"][-1]["seq"]
    rest = client.get(
        "/api/v1/ledger/entries",
        headers=regulator,
        params={"grantee": bank.org_id, "after": page["next_cursor"]},
    ).json()
    assert [e["type"] for e in page["items"] + rest["items"]][-1] == "consent_revoked"
    refusals = client.get("/api/v1/ledger/entries", headers=regulator, params={"type": "refusal"})
    assert refusals.status_code == 200
    assert all(e["type"] == "refusal" for e in refusals.json()["items"])
    # banks and borrowers do not read the regulator's view
    assert client.get("/api/v1/ledger/entries", headers=auth(client, bank)).status_code == 403
    assert client.get("/api/v1/ledger/export", headers=borrower.headers).status_code == 403


@pytest.mark.parametrize("fmt", ["jsonl", "parquet"])
def test_export_verifies_offline_and_one_changed_byte_is_named(client, services, tmp_path, fmt) -> None:  # type: ignore[no-untyped-def]
    _story(client, services)
    regulator = auth(client, new_institution(services, "regulator"))
    note = client.get("/api/v1/ledger/checkpoint").text
    export = client.get("/api/v1/ledger/export", headers=regulator, params={"format": fmt})
    assert export.status_code == 200
    (tmp_path / "checkpoint").write_text(note)
    (tmp_path / f"ledger.{fmt}").write_bytes(export.content)
    (tmp_path / "key.pem").write_text(client.get("/api/v1/ledger/public-key").json()["public_key_pem"])
    args = ["verify", str(tmp_path / f"ledger.{fmt}"), "-c", str(tmp_path / "checkpoint")]
    args += ["--key", str(tmp_path / "key.pem"), "--origin", services.settings.ledger_origin]
    ok = CliRunner().invoke(verifier_cli, args)
    assert ok.exit_code == 0, ok.output
    assert "VERIFIED" in ok.output
    if fmt != "jsonl":
        return
    lines = (tmp_path / "ledger.jsonl").read_text().splitlines()
    victim = len(lines) // 2
    row = json.loads(lines[victim])
    row["entry"] = row["entry"].replace('"type":"', '"type":"x', 1)  # one entry, a few bytes
    lines[victim] = json.dumps(row, ensure_ascii=False, separators=(",", ":"))
    (tmp_path / "ledger.jsonl").write_text("\n".join(lines) + "\n")
    bad = CliRunner().invoke(verifier_cli, args)
    assert bad.exit_code == 1
    assert f"entry seq {row['seq']}" in bad.output and "VERIFICATION FAILED" in bad.output


def test_the_ledger_tables_are_append_only(services) -> None:  # type: ignore[no-untyped-def]
    for statement in (
        "UPDATE ledger_entries SET type = 'disclosure'",
        "DELETE FROM ledger_entries",
        "UPDATE ledger_nodes SET hash = hash",
        "DELETE FROM ledger_checkpoints",
    ):
        with pytest.raises(DBAPIError, match="append-only"), services.tx() as session:
            session.execute(text(statement))
