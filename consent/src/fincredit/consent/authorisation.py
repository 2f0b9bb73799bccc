"""Authorisation replay: from the log alone, was every access covered by a grant at its moment?

The replay walks the ledger in sequence order and rebuilds every consent's state from its events (request,
grant, rejection, pause, resume, revocation, expiry, exhaustion, amendment), using nothing but the entries:
the terms come from the request, grant and amendment entries, the use counts from the access entries. Each
access entry (query answer, report, push, government share, joint-modelling use, scoring use) is checked
against the consent it names, as it stood at that point of the log:

* a grant for that consent exists, for the same grantee and subject (``missing_grant``, ``other_party``);
* the consent was active: not still pending, rejected, revoked, paused, expired or exhausted before;
* the access time lies in the validity window (``not_yet_valid``, ``expired``);
* it covered the purpose, every scope (with the sensitive-scope rule of :func:`scope_covers`) and the mode;
* the use was within the use limit: once for a ONETIME consent, ``frequency`` per period for a PERIODIC one.

An access on the credit authority's own right (``basis: credit_authority``, G§16) names no consent; it is
recognised as such, and when the replay is told who the credit authority is, an entry claiming that basis
for anyone else is flagged. A consent event that its consent's state does not allow (a resume after a
revocation) is flagged too, and not applied.

Every violation names the entry's sequence number and the rule broken. The replay is pure and incremental
(:meth:`AuthorisationReplay.feed` any number of times), so the platform's self-check can run it over its own
ledger and compare :meth:`AuthorisationReplay.states` with its consents table
(:func:`state_differences`).

Speed: entries are parsed a batch at a time by Arrow's JSON reader into columns and checked in one tight
loop; times are compared as their fixed-width UTC strings (``format_time``), which order as the instants do.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import gc
import multiprocessing
import os
import re
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from enum import StrEnum
from pathlib import Path
from typing import Any, TypeVar

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pajson
import pyarrow.parquet as pq

from fincredit.consent.entries import (
    ACCESS_ENTRY_TYPES,
    EVENT_ENTRY,
    EntryType,
    LedgerEntry,
    SubjectIndexer,
    access_entry_type,
    format_time,
)
from fincredit.consent.errors import LedgerError
from fincredit.consent.export import ExportBatch, is_parquet_export, read_export
from fincredit.consent.lifecycle import TRANSITIONS, ConsentEvent, ConsentState, ConsentStatus, period_key
from fincredit.consent.vocabulary import AccessMode, FetchType, PeriodUnit, Purpose, scope_covers

_T = TypeVar("_T")

__all__ = [
    "AuthorisationReplay",
    "AuthorisationReport",
    "Part",
    "PartMismatch",
    "ReplayedConsent",
    "Rule",
    "StateDifference",
    "Violation",
    "replay_authorisation",
    "replay_export",
    "state_differences",
]


class Rule(StrEnum):
    """The rule an entry broke."""

    MISSING_GRANT = "missing_grant"  # no consent named, or none granted under that id
    OTHER_PARTY = "other_party"  # the consent is another grantee's, or another subject's
    NOT_GRANTED = "not_granted"  # still pending: the subject had not answered
    REJECTED = "rejected"
    REVOKED = "revoked"
    PAUSED = "paused"
    EXPIRED = "expired"
    EXHAUSTED = "exhausted"
    NOT_YET_VALID = "not_yet_valid"
    WRONG_PURPOSE = "wrong_purpose"
    OUT_OF_SCOPE = "out_of_scope"
    MODE_NOT_COVERED = "mode_not_covered"
    OVER_USE_COUNT = "over_use_count"  # a ONETIME consent used again
    OVER_FREQUENCY = "over_frequency"  # more uses in a period than the frequency allows
    TERMS_UNRECORDED = "terms_unrecorded"  # the grant entry predates recorded terms: the log cannot tell
    NOT_CREDIT_AUTHORITY = "not_credit_authority"  # the G§16 basis claimed by someone else
    WRONG_ENTRY_TYPE = "wrong_entry_type"  # e.g. a report entry for a query
    ILLEGAL_TRANSITION = "illegal_transition"  # a consent event its consent's state does not allow
    UNKNOWN_CONSENT = "unknown_consent"  # an event for a consent the log never requested or granted
    MALFORMED_ENTRY = "malformed_entry"


_STATUS_RULE = {
    ConsentStatus.PENDING: Rule.NOT_GRANTED,
    ConsentStatus.REJECTED: Rule.REJECTED,
    ConsentStatus.REVOKED: Rule.REVOKED,
    ConsentStatus.PAUSED: Rule.PAUSED,
    ConsentStatus.EXPIRED: Rule.EXPIRED,
    ConsentStatus.EXHAUSTED: Rule.EXHAUSTED,
}


@dataclasses.dataclass(frozen=True, slots=True)
class Violation:
    seq: int
    rule: Rule
    message: str
    consent_id: str | None = None

    def line(self) -> str:
        return f"FAIL entry seq {self.seq}: {self.rule.value}: {self.message}"


@dataclasses.dataclass(slots=True)
class ReplayedConsent:
    """A consent as the log implies it (times in ``format_time`` spelling). Read it; the replay writes it."""

    consent_id: str
    grantee: str
    subject_index: str
    subject_kind: str | None
    purpose: str
    scopes: frozenset[str]
    modes: frozenset[str] | None  # None: the log's entries predate recorded terms
    valid_from: str | None
    valid_until: str | None
    fetch_type: str | None
    frequency_value: int | None
    frequency_unit: str | None
    status: ConsentStatus
    status_changed_at: str
    status_seq: int
    use_count: int = 0
    last_used_at: str | None = None
    period: str | None = None  # the period (see _period) of ``period_uses``
    period_uses: int = 0
    # Requested scope lists (comma-joined) known to be covered (shared by consents with the same grant).
    covers: set[str] = dataclasses.field(default_factory=set)
    # The access entry types each granted mode may be logged as, for this purpose.
    allowed: dict[str, frozenset[str]] = dataclasses.field(default_factory=dict)

    @property
    def period_key(self) -> int | None:
        """The frequency period of the last use, numbered as :func:`period_key` numbers it."""
        if self.frequency_unit is None or self.last_used_at is None:
            return None
        return period_key(PeriodUnit(self.frequency_unit), _dt.datetime.fromisoformat(self.last_used_at))


@dataclasses.dataclass(slots=True)
class AuthorisationReport:
    entries: int = 0
    accesses: int = 0
    authority_accesses: int = 0
    authority_checked: bool = False  # whether who claimed the credit authority's basis was checked
    refusals: int = 0
    consent_events: int = 0
    violation_count: int = 0
    by_rule: Counter[Rule] = dataclasses.field(default_factory=Counter)
    violations: list[Violation] = dataclasses.field(default_factory=list)
    consents: int = 0

    @property
    def ok(self) -> bool:
        return self.violation_count == 0

    def lines(self) -> list[str]:
        out = [
            f"authorisation replay: {self.entries} entries, {self.consents} consents, "
            f"{self.accesses} accesses ({self.authority_accesses} on the credit authority's right), "
            f"{self.refusals} refusals"
        ]
        if self.authority_accesses and not self.authority_checked:
            out.append(
                "note the accesses on the credit authority's right were not checked against who the credit "
                "authority is (give --credit-authority)"
            )
        out.extend(v.line() for v in self.violations)
        if self.violation_count > len(self.violations):
            out.append(f"... and {self.violation_count - len(self.violations)} more violations")
        if self.violation_count:
            counts = ", ".join(f"{r.value} {n}" for r, n in sorted(self.by_rule.items()))
            out.append(f"FAIL {self.violation_count} accesses or events not authorised by the log ({counts})")
        else:
            out.append("ok   every access was covered by a grant active at its moment")
        return out


# The columns the replay reads; JSON fields missing from an entry (older entries) read as null.
_SCHEMA = pa.schema(
    [
        ("seq", pa.int64()),
        ("type", pa.string()),
        ("at", pa.string()),
        ("grantee", pa.string()),
        ("subject_index", pa.string()),
        ("subject_kind", pa.string()),
        ("subject_masked", pa.string()),
        ("scopes", pa.list_(pa.string())),
        ("purpose", pa.string()),
        ("mode", pa.string()),
        ("modes", pa.list_(pa.string())),
        ("consent_id", pa.string()),
        ("basis", pa.string()),
        ("valid_from", pa.string()),
        ("valid_until", pa.string()),
        ("fetch_type", pa.string()),
        ("frequency_value", pa.int64()),
        ("frequency_unit", pa.string()),
    ]
)
# The columns every row needs in the replay loop (scopes joined into one key) and the rest.
_LOOP = ("seq", "type", "at", "grantee", "subject_index", "purpose", "mode", "consent_id", "basis")
_EXTRA = ["subject_kind", "subject_masked", "scopes", "modes", "valid_from", "valid_until", "fetch_type",
          "frequency_value", "frequency_unit"]  # fmt: skip
_NO_TERMS = (None,) * 6
_PARSE = pajson.ParseOptions(explicit_schema=_SCHEMA, unexpected_field_behavior="ignore")
_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")

_ACCESS = frozenset(t.value for t in ACCESS_ENTRY_TYPES)
_EVENTS: dict[str, ConsentEvent] = {t.value: e for e, t in EVENT_ENTRY.items()}
_REQUESTED = EntryType.CONSENT_REQUESTED.value
_GRANTED = EntryType.CONSENT_GRANTED.value
_AMENDED = EntryType.CONSENT_AMENDED.value
_REFUSAL = EntryType.REFUSAL.value
_KNOWN_TYPES = frozenset(t.value for t in EntryType)
_EVENT_TYPES = pa.array(sorted({*_EVENTS, _REQUESTED}), pa.string())
_TRANSITIONS = {(s, e): t for (s, e), t in TRANSITIONS.items()}
_ACTIVE = ConsentStatus.ACTIVE
_EXHAUSTED = ConsentStatus.EXHAUSTED
_AUTHORITY = "credit_authority"

# The access entry types a (purpose, mode) may be written as: its own type, and DISCLOSURE for the query,
# report and push disclosures of logs written before the finer types.
_DISCLOSURE_MODES = {AccessMode.QUERY, AccessMode.REPORT, AccessMode.PUSH_SUBSCRIPTION}
_TYPES_OF: dict[tuple[str, str], frozenset[str]] = {}
for _p in Purpose:
    for _m in AccessMode:
        _own = access_entry_type(_p, _m).value
        _legacy = {EntryType.DISCLOSURE.value} if _m in _DISCLOSURE_MODES else set()
        _TYPES_OF[(_p.value, _m.value)] = frozenset({_own, *_legacy})


def _allowed(purpose: str | None, modes: Iterable[str] | None) -> dict[str, frozenset[str]]:
    if purpose is None or modes is None:
        return {}  # terms not recorded: every access takes the closer look
    return {m: _TYPES_OF[(purpose, m)] for m in modes if (purpose, m) in _TYPES_OF}


_coverage: dict[tuple[frozenset[str], str, str], bool] = {}


def _covered(granted: frozenset[str], kind: str, scope: str) -> bool:
    key = (granted, kind, scope)
    found = _coverage.get(key)
    if found is None:
        if len(_coverage) > 100_000:
            _coverage.clear()
        found = _coverage[key] = any(scope_covers(g, scope, kind) for g in granted)
    return found


def _kind_of(consent: ReplayedConsent, masked: str | None) -> str:
    if consent.subject_kind is not None:
        return consent.subject_kind
    # Older entries carry no kind; the masks differ (a USCC hides from its 5th character, an ID its 7th).
    return "legal" if masked is not None and masked[4:6] == "**" else "natural"


_week_cache: dict[str, str] = {}


def _period(unit: str, at: str) -> str:
    """A label equal for two times of the same calendar period (UTC), as period_key numbers them."""
    if unit == "DAY":
        return at[:10]
    if unit == "HOUR":
        return at[:13]
    if unit == "MONTH":
        return at[:7]
    if unit == "YEAR":
        return at[:4]
    day = at[:10]
    week = _week_cache.get(day)
    if week is None:
        y, w, _ = _dt.date.fromisoformat(day).isocalendar()
        week = _week_cache[day] = f"{y}W{w}"
    return week


@dataclasses.dataclass(slots=True)
class _Prepared:
    """A batch parsed into what the replay loop reads (``rows``), or None when some row did not parse."""

    seqs: Sequence[int] | pa.Array
    entries: Sequence[bytes] | pa.Array
    rows: Iterable[tuple[Any, ...]] | None = None
    extra: Callable[[int], tuple[Any, ...]] = lambda i: ()
    seq_mismatches: list[tuple[int, int]] = dataclasses.field(default_factory=list)

    def pairs(self) -> Iterator[tuple[int, bytes]]:
        """The batch's rows as Python values (the row-by-row path)."""
        seqs, entries = self.seqs, self.entries
        if isinstance(seqs, pa.Array):
            seqs = seqs.to_pylist()
        if isinstance(entries, pa.Array):
            entries = entries.cast(pa.binary()).to_pylist()
        return zip(seqs, entries, strict=True)


