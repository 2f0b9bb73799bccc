"""Ledger entries: canonical bytes, a keyed subject index, and no raw identifiers."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from fincredit.consent import (
    ACCESS_ENTRY_TYPES,
    EVENT_ENTRY,
    AccessMode,
    AccessRequest,
    ConsentEvent,
    EntryType,
    LedgerEntry,
    LedgerError,
    Purpose,
    SubjectIndexer,
    access_entry_type,
    decide,
    leaf_hash,
    payload_digest,
)
from fincredit.consent._canonical import canonical_json, canonical_json_ascii_keys

INDEXER = SubjectIndexer(b"k" * 32)


def test_canonical_json_sorts_keys_by_utf16_and_has_no_whitespace():
    assert canonical_json({"b": [1, "é"], "a": {"\uffff": 1, "\U0001f600": 2}, "c": None}) == (
        '{"a":{"\U0001f600":2,"\uffff":1},"b":[1,"é"],"c":null}'.encode()
    )
    assert canonical_json({"s": 'line\nbreak\u2028"q"\\'}) == b'{"s":"line\\nbreak\xe2\x80\xa8\\"q\\"\\\\"}'
    with pytest.raises(TypeError):
        canonical_json({"f": 1.5})


def test_the_fast_path_agrees_with_full_canonicalisation(make_active, t0):
    e = LedgerEntry.consent_event(0, t0, make_active(), EntryType.CONSENT_GRANTED, "acct:1", INDEXER)
    doc = e.to_json_dict()
    assert canonical_json_ascii_keys(doc) == canonical_json(doc) == e.canonical_bytes()


def test_an_entry_round_trips_from_its_canonical_bytes(make_active, t0):
    e = LedgerEntry.consent_event(7, t0, make_active(), EVENT_ENTRY[ConsentEvent.REVOKE], "acct:1", INDEXER)
    assert LedgerEntry.from_canonical(e.canonical_bytes()) == e
    assert e.leaf_hash() == leaf_hash(e.canonical_bytes())
    with pytest.raises(LedgerError):
        LedgerEntry.from_canonical(b'{"seq": -1}')


def test_subjects_are_stored_as_a_keyed_index_and_a_masked_code(make_active, company, t0):
    e = LedgerEntry.consent_event(0, t0, make_active(), EntryType.CONSENT_GRANTED, "acct:1", INDEXER)
    raw = e.canonical_bytes().decode()
    assert company.code not in raw
    assert e.subject_masked == company.masked
    assert e.subject_index == INDEXER.index(company)
    assert SubjectIndexer(b"other key 16byte").index(company) != e.subject_index


def test_disclosures_and_refusals_become_entries(make_active, company, t0):
    c = make_active()
    req = AccessRequest(
        "91330200MA2BANK01X",
        company,
        frozenset({"court.judgment"}),
        Purpose.LOAN_APPLICATION_ASSESSMENT,
        AccessMode.QUERY,
        account="bank-user-7",
    )
    payload = json.dumps({"judgments": []}).encode()
    allowed = LedgerEntry.access(
        1, t0, req, decide([c], req, t0), INDEXER, route="/v1/query", payload_sha256=payload_digest(payload)
    )
    assert allowed.type is EntryType.DISCLOSURE and allowed.consent_id == c.consent_id
    assert allowed.basis == "consent" and allowed.actor == "bank-user-7"
    later = t0 + dt.timedelta(minutes=5)
    refused = LedgerEntry.access(
        2, later, req, decide([c.revoke(t0)], req, later), INDEXER, route="/v1/query"
    )
    assert (
        refused.type is EntryType.REFUSAL and refused.reason == "revoked" and refused.payload_sha256 is None
    )
    with pytest.raises(LedgerError, match="disclosed nothing"):
        LedgerEntry.access(
            3, later, req, decide([], req, later), INDEXER, route="/v1/q", payload_sha256="0" * 64
        )


def test_times_are_spelled_one_way():
    beijing = dt.timezone(dt.timedelta(hours=8))
    e = LedgerEntry(
        seq=0, type=EntryType.REFUSAL, at=dt.datetime(2026, 3, 2, 17, 0, tzinfo=beijing), actor="a"
    )
    assert e.at == "2026-03-02T09:00:00.000000Z"


def test_requests_grants_and_amendments_carry_the_full_terms_other_events_only_name_the_consent(
    make_active, company, t0
):
    c = make_active()
    granted = LedgerEntry.consent_event(0, t0, c, EntryType.CONSENT_GRANTED, "acct:1", INDEXER)
    doc = json.loads(granted.canonical_bytes())
    assert doc["subject_kind"] == "legal" and doc["modes"] == ["query", "report"]
    assert doc["valid_from"] == "2026-03-02T09:00:00.000000Z"
    assert doc["valid_until"] == "2026-05-31T09:00:00.000000Z"
    assert (doc["fetch_type"], doc["frequency_value"], doc["frequency_unit"]) == ("PERIODIC", 3, "DAY")
    assert LedgerEntry.from_canonical(granted.canonical_bytes()) == granted
    paused = LedgerEntry.consent_event(1, t0, c.pause(t0), EntryType.CONSENT_PAUSED, "acct:1", INDEXER)
    assert "modes" not in json.loads(paused.canonical_bytes()) and paused.consent_id == c.consent_id
    with pytest.raises(LedgerError, match="not a consent event"):
        LedgerEntry.consent_event(2, t0, c, EntryType.DISCLOSURE, "acct:1", INDEXER)


def test_entries_written_before_the_terms_fields_keep_their_exact_bytes():
    old = (
        b'{"actor":"acct:1","at":"2026-03-02T09:00:00.000000Z","basis":null,"consent_id":"cns_1",'
        b'"grantee":"91330200MA2BANK01X","message":null,"mode":null,"payload_sha256":null,'
        b'"purpose":"credit_report","reason":null,"route":null,"scopes":["court"],"seq":0,'
        b'"subject_index":null,"subject_masked":null,"type":"consent_granted"}'
    )
    assert LedgerEntry.from_canonical(old).canonical_bytes() == old


@pytest.mark.parametrize(
    ("purpose", "mode", "expected"),
    [
        (Purpose.LOAN_APPLICATION_ASSESSMENT, AccessMode.QUERY, EntryType.DISCLOSURE),
        (Purpose.CREDIT_REPORT, AccessMode.REPORT, EntryType.REPORT_ISSUED),
        (Purpose.POST_LOAN_MONITORING, AccessMode.PUSH_SUBSCRIPTION, EntryType.PUSH_DISCLOSURE),
        (Purpose.JOINT_MODELLING, AccessMode.MODEL_TRAINING, EntryType.JOINT_MODELLING_USE),
        (Purpose.ENCRYPTED_SCORING, AccessMode.SCORING, EntryType.SCORING_USE),
        (Purpose.GOVERNMENT_SHARING, AccessMode.QUERY, EntryType.GOVERNMENT_SHARING),
    ],
)
def test_every_kind_of_access_has_its_entry_type(purpose, mode, expected):
    assert access_entry_type(purpose, mode) is expected
    assert expected in ACCESS_ENTRY_TYPES
