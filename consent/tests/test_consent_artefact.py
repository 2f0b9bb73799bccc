"""A consent artefact states its terms completely and refuses terms that break the rules."""

from __future__ import annotations

import datetime as dt

import pytest
from pydantic import ValidationError

from fincredit.consent import (
    AccessMode,
    ConsentArtefact,
    FetchType,
    Frequency,
    InvalidConsentError,
    PeriodUnit,
    Purpose,
    Subject,
    SubjectAct,
    SubjectKind,
    is_sensitive,
    scope_covers,
)


def test_a_valid_artefact_round_trips_through_json(make_artefact):
    a = make_artefact()
    again = ConsentArtefact.model_validate_json(a.model_dump_json())
    assert again == a
    assert a.model_dump(mode="json")["scopes"] == ["court.judgment", "tax.arrears"]
    assert a.consent_id.startswith("cns_")


def test_the_artefact_is_frozen(make_artefact):
    a = make_artefact()
    with pytest.raises(ValidationError):
        a.purpose = Purpose.CREDIT_REPORT  # type: ignore[misc]


def test_the_subject_identifier_is_validated(make_artefact, company):
    assert make_artefact(subject={"kind": "legal", "code": company.code.lower()}).subject == company
    broken = company.code[:-1] + ("0" if company.code[-1] != "0" else "1")
    with pytest.raises(ValidationError, match="does not match its check character"):
        make_artefact(subject=Subject(SubjectKind.LEGAL, broken))


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"valid_until": dt.datetime(2026, 1, 1, tzinfo=dt.UTC)}, "valid_until must be after"),
        ({"valid_from": dt.datetime(2026, 3, 2, 9, 0)}, "time zone"),
        ({"scopes": set()}, "at least one data scope"),
        ({"scopes": {"Court Judgment"}}, "malformed scopes"),
        ({"modes": {AccessMode.MODEL_TRAINING}}, "does not allow modes"),
        ({"frequency": None}, "needs a frequency"),
        ({"fetch_type": FetchType.ONETIME}, "has no frequency"),
    ],
)
def test_inconsistent_terms_are_refused(make_artefact, overrides, message):
    with pytest.raises(ValidationError, match=message):
        make_artefact(**overrides)


def test_sensitive_scopes_need_a_consent_of_their_own(make_artefact, person):
    with pytest.raises(ValidationError, match=r"PIPL art\. 29"):
        make_artefact(subject=person, scopes={"person.health", "court.judgment"})
    alone = make_artefact(subject=person, scopes={"person.health", "court.dishonest_debtor"})
    assert alone.sensitive


def test_a_dishonest_debtor_listing_is_sensitive_only_for_natural_persons(make_artefact, company):
    assert is_sensitive("court.dishonest_debtor", SubjectKind.NATURAL)
    assert not is_sensitive("court.dishonest_debtor", SubjectKind.LEGAL)
    assert not make_artefact(scopes={"court.dishonest_debtor", "tax.arrears"}).sensitive


def test_broad_scopes_cover_sub_categories_but_never_sensitive_ones():
    assert scope_covers("court", "court.judgment", SubjectKind.NATURAL)
    assert not scope_covers("court", "court.dishonest_debtor", SubjectKind.NATURAL)
    assert scope_covers("court", "court.dishonest_debtor", SubjectKind.LEGAL)
    assert scope_covers("person.health", "person.health.diagnosis", SubjectKind.NATURAL)
    assert not scope_covers("market:sme-invoices", "market:sme-invoices-v2", SubjectKind.LEGAL)
    assert not scope_covers("court", "courtyard", SubjectKind.LEGAL)


def test_the_subjects_approval_signs_the_artefact_once(make_artefact, t0):
    a = make_artefact()
    act = SubjectAct(approved_by_account="acct:1", approved_at=t0, channel="web")
    signed = a.signed(act)
    assert signed.is_signed and not a.is_signed
    assert signed.consent_id == a.consent_id
    with pytest.raises(InvalidConsentError, match="already signed"):
        signed.signed(act)


def test_approval_cannot_predate_the_request(make_artefact, t0):
    act = SubjectAct(approved_by_account="acct:1", approved_at=t0 - dt.timedelta(days=1), channel="web")
    with pytest.raises(InvalidConsentError, match="before it was requested"):
        make_artefact().signed(act)


def test_periodic_terms_carry_their_frequency(make_artefact):
    a = make_artefact(frequency=Frequency(value=10, unit=PeriodUnit.MONTH))
    assert a.frequency is not None and a.frequency.value == 10


def test_the_signed_artefact_is_the_validated_artefact_with_its_evidence(make_artefact, t0):
    act = SubjectAct(approved_by_account="acct:1", approved_at=t0, channel="web")
    a = make_artefact()
    signed = a.signed(act)
    assert signed == ConsentArtefact.model_validate({**a.model_dump(), "evidence": act})
    assert signed.evidence == act and a.evidence is None
