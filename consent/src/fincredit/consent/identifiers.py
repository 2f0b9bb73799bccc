"""Credit-subject identifiers: the unified social credit code and the resident identity number.

Legal persons are keyed by the 18-character unified social credit code (USCC, GB 32100-2015);
natural persons by the 18-digit resident identity number (GB 11643-1999, ISO 7064 MOD 11-2).
Every validation failure names the 1-based position of the offending character where the rule
locates it, because the people who read these errors are clerks fixing a spreadsheet row, not
programmers. A check-character mismatch locates nothing (any of the 18 may be the wrong one), so it
says so and shows the expected and the given check character instead of blaming position 18.
"""

from __future__ import annotations

import datetime as _dt
import functools
import random as _random
from dataclasses import dataclass
from enum import StrEnum
from importlib.resources import files

from fincredit.consent.errors import CheckCharacterError, IdentifierError

__all__ = [
    "NINGBO_REGIONS",
    "CheckCharacterError",
    "IdentifierError",
    "Subject",
    "SubjectKind",
    "classify",
    "division_codes",
    "division_name",
    "generate_resident_id",
    "generate_uscc",
    "is_division_code",
    "mask",
    "mask_resident_id",
    "mask_uscc",
    "resident_id_birth_date",
    "validate",
    "validate_resident_id",
    "validate_uscc",
]


class SubjectKind(StrEnum):
    LEGAL = "legal"  # legal persons and other organisations, keyed by USCC
    NATURAL = "natural"  # natural persons, keyed by resident ID


# GB 32100-2015: 31 symbols, no I, O, Z, S, V (they read like 1, 0, 2, 5, U).
_USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_VALUE = {c: i for i, c in enumerate(_USCC_ALPHABET)}
_USCC_WEIGHTS = [pow(3, i, 31) for i in range(17)]
# Registration authority code -> the organisation category codes it may issue (GB 32100-2015 Annex).
_USCC_CATEGORIES: dict[str, str] = {
    "1": "1239",  # organisation establishment (government bodies, public institutions)
    "2": "19",  # foreign affairs
    "3": "12345",  # judicial administration (law firms, notaries, ...)
    "4": "19",  # culture
    "5": "1239",  # civil affairs (social organisations, foundations, ...)
    "6": "129",  # tourism
    "7": "129",  # religion
    "8": "19",  # trade unions
    "9": "123",  # market supervision: 1 enterprise, 2 individual business, 3 farmers' co-operative
    "A": "19",  # central military commission reform
    "N": "12345",  # agriculture (rural collective economic organisations)
    "Y": "1",  # other
}
# GB 32100-2015: registration authorities at national level write 100000 where others write
# their GB/T 2260 division code; no resident ID carries it.
_NATIONAL_AUTHORITY = "100000"

# GB 11643-1999 / ISO 7064 MOD 11-2.
_RID_WEIGHTS = [pow(2, 17 - i, 11) for i in range(17)]
_RID_CHECK = "10X98765432"

NINGBO_REGIONS: dict[str, str] = {
    "330203": "海曙区",
    "330205": "江北区",
    "330206": "北仑区",
    "330211": "镇海区",
    "330212": "鄞州区",
    "330213": "奉化区",
    "330225": "象山县",
    "330226": "宁海县",
    "330281": "余姚市",
    "330282": "慈溪市",
}


@functools.cache
def _divisions() -> dict[str, str]:
    # The data file says where the list comes from and how consent/scripts/build_gb2260.py renews it.
    text = files("fincredit.consent").joinpath("gb2260.tsv").read_text(encoding="utf-8")
    rows = (line.split("\t") for line in text.splitlines() if line and not line.startswith("#"))
    return {code: name for code, name in rows}


@functools.cache
def division_codes() -> frozenset[str]:
    """Every GB/T 2260 administrative division code in force at any time since the first list (1980),
    retired ones included, and the county codes of before 1980 that early resident IDs carry."""
    return frozenset(_divisions())


def division_name(code: str) -> str | None:
    """The newest name of a division code, or None if no GB/T 2260 list has held it."""
    return _divisions().get(code)


