"""Authorisation replay: the log alone shows whether every access was covered by a grant at its moment."""

from __future__ import annotations

import datetime as dt
import pickle
import random
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from typer.testing import CliRunner

from fincredit.consent import (
    EVENT_ENTRY,
    AccessMode,
    AccessRequest,
    Allowed,
    AuthorisationReplay,
    Basis,
    CheckpointIssuer,
    ConsentArtefact,
    ConsentEvent,
    ConsentState,
    ConsentStatus,
    DataLife,
    DataLifeUnit,
    EntryType,
    ExportRow,
    FetchType,
    Frequency,
    Ledger,
    LedgerEntry,
    NoteSigner,
    PeriodUnit,
    Purpose,
    ReplayedConsent,
    Rule,
    Subject,
    SubjectAct,
    SubjectIndexer,
    SubjectKind,
    decide,
    export_rows,
    generate_resident_id,
    generate_uscc,
    leaf_hash,
    read_export,
    replay_export,
    state_differences,
    write_export,
)
from fincredit.consent.authorisation import Part, _replay_part
from fincredit.consent.cli import app
from fincredit.consent.synthetic import synthetic_ledger

T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)  # a Monday
BANK = "91330200MA2BANK01X"
OTHER_BANK = "91330200MA2BANK02X"
AUTHORITY = "credit-authority"
INDEXER = SubjectIndexer(b"blind-index-key-0123456789abcdef")
COMPANY = Subject(SubjectKind.LEGAL, generate_uscc(random.Random(7)))
PERSON = Subject(SubjectKind.NATURAL, generate_resident_id(random.Random(8)))


def at(hours: float) -> dt.datetime:
    return T0 + dt.timedelta(hours=hours)


class Log:
    """A ledger written the way the platform writes it: lifecycle states and decide()."""

    def __init__(self) -> None:
        self.entries: list[LedgerEntry] = []
        self.states: dict[str, ConsentState] = {}

    @property
    def seq(self) -> int:
        return len(self.entries)

    def event(self, state: ConsentState, entry_type: EntryType, when: dt.datetime) -> ConsentState:
        self.entries.append(LedgerEntry.consent_event(self.seq, when, state, entry_type, "acct:x", INDEXER))
        self.states[state.consent_id] = state
        return state

    def grant(self, subject: Subject = COMPANY, **terms: object) -> ConsentState:
        requested = self.request(subject, **terms)
        approval = SubjectAct(approved_by_account="acct:borrower", approved_at=at(-1), channel="web")
        return self.event(requested.grant(approval), EntryType.CONSENT_GRANTED, at(-1))

    def request(self, subject: Subject = COMPANY, **terms: object) -> ConsentState:
        fields: dict[str, object] = {
            "subject": subject,
            "grantee": BANK,
            "purpose": Purpose.LOAN_APPLICATION_ASSESSMENT,
            "scopes": {"court", "tax.arrears"},
            "modes": {AccessMode.QUERY, AccessMode.REPORT},
            "valid_from": T0,
            "valid_until": at(24 * 30),
            "fetch_type": FetchType.PERIODIC,
            "frequency": Frequency(value=3, unit=PeriodUnit.DAY),
            "data_life": DataLife(value=1, unit=DataLifeUnit.YEAR),
            "created_at": at(-2),
        }
        fields.update(terms)
        requested = ConsentState.requested(ConsentArtefact.model_validate(fields))
        return self.event(requested, EntryType.CONSENT_REQUESTED, at(-2))

    def change(self, state: ConsentState, event: ConsentEvent, when: dt.datetime) -> ConsentState:
        return self.event(state.apply(event, when), EVENT_ENTRY[event], when)

    def access(
        self,
        when: dt.datetime,
        *,
        consent: ConsentState | None = None,
        grantee: str = BANK,
        subject: Subject = COMPANY,
        scopes: frozenset[str] = frozenset({"court.judgment"}),
        purpose: Purpose = Purpose.LOAN_APPLICATION_ASSESSMENT,
        mode: AccessMode = AccessMode.QUERY,
        basis: Basis = Basis.CONSENT,
        consent_id: str | None = None,
        entry_type: EntryType | None = None,
    ) -> int:
        """Record an allowed access as the platform would; a consent given is used as record_use does."""
        request = AccessRequest(grantee, subject, scopes, purpose, mode, account="bank-user")
        cid = consent_id or (consent.consent_id if consent is not None else None)
        decision = Allowed(basis, cid, scopes)
        seq = self.seq
        self.entries.append(
            LedgerEntry.access(seq, when, request, decision, INDEXER, route="/v1/q", entry_type=entry_type)
        )
        return seq

    def use(self, state: ConsentState, when: dt.datetime) -> ConsentState:
        """A use allowed by decide() and counted by the lifecycle, with its exhaustion entry if any."""
        request = AccessRequest(
            BANK,
            state.artefact.subject,
            frozenset({"court.judgment"}),
            state.artefact.purpose,
            AccessMode.QUERY,
            account="bank-user",
        )
        decision = decide([state], request, when)
        assert isinstance(decision, Allowed), decision
        self.access(when, consent=state, purpose=state.artefact.purpose, subject=state.artefact.subject)
        used = state.record_use(when)
        self.states[used.consent_id] = used
        if used.status is ConsentStatus.EXHAUSTED:
            self.event(used, EntryType.CONSENT_EXHAUSTED, when)
        return used

    def replay(self, **kw: object) -> AuthorisationReplay:
        replay = AuthorisationReplay(**kw)  # type: ignore[arg-type]
        replay.feed([e.seq for e in self.entries], [e.canonical_bytes() for e in self.entries])
        return replay


