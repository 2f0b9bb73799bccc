"""Fixtures for the consent tests: a clock, two subjects, and a factory for consent artefacts."""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable
from typing import Any

import pytest

from fincredit.consent import (
    AccessMode,
    ConsentArtefact,
    ConsentState,
    DataLife,
    DataLifeUnit,
    FetchType,
    Frequency,
    PeriodUnit,
    Purpose,
    Subject,
    SubjectAct,
    SubjectKind,
    generate_resident_id,
    generate_uscc,
)

T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)  # a Monday
BANK = "91330200MA2BANK01X"


@pytest.fixture
def t0() -> dt.datetime:
    return T0


@pytest.fixture
def company() -> Subject:
    return Subject(SubjectKind.LEGAL, generate_uscc(random.Random(7)))


@pytest.fixture
def person() -> Subject:
    return Subject(SubjectKind.NATURAL, generate_resident_id(random.Random(8)))


ArtefactFactory = Callable[..., ConsentArtefact]


@pytest.fixture
def make_artefact(company: Subject) -> ArtefactFactory:
    def make(**overrides: Any) -> ConsentArtefact:
        fields: dict[str, Any] = {
            "subject": company,
            "grantee": BANK,
            "purpose": Purpose.LOAN_APPLICATION_ASSESSMENT,
            "scopes": {"court.judgment", "tax.arrears"},
            "modes": {AccessMode.QUERY, AccessMode.REPORT},
            "valid_from": T0,
            "valid_until": T0 + dt.timedelta(days=90),
            "fetch_type": FetchType.PERIODIC,
            "frequency": Frequency(value=3, unit=PeriodUnit.DAY),
            "data_life": DataLife(value=1, unit=DataLifeUnit.YEAR),
            "created_at": T0 - dt.timedelta(hours=1),
        }
        fields.update(overrides)
        return ConsentArtefact(**fields)

    return make


def approval(at: dt.datetime = T0 - dt.timedelta(minutes=30)) -> SubjectAct:
    return SubjectAct(approved_by_account="acct:borrower-1", approved_at=at, channel="mobile_app")


@pytest.fixture
def make_active(make_artefact: ArtefactFactory) -> Callable[..., ConsentState]:
    def make(**overrides: Any) -> ConsentState:
        return ConsentState.requested(make_artefact(**overrides)).grant(approval())

    return make


@pytest.fixture
def approve() -> Callable[..., SubjectAct]:
    return approval