def _joined(entries: Sequence[bytes] | pa.Array) -> pa.Buffer:
    """The entries one a line, as the JSON reader takes them. An Arrow column (a Parquet export's) is joined
    by Arrow, without a Python object per entry."""
    if not isinstance(entries, pa.Array):
        return pa.py_buffer(b"\n".join(entries))
    wide = pa.large_binary()
    lines = pc.binary_join_element_wise(entries.cast(wide), pa.scalar(b"", wide), pa.scalar(b"\n", wide))
    offsets = memoryview(lines.buffers()[1]).cast("q")  # large_binary: int64 offsets
    start, end = offsets[lines.offset], offsets[lines.offset + len(lines)]
    data: pa.Buffer = lines.buffers()[2]
    return data.slice(start, end - start)


class PartMismatch(Exception):
    """A part of a split replay holds a row whose parsed consent belongs to another part (or that does not
    parse): the split is not exact for this log, and the caller replays it whole."""


def _prepare(
    seqs: Sequence[int] | pa.Array, entries: Sequence[bytes] | pa.Array, part: Part | None = None
) -> _Prepared:
    """Parse a batch with Arrow's JSON reader into the columns the replay reads (no replay state here).

    Runs in the parsing thread: the Arrow steps release the GIL, the Python lists built here do not, so only
    what every access needs becomes Python objects, and the rows are zipped lazily by the replay loop.
    ``part``: the rows were picked as that part of a split log; raise :class:`PartMismatch` unless each
    row's parsed consent id belongs to it."""
    out = _Prepared(seqs, entries)
    if not len(entries):
        out.rows = []
        return out
    if isinstance(entries, pa.Array) and entries.null_count:
        return _unsplit(out, part)
    try:
        table = pajson.read_json(pa.BufferReader(_joined(entries)), parse_options=_PARSE)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return _unsplit(out, part)
    if table.num_rows != len(entries):
        return _unsplit(out, part)
    if part is not None and not pc.all(part.holds(table.column("consent_id"))).as_py():
        raise PartMismatch(f"a row of part {part.index} names another part's consent")
    row_seqs = seqs if isinstance(seqs, pa.Array) else pa.array(seqs, pa.int64())
    entry_seqs = table.column("seq")
    if not pc.all(pc.fill_null(pc.equal(row_seqs, entry_seqs), False)).as_py():
        out.seq_mismatches = [
            (r, e) for r, e in zip(row_seqs.to_pylist(), entry_seqs.to_pylist(), strict=True) if r != e
        ]
    # A time not in format_time's spelling would not order as its instant does: it reads as missing.
    for name in ("at", "valid_from", "valid_until"):
        column = table.column(name)
        spelled = pc.match_substring_regex(column, _TIME.pattern)
        table = table.set_column(_SCHEMA.get_field_index(name), name, pc.if_else(spelled, column, None))
    types = table.column("type")
    # Only the columns every access needs become Python objects for every row; the terms, for the consent
    # events only; the rest, when an access needs a closer look.
    events = pc.indices_nonzero(pc.is_in(types, value_set=_EVENT_TYPES)).to_pylist()
    extra_rows: dict[int, tuple[Any, ...]] = {}
    if events:
        terms = table.select(_EXTRA).take(events).to_pydict()
        extra_rows = dict(zip(events, zip(*(terms[n] for n in _EXTRA), strict=True), strict=True))
    scope_lists = table.column("scopes")
    masked = table.column("subject_masked")

    def extra(i: int) -> tuple[Any, ...]:
        found = extra_rows.get(i)
        if found is None:
            found = (None, masked[i].as_py(), scope_lists[i].as_py(), *_NO_TERMS)
        return found

    columns = [table.column(n).to_pylist() for n in _LOOP[2:]]
    columns.insert(3, pc.binary_join(scope_lists, ",").to_pylist())
    out.rows = zip(row_seqs.to_pylist(), range(len(row_seqs)), types.to_pylist(), *columns, strict=True)
    out.extra = extra
    return out