def flagged(replay: AuthorisationReplay) -> dict[int, set[Rule]]:
    out: dict[int, set[Rule]] = {}
    for v in replay.finish().violations:
        out.setdefault(v.seq, set()).add(v.rule)
    return out


def clean_log() -> Log:
    log = Log()
    periodic = log.grant()
    periodic = log.use(periodic, at(1))
    periodic = log.use(periodic, at(2))
    periodic = log.change(periodic, ConsentEvent.PAUSE, at(3))
    periodic = log.change(periodic, ConsentEvent.RESUME, at(4))
    periodic = log.use(periodic, at(5))
    periodic = log.use(periodic, at(25))  # the next day: a new frequency period
    log.access(at(6), consent=periodic, mode=AccessMode.REPORT, scopes=frozenset({"tax.arrears"}))
    log.states[periodic.consent_id] = periodic = periodic.record_use(at(6))
    log.change(periodic, ConsentEvent.REVOKE, at(26))
    onetime = log.grant(PERSON, fetch_type=FetchType.ONETIME, frequency=None, scopes={"court"})
    log.use(onetime, at(7))
    # The government's credit authority on its own right (G§16): no consent named.
    log.access(at(8), grantee=AUTHORITY, basis=Basis.CREDIT_AUTHORITY, purpose=Purpose.GOVERNMENT_SHARING)
    # A refusal is on the record but disclosed nothing.
    request = AccessRequest(
        OTHER_BANK, COMPANY, frozenset({"court"}), Purpose.CREDIT_REPORT, AccessMode.REPORT
    )
    log.entries.append(
        LedgerEntry.access(log.seq, at(9), request, decide([], request, at(9)), INDEXER, route="/r")
    )
    # An amendment narrows a consent; accesses within the new terms are covered.
    scoring = log.grant(
        purpose=Purpose.ENCRYPTED_SCORING, modes={AccessMode.SCORING}, scopes={"court", "tax"}
    )
    doc = scoring.artefact.model_dump()
    doc.update(
        scopes={"tax"}, evidence=SubjectAct(approved_by_account="b", approved_at=at(10), channel="web")
    )
    scoring = log.event(
        scoring.amend(ConsentArtefact.model_validate(doc), at(10)), EntryType.CONSENT_AMENDED, at(10)
    )
    log.access(
        at(11),
        consent=scoring,
        purpose=Purpose.ENCRYPTED_SCORING,
        mode=AccessMode.SCORING,
        scopes=frozenset({"tax.arrears"}),
    )
    log.states[scoring.consent_id] = scoring.record_use(at(11))
    expiring = log.grant(valid_until=at(12))
    log.use(expiring, at(11.5))
    log.change(expiring.record_use(at(11.5)), ConsentEvent.EXPIRE, at(12))
    return log


