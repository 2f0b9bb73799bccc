"""What the wheel ships besides code: a bank installs this package alone and type-checks against it."""

from __future__ import annotations

from importlib.resources import files


def test_the_package_is_marked_typed() -> None:
    assert files("fincredit.federation").joinpath("py.typed").is_file()  # PEP 561
