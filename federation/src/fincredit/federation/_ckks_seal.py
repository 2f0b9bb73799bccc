"""Direct SEAL operations (TenSEAL's bundled ``sealapi``) for the vertical-LR hot path.

Why not TenSEAL's ``CKKSVector`` there: every ``vector * plain`` encodes the plaintext again (an
inverse FFT and one NTT per prime, about four times the cost of the product itself), vectors hold
real values only, and the bank encrypts with its public key. Through ``sealapi``:

- the platform encodes its constant feature columns once and reuses them every round;
- both parties pack two real values into each slot (CKKS slots are complex numbers), so half the
  ciphertexts carry the same data;
- the bank encrypts with its secret key (it is the key owner), which is about twice as fast as
  public-key encryption and lets SEAL send the uniform half of each ciphertext as a seed: half the
  bytes on the wire. The platform, holding no secret key, encrypts with the public key.

``sealapi`` saves and loads objects only through file paths, so (de)serialisation goes through a
private temporary directory (in ``/dev/shm`` when there is one, created with mode 0700; each file is
removed as soon as it is read). Only ciphertexts pass through it, never a key or a plaintext.
"""

from __future__ import annotations

import atexit
import itertools
import os
import shutil
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import tenseal as ts
import tenseal.sealapi as sealapi

from fincredit.federation.errors import FederationError

__all__ = ["SealKit"]

_spool_lock = threading.Lock()
_spool_dir: Path | None = None
_spool_names = itertools.count()


def _spool_path() -> Path:
    """A fresh file name in the private spool directory (unique across threads)."""
    global _spool_dir
    with _spool_lock:
        if _spool_dir is None:
            shm = "/dev/shm"
            base = shm if os.path.isdir(shm) and os.access(shm, os.W_OK) else None
            _spool_dir = Path(tempfile.mkdtemp(prefix="fincredit-ckks-", dir=base))
            atexit.register(shutil.rmtree, _spool_dir, True)
        return _spool_dir / f"{os.getpid()}-{next(_spool_names)}"


def _saved(obj: Any) -> bytes:
    path = _spool_path()
    try:
        obj.save(str(path))
        return path.read_bytes()
    finally:
        path.unlink(missing_ok=True)