def test_a_ledger_written_through_the_lifecycle_passes_and_implies_the_table_states():
    log = clean_log()
    replay = log.replay(credit_authorities={AUTHORITY})
    report = replay.finish()
    assert report.ok, report.lines()
    assert report.authority_accesses == 1 and report.refusals == 1 and report.consents == 4
    assert report.lines()[-1].startswith("ok")
    assert not any("not checked" in line for line in report.lines())
    unchecked = log.replay().finish()
    assert unchecked.ok and any("were not checked" in line for line in unchecked.lines())
    assert list(state_differences(replay.states(), log.states.values(), INDEXER)) == []


def test_the_self_check_names_each_field_where_the_table_and_the_log_disagree():
    log = clean_log()
    replay = log.replay()
    table = dict(log.states)
    onetime = next(s for s in table.values() if s.artefact.fetch_type is FetchType.ONETIME)
    table[onetime.consent_id] = ConsentState.requested(onetime.artefact.model_copy(update={"evidence": None}))
    diffs = {(d.consent_id, d.field) for d in state_differences(replay.states(), table.values(), INDEXER)}
    assert diffs == {(onetime.consent_id, "status"), (onetime.consent_id, "use_count")}
    del table[onetime.consent_id]
    diffs = {(d.consent_id, d.field) for d in state_differences(replay.states(), table.values(), INDEXER)}
    assert diffs == {(onetime.consent_id, "presence")}


def test_each_kind_of_unauthorised_access_is_flagged_at_its_entry():
    log = Log()
    c = log.grant(frequency=Frequency(value=50, unit=PeriodUnit.DAY))  # over-use: see the tests below
    expected: dict[int, set[Rule]] = {}
    expected[log.access(at(1), consent_id=None)] = {Rule.MISSING_GRANT}
    expected[log.access(at(1), consent_id="cns_never_granted")] = {Rule.MISSING_GRANT}
    expected[log.access(at(1), consent=c, scopes=frozenset({"person.health"}))] = {Rule.OUT_OF_SCOPE}
    expected[log.access(at(1), consent=c, purpose=Purpose.POST_LOAN_MONITORING)] = {Rule.WRONG_PURPOSE}
    expected[log.access(at(1), consent=c, mode=AccessMode.SCORING)] = {Rule.MODE_NOT_COVERED}
    expected[log.access(at(1), consent=c, grantee=OTHER_BANK)] = {Rule.OTHER_PARTY}
    expected[log.access(at(1), consent=c, subject=PERSON)] = {Rule.OTHER_PARTY}
    expected[log.access(at(-0.5), consent=c)] = {Rule.NOT_YET_VALID}
    expected[log.access(at(1), consent=c, entry_type=EntryType.REPORT_ISSUED)] = {Rule.WRONG_ENTRY_TYPE}
    assert log.access(at(24 * 29), consent=c) not in expected  # another day: fine
    expected[log.access(at(24 * 30), consent=c)] = {Rule.EXPIRED}  # valid_until is exclusive
    c = log.change(c, ConsentEvent.PAUSE, at(2))
    expected[log.access(at(2.5), consent=c)] = {Rule.PAUSED}
    c = log.change(c, ConsentEvent.RESUME, at(3))
    c = log.change(c, ConsentEvent.REVOKE, at(4))
    expected[log.access(at(5), consent=c)] = {Rule.REVOKED}
    resumed = c.artefact  # a resume after the revocation is not a transition the lifecycle allows
    log.entries.append(
        LedgerEntry(
            seq=log.seq,
            type=EntryType.CONSENT_RESUMED,
            at=at(6),
            actor="x",
            grantee=BANK,
            subject_index=INDEXER.index(COMPANY),
            consent_id=resumed.consent_id,
        )
    )
    expected[log.seq - 1] = {Rule.ILLEGAL_TRANSITION}
    expected[log.access(at(7), consent=c)] = {
        Rule.REVOKED
    }  # still revoked: the illegal resume is not applied

    onetime = log.grant(fetch_type=FetchType.ONETIME, frequency=None)
    log.use(onetime, at(1))
    expected[log.access(at(2), consent=onetime)] = {Rule.EXHAUSTED, Rule.OVER_USE_COUNT}
    pending = log.request()
    expected[log.access(at(1), consent=pending)] = {Rule.NOT_GRANTED}
    rejected = log.change(pending, ConsentEvent.REJECT, at(2))
    expected[log.access(at(3), consent=rejected)] = {Rule.REJECTED}
    expected[log.access(at(3), grantee=BANK, basis=Basis.CREDIT_AUTHORITY)] = {Rule.NOT_CREDIT_AUTHORITY}
    assert log.access(at(3), grantee=AUTHORITY, basis=Basis.CREDIT_AUTHORITY) not in expected

    replay = log.replay(credit_authorities={AUTHORITY})
    assert flagged(replay) == expected
    report = replay.finish()
    assert not report.ok and report.violation_count == sum(len(r) for r in expected.values())
    revoked = next(v for v in report.violations if v.rule is Rule.REVOKED)
    assert "revoked at 2026-03-02T13:00:00.000000Z" in revoked.message


