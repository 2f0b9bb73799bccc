"""What the two PSI parties agree on: the protocol names, the hashing domain, limits and the alignment
result (the frames are declared in ``_psi_messages``).

ECDH-PSI, as FATE and SecretFlow run it, with the bank as the party that computes the intersection:

1. ``psi.start``   bank -> platform: scopes, the bank's set size. The platform asks its caller for the
   subjects holding an active joint-modelling consent for this bank and these scopes (already filtered
   and ledgered by the platform service), shuffles them, draws its secret ``p``. Reply: its set size.
2. ``psi.reblind`` bank -> platform, in chunks: ``a·H(b)`` for the bank's ids ``b`` in an order the bank
   shuffled. Reply: ``p·a·H(b)`` in the same order. The platform keeps these values to check step 4.
3. ``psi.points``  bank -> platform, in chunks: asks for ``p·H(x)`` of the platform's shuffled subjects.
   The bank computes ``a·p·H(x)`` and matches them against ``p·a·H(b)`` with a dict.
4. ``psi.finish``  bank -> platform: for each match, in a join order the bank shuffled, the platform's
   shuffled position and the doubly blinded value. The platform checks the values are distinct and are
   among the ``p·a·H(b)`` it computed in step 2 (a consistency check that catches a bank bug; it is
   not a proof against a malicious bank, see below), and maps the positions back to its own rows.
   Reply: the intersection size and the alignment id.
5. ``psi.abort``   bank -> platform: forget the job (the bank failed on its side).

Who learns what. Security model: semi-honest parties (as in FATE's and SecretFlow's ECDH-PSI): each
follows the protocol and may try to learn more from what it sees. Both set sizes are disclosed.

- The bank learns |platform set|, the intersection size, and which of ITS OWN rows are in the
  intersection, in the shared join order. It sees the platform's subjects only as ``p·H(x)`` under a
  secret it never holds, so it learns nothing about a platform subject that is not one of its own ids.
- The platform learns |bank set|, the intersection size, and which of ITS OWN (consenting) subjects are
  in the intersection, in the shared join order: it needs exactly these rows to serve its features to
  the joint training. It sees the bank's ids only as ``a·H(b)`` and ``p·a·H(b)``, never in clear nor as
  plain hashes, so it learns nothing about bank rows outside the intersection (not even their order:
  the bank shuffles before sending).
- Positions leak nothing: the platform shuffles its subjects before blinding, the bank shuffles its ids
  before sending and draws the join order at random.
- Inherent to any PSI: the bank learns, for each of its own ids, whether it is among the platform's
  consenting subjects; a bank that deviated from the protocol could name up to |bank set| platform
  positions as matches (the platform's step-4 check bounds that by the bank's declared set size).
  Fresh secrets per job and a per-job hash domain make blinded values useless across jobs.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import numpy.typing as npt

__all__ = [
    "DEFAULT_CHUNK",
    "DOMAIN",
    "KKRT_PROTOCOL",
    "PROTOCOL",
    "PROTOCOLS",
    "Alignment",
    "PsiProtocol",
    "alignment_id",
    "canonical_ids",
    "job_domain",
]

PROTOCOL = "ecdh-psi/x25519/sha512-256/v1"
KKRT_PROTOCOL = "kkrt16-psi/aes128-ed25519/v1"
# What a bank chooses (``align(..., protocol=...)``, ``fincredit-bank align --protocol``) -> wire name.
PsiProtocol = Literal["kkrt", "ecdh"]
PROTOCOLS: dict[str, str] = {"kkrt": KKRT_PROTOCOL, "ecdh": PROTOCOL}
DOMAIN = b"fincredit-psi-v1"
DEFAULT_CHUNK = 100_000


def job_domain(job_id: str) -> bytes:
    # Binding the hash to the job means blinded values from one job are useless in any other.
    return DOMAIN + b"|" + job_id.encode() + b"|"


def canonical_ids(ids: Sequence[str]) -> list[str]:
    """Identifiers as both parties compare them: stripped and upper-cased.

    USCCs are upper-case by standard, and resident IDs end in a check character that is written ``x`` or
    ``X``; a bank spreadsheet and the platform must agree without either seeing the other's raw form.
    """
    return [i.strip().upper() for i in ids]


def alignment_id(job_id: str, platform_positions: npt.NDArray[np.int64], protocol: str = PROTOCOL) -> str:
    """An opaque id of one alignment, computed identically by both parties from what both know."""
    h = hashlib.sha256(protocol.encode() + b"|" + job_id.encode() + b"|")
    h.update(struct.pack(">Q", len(platform_positions)))
    h.update(np.asarray(platform_positions, dtype=">u4").tobytes())
    return h.hexdigest()[:32]


@dataclass(frozen=True, slots=True, eq=False)
class Alignment:
    """One party's half of a PSI alignment.

    ``rows[j]`` is the position, in this party's own input sequence, of the record with join index ``j``;
    ``ids[j]`` is that record's identifier (this party's own, never the other's). Both parties hold the
    same ``alignment_id`` and the same number of rows, and join index ``j`` is the same person or
    enterprise on both sides, so feature rows line up by position.
    """

    job_id: str
    alignment_id: str
    rows: npt.NDArray[np.int64]
    ids: list[str] = field(repr=False)
    own_size: int
    other_size: int

    @property
    def size(self) -> int:
        return len(self.rows)

    def __len__(self) -> int:
        return len(self.rows)