def _unsplit(out: _Prepared, part: Part | None) -> _Prepared:
    if part is not None:  # the row-by-row path names malformed rows; a split cannot vouch for them
        raise PartMismatch("a row does not parse as an entry")
    return out


@dataclasses.dataclass(frozen=True, slots=True)
class Part:
    """Part ``index`` of a log split ``count`` ways by consent: every rule concerns one consent (its events
    and the accesses naming it), so the parts replay independently. A consent's part is read off the last
    character of its id (hexadecimal in the platform's ids); part 0 also takes every entry naming no
    consent and ids ending otherwise."""

    index: int
    count: int

    def _others(self) -> pa.Array:
        return pa.array([c for i, c in enumerate(_HEX) if i % self.count != 0], pa.string())

    def _mine(self) -> pa.Array:
        return pa.array([c for i, c in enumerate(_HEX) if i % self.count == self.index], pa.string())

    def of_last(self, last: pa.Array) -> pa.Array:
        """Which rows, by the last character of their consent id (null: none), belong to this part."""
        if self.index == 0:
            taken = pc.is_in(last, value_set=self._others())
            return pc.invert(pc.fill_null(taken, False))
        return pc.fill_null(pc.is_in(last, value_set=self._mine()), False)

    def holds(self, consent_ids: pa.Array | pa.ChunkedArray) -> pa.Array:
        """Whether each parsed consent id belongs to this part."""
        ids = consent_ids.combine_chunks() if isinstance(consent_ids, pa.ChunkedArray) else consent_ids
        return self.of_last(pc.utf8_slice_codeunits(ids, -1))

    def pick(self, entries: pa.Array) -> pa.Array:
        """The rows of an export's ``entry`` column that belong to this part, found in the text before any
        parsing (canonical JSON spells ``"consent_id":"..."`` this way; :func:`_prepare` checks the pick
        against the parsed ids)."""
        found = pc.extract_regex(entries, _LAST_OF_CONSENT_ID)
        return self.of_last(found.field("last"))


