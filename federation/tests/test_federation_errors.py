"""The package's errors form one tree: a bank catches everything it raises on purpose with one class."""

from __future__ import annotations

import inspect

import pytest

import fincredit.federation as federation
from fincredit.federation import FederationError, WireError
from fincredit.federation.wire import decode


def _exported_errors() -> list[type[BaseException]]:
    return [
        obj
        for name in federation.__all__
        if inspect.isclass(obj := getattr(federation, name)) and issubclass(obj, BaseException)
    ]


@pytest.mark.parametrize("error", _exported_errors(), ids=lambda e: e.__name__)
def test_every_exported_error_is_a_federation_error(error: type[BaseException]) -> None:
    assert issubclass(error, FederationError)


def test_a_bad_frame_is_a_federation_error_and_still_a_value_error() -> None:
    with pytest.raises(FederationError, match="bad magic"):
        decode(b"not a frame at all")
    assert issubclass(WireError, ValueError)
