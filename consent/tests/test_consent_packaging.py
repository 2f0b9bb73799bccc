"""What the wheel ships besides code: a regulator installs this package alone and type-checks against it."""

from __future__ import annotations

from importlib.resources import files


def test_the_package_is_marked_typed_and_ships_its_division_list() -> None:
    package = files("fincredit.consent")
    assert package.joinpath("py.typed").is_file()  # PEP 561: checkers read the inline annotations
    assert package.joinpath("gb2260.tsv").is_file()