class SealKit:
    """Encoder, evaluator and the keys this party holds, for one TenSEAL context.

    Levels count data primes dropped: level 0 is a fresh ciphertext, level ``l`` has lost ``l`` primes
    to rescaling or modulus switching.
    """

    def __init__(self, ctx: ts.Context) -> None:
        self.context = ctx.seal_context().data
        self.encoder = sealapi.CKKSEncoder(self.context)
        self.evaluator = sealapi.Evaluator(self.context)
        self.scale = float(ctx.global_scale)
        self.slots = int(self.encoder.slot_count())
        self._levels: list[Any] = []
        data = self.context.first_context_data()
        while data is not None:
            self._levels.append(data.parms_id())
            data = data.next_context_data()
        self._public = (
            sealapi.Encryptor(self.context, ctx.public_key().data) if ctx.has_public_key() else None
        )
        self._secret: Any = None
        self._decryptor: Any = None
        self._scratch = threading.local()
        if ctx.has_secret_key():
            key = ctx.secret_key().data
            self._secret = sealapi.Encryptor(self.context, key)
            self._decryptor = sealapi.Decryptor(self.context, key)

    @property
    def holds_secret_key(self) -> bool:
        return self._secret is not None

    @property
    def levels(self) -> int:
        return len(self._levels)

    def encode(self, values: np.ndarray, level: int, scale: float | None = None) -> Any:
        """A plaintext at ``level``; ``values`` real or complex, at most ``slots`` of them (zero-padded)."""
        pt = sealapi.Plaintext()
        self.encoder.encode(values.tolist(), self._levels[level], self.scale if scale is None else scale, pt)
        return pt

    def encrypt_seeded(self, values: np.ndarray, level: int, scale: float | None = None) -> bytes:
        """Secret-key encryption, serialised with its uniform half as a seed."""
        if self._secret is None:
            raise FederationError("only the key owner encrypts with the secret key")
        return _saved(self._secret.encrypt_symmetric(self.encode(values, level, scale)))

    def encrypt_public(self, values: np.ndarray, level: int, scale: float | None = None) -> Any:
        if self._public is None:
            raise FederationError("this context carries no public key")
        ct = sealapi.Ciphertext(self.context)
        self._public.encrypt(self.encode(values, level, scale), ct)
        return ct

    def save(self, ct: Any) -> bytes:
        return _saved(ct)

    def load(self, blob: bytes, level: int, scale: float | None = None) -> Any:
        """A ciphertext from the other party, refused unless valid for this context, at ``level``, of
        size 2 and (when given) at ``scale``; SEAL's loader checks every coefficient is in range."""
        path = _spool_path()
        ct = sealapi.Ciphertext(self.context)
        try:
            path.write_bytes(blob)
            ct.load(self.context, str(path))
        except Exception as exc:  # SEAL raises bare logic/runtime errors on malformed input
            raise FederationError(
                f"a ciphertext could not be loaded under this job's context: {exc}"
            ) from None
        finally:
            path.unlink(missing_ok=True)
        if ct.parms_id() != self._levels[level] or ct.size() != 2 or not ct.is_ntt_form():
            raise FederationError("a ciphertext is not at the level this protocol step expects")
        if scale is not None and not np.isclose(ct.scale, scale, rtol=1e-12, atol=0.0):
            raise FederationError("a ciphertext is not at the scale this protocol step expects")
        return ct

    def decrypt(self, blob: bytes, level: int) -> np.ndarray:
        """The complex slot values of a ciphertext the other party returned."""
        if self._decryptor is None:
            raise FederationError("only the key owner decrypts")
        ct = self.load(blob, level)
        pt = sealapi.Plaintext()
        self._decryptor.decrypt(ct, pt)
        return np.asarray(self.encoder.decode_complex(pt), dtype=np.complex128)

    def dot(self, cts: Sequence[Any], plains: Sequence[Any]) -> Any | None:
        """``sum_i cts[i] * plains[i]``, products unrescaled (at the product of the two scales).

        All-zero plaintexts are skipped (SEAL refuses a product that would be a transparent ciphertext);
        ``None`` when every one of them is zero.
        """
        acc = None
        for ct, pt in zip(cts, plains, strict=True):
            acc = self.add_product(acc, ct, pt)
        return acc

    def add_product(self, acc: Any | None, ct: Any, pt: Any) -> Any | None:
        """``acc + ct * pt`` (in place when ``acc`` exists; the scales must agree)."""
        if pt.is_zero():
            return acc
        if acc is None:
            term = sealapi.Ciphertext(self.context)
            self.evaluator.multiply_plain(ct, pt, term)
            return term
        # One product buffer per thread, reused: a fresh ciphertext per product costs a tenth of it.
        term = getattr(self._scratch, "term", None)
        if term is None:
            term = self._scratch.term = sealapi.Ciphertext(self.context)
        self.evaluator.multiply_plain(ct, pt, term)
        self.evaluator.add_inplace(acc, term)
        return acc

    def add_plain(self, ct: Any, pt: Any) -> None:
        """``ct += pt`` (same level and scale)."""
        self.evaluator.add_plain_inplace(ct, pt)

    def sub_plain(self, ct: Any, pt: Any) -> Any:
        out = sealapi.Ciphertext(self.context)
        self.evaluator.sub_plain(ct, pt, out)
        return out

    def rescale(self, ct: Any) -> None:
        """Drop one prime, dividing the scale by it (the level goes up by one)."""
        self.evaluator.rescale_to_next_inplace(ct)
