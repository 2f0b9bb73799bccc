"""Encrypted per-bin sums of ``g`` and ``h`` for SecureBoost, on SEAL directly (TenSEAL's ``sealapi``).

The bank encrypts ``g`` and ``h`` as two real vectors, one row per CKKS slot (4096 rows per ciphertext).
The platform multiplies them by **complex** 0/1 masks: the real part selects the rows of one bin, the
imaginary part the rows of another, so ``Σ_c Enc(g)_c · mask_c`` carries ``Σg`` of the first bin in its
real parts and of the second in its imaginary parts, and the same mask times ``Enc(h)`` gives both
``Σh``. Encoding a mask (an inverse FFT, then an NTT per prime: 0.54 ms here) costs four times a
ct x plain product (0.13 ms); a complex mask serves two bins, so each bin costs two products and half an
encoding instead of one product and one encoding with ``g + i·h`` in one slot (measured: 0.40 ms against
0.69 ms per bin and chunk).

Two row layouts:

- **compact**: the leaf's rows only, in order; a leaf of at most 2048 rows is replicated across the
  slots, so one mask selects ``2 x 4096 // rows`` bins in disjoint segments. Masks depend on the leaf's
  rows, so they are encoded per request. The bins of all scanned features run one after another
  (keys ``offset + bin``), so one mask may select bins of several features: a feature of three bins
  does not take a returned pair, its products and its encodings to itself.
- **full**: every training row at a fixed slot, the bank zeroing ``g`` and ``h`` outside the leaf. Masks
  depend only on the platform's bins, so each (feature, bin pair, chunk) mask is encoded once per job
  and cached (128 KiB each, up to ``cache_bytes``): a request then costs products only. The bank uses it
  for leaves holding at least a third of the training rows (the root, often its smaller child), where
  products over every chunk cost less than encoding the leaf's own masks.

**Quantized gradients** (LightGBM's ``use_quantized_grad``): the bank encrypts the integer gradients and
hessians, so every per-bin sum is an integer and a mask may weigh bins by powers of ``W = 2^bits``: a
real part carrying ``G_a + W·G_b`` holds two bins exactly (balanced base-``W`` digits), so a complex
mask serves four bins and each (row, bin) costs half the products, half the encodings and half the
returned ciphertexts of the float layout (:class:`Packing`). ``W`` exceeds twice the largest possible
sum; the bank refuses any decrypted sum farther than 1/4 from an integer instead of reading it wrong.

Before a sum leaves the platform it is blinded by a complex mask whose real and imaginary parts each sum
to zero within every segment, added as ``Enc(e) · (v/e)`` for one public-key encryption of a random
``e`` per request (a ct x plain product costs a fraction of an encryption). The bank decrypts and sums
each segment: it learns the per-bin totals and nothing about how they split across slots.

:class:`HistogramWorker` holds a subset of the platform's features (their bins and cached masks) and
takes and returns bytes and arrays only, so the platform runs one per Ray actor (SEAL holds the GIL,
so threads would not help) or one in its own process.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import tenseal as ts

from fincredit.federation._ckks import SECUREBOOST_SCALE_BITS, load_public_context
from fincredit.federation._ckks_seal import SealKit
from fincredit.federation.errors import FederationError

__all__ = [
    "FLOAT",
    "SLOTS",
    "Group",
    "HistogramWorker",
    "Packing",
    "bin_groups",
    "choose_replicas",
    "decrypt_sums",
    "encrypt_gh",
    "histogram_blobs",
    "histogram_task",
    "layout",
    "pack_rows",
    "packing_for",
    "use_full_layout",
]

SLOTS = 4096
_SCALE = 2.0**SECUREBOOST_SCALE_BITS
# 2 data primes x 8192 coefficients x 8 bytes: one encoded mask at the first level.
PLAINTEXT_BYTES = 2 * 8192 * 8
DEFAULT_CACHE_BYTES = 4 << 30
_BLIND_AMPLITUDE_LIMIT = 256.0  # the platform's blinding amplitude may not exceed it with quantized sums

# Bins carried by the real parts, then by the imaginary parts; the k-th of each list sits in segment
# ``k // digits`` at digit ``k % digits``.
Group = tuple[list[int], list[int]]

# Quantized gradients: Enc(integers) at 2^52, masks at 2^26. The 2^78 product times the largest slot
# value must stay under the 2^119 half-modulus; both scales leave the encryption noise (times the
# blinding) and the masks' rounding below 1e-2 on a sum of 160,000 rows (measured: 3e-3 at worst).
QUANT_CT_SCALE = 2.0**52
QUANT_MASK_SCALE = 2.0**26
_QUANT_HEADROOM_BITS = 116 - 78


@dataclass(frozen=True, slots=True)
class Packing:
    """How the sums of a returned ciphertext sit in its slots: ``digits`` integer sums per real (and
    per imaginary) part, ``bits`` apart, for quantized gradients; one real sum per part for float
    gradients (``bits == 0``)."""

    digits: int = 1
    bits: int = 0

    @property
    def quantized(self) -> bool:
        return self.bits > 0

    @property
    def ct_scale(self) -> float:
        return QUANT_CT_SCALE if self.quantized else _SCALE

    @property
    def mask_scale(self) -> float:
        return QUANT_MASK_SCALE if self.quantized else _SCALE

    @property
    def weights(self) -> list[float]:
        return [2.0 ** (self.bits * d) for d in range(self.digits)]

    def read(self, total: float) -> list[float]:
        """The ``digits`` sums packed in one decrypted part, lowest digit first."""
        if not self.quantized:
            return [total]
        whole = round(total)
        if abs(total - whole) > 0.25:
            raise FederationError("a decrypted histogram sum lost its precision (the job's packing is wrong)")
        base = 1 << self.bits
        out = []
        for _ in range(self.digits):
            digit = (whole + base // 2) % base - base // 2  # balanced: the sums may be negative
            out.append(float(digit))
            whole = (whole - digit) // base
        if whole:
            raise FederationError("a decrypted histogram sum is out of its packing's range")
        return out


FLOAT = Packing()


def packing_for(train_rows: int, quant_bins: int) -> Packing:
    """The packing both parties derive for a job with quantized gradients: digits wide enough for
    twice the largest sum (every row at the largest hessian), two of them when the largest slot value
    (blinding plus a slot's rows, times the upper digit's weight) keeps within the modulus, else one."""
    bits = max(1, train_rows * quant_bins).bit_length() + 1
    slot = math.log2(_BLIND_AMPLITUDE_LIMIT + quant_bins * -(-train_rows // 512))
    return Packing(2 if bits + slot <= _QUANT_HEADROOM_BITS else 1, bits)


def use_full_layout(node_rows: int, train_rows: int) -> bool:
    """The bank's choice of row layout for a leaf (the platform accepts either)."""
    return 3 * node_rows >= train_rows


