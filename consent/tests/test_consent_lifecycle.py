"""Consents move PENDING → ACTIVE/REJECTED → PAUSED/REVOKED/EXPIRED/EXHAUSTED, and nowhere else."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest

from fincredit.consent import (
    TRANSITIONS,
    ConsentArtefact,
    ConsentEvent,
    ConsentState,
    ConsentStatus,
    FetchType,
    Frequency,
    IllegalTransitionError,
    InvalidConsentError,
    PeriodUnit,
    SubjectAct,
    UsageRefusedError,
    period_key,
)

# The clock of the conftest fixtures: requests at 08:00, approval at 08:30, validity from 09:00 (a Monday).
T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
LATER = T0 + dt.timedelta(days=1)


def approval(at: dt.datetime = T0 - dt.timedelta(minutes=30)) -> SubjectAct:
    return SubjectAct(approved_by_account="acct:borrower-1", approved_at=at, channel="mobile_app")


def in_status(make_artefact, status: ConsentStatus) -> ConsentState:
    s = ConsentState.requested(make_artefact())
    path = {
        ConsentStatus.PENDING: [],
        ConsentStatus.ACTIVE: ["grant"],
        ConsentStatus.REJECTED: ["reject"],
        ConsentStatus.PAUSED: ["grant", "pause"],
        ConsentStatus.REVOKED: ["grant", "revoke"],
        ConsentStatus.EXPIRED: ["grant", "expire"],
        ConsentStatus.EXHAUSTED: ["grant", "exhaust"],
    }[status]
    for step in path:
        s = s.grant(approval()) if step == "grant" else s.apply(ConsentEvent(step), T0)
    assert s.status is status
    return s


def test_a_request_starts_pending(make_artefact):
    s = ConsentState.requested(make_artefact())
    assert s.status is ConsentStatus.PENDING and s.use_count == 0


def test_granting_signs_the_artefact_and_activates(make_artefact):
    s = ConsentState.requested(make_artefact()).grant(approval())
    assert s.status is ConsentStatus.ACTIVE
    assert s.artefact.evidence is not None and s.artefact.evidence.channel == "mobile_app"


def take(s: ConsentState, event: ConsentEvent) -> ConsentState:
    if event is ConsentEvent.GRANT:
        return s.grant(approval(LATER))
    if event is ConsentEvent.AMEND:
        return s.amend(narrowed(s), LATER)
    return s.apply(event, LATER)


def narrowed(s: ConsentState) -> ConsentArtefact:
    """The consent's terms with one scope fewer (approved by the subject at LATER once granted)."""
    doc = s.artefact.model_dump()
    pending = s.status is ConsentStatus.PENDING
    doc.update(scopes={"court.judgment"}, evidence=None if pending else approval(LATER))
    return ConsentArtefact.model_validate(doc)


@pytest.mark.parametrize(("source", "event"), sorted(TRANSITIONS))
def test_every_legal_transition_reaches_its_target(make_artefact, source, event):
    s = in_status(make_artefact, source)
    after = take(s, event)
    assert after.status is TRANSITIONS[(source, event)]
    assert after.status_changed_at == LATER
    assert s.status is source  # states are values: the old one is unchanged


ILLEGAL = [
    (s, e)
    for s, e in itertools.product(ConsentStatus, ConsentEvent)
    if (s, e) not in TRANSITIONS and e is not ConsentEvent.GRANT
]


@pytest.mark.parametrize(("source", "event"), ILLEGAL)
def test_every_other_transition_is_refused(make_artefact, source, event):
    s = in_status(make_artefact, source)
    with pytest.raises(IllegalTransitionError) as info:
        take(s, event)
    assert info.value.status == source.value


def test_an_amendment_changes_the_terms_and_keeps_status_and_counts(make_active):
    s = make_active().record_use(T0 + dt.timedelta(hours=1))
    amended = s.amend(narrowed(s), LATER)
    assert amended.status is ConsentStatus.ACTIVE and amended.use_count == 1
    assert amended.artefact.scopes == {"court.judgment"}


