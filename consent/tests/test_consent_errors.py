"""The package's errors form one tree: a caller catches everything it raises on purpose with one class."""

from __future__ import annotations

import inspect

import pytest

import fincredit.consent as consent
from fincredit.consent import ConsentDomainError, IdentifierError, validate_uscc


def _exported_errors() -> list[type[BaseException]]:
    return [
        obj
        for name in consent.__all__
        if inspect.isclass(obj := getattr(consent, name)) and issubclass(obj, BaseException)
    ]


@pytest.mark.parametrize("error", _exported_errors(), ids=lambda e: e.__name__)
def test_every_exported_error_is_a_consent_domain_error(error: type[BaseException]) -> None:
    assert issubclass(error, ConsentDomainError)


def test_an_identifier_error_is_caught_as_a_domain_error_and_still_as_a_value_error() -> None:
    with pytest.raises(ConsentDomainError):
        validate_uscc("not a code")
    # pydantic turns only ValueError into a validation error, and callers catch it as one.
    with pytest.raises(ValueError):
        validate_uscc("not a code")
    assert issubclass(IdentifierError, ValueError)
