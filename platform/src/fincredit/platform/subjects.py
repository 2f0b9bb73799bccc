"""The subject registry: legal persons by USCC and natural persons by resident ID (R§3).

Identifiers are validated on the way in (the error names the wrong character), stored AES-GCM
encrypted, found by a keyed blind index, and leave the platform masked unless the caller is entitled
to the full value (the subject themself, the credit authority, the operator)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from fincredit.consent.identifiers import IdentifierError, SubjectKind, mask, validate

from .db import LegalPerson, NaturalPerson, Subject
from .errors import Conflict, InvalidIdentifier, NotFound
from .identity.principal import Principal
from .keyring import Keyring


def parse_identifier(value: str, kind: SubjectKind | str | None = None) -> tuple[SubjectKind, str]:
    try:
        return validate(value, kind)
    except IdentifierError as exc:
        raise InvalidIdentifier(str(exc), position=exc.position, identifier_kind=exc.kind.value) from None


def _context(kind: SubjectKind) -> str:
    return f"subject:{kind.value}"


def blind_index(keyring: Keyring, kind: SubjectKind, code: str) -> str:
    return keyring.blind_index(code, context=_context(kind))


@dataclass(frozen=True, slots=True)
class SubjectView:
    id: int
    kind: SubjectKind
    code: str  # full or masked, depending on who asked
    masked: bool
    name: str
    region: str


def register_subject(
    session: Session,
    keyring: Keyring,
    identifier: str,
    name: str,
    *,
    kind: SubjectKind | str | None = None,
    industry: str | None = None,
    established_on: dt.date | None = None,
    registered_capital: float | None = None,
) -> Subject:
    k, code = parse_identifier(identifier, kind)
    bidx = blind_index(keyring, k, code)
    if session.scalar(select(Subject.id).where(Subject.code_bidx == bidx)) is not None:
        raise Conflict(f"subject {mask(code, k)} is already registered")
    region = code[2:8] if k is SubjectKind.LEGAL else code[:6]
    subject = Subject(
        kind=k.value,
        code_enc=keyring.encrypt(code, context=_context(k)),
        code_bidx=bidx,
        code_masked=mask(code, k),
        region=region,
    )
    session.add(subject)
    session.flush()
    if k is SubjectKind.LEGAL:
        session.add(
            LegalPerson(
                subject_id=subject.id,
                name=name.strip(),
                industry=industry,
                established_on=established_on,
                registered_capital=registered_capital,
            )
        )
    else:
        session.add(
            NaturalPerson(
                subject_id=subject.id, name_enc=keyring.encrypt(name.strip(), context="natural:name")
            )
        )
    session.flush()
    return subject


def find_subject(session: Session, keyring: Keyring, identifier: str) -> Subject:
    k, code = parse_identifier(identifier)
    subject = session.scalar(select(Subject).where(Subject.code_bidx == blind_index(keyring, k, code)))
    if subject is None:
        raise NotFound(f"no subject {mask(code, k)}")
    return subject


def subject_name(session: Session, keyring: Keyring, subject: Subject) -> str:
    if subject.kind == SubjectKind.LEGAL.value:
        lp = session.get(LegalPerson, subject.id)
        return lp.name if lp else ""
    np_ = session.get(NaturalPerson, subject.id)
    return keyring.decrypt(np_.name_enc, context="natural:name") if np_ else ""


def may_see_full_identifier(principal: Principal, subject: Subject, *, can_reveal: bool) -> bool:
    return can_reveal or (principal.subject_id is not None and principal.subject_id == subject.id)


def view_subject(session: Session, keyring: Keyring, subject: Subject, *, reveal: bool) -> SubjectView:
    kind = SubjectKind(subject.kind)
    name = subject_name(session, keyring, subject)
    if reveal:
        code = keyring.decrypt(subject.code_enc, context=_context(kind))
    else:
        code = subject.code_masked
        if kind is SubjectKind.NATURAL and name:
            name = name[0] + "*" * (len(name) - 1)  # personal names are masked like the ID
    return SubjectView(
        id=subject.id, kind=kind, code=code, masked=not reveal, name=name, region=subject.region
    )