def test_the_use_that_exhausts_a_onetime_consent_may_follow_its_exhaustion_entry():
    log = Log()
    onetime = log.grant(fetch_type=FetchType.ONETIME, frequency=None)
    used = onetime.record_use(at(1))
    log.event(used, EntryType.CONSENT_EXHAUSTED, at(1))  # a batch writes consent events first
    log.access(at(1), consent=onetime)
    second = log.access(at(1), consent=onetime)
    assert flagged(log.replay()) == {second: {Rule.OVER_USE_COUNT}}


def test_an_older_ledger_still_parses_and_its_accesses_are_shown_as_not_provable():
    log = Log()
    c = log.grant()
    no_terms = dict.fromkeys(
        (
            "modes",
            "valid_from",
            "valid_until",
            "fetch_type",
            "frequency_value",
            "frequency_unit",
            "subject_kind",
        )
    )
    log.entries[0] = log.entries[0].model_copy(update=no_terms)
    legacy = log.entries[1].model_copy(update=no_terms)
    log.entries[1] = legacy
    assert b'"modes"' not in legacy.canonical_bytes()
    seq = log.access(at(1), consent=c)
    assert flagged(log.replay()) == {seq: {Rule.TERMS_UNRECORDED}}


def test_malformed_rows_are_named_and_the_rest_is_replayed():
    log = clean_log()
    datas = [e.canonical_bytes() for e in log.entries]
    datas[3] = b'{"seq": 3, "type": "disclosure", "scopes": "not a list"}'
    replay = AuthorisationReplay()
    replay.feed(list(range(len(datas))), datas)
    assert flagged(replay)[3] == {Rule.MALFORMED_ENTRY}
    # A time spelled otherwise would not order as its instant does (and could slip inside a window).
    access = next(i for i, e in enumerate(log.entries) if e.type is EntryType.DISCLOSURE)
    datas = [e.canonical_bytes() for e in log.entries]
    datas[access] = datas[access].replace(log.entries[access].at.encode(), b"2026-04")
    replay = AuthorisationReplay()
    replay.feed(list(range(len(datas))), datas)
    assert flagged(replay) == {access: {Rule.MALFORMED_ENTRY}}


