"""The subject registry: legal persons by USCC and natural persons by resident ID (R§3).

Identifiers are validated on the way in (the error names the wrong character), stored AES-GCM
encrypted, found by a keyed blind index, and leave the platform masked unless the caller is entitled
to the full value (the subject themself, the credit authority, the operator)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from fincredit.consent.identifiers import IdentifierError, SubjectKind, mask, validate
from fincredit.platform.core.db import LegalPerson, NaturalPerson, Subject
from fincredit.platform.core.errors import Conflict, InvalidIdentifier, NotFound, identifier_problem
from fincredit.platform.core.keyring import Keyring
from fincredit.platform.identity.principal import Principal


def parse_identifier(value: str, kind: SubjectKind | str | None = None) -> tuple[SubjectKind, str]:
    try:
        return validate(value, kind)
    except IdentifierError as exc:
        raise identifier_problem(exc) from None


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


# The batched lookups' statements, built once: the batched query runs them for every batch, and building
# them per call was a measurable share of its fixed cost.
_BY_BLIND_INDEX = (
    select(Subject, LegalPerson.name, NaturalPerson.name_enc)
    .outerjoin(LegalPerson, LegalPerson.subject_id == Subject.id)
    .outerjoin(NaturalPerson, NaturalPerson.subject_id == Subject.id)
    .where(Subject.code_bidx.in_(bindparam("keys", expanding=True)))
)
_LEGAL_NAMES = select(LegalPerson.subject_id, LegalPerson.name).where(
    LegalPerson.subject_id.in_(bindparam("ids", expanding=True))
)
_NATURAL_NAMES = select(NaturalPerson.subject_id, NaturalPerson.name_enc).where(
    NaturalPerson.subject_id.in_(bindparam("ids", expanding=True))
)


def find_subjects(
    session: Session, keyring: Keyring, identifiers: Sequence[str], *, names: dict[int, str] | None = None
) -> list[Subject | InvalidIdentifier | NotFound]:
    """:func:`find_subject` for many identifiers in one lookup; each answer is the subject or the error
    that identifier alone would have raised. With ``names``, the same lookup fills it with each found
    subject's :func:`subject_name`."""
    keys: list[str | InvalidIdentifier] = []
    for identifier in identifiers:
        try:
            k, code = parse_identifier(identifier)
            keys.append(blind_index(keyring, k, code))
        except InvalidIdentifier as exc:
            keys.append(exc)
    wanted = sorted({k for k in keys if isinstance(k, str)})
    found: dict[str, Subject] = {}
    for subject, legal_name, name_enc in session.execute(_BY_BLIND_INDEX, {"keys": wanted}) if wanted else ():
        found[subject.code_bidx] = subject
        if names is not None:
            natural = name_enc is not None and subject.kind != SubjectKind.LEGAL.value
            names[subject.id] = (
                keyring.decrypt(name_enc, context="natural:name") if natural else legal_name or ""
            )
    out: list[Subject | InvalidIdentifier | NotFound] = []
    for identifier, key in zip(identifiers, keys, strict=True):
        if isinstance(key, InvalidIdentifier):
            out.append(key)
        elif key in found:
            out.append(found[key])
        else:
            k, code = parse_identifier(identifier)
            out.append(NotFound(f"no subject {mask(code, k)}"))
    return out


def subject_names(session: Session, keyring: Keyring, subjects: Sequence[Subject]) -> dict[int, str]:
    """:func:`subject_name` of many subjects: one lookup per kind."""
    legal = [s.id for s in subjects if s.kind == SubjectKind.LEGAL.value]
    natural = [s.id for s in subjects if s.kind != SubjectKind.LEGAL.value]
    out = {s.id: "" for s in subjects}
    if legal:
        for sid, name in session.execute(_LEGAL_NAMES, {"ids": legal}):
            out[sid] = name
    if natural:
        for sid, enc in session.execute(_NATURAL_NAMES, {"ids": natural}):
            out[sid] = keyring.decrypt(enc, context="natural:name")
    return out


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