_HEX = "0123456789abcdef"
_LAST_OF_CONSENT_ID = r'"consent_id":"[^"]*(?P<last>[^"])"'


class AuthorisationReplay:
    """Replays a ledger's consent states and checks its accesses; feed it the log in order.

    ``credit_authorities``: the grantee ids entitled to the G§16 basis; None recognises the basis without
    checking who claims it. ``max_reported``: how many violations to keep (all are counted); None keeps all.
    """

    def __init__(
        self, *, credit_authorities: Collection[str] | None = None, max_reported: int | None = 1000
    ) -> None:
        self.credit_authorities = None if credit_authorities is None else frozenset(credit_authorities)
        self.max_reported = max_reported
        self.report = AuthorisationReport(authority_checked=credit_authorities is not None)
        self._consents: dict[str, ReplayedConsent] = {}
        # The sequence number after the last entry fed: where a saved replay (it pickles) resumes, so a
        # periodic self-check feeds only what was appended since its last run.
        self.next_seq = 0
        # Values most consents have in common (grantees, scope sets, windows ...) are kept once: a log of
        # millions of consents would otherwise hold millions of copies.
        self._shared: dict[Any, Any] = {}
        self._covers: dict[tuple[frozenset[str], str | None], set[str]] = {}
        self._allowed: dict[tuple[str | None, frozenset[str] | None], dict[str, frozenset[str]]] = {}
        self._part: Part | None = None  # set by a split replay: the part of the log this one is fed

    def _share(self, value: _T) -> _T:
        return self._shared.setdefault(value, value)  # type: ignore[no-any-return]

    def _covers_of(self, granted: frozenset[str], kind: str | None) -> set[str]:
        # Which requested scope lists a grant covers depends only on its scopes and the subject's kind, so
        # consents with the same grant share (and together fill) one set.
        found = self._covers.get((granted, kind))
        if found is None:
            found = self._covers[(granted, kind)] = {",".join(sorted(granted))}
        return found

    def _allowed_of(self, purpose: str | None, modes: frozenset[str] | None) -> dict[str, frozenset[str]]:
        found = self._allowed.get((purpose, modes))
        if found is None:
            found = self._allowed[(purpose, modes)] = _allowed(purpose, modes)
        return found

    # -- inputs ---------------------------------------------------------------------------------------

    def feed_export(self, batches: Iterable[ExportBatch]) -> None:
        """Feed an export as :func:`read_export` yields it (a Parquet export's columns as they are)."""
        self.feed_many(b.arrow() or (b.seqs, b.entries) for b in batches)

    def feed(self, seqs: Sequence[int], entries: Sequence[bytes]) -> None:
        """Feed rows of the log in order: their sequence numbers and canonical entry bytes."""
        self._consume(_prepare(seqs, entries, self._part))

    def feed_many(
        self, batches: Iterable[tuple[Sequence[int] | pa.Array, Sequence[bytes] | pa.Array]]
    ) -> None:
        """:meth:`feed` each batch in order, parsing the next batch in a thread while this one is replayed
        (Arrow parses without holding the GIL, so on two cores the parsing costs little wall time).

        The cyclic garbage collector is paused meanwhile: the replay makes millions of objects that live
        as long as it does and form no cycles, and each full collection would walk all of them again (at
        10M entries that was most of the time)."""
        was_enabled = gc.isenabled()
        gc.disable()
        try:
            self._feed_many(batches)
        finally:
            if was_enabled:
                gc.enable()

    def _feed_many(
        self, batches: Iterable[tuple[Sequence[int] | pa.Array, Sequence[bytes] | pa.Array]]
    ) -> None:
        with ThreadPoolExecutor(1, thread_name_prefix="replay-parse") as pool:
            pending: Future[_Prepared] | None = None
            for seqs, entries in batches:
                upcoming = pool.submit(_prepare, seqs, entries, self._part)
                if pending is not None:
                    self._consume(pending.result())
                pending = upcoming
            if pending is not None:
                self._consume(pending.result())

    def _consume(self, prepared: _Prepared) -> None:
        if prepared.rows is None:
            # Some row does not parse as an entry: replay row by row to name it.
            for seq, data in prepared.pairs():
                self._feed_one(seq, data)
            return
        for row_seq, entry_seq in prepared.seq_mismatches:
            self._violate(row_seq, Rule.MALFORMED_ENTRY, f"the entry says it is seq {entry_seq}")
        self._rows(prepared.rows, prepared.extra)

    def feed_entries(self, entries: Iterable[LedgerEntry]) -> None:
        """Feed parsed entries (their own ``seq`` is their place in the log)."""
        listed = list(entries)
        self._rows((_row_of(e, i) for i, e in enumerate(listed)), lambda i: _extra_of(listed[i]))

    def _feed_one(self, seq: int, data: bytes) -> None:
        try:
            entry = LedgerEntry.from_canonical(data)
        except LedgerError as exc:
            self.report.entries += 1
            self._violate(seq, Rule.MALFORMED_ENTRY, str(exc)[:200])
            return
        if entry.seq != seq:
            self._violate(seq, Rule.MALFORMED_ENTRY, f"the entry says it is seq {entry.seq}")
        self._rows([(seq, *_row_of(entry, 0)[1:])], lambda _: _extra_of(entry))

    # -- outputs --------------------------------------------------------------------------------------

    def states(self) -> Mapping[str, ReplayedConsent]:
        """Every consent the log mentions, by id, as the log implies it now."""
        return self._consents

    def finish(self) -> AuthorisationReport:
        self.report.consents = len(self._consents)
        return self.report

    # -- the replay -----------------------------------------------------------------------------------

    def _violate(self, seq: int, rule: Rule, message: str, consent_id: str | None = None) -> None:
        r = self.report
        r.violation_count += 1
        r.by_rule[rule] += 1
        if self.max_reported is None or len(r.violations) < self.max_reported:
            r.violations.append(Violation(seq, rule, message, consent_id))

    def _rows(self, rows: Iterable[tuple[Any, ...]], extra: Callable[[int], tuple[Any, ...]]) -> None:
        """The replay proper. ``rows`` hold what every entry needs (see _LOOP); ``extra(i)`` the rest of
        row ``i`` (see _EXTRA), asked for consent events and for accesses off the common path."""
        consents = self._consents
        report = self.report
        access_types = _ACCESS
        events = _EVENTS
        active = _ACTIVE
        entries = accesses = 0
        seq = self.next_seq - 1
        try:
            for seq, i, etype, at, grantee, subject, scope_key, purpose, mode, cid, basis in rows:
                entries += 1
                if etype in access_types:
                    accesses += 1
                    if at is None or mode is None or purpose is None or not scope_key:
                        self._violate(seq, Rule.MALFORMED_ENTRY, "an access entry names its time, purpose, "
                                      "mode and scopes", cid)  # fmt: skip
                        continue
                    if basis == _AUTHORITY:
                        self._authority(seq, grantee, cid)
                        continue
                    c = consents.get(cid) if cid is not None else None
                    if (
                        c is not None
                        and c.status is active
                        and c.grantee == grantee
                        and c.subject_index == subject
                        and c.purpose == purpose
                        and etype in c.allowed.get(mode, ())
                        and c.valid_from <= at < c.valid_until
                        and scope_key in c.covers
                    ):
                        # The common case: only the use limit is left to check.
                        c.use_count += 1
                        c.last_used_at = at
                        unit = c.frequency_unit
                        if unit is not None:
                            p = at[:10] if unit == "DAY" else _period(unit, at)
                            if p == c.period:
                                c.period_uses += 1
                                if c.period_uses > c.frequency_value:  # type: ignore[operator]
                                    self._over_frequency(seq, c)
                            else:
                                c.period, c.period_uses = p, 1
                        elif c.use_count > 1 and c.fetch_type == "ONETIME":
                            self._violate(seq, Rule.OVER_USE_COUNT, f"consent {cid} allows one use; this "
                                          f"is use {c.use_count}", cid)  # fmt: skip
                        continue
                    _, masked, scopes, *_ = extra(i)
                    self._slow_access(
                        seq, etype, at, grantee, subject, masked, scopes, scope_key, purpose, mode, cid, c
                    )
                elif etype in events or etype == _REQUESTED:
                    kind, _, scopes, *terms = extra(i)
                    self._event((seq, etype, at, grantee, subject, kind, scopes, purpose, cid, *terms))
                elif etype == _REFUSAL:
                    report.refusals += 1
                elif etype not in _KNOWN_TYPES:
                    self._violate(seq, Rule.MALFORMED_ENTRY, f"unknown entry type {etype!r}", cid)
        finally:
            report.entries += entries
            report.accesses += accesses
            self.next_seq = seq + 1

    def _authority(self, seq: int, grantee: str | None, cid: str | None) -> None:
        self.report.authority_accesses += 1
        allowed = self.credit_authorities
        if allowed is not None and grantee not in allowed:
            self._violate(
                seq,
                Rule.NOT_CREDIT_AUTHORITY,
                f"{grantee} claims the credit authority's basis (G§16) but is not the credit authority",
                cid,
            )

    def _over_frequency(self, seq: int, c: ReplayedConsent) -> None:
        self._violate(
            seq,
            Rule.OVER_FREQUENCY,
            f"consent {c.consent_id} allows {c.frequency_value} uses per {str(c.frequency_unit).lower()}; "
            f"this is use {c.period_uses} of that period",
            c.consent_id,
        )

    def _slow_access(
        self,
        seq: int,
        etype: str,
        at: str,
        grantee: str | None,
        subject: str | None,
        masked: str | None,
        scopes: list[str],
        scope_key: str,
        purpose: str,
        mode: str,
        cid: str | None,
        c: ReplayedConsent | None,
    ) -> None:
        """An access the fast path did not clear: find every rule it broke, then count the use."""
        if etype not in _TYPES_OF.get((purpose, mode), ()):
            self._violate(
                seq, Rule.WRONG_ENTRY_TYPE, f"a {etype} entry for purpose {purpose}, mode {mode}", cid
            )
        if c is None:
            why = "names no consent" if cid is None else f"names consent {cid}, which the log never granted"
            self._violate(seq, Rule.MISSING_GRANT, f"the access by {grantee} {why}", cid)
            return
        if c.grantee != grantee or c.subject_index != subject:
            who = "grantee" if c.grantee != grantee else "subject"
            self._violate(seq, Rule.OTHER_PARTY, f"consent {cid} was given for another {who}", cid)
            return
        # The use that exhausts a consent may be written after its exhaustion entry, at the same time;
        # the use count, not the status, judges it.
        if c.status is not _ACTIVE and not (c.status is _EXHAUSTED and c.status_changed_at == at):
            self._violate(
                seq,
                _STATUS_RULE[c.status],
                f"consent {cid} was {c.status.value.lower()} at {c.status_changed_at} "
                f"(entry {c.status_seq}), before this access at {at}",
                cid,
            )
        if c.purpose != purpose:
            self._violate(seq, Rule.WRONG_PURPOSE, f"consent {cid} is for {c.purpose}, not {purpose}", cid)
        kind = _kind_of(c, masked)
        missing = [s for s in scopes if not _covered(c.scopes, kind, s)]
        if not missing:
            c.covers.add(scope_key)
        else:
            self._violate(seq, Rule.OUT_OF_SCOPE, f"consent {cid} does not cover scopes {missing}", cid)
        if c.modes is None or c.valid_from is None or c.valid_until is None:
            self._violate(
                seq,
                Rule.TERMS_UNRECORDED,
                f"consent {cid}'s grant entry predates recorded terms: the log cannot show its modes, "
                "window and limits covered this access",
                cid,
            )
        else:
            if mode not in c.modes:
                self._violate(seq, Rule.MODE_NOT_COVERED, f"consent {cid} does not allow mode {mode}", cid)
            if at < c.valid_from:
                self._violate(seq, Rule.NOT_YET_VALID, f"consent {cid} is valid from {c.valid_from}", cid)
            elif at >= c.valid_until and c.status is not ConsentStatus.EXPIRED:
                self._violate(seq, Rule.EXPIRED, f"consent {cid} expired at {c.valid_until}", cid)
        c.use_count += 1
        c.last_used_at = at
        if c.frequency_unit is not None and c.frequency_value is not None:
            p = _period(c.frequency_unit, at)
            if p == c.period:
                c.period_uses += 1
                if c.period_uses > c.frequency_value:
                    self._over_frequency(seq, c)
            else:
                c.period, c.period_uses = p, 1
        elif c.use_count > 1 and c.fetch_type == "ONETIME":
            self._violate(
                seq, Rule.OVER_USE_COUNT, f"consent {cid} allows one use; this is use {c.use_count}", cid
            )

    def _event(self, row: tuple[Any, ...]) -> None:
        (seq, etype, at, grantee, subject, kind, scopes, purpose, cid, modes, valid_from, valid_until,
         fetch_type, freq_value, freq_unit) = row  # fmt: skip
        self.report.consent_events += 1
        if cid is None or at is None:
            self._violate(seq, Rule.MALFORMED_ENTRY, "a consent event names its consent and time", cid)
            return
        c = self._consents.get(cid)
        terms = etype in (_REQUESTED, _GRANTED, _AMENDED)
        if (
            terms
            and modes is not None
            and not _terms_ok(valid_from, valid_until, fetch_type, freq_value, freq_unit)
        ):
            self._violate(seq, Rule.MALFORMED_ENTRY, "the entry's terms are incomplete or malformed", cid)
            return
        if etype == _REQUESTED or (c is None and etype == _GRANTED):
            if c is not None:
                self._violate(seq, Rule.ILLEGAL_TRANSITION, f"consent {cid} was already requested", cid)
                return
            status = ConsentStatus.PENDING if etype == _REQUESTED else ConsentStatus.ACTIVE
            share = self._share
            granted = share(frozenset(scopes or ()))
            modes_set = None if modes is None else share(frozenset(modes))
            self._consents[cid] = ReplayedConsent(
                cid, share(grantee or ""), subject or "", share(kind), share(purpose or ""), granted,
                modes_set, share(valid_from), share(valid_until), share(fetch_type), freq_value,
                share(freq_unit), status, at, seq, covers=self._covers_of(granted, kind),
                allowed=self._allowed_of(purpose, modes_set),
            )  # fmt: skip
            return
        if c is None:
            self._violate(
                seq, Rule.UNKNOWN_CONSENT, f"{etype} for consent {cid}, which the log never requested"
            )
            return
        if c.grantee != grantee or c.subject_index != subject:
            self._violate(
                seq, Rule.OTHER_PARTY, f"{etype} names consent {cid} with another grantee or subject"
            )
            return
        event = _EVENTS[etype]
        target = _TRANSITIONS.get((c.status, event))
        if target is None:
            self._violate(
                seq,
                Rule.ILLEGAL_TRANSITION,
                f"consent {cid} was {c.status.value.lower()} (entry {c.status_seq}): no {etype} can follow",
                cid,
            )
            return
        if terms:
            if purpose != c.purpose:
                self._violate(seq, Rule.ILLEGAL_TRANSITION, f"{etype} changes consent {cid}'s purpose", cid)
                return
            share = self._share
            c.subject_kind = share(kind or c.subject_kind)
            c.scopes = share(frozenset(scopes or ()))
            c.covers = self._covers_of(c.scopes, c.subject_kind)
            c.modes = None if modes is None else share(frozenset(modes))
            c.allowed = self._allowed_of(c.purpose, c.modes)
            c.valid_from, c.valid_until, c.fetch_type = (
                share(valid_from),
                share(valid_until),
                share(fetch_type),
            )
            c.frequency_value, c.frequency_unit = freq_value, share(freq_unit)
        c.status, c.status_changed_at, c.status_seq = target, at, seq


