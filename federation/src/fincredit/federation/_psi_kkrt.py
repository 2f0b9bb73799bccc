"""The building blocks of KKRT16 OPRF-PSI, vectorised with numpy over AES from ``cryptography``.

KKRT16 (Kolesnikov, Kumaresan, Rosulek, Trieu, CCS 2016) extends IKNP OT extension from 1-out-of-2 to
1-out-of-many OT by replacing the repetition code with a pseudorandom code ``C`` of width ``WIDTH``
bits. The OPRF receiver (here: the bank) holds one item ``x_j`` per cuckoo bin ``j`` and learns
``F(j, x_j) = H(j, t_j)``; the sender (the platform) can evaluate ``F(j, y) = H(j, q_j xor (C(y) and s))``
for any ``y`` and any bin, with ``q_j = t_j xor (C(x_j) and s)``. The platform sends ``F(h_i(y), y)``
for each of its items and each cuckoo hash ``h_i``; the bank finds the intersection by matching.

Primitives, all maintained libraries, nothing hand-rolled below the block cipher:

- base OTs: "Simplest OT" (Chou-Orlandi 2015) over the Ed25519 prime-order group from libsodium
  (PyNaCl); semi-honest secure under CDH with SHA-256 as the key derivation.
- PRG: AES-128-CTR keyed by each base OT key.
- identifier hashing and cuckoo/bucket hashes: AES-128 CBC-MAC over a fixed 32-byte encoding (a PRF
  on fixed-length inputs) under per-job keys that both parties derive after their sets are fixed.
- pseudorandom code ``C(x) = AES_kc(x xor 1) || ... || AES_kc(x xor 4)`` (512 bits, a PRF, as KKRT
  instantiate it), key fresh per job.
- output hash ``H``: Matyas-Meyer-Oseas over AES-128 (Merkle-Damgard, the bin index as the IV) with a
  per-job key, truncated to ``OUT_BYTES``; modelled as a random oracle (ideal cipher), as KKRT model
  theirs.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from nacl import bindings as sodium

from fincredit.federation.errors import PsiError

__all__ = [
    "CUCKOO_HASHES",
    "CUCKOO_LOAD",
    "OUT_BYTES",
    "WIDTH",
    "WIDTH_BYTES",
    "JobKeys",
    "OtReceiver",
    "OtSender",
    "ReceiverBucket",
    "bins_for",
    "bucket_of",
    "cuckoo_assign",
    "digest_blocks",
    "digest_ids",
    "encode_ids",
    "first_occurrences",
    "oprf_hash",
    "prc_encode",
    "prg_columns",
    "sender_values",
    "transpose_bits",
]

WIDTH = 512  # code width in bits: KKRT use 424-448 for 2^20-2^24 items at 128-bit security; 512 is slack
WIDTH_BYTES = WIDTH // 8
OUT_BYTES = 12  # 96-bit OPRF outputs: false match probability 3·n1·n2·2^-96 (< 2^-40 up to 2^27 × 2^27)
CUCKOO_HASHES = 3
CUCKOO_LOAD = 1.27  # bins per item: the stash-less three-hash cuckoo table of PSSZ15 / KKRT
_ID_BYTES = 32
U8 = npt.NDArray[np.uint8]
I64 = npt.NDArray[np.int64]


def _ecb(key: bytes, data: U8) -> U8:
    """AES-128-ECB of a whole array (a batch of independent blocks), written straight into numpy."""
    src = np.ascontiguousarray(data).reshape(-1)
    out = np.empty(src.size + 15, dtype=np.uint8)  # update_into wants a block of slack
    enc = Cipher(algorithms.AES(key), modes.ECB()).encryptor()
    written = enc.update_into(src.data, out.data)
    return out[:written]


@dataclass(frozen=True, slots=True)
class JobKeys:
    """Public per-job keys both parties derive from the two start nonces (after their sets are fixed)."""

    ident: bytes
    bucket: bytes
    cuckoo: bytes
    code: bytes
    out: bytes

    @classmethod
    def derive(cls, protocol: str, job_id: str, bank_nonce: bytes, platform_nonce: bytes) -> JobKeys:
        seed = hashlib.sha256(
            b"|".join([protocol.encode(), job_id.encode(), bank_nonce, platform_nonce])
        ).digest()

        def key(label: bytes) -> bytes:
            return hashlib.sha256(seed + b"|" + label).digest()[:16]

        return cls(key(b"ident"), key(b"bucket"), key(b"cuckoo"), key(b"code"), key(b"out"))


# ASCII whitespace other than the newline that joins the ids (str.strip removes all of these).
_ASCII_SPACE = (" ", "\t", "\r", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x1f", "\x00")


def _plain(joined: str, n: int) -> bool:
    """True when no id needs stripping and none holds a newline or NUL: ASCII with no whitespace."""
    return joined.isascii() and joined.count("\n") == n - 1 and not any(c in joined for c in _ASCII_SPACE)


def encode_ids(ids: Sequence[str]) -> U8:
    """Canonical ids (stripped, upper-cased) as fixed 32-byte blocks: up to 31 UTF-8 bytes then the
    length byte; an id of 32 bytes or more is replaced by its 31-byte BLAKE2b digest and marked 0xFF.

    Upper-casing is character by character, so the ids are joined and converted in one C call when no
    id needs stripping (the usual case; a million 18-character ids take tens of milliseconds).
    """
    n = len(ids)
    if n == 0:
        return np.zeros((0, _ID_BYTES), dtype=np.uint8)
    joined = "\n".join(ids)
    if _plain(joined, n):
        data = joined.upper().encode()
        width = (len(data) + 1) // n
        if 0 < width <= _ID_BYTES and width * n == len(data) + 1:
            # Maybe every id has the same length (USCCs and resident ids do): then the bytes are a matrix.
            grid = np.frombuffer(data + b"\n", dtype=np.uint8).reshape(n, width)
            if (grid[:, -1] == 0x0A).all():
                out = np.zeros((n, _ID_BYTES), dtype=np.uint8)
                out[:, : width - 1] = grid[:, :-1]
                out[:, _ID_BYTES - 1] = width - 1
                return out
        raw = data.split(b"\n")
    else:
        raw = [i.strip().upper().encode() for i in ids]
    fixed = np.array(raw)
    if fixed.dtype.itemsize >= _ID_BYTES or "\x00" in joined:
        lengths = np.fromiter(map(len, raw), dtype=np.int64, count=n)
        long_rows = np.flatnonzero(lengths >= _ID_BYTES)
        for r in long_rows:
            # 0xFF marks a hashed id; a short id's last byte is its length (< 32): the two never collide.
            raw[r] = hashlib.blake2b(raw[r], digest_size=_ID_BYTES - 1).digest()
        lengths[long_rows] = 0xFF
        fixed = np.array(raw, dtype=f"S{_ID_BYTES - 1}")
    else:
        lengths = np.strings.str_len(fixed)
    out = np.zeros((n, _ID_BYTES), dtype=np.uint8)
    width = fixed.dtype.itemsize
    out[:, :width] = fixed.view(np.uint8).reshape(n, width)
    out[:, _ID_BYTES - 1] = lengths.astype(np.uint8)
    return out


def digest_blocks(key: bytes, blocks: U8) -> U8:
    """``(n, 16)``: AES CBC-MAC (a PRF on fixed-length inputs) of each 32-byte encoded id."""
    first = _ecb(key, blocks[:, :16]).reshape(-1, 16)
    return _ecb(key, first ^ blocks[:, 16:]).reshape(-1, 16)


def digest_ids(key: bytes, ids: Sequence[str], *, chunk: int = 1 << 20) -> U8:
    """``(n, 16)`` 128-bit digests of the canonical ids (see :func:`encode_ids`, :func:`digest_blocks`)."""
    parts = [digest_blocks(key, encode_ids(ids[i : i + chunk])) for i in range(0, len(ids), chunk)]
    return np.concatenate(parts) if parts else np.zeros((0, 16), dtype=np.uint8)


def first_occurrences(rows: U8) -> I64:
    """Ascending indices of the first occurrence of every distinct row (rows of 16 or more bytes)."""
    n = len(rows)
    lo = np.ascontiguousarray(rows[:, :8]).view("<u8").ravel()
    _, first, counts = np.unique(lo, return_index=True, return_counts=True)
    if len(first) == n:
        return np.arange(n, dtype=np.int64)
    keep = np.zeros(n, dtype=bool)
    keep[first[counts == 1]] = True
    # Equal 64-bit prefixes (duplicates, or a rare prefix collision): compare whole rows, first wins.
    shared = np.isin(lo, lo[first[counts > 1]])
    seen: set[bytes] = set()
    for i in np.flatnonzero(shared).tolist():
        row = rows[i].tobytes()
        if row not in seen:
            seen.add(row)
            keep[i] = True
    return np.flatnonzero(keep).astype(np.int64)


def _tweaked_u64(key: bytes, digests: U8, tweak: int) -> npt.NDArray[np.uint64]:
    blocks = digests.copy()
    blocks[:, 15] ^= tweak & 0xFF
    blocks[:, 14] ^= (tweak >> 8) & 0xFF
    return _ecb(key, blocks).reshape(-1, 16)[:, :8].copy().view(np.uint64).ravel()


def bucket_of(keys: JobKeys, digests: U8, buckets: int) -> I64:
    """The hash bucket of every digest (both parties bucket identically, so matches share a bucket)."""
    if buckets == 1:
        return np.zeros(len(digests), dtype=np.int64)
    return (_tweaked_u64(keys.bucket, digests, 0) % np.uint64(buckets)).astype(np.int64)


def bins_for(keys: JobKeys, digests: U8, bins: int, tweak: int) -> I64:
    """``(n, CUCKOO_HASHES)``: each digest's candidate cuckoo bins in a table of ``bins`` bins."""
    cols = [
        (_tweaked_u64(keys.cuckoo, digests, tweak * 4 + i + 1) % np.uint64(bins)).astype(np.int64)
        for i in range(CUCKOO_HASHES)
    ]
    return np.stack(cols, axis=1) if cols and len(digests) else np.zeros((0, CUCKOO_HASHES), np.int64)


