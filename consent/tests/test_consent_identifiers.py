"""Identifier validation: GB 32100-2015 (USCC) and GB 11643-1999 (resident ID) against known codes."""

from __future__ import annotations

import datetime as dt
import random

import pytest

from fincredit.consent.identifiers import (
    CheckCharacterError,
    IdentifierError,
    SubjectKind,
    classify,
    generate_resident_id,
    generate_uscc,
    mask_resident_id,
    mask_uscc,
    validate_resident_id,
    validate_uscc,
)

# Published examples: the USCC of GB 32100's worked example; the resident IDs of GB 11643's examples.
VALID_USCC = ["91350100M000100Y43"]
VALID_RID = ["11010519491231002X", "440524188001010014"]


@pytest.mark.parametrize("code", VALID_USCC)
def test_known_valid_uscc_pass(code: str) -> None:
    assert validate_uscc(code) == code


@pytest.mark.parametrize("code", VALID_RID)
def test_known_valid_resident_ids_pass(code: str) -> None:
    assert validate_resident_id(code) == code


@pytest.mark.parametrize(
    ("code", "position", "fragment"),
    [
        ("91350100M000100Y4O", 18, "not allowed"),
        ("9135010OM000100Y43", 8, "not allowed"),  # letter O is never used
        ("X1350100M000100Y43", 1, "registration authority"),
        ("Z1350100M000100Y43", 1, "not allowed"),
        ("B1350100M000100Y43", 1, "registration authority"),
        ("97350100M000100Y43", 2, "organisation category"),
        ("913501A0M000100Y43", 7, "digit of the administrative division"),
        ("91990100M000100Y43", 3, "administrative division code"),
    ],
)
def test_invalid_uscc_names_the_wrong_character(code: str, position: int, fragment: str) -> None:
    with pytest.raises(IdentifierError) as info:
        validate_uscc(code)
    assert info.value.position == position
    assert fragment in str(info.value)
    assert info.value.kind is SubjectKind.LEGAL


def test_uscc_of_wrong_length_says_so() -> None:
    with pytest.raises(IdentifierError, match="18 characters, this one has 17"):
        validate_uscc("91350100M000100Y4")


@pytest.mark.parametrize(
    ("code", "position", "fragment"),
    [
        ("11010519491231002Y", 18, "digit or X"),
        ("1101051949123100A2", 17, "must be a digit"),
        ("110105194902300023", 7, "not a valid birth date"),  # 30 February
        ("110105184912310021", 7, "outside 1850..today"),
        ("990105194912310021", 1, "administrative division code"),
    ],
)
def test_invalid_resident_id_names_the_wrong_character(code: str, position: int, fragment: str) -> None:
    with pytest.raises(IdentifierError) as info:
        validate_resident_id(code)
    assert info.value.position == position
    assert fragment in str(info.value)


@pytest.mark.parametrize(
    ("code", "expected", "given"),
    [
        ("91350100M000100Y44", "3", "4"),  # the check character itself mistyped
        ("91350100M000200Y43", "T", "3"),  # character 13 mistyped: the check character is right
        ("91350100M000100Y34", "0", "4"),  # two neighbours swapped
    ],
)
def test_a_uscc_that_does_not_match_its_check_character_blames_no_position(
    code: str, expected: str, given: str
) -> None:
    with pytest.raises(CheckCharacterError) as info:
        validate_uscc(code)
    err = info.value
    assert err.position is None and (err.expected, err.given) == (expected, given)
    assert "character 18" not in str(err)
    assert "does not match its check character" in str(err)
    assert f"{expected!r}" in str(err) and f"{given!r}" in str(err)
    assert err.kind is SubjectKind.LEGAL


@pytest.mark.parametrize(
    ("code", "expected", "given"),
    [
        ("110105194912310021", "X", "1"),  # the check digit mistyped
        ("11010519491231012X", "6", "X"),  # digit 16 mistyped
        ("11010519491231020X", "6", "X"),  # two sequence digits swapped
    ],
)
def test_a_resident_id_that_does_not_match_its_check_digit_blames_no_position(
    code: str, expected: str, given: str
) -> None:
    with pytest.raises(CheckCharacterError) as info:
        validate_resident_id(code)
    err = info.value
    assert err.position is None and (err.expected, err.given) == (expected, given)
    assert "character 18" not in str(err)
    assert "does not match its check digit" in str(err)
    assert f"{expected!r}" in str(err) and f"{given!r}" in str(err)
    assert err.kind is SubjectKind.NATURAL


def test_birth_date_in_the_future_is_refused() -> None:
    rng = random.Random(3)
    tomorrow = dt.date.today() + dt.timedelta(days=1)
    with pytest.raises(IdentifierError, match="birth date"):
        validate_resident_id(generate_resident_id(rng, "330203", tomorrow))


def test_full_width_and_lower_case_input_is_normalised() -> None:
    assert validate_uscc("９１３５０１００ｍ０００１００ｙ４３") == "91350100M000100Y43"
    assert validate_resident_id(" 11010519491231002x ") == "11010519491231002X"


def test_generated_codes_are_valid_and_classified() -> None:
    rng = random.Random(7)
    for _ in range(500):
        uscc = generate_uscc(rng, "330212")
        rid = generate_resident_id(rng, "330281")
        assert validate_uscc(uscc) == uscc and classify(uscc) is SubjectKind.LEGAL
        assert validate_resident_id(rid) == rid and classify(rid) is SubjectKind.NATURAL


def test_masks_hide_the_middle() -> None:
    assert mask_uscc("91350100M000100Y43") == "9135**********0Y43"
    assert mask_resident_id("11010519491231002X") == "110105********002X"