_FETCH_TYPES = frozenset(t.value for t in FetchType)
_UNITS = frozenset(u.value for u in PeriodUnit)


def _terms_ok(
    valid_from: str | None,
    valid_until: str | None,
    fetch_type: str | None,
    freq_value: int | None,
    freq_unit: str | None,
) -> bool:
    if valid_from is None or valid_until is None:
        return False
    if fetch_type not in _FETCH_TYPES or (freq_value is None) != (freq_unit is None):
        return False
    return freq_unit is None or (freq_unit in _UNITS and freq_value is not None and freq_value >= 1)


def _spelled(at: str | None) -> str | None:
    return at if at is not None and _TIME.match(at) else None


def _row_of(e: LedgerEntry, i: int) -> tuple[Any, ...]:
    return (
        e.seq,
        i,
        e.type.value,
        _spelled(e.at),
        e.grantee,
        e.subject_index,
        ",".join(e.scopes),
        None if e.purpose is None else e.purpose.value,
        None if e.mode is None else e.mode.value,
        e.consent_id,
        e.basis,
    )


def _extra_of(e: LedgerEntry) -> tuple[Any, ...]:
    return (
        None if e.subject_kind is None else e.subject_kind.value,
        e.subject_masked,
        list(e.scopes),
        None if e.modes is None else [m.value for m in e.modes],
        _spelled(e.valid_from),
        _spelled(e.valid_until),
        None if e.fetch_type is None else e.fetch_type.value,
        e.frequency_value,
        None if e.frequency_unit is None else e.frequency_unit.value,
    )