def cuckoo_assign(candidates: I64, bins: int, *, max_rounds: int = 2000) -> I64 | None:
    """Place every item in one of its candidate bins, at most one item per bin.

    Returns ``table`` with ``table[bin] = item or -1``, or ``None`` if the items do not fit (then the
    caller retries with another tweak). Parallel cuckoo insertion: each round every homeless item
    claims its current choice; one claimant per bin wins (the last write of a scatter) and evicts the
    occupant, who moves on to its next choice, as does every loser.
    """
    n = len(candidates)
    table = np.full(bins, -1, dtype=np.int64)
    claim = np.full(bins, -1, dtype=np.int64)
    choice = np.zeros(n, dtype=np.int64)
    homeless = np.random.default_rng(secrets.randbits(64)).permutation(n).astype(np.int64)
    for _ in range(max_rounds):
        if homeless.size == 0:
            return table
        target = candidates[homeless, choice[homeless]]
        claim[target] = homeless
        won = claim[target] == homeless
        claim[target] = -1
        winners, spots = homeless[won], target[won]
        evicted = table[spots]
        table[spots] = winners
        homeless = np.concatenate([homeless[~won], evicted[evicted >= 0]])
        choice[homeless] = (choice[homeless] + 1) % CUCKOO_HASHES
    return None