def is_division_code(code: str) -> bool:
    return code in _divisions()


def _division_error(code: str, first: int, kind: SubjectKind, whose: str) -> IdentifierError:
    return IdentifierError(
        f"characters {first}-{first + 5} ({code!r}) are not an administrative division code "
        f"(GB/T 2260, current or retired) {whose}",
        kind=kind,
        position=first,
    )


def _uscc_check(body: str) -> str:
    total = sum(_USCC_VALUE[c] * w for c, w in zip(body, _USCC_WEIGHTS, strict=True))
    return _USCC_ALPHABET[(31 - total % 31) % 31]


def _rid_check(body: str) -> str:
    return _RID_CHECK[sum(int(c) * w for c, w in zip(body, _RID_WEIGHTS, strict=True)) % 11]


def _normalise(value: str) -> str:
    # Full-width forms (Ａ-Ｚ, ０-９) are common in documents typed on Chinese IMEs.
    out = []
    for ch in value.strip():
        code = ord(ch)
        if 0xFF01 <= code <= 0xFF5E:
            ch = chr(code - 0xFEE0)
        out.append(ch)
    return "".join(out).upper()


def validate_uscc(value: str) -> str:
    """Return the canonical USCC or raise :class:`IdentifierError` naming the wrong character."""
    kind = SubjectKind.LEGAL
    code = _normalise(value)
    if len(code) != 18:
        raise IdentifierError(
            f"a unified social credit code has 18 characters, this one has {len(code)}", kind=kind
        )
    for i, ch in enumerate(code, start=1):
        if ch not in _USCC_VALUE:
            raise IdentifierError(
                f"character {i} ({ch!r}) is not allowed in a unified social credit code "
                "(digits and capital letters except I, O, Z, S, V)",
                kind=kind,
                position=i,
            )
    authority, category = code[0], code[1]
    if authority not in _USCC_CATEGORIES:
        raise IdentifierError(
            f"character 1 ({authority!r}) is not a registration authority code", kind=kind, position=1
        )
    if category not in _USCC_CATEGORIES[authority]:
        raise IdentifierError(
            f"character 2 ({category!r}) is not an organisation category that registration "
            f"authority {authority!r} issues",
            kind=kind,
            position=2,
        )
    region = code[2:8]
    for i, ch in enumerate(region, start=3):
        if not ch.isdigit():
            raise IdentifierError(
                f"character {i} ({ch!r}) must be a digit of the administrative division code",
                kind=kind,
                position=i,
            )
    if region != _NATIONAL_AUTHORITY and not is_division_code(region):
        raise _division_error(region, 3, kind, "of a registration authority")
    expected = _uscc_check(code[:17])
    if code[17] != expected:
        raise CheckCharacterError(
            f"the code does not match its check character: the first 17 characters give {expected!r}, "
            f"the code ends in {code[17]!r}; one of the 18 characters is wrong (a check character "
            "cannot tell which): compare the code with the certificate",
            kind=kind,
            expected=expected,
            given=code[17],
        )
    return code


def validate_resident_id(value: str, *, today: _dt.date | None = None) -> str:
    """Return the canonical resident ID or raise :class:`IdentifierError` naming the wrong character."""
    kind = SubjectKind.NATURAL
    code = _normalise(value)
    if len(code) != 18:
        raise IdentifierError(
            f"a resident identity number has 18 characters, this one has {len(code)}", kind=kind
        )
    for i, ch in enumerate(code[:17], start=1):
        if not ch.isdigit():
            raise IdentifierError(f"character {i} ({ch!r}) must be a digit", kind=kind, position=i)
    if not (code[17].isdigit() or code[17] == "X"):
        raise IdentifierError(f"character 18 ({code[17]!r}) must be a digit or X", kind=kind, position=18)
    if not is_division_code(code[:6]):
        raise _division_error(code[:6], 1, kind, "of the place the number was issued")
    try:
        birth = _dt.date(int(code[6:10]), int(code[10:12]), int(code[12:14]))
    except ValueError:
        raise IdentifierError(
            f"characters 7-14 ({code[6:14]!r}) are not a valid birth date", kind=kind, position=7
        ) from None
    today = today or _dt.date.today()
    if birth.year < 1850 or birth > today:
        raise IdentifierError(
            f"characters 7-14 ({code[6:14]!r}) give a birth date outside 1850..today", kind=kind, position=7
        )
    expected = _rid_check(code[:17])
    if code[17] != expected:
        raise CheckCharacterError(
            f"the number does not match its check digit: the first 17 digits give {expected!r}, "
            f"the number ends in {code[17]!r}; one of the 18 characters is wrong (a check digit "
            "cannot tell which): compare the number with the identity card",
            kind=kind,
            expected=expected,
            given=code[17],
        )
    return code