def replay_authorisation(
    batches: Iterable[ExportBatch],
    *,
    credit_authorities: Collection[str] | None = None,
    max_reported: int | None = 1000,
) -> tuple[AuthorisationReport, Mapping[str, ReplayedConsent]]:
    """Replay an export (``read_export(path)``): the report and the consent states the log implies."""
    replay = AuthorisationReplay(credit_authorities=credit_authorities, max_reported=max_reported)
    replay.feed_export(batches)
    return replay.finish(), replay.states()


def replay_export(
    path: str | Path,
    *,
    processes: int | None = None,
    credit_authorities: Collection[str] | None = None,
    max_reported: int | None = 1000,
) -> AuthorisationReport:
    """:func:`replay_authorisation` of an export file, a Parquet one split by consent over ``processes``
    processes (default: the cores this process may use). Each process reads the file itself, keeps its
    part's rows (see :class:`Part`) and replays them; the reports add up to the whole log's, violations in
    log order. Should a part find a row outside it, or a row that does not parse, the log is replayed whole,
    which names such rows exactly."""
    path = Path(path)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    count = min(processes or cores or 1, len(_HEX))  # a part per hex digit at most
    if count < 2 or not is_parquet_export(path):
        return replay_authorisation(
            read_export(path), credit_authorities=credit_authorities, max_reported=max_reported
        )[0]
    authorities = None if credit_authorities is None else sorted(credit_authorities)
    # spawn: a fork would copy the caller's threads' locks (Arrow's pools among them) in whatever state
    with ProcessPoolExecutor(count, mp_context=multiprocessing.get_context("spawn")) as pool:
        parts = [
            pool.submit(_replay_part, str(path), Part(k, count), authorities, max_reported)
            for k in range(count)
        ]
        reports = [p.result() for p in parts]
    if any(r is None for r in reports):
        return replay_authorisation(
            read_export(path), credit_authorities=credit_authorities, max_reported=max_reported
        )[0]
    return _merged([r for r in reports if r is not None], max_reported)