def prc_encode(keys: JobKeys, digests: U8) -> U8:
    """``(n, WIDTH_BYTES)``: the pseudorandom codeword ``C(x)`` of every digest."""
    n = len(digests)
    blocks = np.empty((n, WIDTH // 128, 16), dtype=np.uint8)
    blocks[:] = digests[:, None, :]
    blocks[:, :, 15] ^= np.arange(1, WIDTH // 128 + 1, dtype=np.uint8)
    return _ecb(keys.code, blocks).reshape(n, WIDTH_BYTES)


def prg_columns(seeds: Sequence[bytes], stream: int, nbytes: int) -> U8:
    """``(len(seeds), nbytes)``: an AES-CTR keystream per seed, ``stream`` selecting the nonce."""
    nonce = stream.to_bytes(8, "big") + bytes(8)
    zero = np.zeros(nbytes, dtype=np.uint8)
    # Each row keeps 16 spare bytes because update_into wants a block of slack after the output.
    out = np.empty((len(seeds), nbytes + 16), dtype=np.uint8)
    for i, seed in enumerate(seeds):
        Cipher(algorithms.AES(seed), modes.CTR(nonce)).encryptor().update_into(zero.data, out[i].data)
    return out[:, :nbytes]


def _transpose_tile(mat: U8) -> U8:
    rows, cbytes = mat.shape
    blocks = np.ascontiguousarray(mat.reshape(rows // 8, 8, cbytes).transpose(2, 0, 1))
    x = blocks.view("<u8").reshape(cbytes, rows // 8)
    for shift, mask in ((7, 0x00AA00AA00AA00AA), (14, 0x0000CCCC0000CCCC), (28, 0x00000000F0F0F0F0)):
        s, m = np.uint64(shift), np.uint64(mask)
        t = (x ^ (x >> s)) & m
        x = x ^ t ^ (t << s)
    out = x.view(np.uint8).reshape(cbytes, rows // 8, 8)
    return out.transpose(0, 2, 1).reshape(cbytes * 8, rows // 8)


def transpose_bits(mat: U8, *, tile_bytes: int = 1 << 16) -> U8:
    """Transpose a bit matrix stored as ``(rows, cols/8)`` bytes (bit ``k`` of a byte is column ``8b+k``).

    Returns ``(cols, rows/8)``. Works on 8x8 bit blocks held in uint64 words (Hacker's Delight
    transpose8), tile by tile so the byte shuffles stay in cache: a few passes over the matrix instead
    of one Python step per bit.
    """
    rows, cbytes = mat.shape
    if rows % 8:
        raise ValueError("rows must be a multiple of 8")
    out = np.empty((cbytes * 8, rows // 8), dtype=np.uint8)
    tc = max(1, min(cbytes, 256))
    tr = max(8, (tile_bytes // tc) // 8 * 8)
    for r0 in range(0, rows, tr):
        for c0 in range(0, cbytes, tc):
            tile = mat[r0 : r0 + tr, c0 : c0 + tc]
            out[c0 * 8 : (c0 + tile.shape[1]) * 8, r0 // 8 : (r0 + tile.shape[0]) // 8] = _transpose_tile(
                tile
            )
    return out


def oprf_hash(keys: JobKeys, rows: U8, bins: I64) -> U8:
    """``(n, OUT_BYTES)``: MMO hash of each ``WIDTH``-bit row with its bin index as the IV."""
    n = len(rows)
    x = np.zeros((n, 16), dtype=np.uint8)
    x[:, :8] = bins.astype("<u8").view(np.uint8).reshape(n, 8)
    y = np.empty(n * 16 + 16, dtype=np.uint8)
    enc = Cipher(algorithms.AES(keys.out), modes.ECB()).encryptor()
    for b in range(WIDTH // 128):
        # x <- x xor block; state <- E(x) xor x  (Matyas-Meyer-Oseas), all in place
        np.bitwise_xor(x, rows[:, 16 * b : 16 * (b + 1)], out=x)
        enc.update_into(x.reshape(-1).data, y.data)
        np.bitwise_xor(x, y[: n * 16].reshape(n, 16), out=x)
    return np.ascontiguousarray(x[:, :OUT_BYTES])


# -- base OTs: Simplest OT (Chou-Orlandi) over Ed25519, libsodium --------------------------------------


def _ot_key(index: int, a_point: bytes, b_point: bytes, shared: bytes) -> bytes:
    h = hashlib.sha256(b"fincredit-kkrt-base-ot|" + index.to_bytes(4, "big"))
    h.update(a_point + b_point + shared)
    return h.digest()[:16]


def _scalar() -> bytes:
    return sodium.crypto_core_ed25519_scalar_reduce(secrets.token_bytes(64))


def _valid(point: bytes) -> bool:
    return len(point) == 32 and bool(sodium.crypto_core_ed25519_is_valid_point(point))


class OtSender:
    """The bank's side of the ``WIDTH`` base OTs: learns both keys of every OT, not the choices."""

    def __init__(self) -> None:
        self._a = _scalar()
        self.point = sodium.crypto_scalarmult_ed25519_base_noclamp(self._a)

    def keys(self, reply: bytes) -> tuple[list[bytes], list[bytes]]:
        if len(reply) != 32 * WIDTH:
            raise PsiError("the base OT reply has the wrong size")
        k0, k1 = [], []
        for i in range(WIDTH):
            b = reply[32 * i : 32 * (i + 1)]
            if not _valid(b):
                raise PsiError("a base OT point is not in the prime-order group")
            k0.append(_ot_key(i, self.point, b, sodium.crypto_scalarmult_ed25519_noclamp(self._a, b)))
            diff = sodium.crypto_core_ed25519_sub(b, self.point)
            k1.append(_ot_key(i, self.point, b, sodium.crypto_scalarmult_ed25519_noclamp(self._a, diff)))
        return k0, k1


class OtReceiver:
    """The platform's side of the base OTs: fresh secret choice bits ``s``, one key per OT."""

    def __init__(self, sender_point: bytes) -> None:
        if not _valid(sender_point):
            raise PsiError("the base OT sender point is not in the prime-order group")
        self.choices = np.unpackbits(
            np.frombuffer(secrets.token_bytes(WIDTH_BYTES), dtype=np.uint8), bitorder="little"
        )
        points, keys = [], []
        for i in range(WIDTH):
            b = _scalar()
            point = sodium.crypto_scalarmult_ed25519_base_noclamp(b)
            if self.choices[i]:
                point = sodium.crypto_core_ed25519_add(sender_point, point)
            points.append(point)
            keys.append(
                _ot_key(i, sender_point, point, sodium.crypto_scalarmult_ed25519_noclamp(b, sender_point))
            )
        self.reply = b"".join(points)
        self.keys = keys

    @property
    def mask(self) -> U8:
        """``s`` as a ``WIDTH_BYTES`` row (bit order as in :func:`transpose_bits`)."""
        return np.packbits(self.choices, bitorder="little")


# -- one bucket of the OPRF, both roles ---------------------------------------------------------------


@dataclass(slots=True, eq=False)
class ReceiverBucket:
    """The bank's state for one bucket: its items cuckoo-hashed into ``bins`` bins."""

    keys: JobKeys
    digests: U8
    bins: int
    tweak: int
    table: I64  # bin -> item index in this bucket, or -1
    t_rows: U8 | None = None

    @classmethod
    def build(cls, keys: JobKeys, digests: U8, *, attempts: int = 8) -> ReceiverBucket:
        n = len(digests)
        bins = max(64, -(-int(np.ceil(n * CUCKOO_LOAD)) // 8) * 8)
        for tweak in range(attempts):
            table = cuckoo_assign(bins_for(keys, digests, bins, tweak), bins)
            if table is not None:
                return cls(keys, digests, bins, tweak, table)
        raise PsiError(f"cuckoo hashing of {n} items into {bins} bins failed {attempts} times")

    def correction(self, k0: Sequence[bytes], k1: Sequence[bytes], stream: int) -> U8:
        """``U`` (``WIDTH`` columns of ``bins`` bits): ``PRG(k0) xor PRG(k1) xor C(bin items)``."""
        # Empty bins get a random word (an AES-CTR stream under a fresh key: the OS RNG is slow at 64 MB).
        rows = prg_columns([secrets.token_bytes(16)], 0, self.bins * WIDTH_BYTES).reshape(
            self.bins, WIDTH_BYTES
        )
        used = self.table >= 0
        rows[used] = prc_encode(self.keys, self.digests[self.table[used]])
        u = transpose_bits(rows)
        del rows
        t_cols = prg_columns(k0, stream, self.bins // 8)
        np.bitwise_xor(u, t_cols, out=u)
        np.bitwise_xor(u, prg_columns(k1, stream, self.bins // 8), out=u)
        self.t_rows = transpose_bits(t_cols)
        return u

    def match(self, values: U8) -> tuple[I64, I64]:
        """Match the platform's ``(CUCKOO_HASHES, n_p, OUT_BYTES)`` values; returns the bank's item
        indices and the platform's positions of every matched pair."""
        if self.t_rows is None:
            raise PsiError("the bucket's correction was never computed")
        used = np.flatnonzero(self.table >= 0)
        mine = oprf_hash(self.keys, self.t_rows[used], used)
        self.t_rows = None
        n_p = values.shape[1]
        theirs = values.reshape(-1, OUT_BYTES)
        key_mine = np.ascontiguousarray(mine[:, :8]).view("<u8").ravel()
        key_theirs = np.ascontiguousarray(theirs[:, :8]).view("<u8").ravel()
        # A hash join (pandas' khash table) on the first 64 bits, then the whole 96-bit values compared.
        index = pd.Index(key_mine)
        if index.is_unique:
            found = index.get_indexer(key_theirs)
            at_theirs = np.flatnonzero(found >= 0)
            at_mine = found[at_theirs]
        else:  # two of the bank's values share 64 bits (probability ~n^2/2^65): sort-merge instead
            _, at_mine, at_theirs = np.intersect1d(key_mine, key_theirs, return_indices=True)
        same = np.all(mine[at_mine] == theirs[at_theirs], axis=1)
        at_mine, at_theirs = at_mine[same], at_theirs[same]
        plat_pos = at_theirs % n_p if n_p else at_theirs
        # A platform item whose two hashes share a bin arrives twice: keep each pair once.
        plat_pos, first = np.unique(plat_pos, return_index=True)
        at_mine = at_mine[first]
        bank_item = self.table[used[at_mine]]
        return bank_item.astype(np.int64), plat_pos.astype(np.int64)


def sender_values(
    keys: JobKeys,
    receiver: OtReceiver,
    correction: U8,
    stream: int,
    bins: int,
    tweak: int,
    digests: U8,
) -> U8:
    """The platform's OPRF values ``F(h_i(y), y)`` for its (shuffled) items: ``(3, n, OUT_BYTES)``."""
    if correction.shape != (WIDTH, bins // 8):
        raise PsiError("the correction matrix does not match the bucket's bins")
    q_cols = prg_columns(receiver.keys, stream, bins // 8)
    np.bitwise_xor(q_cols, correction, out=q_cols, where=receiver.choices.astype(bool)[:, None])
    q_rows = transpose_bits(q_cols)
    del q_cols
    n = len(digests)
    masked = prc_encode(keys, digests)
    np.bitwise_and(masked, receiver.mask, out=masked)
    cand = bins_for(keys, digests, bins, tweak)
    out = np.empty((CUCKOO_HASHES, n, OUT_BYTES), dtype=np.uint8)
    for i in range(CUCKOO_HASHES):
        rows = q_rows[cand[:, i]]
        np.bitwise_xor(rows, masked, out=rows)
        out[i] = oprf_hash(keys, rows, cand[:, i])
    return out