def test_an_amendment_of_a_granted_consent_needs_the_subjects_approval_and_the_same_parties(make_active):
    s = make_active()
    doc = s.artefact.model_dump()
    with pytest.raises(InvalidConsentError, match="approval"):
        s.amend(ConsentArtefact.model_validate({**doc, "scopes": {"court"}, "evidence": None}), LATER)
    with pytest.raises(InvalidConsentError, match="grantee"):
        s.amend(ConsentArtefact.model_validate({**doc, "grantee": "someone-else"}), LATER)
    with pytest.raises(InvalidConsentError, match="call amend"):
        s.apply(ConsentEvent.AMEND, LATER)


@pytest.mark.parametrize("source", [s for s in ConsentStatus if s is not ConsentStatus.PENDING])
def test_only_a_pending_consent_can_be_granted(make_artefact, source):
    with pytest.raises(IllegalTransitionError, match="cannot be granted"):
        in_status(make_artefact, source).grant(approval(LATER))


def test_a_request_cannot_be_granted_after_its_window(make_artefact):
    s = ConsentState.requested(make_artefact())
    with pytest.raises(InvalidConsentError, match="ended before"):
        s.grant(approval(T0 + dt.timedelta(days=91)))


def test_a_onetime_consent_is_exhausted_by_its_use(make_active):
    s = make_active(fetch_type=FetchType.ONETIME, frequency=None).record_use(T0)
    assert s.status is ConsentStatus.EXHAUSTED and s.use_count == 1 and s.last_used_at == T0
    with pytest.raises(UsageRefusedError):
        s.record_use(T0)


def test_periodic_use_is_counted_per_calendar_period(make_active):
    s = make_active(frequency=Frequency(value=2, unit=PeriodUnit.DAY))
    s = s.record_use(T0).record_use(T0 + dt.timedelta(hours=1))
    assert s.status is ConsentStatus.ACTIVE and s.uses_in_period(T0) == 2
    with pytest.raises(UsageRefusedError, match="2 uses per day"):
        s.record_use(T0 + dt.timedelta(hours=2))
    next_day = T0.replace(hour=0) + dt.timedelta(days=1)
    s = s.record_use(next_day)
    assert s.use_count == 3 and s.uses_in_period(next_day) == 1


def test_a_paused_or_revoked_consent_cannot_be_used(make_active):
    s = make_active()
    with pytest.raises(UsageRefusedError, match="PAUSED"):
        s.pause(T0).record_use(T0)
    with pytest.raises(UsageRefusedError, match="REVOKED"):
        s.revoke(T0).record_use(T0)


def test_the_sweeper_expires_active_and_paused_consents_at_valid_until(make_active):
    s = make_active()
    end = s.artefact.valid_until
    assert s.expire_if_due(end - dt.timedelta(seconds=1)) is s
    assert s.expire_if_due(end).status is ConsentStatus.EXPIRED
    assert s.pause(T0).expire_if_due(end + dt.timedelta(days=3)).status_changed_at == end


def test_periods_are_calendar_aligned_in_utc():
    monday = dt.datetime(2026, 3, 2, tzinfo=dt.UTC)
    sunday = monday + dt.timedelta(days=6, hours=23)
    assert period_key(PeriodUnit.WEEK, monday) == period_key(PeriodUnit.WEEK, sunday)
    assert (
        period_key(PeriodUnit.WEEK, sunday + dt.timedelta(hours=1)) == period_key(PeriodUnit.WEEK, monday) + 1
    )
    beijing = dt.timezone(dt.timedelta(hours=8))
    assert period_key(PeriodUnit.DAY, dt.datetime(2026, 3, 3, 7, tzinfo=beijing)) == period_key(
        PeriodUnit.DAY, monday
    )
    assert period_key(PeriodUnit.MONTH, monday) == period_key(
        PeriodUnit.MONTH, dt.datetime(2026, 3, 31, tzinfo=dt.UTC)
    )