def _replay_part(
    path: str, part: Part, credit_authorities: list[str] | None, max_reported: int | None
) -> AuthorisationReport | None:
    replay = AuthorisationReplay(credit_authorities=credit_authorities, max_reported=max_reported)
    replay._part = part

    def batches() -> Iterator[tuple[pa.Array, pa.Array]]:
        for batch in pq.ParquetFile(path).iter_batches(batch_size=65536, columns=["seq", "entry"]):
            seqs, entries = batch.column(0), batch.column(1)
            mine = part.pick(entries)
            yield pc.filter(seqs, mine), pc.filter(entries, mine)

    try:
        replay.feed_many(batches())
    except PartMismatch:
        return None
    return replay.finish()


def _merged(reports: list[AuthorisationReport], max_reported: int | None) -> AuthorisationReport:
    out = AuthorisationReport(authority_checked=reports[0].authority_checked)
    for r in reports:
        out.entries += r.entries
        out.accesses += r.accesses
        out.authority_accesses += r.authority_accesses
        out.refusals += r.refusals
        out.consent_events += r.consent_events
        out.violation_count += r.violation_count
        out.by_rule.update(r.by_rule)
        out.consents += r.consents
    # Each part kept its first violations in log order, so the first of all are among them.
    ordered = sorted((v for r in reports for v in r.violations), key=lambda v: v.seq)
    out.violations = ordered if max_reported is None else ordered[:max_reported]
    return out


