"""Canonical JSON (RFC 8785 JCS) for the JSON types this package emits.

Objects with keys sorted by UTF-16 code units, no whitespace, UTF-8, strings escaped as ECMAScript's
JSON.stringify does (which is what ``json.dumps(ensure_ascii=False)`` produces). Only integers, strings,
booleans, null, lists and objects are accepted: we never sign floats, so JCS's number formatting rules
(ECMAScript shortest round-trip) are not needed and a float is a programming error here.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["canonical_json", "canonical_json_ascii_keys"]

_MAX_SAFE_INT = 2**53 - 1


def _utf16_key(key: str) -> bytes:
    return key.encode("utf-16-be")


def _normalise(value: Any) -> Any:
    if isinstance(value, dict):
        for k in value:
            if not isinstance(k, str):
                raise TypeError(f"canonical JSON object keys are strings, not {k!r}")
        items = sorted(value.items(), key=lambda kv: _utf16_key(kv[0]))
        # Python sorts by code point; JCS by UTF-16 unit. They differ only for keys beyond the BMP, so an
        # insertion-ordered dict in JCS order plus sort_keys=False below keeps JCS order exactly.
        return {k: _normalise(v) for k, v in items}
    if isinstance(value, list | tuple):
        return [_normalise(v) for v in value]
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        if abs(value) > _MAX_SAFE_INT:
            raise ValueError(f"integer {value} is outside the range JSON numbers represent exactly")
        return value
    raise TypeError(f"canonical JSON does not encode {type(value).__name__} values")


_ordered_encoder = json.JSONEncoder(
    ensure_ascii=False, separators=(",", ":"), sort_keys=False, allow_nan=False
)


def canonical_json(value: Any) -> bytes:
    """The RFC 8785 canonical UTF-8 bytes of ``value``."""
    return _ordered_encoder.encode(_normalise(value)).encode("utf-8")


_sorted_encoder = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), sort_keys=True, allow_nan=False)


def canonical_json_ascii_keys(value: dict[str, Any]) -> bytes:
    """:func:`canonical_json` for values whose object keys are all ASCII and which hold no floats.

    For ASCII keys code-point order *is* UTF-16 order, so the C encoder's ``sort_keys`` is already JCS;
    this is the hot path for ledger entries, whose keys are fixed field names.
    """
    return _sorted_encoder.encode(value).encode("utf-8")
