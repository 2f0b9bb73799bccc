"""Blind indexes for many identifiers at once, equal to ``Keyring.blind_index`` value for value.

HMAC-SHA256 with the pads precomputed and the context prefix absorbed once: about a third of the
cost of ``hmac.new`` per value, which matters when a file carries a million identifiers.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from fincredit.platform.core.keyring import Keyring


def blind_indexes(keyring: Keyring, kind: str, codes: Iterable[str]) -> list[str]:
    key = keyring.index_key
    if len(key) > 64:
        key = hashlib.sha256(key).digest()
    key = key.ljust(64, b"\0")
    inner = hashlib.sha256(bytes(b ^ 0x36 for b in key))
    inner.update(f"subject:{kind}\x00".encode())
    outer = hashlib.sha256(bytes(b ^ 0x5C for b in key))
    icopy, ocopy = inner.copy, outer.copy
    out = []
    for code in codes:
        i = icopy()
        i.update(code.encode())
        o = ocopy()
        o.update(i.digest())
        out.append(o.hexdigest())
    return out