@dataclasses.dataclass(frozen=True, slots=True)
class StateDifference:
    consent_id: str
    field: str
    table: object
    log: object

    def line(self) -> str:
        return (
            f"consent {self.consent_id}: {self.field} is {self.table!r} in the table, {self.log!r} in the log"
        )


def state_differences(
    log: Mapping[str, ReplayedConsent], table: Iterable[ConsentState], indexer: SubjectIndexer
) -> Iterator[StateDifference]:
    """Where the consents table and the state the log implies disagree (the platform's self-check).

    Compares status, parties, purpose, scopes, modes, window, fetch terms and use counts of every consent in
    ``table``; a consent the log never mentions is a difference too (field ``presence``), and so is a
    consent of the log missing from the table.
    """
    seen: set[str] = set()
    for state in table:
        a = state.artefact
        cid = a.consent_id
        seen.add(cid)
        c = log.get(cid)
        if c is None:
            yield StateDifference(cid, "presence", "present", "absent")
            continue
        freq = a.frequency
        pairs: list[tuple[str, object, object]] = [
            ("status", state.status.value, c.status.value),
            ("grantee", a.grantee, c.grantee),
            ("subject", indexer.index(a.subject), c.subject_index),
            ("purpose", a.purpose.value, c.purpose),
            ("scopes", sorted(a.scopes), sorted(c.scopes)),
            ("modes", sorted(m.value for m in a.modes), None if c.modes is None else sorted(c.modes)),
            ("valid_from", format_time(a.valid_from), c.valid_from),
            ("valid_until", format_time(a.valid_until), c.valid_until),
            ("fetch_type", a.fetch_type.value, c.fetch_type),
            ("frequency", None if freq is None else (freq.value, freq.unit.value),
             None if c.frequency_value is None else (c.frequency_value, c.frequency_unit)),
            ("use_count", state.use_count, c.use_count),
            ("period_uses", state.period_uses if state.period_uses else 0, c.period_uses),
        ]  # fmt: skip
        if state.period_uses:
            pairs.append(("period_key", state.period_key, c.period_key))
        for name, mine, theirs in pairs:
            if mine != theirs:
                yield StateDifference(cid, name, mine, theirs)
    for cid in log.keys() - seen:
        yield StateDifference(cid, "presence", "absent", "present")