def choose_replicas(node_rows: int, bins_total: int, max_bins: int, digits: int = 1) -> int:
    """Segments per ciphertext (a power of two). Each returned ciphertext costs the platform a blinding
    and a serialisation and the bank a load and a decryption (about 3.5 ms together, measured), against
    0.13 ms for a product: so returned ciphertexts should carry many bins. ``R`` segments carry ``2R``
    bins per pair of returned ciphertexts, at the price of ``R`` copies of each row in the bank's
    ciphertexts (an encoding, an encryption, a serialisation, a load per worker: about 3 ms per
    ciphertext). The sum of the two costs, ``3.5 ms x bins / R + 3 ms x 2 x rows x R / 4096``, is least
    near ``R = sqrt(2400 x bins / rows)``; no more segments than half the largest bin count. With
    ``digits`` sums per part a returned pair carries ``2·digits·R`` bins."""
    best = math.sqrt(2400.0 * max(1, bins_total) / max(1, node_rows) / digits)
    cap = max(1, min(SLOTS, 1 << max(0, math.ceil(math.log2(max(1, max_bins) / (2 * digits))))))
    replicas = 1 << max(0, round(math.log2(best)))
    return int(min(replicas, cap))


def layout(n_rows: int, replicas: int) -> tuple[int, int]:
    """(segment length, chunks): each row sits at the same position of every segment of its chunk."""
    if replicas < 1 or replicas > SLOTS or replicas & (replicas - 1):
        raise FederationError("replicas must be a power of two between 1 and 4096")
    seg = SLOTS // replicas
    return seg, max(1, -(-n_rows // seg))


def pack_rows(values: np.ndarray, replicas: int) -> np.ndarray:
    """Rows to real slots, (chunks, SLOTS), each chunk's rows repeated in each of its segments."""
    seg, chunks = layout(values.size, replicas)
    padded = np.zeros(chunks * seg)
    padded[: values.size] = values
    return np.tile(padded.reshape(chunks, seg), (1, replicas))


def encrypt_gh(
    kit: SealKit, g: np.ndarray, h: np.ndarray, replicas: int = 1, packing: Packing = FLOAT
) -> list[bytes]:
    """``Enc(g)`` chunks then ``Enc(h)`` chunks, in the layout's row order."""
    scale = packing.ct_scale
    return [kit.encrypt_seeded(chunk, 0, scale) for values in (g, h) for chunk in pack_rows(values, replicas)]


def bin_groups(bins: np.ndarray, n_bins: int, replicas: int, packing: Packing = FLOAT) -> list[Group]:
    """A full layout's groups for one feature: fixed runs of ``replicas x digits`` consecutive bins on
    the real parts of the segments then as many on the imaginary parts, those runs holding any row of
    the leaf (``bins``), so that each group's masks can be cached. (A compact layout's groups run over
    the present bins of every scanned feature: :meth:`HistogramWorker.histograms`.)"""
    present = [int(b) for b in np.unique(bins) if 0 <= b < n_bins]
    half = replicas * packing.digits
    step = 2 * half
    starts = sorted({b - b % step for b in present})
    return [
        (list(range(k, min(k + half, n_bins))), list(range(k + half, min(k + step, n_bins)))) for k in starts
    ]


def _keyed_mask(
    bins: np.ndarray, offsets: np.ndarray, group: Group, replicas: int, packing: Packing = FLOAT
) -> np.ndarray:
    """Complex mask (chunks, SLOTS) of a group over ``bins`` (rows x columns, in the layout's row
    order), its entries keys ``offsets[k] + bin`` for column ``k``: in segment ``i // digits`` the real
    parts weigh the rows of the key ``real[i]`` by ``W^(i % digits)``, the imaginary parts those of
    ``imag[i]``. One group may hold bins of several columns."""
    seg, chunks = layout(bins.shape[0], replicas)
    mask = np.zeros((chunks, replicas, seg), dtype=np.complex128)
    weights = packing.weights
    columns: dict[int, np.ndarray] = {}
    for unit, part in ((1.0, group[0]), (1j, group[1])):
        for k, key in enumerate(part):
            col = int(np.searchsorted(offsets, key, side="right")) - 1
            by_chunk = columns.get(col)
            if by_chunk is None:
                padded = np.full(chunks * seg, -1, dtype=np.int64)
                padded[: bins.shape[0]] = bins[:, col]
                by_chunk = columns[col] = padded.reshape(chunks, seg)
            r, d = divmod(k, packing.digits)
            mask[:, r, :] += (unit * weights[d]) * (by_chunk == key - offsets[col])
    return mask.reshape(chunks, SLOTS)


def _zero_sum_mask(rng: np.random.Generator, seg: int, replicas: int, amplitude: float) -> np.ndarray:
    mask = rng.uniform(-amplitude, amplitude, SLOTS) + 1j * rng.uniform(-amplitude, amplitude, SLOTS)
    for r in range(replicas):
        part = slice(r * seg, (r + 1) * seg)
        mask[part] -= mask[part].mean()
    return mask


def _encode_rows(kit: SealKit, mask: np.ndarray, scale: float) -> list[Any]:
    """One plaintext per chunk; ``None`` where the chunk selects no row (its product is skipped)."""
    return [kit.encode(row, 0, scale) if row.any() else None for row in mask]


def _dot(kit: SealKit, cts: Sequence[Any], plains: Sequence[Any]) -> Any | None:
    acc = None
    for ct, pt in zip(cts, plains, strict=True):
        if pt is not None:
            acc = kit.add_product(acc, ct, pt)
    return acc


def histogram_blobs(
    kit: SealKit,
    g_cts: Sequence[Any],
    h_cts: Sequence[Any],
    groups: Sequence[Group],
    plains: Sequence[Sequence[Any]],
    seg_replicas: tuple[int, int],
    rng: np.random.Generator,
    amplitude: float,
    blinding: tuple[Any, np.ndarray],
    packing: Packing = FLOAT,
) -> list[bytes]:
    """Blinded accumulators of one feature: for each group, ``Σ Enc(g)·mask`` then ``Σ Enc(h)·mask``.
    The blinding's amplitude is taken at the upper digit's weight, so every slot stays as hidden as
    with one sum per part."""
    enc_e, e = blinding
    seg, replicas = seg_replicas
    amplitude *= packing.weights[-1]
    blobs: list[bytes] = []
    for _, group_plains in zip(groups, plains, strict=True):
        for cts in (g_cts, h_cts):
            acc = _dot(kit, cts, group_plains)
            blind = kit.encode(_zero_sum_mask(rng, seg, replicas, amplitude) / e, 0, packing.mask_scale)
            acc = kit.add_product(acc, enc_e, blind)
            blobs.append(kit.save(acc))
    return blobs


def decrypt_sums(
    kit: SealKit, g_blob: bytes, h_blob: bytes, seg: int, group: Group, packing: Packing = FLOAT
) -> list[tuple[int, float, float]]:
    """(bin, G, H) for each bin of a group, from its two returned ciphertexts (integer sums with
    quantized gradients)."""
    segments = -(-max(len(group[0]), len(group[1])) // packing.digits)
    parts: list[tuple[list[float], list[float]]] = []  # per blob: real sums, imaginary sums, by bin
    for blob in (g_blob, h_blob):
        values = kit.decrypt(blob, 0)
        totals = [values[r * seg : (r + 1) * seg].sum() for r in range(segments)]
        real = [s for t in totals for s in packing.read(float(t.real))]
        imag = [s for t in totals for s in packing.read(float(t.imag))]
        parts.append((real, imag))
    (g_real, g_imag), (h_real, h_imag) = parts
    out = [(b, g_real[k], h_real[k]) for k, b in enumerate(group[0])]
    out += [(b, g_imag[k], h_imag[k]) for k, b in enumerate(group[1])]
    return out


_kits: dict[bytes, SealKit] = {}


def platform_kit(public_context: bytes) -> SealKit:
    """The platform's SEAL objects for a bank's public context, built once per process."""
    key = hashlib.sha256(public_context).digest()
    kit = _kits.get(key)
    if kit is None:
        ctx: ts.Context = load_public_context(public_context, SECUREBOOST_SCALE_BITS)
        kit = SealKit(ctx)
        if kit.holds_secret_key:
            raise FederationError("the platform must not hold the bank's secret key")
        _kits.clear()  # one job's context at a time per process
        _kits[key] = kit
    return kit


def _named_present(groups: Sequence[Group], present: set[int]) -> list[Group]:
    """A full layout's groups as the bank reads them: a bin holding no row of the leaf is named ``-1``,
    so that its sum is an exact zero, not encryption noise (which would break LightGBM's ties between
    equal splits on either side of it). The compact layout names only present bins anyway."""
    return [
        ([b if b in present else -1 for b in real], [b if b in present else -1 for b in imag])
        for real, imag in groups
    ]


class HistogramWorker:
    """The platform's histogram work over some of its features, for one job: their bins over the
    training rows (``bins``: training rows x features, in training-row order) and their cached masks."""

    def __init__(
        self,
        public_context: bytes,
        bins: np.ndarray,
        n_bins: Sequence[int],
        amplitude: float,
        cache_bytes: int = DEFAULT_CACHE_BYTES,
    ) -> None:
        self._ctx = public_context
        self._bins = np.asarray(bins)
        self._n_bins = [int(b) for b in n_bins]
        self._amplitude = amplitude
        self._cache: dict[tuple[int, int, Packing, int], list[Any]] = {}
        self._cache_room = cache_bytes
        platform_kit(public_context)  # refuses a context that is not valid or that could decrypt

    def ready(self) -> bool:
        return True

    def _full_plains(self, kit: SealKit, j: int, group: Group, replicas: int, packing: Packing) -> list[Any]:
        key = (j, replicas, packing, group[0][0])
        plains = self._cache.get(key)
        if plains is None:
            mask = _keyed_mask(self._bins[:, j : j + 1], np.zeros(1, np.int64), group, replicas, packing)
            plains = _encode_rows(kit, mask, packing.mask_scale)
            cost = PLAINTEXT_BYTES * sum(p is not None for p in plains)
            if cost <= self._cache_room:
                self._cache[key] = plains
                self._cache_room -= cost
        return plains

    def histograms(
        self,
        rows: np.ndarray,
        full: bool,
        replicas: int,
        gh_blobs: Sequence[bytes],
        features: Sequence[int],
        offsets: Sequence[int],
        seed: int,
        packing: Packing = FLOAT,
    ) -> tuple[list[Group], list[bytes], float]:
        """The groups (of keys ``offsets[k] + bin`` for ``features[k]``, indices into this worker's
        columns) over the leaf ``rows`` and two blobs per group; and the CPU seconds this call took.

        Full layout: each feature's fixed groups (their masks are cached). Compact: the present bins
        of every feature one after the other, cut into groups, so that a group may end one feature's
        bins and start the next one's: no returned pair is left half empty by a feature of few bins."""
        cpu = time.process_time()
        kit = platform_kit(self._ctx)
        seg, chunks = layout(self._bins.shape[0] if full else rows.size, replicas)
        if len(gh_blobs) != 2 * chunks:
            raise FederationError("sb.hist carries the wrong number of ciphertexts for its rows")
        if packing.quantized and self._amplitude > _BLIND_AMPLITUDE_LIMIT:
            raise FederationError("the blinding amplitude is too large for quantized sums")
        cts = [kit.load(b, 0, packing.ct_scale) for b in gh_blobs]
        g_cts, h_cts = cts[:chunks], cts[chunks:]
        rng = np.random.default_rng(seed)
        # |e| near sqrt(amplitude x Enc(e)'s noise / encoding error) balances the two errors the blinding
        # adds: Enc(e)'s noise times |v/e|, and the rounding of v/e times |e| (about 3e-6 per slot each).
        e = rng.uniform(32.0, 64.0, SLOTS) * rng.choice([-1.0, 1.0], SLOTS)
        blinding = (kit.encrypt_public(e, 0, packing.ct_scale), e)
        node_bins = self._bins[np.ix_(rows, np.asarray(features, dtype=np.int64))]
        keys: list[int] = []
        groups: list[Group] = []
        plains: list[list[Any]] = []
        for k, j in enumerate(features):
            present = np.unique(node_bins[:, k])
            if not full:
                keys += [offsets[k] + int(b) for b in present if 0 <= b < self._n_bins[j]]
                continue
            local = bin_groups(present, self._n_bins[j], replicas, packing)
            plains += [self._full_plains(kit, j, group, replicas, packing) for group in local]
            named = _named_present(local, set(present.tolist()))
            groups += [([_key(b, offsets[k]) for b in r], [_key(b, offsets[k]) for b in i]) for r, i in named]
        if not full:
            half = replicas * packing.digits
            cuts = range(0, len(keys), 2 * half)
            groups = [(keys[i : i + half], keys[i + half : i + 2 * half]) for i in cuts]
            at = np.asarray(offsets, dtype=np.int64)
            plains = [
                _encode_rows(kit, _keyed_mask(node_bins, at, group, replicas, packing), packing.mask_scale)
                for group in groups
            ]
        blobs = histogram_blobs(
            kit, g_cts, h_cts, groups, plains, (seg, replicas), rng, self._amplitude, blinding, packing
        )
        return groups, blobs, time.process_time() - cpu


def _key(b: int, offset: int) -> int:
    return -1 if b < 0 else offset + b


def histogram_task(
    public_context: bytes,
    gh_blobs: Sequence[bytes],
    bins: np.ndarray,
    n_bins: Sequence[int],
    amplitude: float,
    seed: int,
    replicas: int = 1,
    full: bool = False,
    packing: Packing = FLOAT,
) -> tuple[list[Group], list[bytes]]:
    """Every feature of ``bins`` (rows x features) for one leaf, in one call: (groups, blobs), the
    groups' entries keys ``offset + bin`` with each feature's offset the bin count of those before it.
    With ``full`` the ciphertexts cover every row of ``bins`` (zero outside the leaf)."""
    worker = HistogramWorker(public_context, bins, n_bins, amplitude, cache_bytes=0)
    rows = np.arange(bins.shape[0])
    offsets = np.concatenate([[0], np.cumsum(n_bins)[:-1]]).astype(int).tolist()
    groups, blobs, _ = worker.histograms(
        rows, full, replicas, gh_blobs, range(bins.shape[1]), offsets, seed, packing
    )
    return groups, blobs