def test_entries_can_be_fed_parsed_or_as_bytes_in_any_batches_with_the_same_result():
    log = clean_log()
    whole = log.replay()
    parts = AuthorisationReplay()
    for i in range(0, len(log.entries), 4):
        chunk = log.entries[i : i + 4]
        parts.feed([e.seq for e in chunk], [e.canonical_bytes() for e in chunk])
    parsed = AuthorisationReplay()
    parsed.feed_entries(log.entries)
    key = lambda r: {k: (v.status, v.use_count, v.period_uses) for k, v in r.states().items()}  # noqa: E731
    assert key(whole) == key(parts) == key(parsed)
    assert isinstance(next(iter(whole.states().values())), ReplayedConsent)


def test_cli_verify_authorisation_fails_with_one_line_per_violation(tmp_path: Path):
    runner = CliRunner()
    signer = NoteSigner("ledger.example/consent", Ed25519PrivateKey.generate())
    vkey = signer.verifier.vkey()

    def export(log: Log, name: str) -> tuple[Path, Path]:
        ledger = Ledger()
        ledger.append_many(log.entries)
        cp = tmp_path / f"{name}.cp"
        cp.write_text(CheckpointIssuer("ledger.example/consent", signer, ledger.tree).issue())
        path = tmp_path / f"{name}.parquet"
        ledger.export(path)
        return path, cp

    good, good_cp = export(clean_log(), "good")
    result = runner.invoke(
        app,
        [
            "verify",
            str(good),
            "-k",
            vkey,
            "-c",
            str(good_cp),
            "--authorisation",
            "--credit-authority",
            AUTHORITY,
        ],
    )
    assert result.exit_code == 0, result.output
    assert "every access was covered" in result.output and result.output.endswith("VERIFIED\n")

    log = clean_log()
    revoked = next(s for s in log.states.values() if s.status is ConsentStatus.REVOKED)
    seq = log.access(at(30), consent=revoked)
    bad, bad_cp = export(log, "bad")
    result = runner.invoke(app, ["verify", str(bad), "-k", vkey, "-c", str(bad_cp), "--authorisation"])
    assert result.exit_code == 1, result.output
    assert f"FAIL entry seq {seq}: revoked: consent {revoked.consent_id} was revoked" in result.output
    assert result.output.endswith("VERIFICATION FAILED\n")


def test_a_parquet_export_is_replayed_from_its_columns_with_the_same_findings(tmp_path: Path):
    log = clean_log()
    revoked = next(s for s in log.states.values() if s.status is ConsentStatus.REVOKED)
    log.access(at(30), consent=revoked)
    ledger = Ledger()
    ledger.append_many(log.entries)
    path = tmp_path / "log.parquet"
    ledger.export(path)
    replay = AuthorisationReplay()
    replay.feed_export(read_export(path, batch_size=5))
    assert flagged(replay) == flagged(log.replay()) != {}
    # A row that does not parse is named, and the rest of its batch is still replayed.
    rows = list(export_rows(log.entries))
    rows[2] = ExportRow(2, b'{"seq": 2, "type": "disclosure"', leaf_hash(b"x"))
    write_export(rows, path)
    replay = AuthorisationReplay()
    replay.feed_export(read_export(path))
    found = flagged(replay)
    assert found[2] == {Rule.MALFORMED_ENTRY} and found[len(rows) - 1] == {Rule.REVOKED}


@pytest.mark.parametrize("unit", list(PeriodUnit))
def test_frequency_periods_match_the_lifecycle(unit: PeriodUnit):
    log = Log()
    c = log.grant(frequency=Frequency(value=1, unit=unit), valid_until=at(24 * 800))
    # Two uses in one period are one too many; one use in each of two periods is fine.
    first = log.access(at(0.1), consent=c)
    second = log.access(at(0.2), consent=c)
    gap = {"HOUR": 1, "DAY": 24, "WEEK": 24 * 7, "MONTH": 24 * 31, "YEAR": 24 * 366}[unit.value]
    third = log.access(at(0.2 + gap), consent=c)
    found = flagged(log.replay())
    assert second in found and first not in found and third not in found


