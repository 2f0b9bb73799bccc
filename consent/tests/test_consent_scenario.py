"""End to end: request, grant, disclosure, revocation, refused attempt — all ledgered and provable."""

from __future__ import annotations

import datetime as dt
import json

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from fincredit.consent import (
    EVENT_ENTRY,
    AccessMode,
    AccessRequest,
    CheckpointIssuer,
    ConsentEvent,
    ConsentIndex,
    ConsentState,
    EntryType,
    Ledger,
    LedgerEntry,
    NoteSigner,
    Purpose,
    SubjectIndexer,
    build_receipt,
    open_checkpoint,
    payload_digest,
    sign_receipt,
    verify_receipt,
)

ORIGIN = "ledger.fincredit.example/consent"


def test_a_revoked_consent_stops_the_next_disclosure_and_the_borrower_can_prove_both(
    make_artefact, approve, company, t0
):
    platform_key = Ed25519PrivateKey.generate()
    signer = NoteSigner(ORIGIN, platform_key)
    indexer = SubjectIndexer(b"blind-index-key-0123456789abcdef")
    ledger, consents = Ledger(), ConsentIndex()
    issuer = CheckpointIssuer(ORIGIN, signer, ledger.tree)

    def record(entry_for_seq) -> LedgerEntry:
        entry = entry_for_seq(ledger.next_seq)
        ledger.append(entry)
        return entry

    # The bank asks; the borrower grants from the app and downloads a signed receipt.
    state = ConsentState.requested(make_artefact())
    consents.put(state)
    record(
        lambda seq: LedgerEntry.consent_event(
            seq, t0, state, EntryType.CONSENT_REQUESTED, "bank-user-7", indexer
        )
    )
    state = state.grant(approve())
    consents.put(state)
    granted = record(
        lambda seq: LedgerEntry.consent_event(
            seq, t0, state, EVENT_ENTRY[ConsentEvent.GRANT], "acct:b-1", indexer
        )
    )
    receipt = build_receipt(
        state,
        controller_id="fincredit",
        controller_name="platform",
        controller_contact="dpo@fincredit.example",
        notice_url="https://fincredit.example/notice",
        notice_version="1",
        issued_at=t0,
        ledger_seq=granted.seq,
    )
    assert (
        verify_receipt(sign_receipt(receipt, platform_key, "k1"), platform_key.public_key())["ledger_seq"]
        == 1
    )

    # The bank queries: allowed, disclosed, ledgered with the hash of what it received.
    request = AccessRequest(
        granted.grantee or "",
        company,
        frozenset({"court.judgment"}),
        Purpose.LOAN_APPLICATION_ASSESSMENT,
        AccessMode.QUERY,
        account="bank-user-7",
    )
    when = t0 + dt.timedelta(hours=1)
    decision = consents.decide(request, when)
    assert decision.allowed
    payload = json.dumps({"judgments": [{"case": "(2025)浙0212民初1号"}]}, ensure_ascii=False).encode()
    record(
        lambda seq: LedgerEntry.access(
            seq, when, request, decision, indexer, route="/v1/query", payload_sha256=payload_digest(payload)
        )
    )
    state = state.record_use(when)
    consents.put(state)

    # The borrower revokes; the next attempt is refused at once, and the refusal is ledgered too.
    revoked_at = when + dt.timedelta(minutes=5)
    state = state.revoke(revoked_at)
    consents.put(state)
    record(
        lambda seq: LedgerEntry.consent_event(
            seq, revoked_at, state, EntryType.CONSENT_REVOKED, "acct:b-1", indexer
        )
    )
    again = revoked_at + dt.timedelta(seconds=1)
    refusal = consents.decide(request, again)
    assert not refusal.allowed and refusal.reason == "revoked"
    record(lambda seq: LedgerEntry.access(seq, again, request, refusal, indexer, route="/v1/query"))

    # The borrower's view: every entry about them, each with an inclusion proof under the signed head.
    head = open_checkpoint(issuer.issue(), signer.verifier, ORIGIN)
    mine = [
        LedgerEntry.from_canonical(row.entry)
        for row in ledger.rows()
        if LedgerEntry.from_canonical(row.entry).subject_index == indexer.index(company)
    ]
    assert [e.type for e in mine] == [
        EntryType.CONSENT_REQUESTED,
        EntryType.CONSENT_GRANTED,
        EntryType.DISCLOSURE,
        EntryType.CONSENT_REVOKED,
        EntryType.REFUSAL,
    ]
    for e in mine:
        ledger.inclusion_proof(e.seq, head.size).verify(head.root_hash)
    assert mine[2].payload_sha256 == payload_digest(payload) and "浙0212" not in ledger.row(2).entry.decode()