def resident_id_birth_date(code: str) -> _dt.date:
    code = validate_resident_id(code)
    return _dt.date(int(code[6:10]), int(code[10:12]), int(code[12:14]))


def classify(value: str) -> SubjectKind:
    """Guess the kind from the shape (resident IDs are 17 digits + digit/X); validation comes after."""
    code = _normalise(value)
    if len(code) == 18 and code[:17].isdigit() and (code[17].isdigit() or code[17] == "X"):
        # A USCC can be all digits too (e.g. authority 1, category 1); the birth-date field disambiguates.
        try:
            validate_resident_id(code)
            return SubjectKind.NATURAL
        except IdentifierError:
            try:
                validate_uscc(code)
                return SubjectKind.LEGAL
            except IdentifierError:
                return SubjectKind.NATURAL
    return SubjectKind.LEGAL


def validate(value: str, kind: SubjectKind | str | None = None) -> tuple[SubjectKind, str]:
    """Validate as ``kind`` (or the kind the shape suggests); return (kind, canonical code)."""
    k = SubjectKind(kind) if kind is not None else classify(value)
    return k, (validate_uscc(value) if k is SubjectKind.LEGAL else validate_resident_id(value))


def mask_uscc(code: str) -> str:
    return code[:4] + "*" * 10 + code[14:]


def mask_resident_id(code: str) -> str:
    # Hides the birth date and sequence; keeps the region (first 6) and the last 4 people recognise.
    return code[:6] + "*" * 8 + code[14:]


def mask(code: str, kind: SubjectKind | str) -> str:
    return mask_uscc(code) if SubjectKind(kind) is SubjectKind.LEGAL else mask_resident_id(code)


def generate_uscc(
    rng: _random.Random, region: str = "330212", *, authority: str = "9", category: str = "1"
) -> str:
    """A syntactically valid USCC for synthetic data (the 9-character body is random)."""
    if region != _NATIONAL_AUTHORITY and not is_division_code(region):
        raise _division_error(region, 3, SubjectKind.LEGAL, "of a registration authority")
    body_alphabet = "0123456789ABCDEFGHJKLMNPQRTUWXY"
    body = authority + category + region + "".join(rng.choice(body_alphabet) for _ in range(9))
    return body + _uscc_check(body)


def generate_resident_id(
    rng: _random.Random, region: str = "330203", birth: _dt.date | None = None, *, female: bool | None = None
) -> str:
    """A valid resident ID for synthetic data; the sequence's parity encodes sex as in GB 11643."""
    if not is_division_code(region):
        raise _division_error(region, 1, SubjectKind.NATURAL, "of the place the number was issued")
    if birth is None:
        birth = _dt.date(1950, 1, 1) + _dt.timedelta(days=rng.randrange(0, 365 * 55))
    seq = rng.randrange(0, 1000)
    if female is not None:
        seq = seq - seq % 2 + (0 if female else 1)
        seq = min(seq, 999 if not female else 998)
    body = f"{region}{birth:%Y%m%d}{seq:03d}"
    return body + _rid_check(body)


@dataclass(frozen=True, slots=True)
class Subject:
    """A validated subject key."""

    kind: SubjectKind
    code: str

    @classmethod
    def parse(cls, value: str, kind: SubjectKind | str | None = None) -> Subject:
        k, code = validate(value, kind)
        return cls(k, code)

    @property
    def masked(self) -> str:
        return mask(self.code, self.kind)