def test_the_synthetic_benchmark_ledger_is_made_of_real_entries_and_is_fully_authorised():
    batches = list(synthetic_ledger(20_000, consents=500, batch=4096))
    for _, datas in batches:
        for data in datas[::97]:
            assert LedgerEntry.from_canonical(data).canonical_bytes() == data
    replay = AuthorisationReplay()
    replay.feed_many(batches)  # the next batch parsed in a thread while this one is replayed
    report = replay.finish()
    assert sum(len(s) for s, _ in batches) == report.entries == 20_000 and report.consents == 500
    assert report.ok, report.lines()[:5]
    assert report.accesses > 15_000 and report.refusals > 0


def test_a_saved_replay_resumes_where_it_stopped():
    log = clean_log()
    datas = [e.canonical_bytes() for e in log.entries]
    half = len(datas) // 2
    first = AuthorisationReplay()
    first.feed(list(range(half)), datas[:half])
    assert first.next_seq == half
    resumed = pickle.loads(pickle.dumps(first))
    resumed.feed(list(range(half, len(datas))), datas[half:])
    whole = log.replay()
    assert resumed.next_seq == whole.next_seq == len(datas)
    assert resumed.finish() == whole.finish()
    assert {k: v.use_count for k, v in resumed.states().items()} == {
        k: v.use_count for k, v in whole.states().items()
    }


def _violating_log() -> Log:
    """A log with violations spread over several consents, and accesses naming none or an unknown one."""
    log = clean_log()
    for hours in (30, 31):
        for state in list(log.states.values()):
            log.access(at(hours), consent=state)
    log.access(at(1), consent_id=None)
    log.access(at(1), consent_id="cns_never_granted")
    log.access(at(3), grantee=BANK, basis=Basis.CREDIT_AUTHORITY)
    return log


@pytest.mark.parametrize("processes", [2, 3])
def test_an_export_replayed_in_parts_by_consent_gives_the_whole_logs_report(tmp_path: Path, processes: int):
    log = _violating_log()
    path = tmp_path / "log.parquet"
    write_export(export_rows(log.entries), path)
    whole = log.replay(credit_authorities={AUTHORITY}, max_reported=None).finish()
    assert whole.violation_count > 5 and len({v.consent_id for v in whole.violations}) > 3
    split = replay_export(path, processes=processes, credit_authorities={AUTHORITY}, max_reported=None)
    assert split == whole
    # Only the first violations in log order are kept, the split's as the whole's.
    first = replay_export(path, processes=processes, credit_authorities={AUTHORITY}, max_reported=3)
    assert first.violations == whole.violations[:3] and first.violation_count == whole.violation_count


def test_a_row_whose_text_hides_its_consent_from_the_split_sends_the_log_to_a_whole_replay(tmp_path: Path):
    log = _violating_log()
    rows = list(export_rows(log.entries))
    # Valid JSON, but not spelled canonically: the split's text search misses the consent id, the parse
    # does not. The part that got the row finds out, and the log is replayed whole.
    odd = next(i for i, e in enumerate(log.entries) if e.consent_id and int(e.consent_id[-1], 16) % 2)
    data = rows[odd].entry.replace(b'"consent_id":"', b'"consent_id": "')
    rows[odd] = ExportRow(odd, data, leaf_hash(data))
    path = tmp_path / "log.parquet"
    write_export(rows, path)
    assert _replay_part(str(path), Part(0, 2), None, None) is None
    whole = AuthorisationReplay(max_reported=None)
    whole.feed_export(read_export(path))
    assert replay_export(path, processes=2, max_reported=None) == whole.finish()
