"""A synthetic, fully authorised ledger of any size, for benchmarking the authorisation replay.

Consents are requested and granted as the log goes (each with its full terms), and every access is a query
or report under a consent granted earlier, within its purpose, scopes (a grant of ``court`` covering
``court.judgment``), modes, window and frequency; a few refusals are mixed in. The entries are the exact
canonical bytes :class:`~fincredit.consent.LedgerEntry` writes (a test checks it), built from string
templates: a few microseconds an entry where building each through pydantic takes about a hundred.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import random
from collections.abc import Iterator

from fincredit.consent.entries import format_time

__all__ = ["synthetic_ledger"]

_T0 = _dt.datetime(2026, 3, 2, 9, 0, tzinfo=_dt.UTC)
_CONSENT_EVENT = (
    '{{"actor":"{actor}","at":"{at}","basis":null,"consent_id":"{cid}","fetch_type":"PERIODIC",'
    '"frequency_unit":"DAY","frequency_value":1000,"grantee":"{grantee}","message":null,"mode":null,'
    '"modes":["query","report"],"payload_sha256":null,"purpose":"loan_application_assessment","reason":null,'
    '"route":null,"scopes":["court","tax.arrears"],"seq":{seq},"subject_index":"{subject}",'
    '"subject_kind":"legal","subject_masked":"9133**********{tail}","type":"{type}",'
    '"valid_from":"{valid_from}","valid_until":"{valid_until}"}}'
)
_ACCESS = (
    '{{"actor":"bank-user-{user}","at":"{at}","basis":"consent","consent_id":"{cid}","grantee":"{grantee}",'
    '"message":null,"mode":"{mode}","payload_sha256":"{payload}","purpose":"loan_application_assessment",'
    '"reason":null,"route":"/v1/credit/{mode}","scopes":["{scope}"],"seq":{seq},"subject_index":"{subject}",'
    '"subject_masked":"9133**********{tail}","type":"{type}"}}'
)
_REFUSAL = (
    '{{"actor":"bank-user-{user}","at":"{at}","basis":null,"consent_id":null,"grantee":"{grantee}",'
    '"message":"{grantee} holds no consent from 9133**********{tail}","mode":"query","payload_sha256":null,'
    '"purpose":"credit_report","reason":"no_consent","route":"/v1/credit/query","scopes":["court"],'
    '"seq":{seq},"subject_index":"{subject}","subject_masked":"9133**********{tail}","type":"refusal"}}'
)


def synthetic_ledger(
    n: int, *, consents: int | None = None, seed: int = 0, batch: int = 65536
) -> Iterator[tuple[list[int], list[bytes]]]:
    """``n`` entries in batches of ``(sequence numbers, canonical entry bytes)``, as
    :meth:`AuthorisationReplay.feed` takes them; ``consents`` (default ``n // 10``) consents in all."""
    rng = random.Random(seed)
    total = max(1, n // 10 if consents is None else consents)
    # Each step either grants the next consent (two entries) or logs an access, so that the grants are
    # spread over the log and all of them are in it by its end.
    p_grant = min(1.0, 2 * total / max(n, 1))
    granted: list[tuple[str, str, str, str]] = []
    seqs: list[int] = []
    out: list[bytes] = []
    seq = 0
    valid_from = format_time(_T0 - _dt.timedelta(days=1))
    valid_until = format_time(_T0 + _dt.timedelta(days=3650))
    day_uses: dict[tuple[int, str], int] = {}
    stamp, prefix = -1, ""
    while seq < n:
        # One entry a millisecond; format_time's spelling, built once a second.
        if seq // 1000 != stamp:
            stamp = seq // 1000
            prefix = format_time(_T0 + _dt.timedelta(seconds=stamp))[:19]
        at = f"{prefix}.{seq % 1000:03d}000Z"
        if len(granted) < total and (not granted or rng.random() < p_grant) and seq + 2 <= n:
            k = len(granted)
            cid = f"cns_{k:012d}"
            subject = hashlib.sha256(f"subject {k}".encode()).hexdigest()
            grantee = f"91330200MA2BANK{k % 20:02d}X"
            tail = f"{k % 10000:04d}"
            for entry_type, actor in (("consent_requested", "bank-user-1"), ("consent_granted", "borrower")):
                seqs.append(seq)
                out.append(
                    _CONSENT_EVENT.format(
                        actor=actor, at=at, cid=cid, grantee=grantee, seq=seq, subject=subject, tail=tail,
                        type=entry_type, valid_from=valid_from, valid_until=valid_until,
                    ).encode()
                )  # fmt: skip
                seq += 1
            granted.append((cid, subject, grantee, tail))
        else:
            k = rng.randrange(len(granted))
            cid, subject, grantee, tail = granted[k]
            if rng.random() < 0.02:
                text = _REFUSAL.format(
                    user=k % 97, at=at, grantee=grantee, seq=seq, subject=subject, tail=tail
                )
            else:
                key = (k, at[:10])
                if day_uses.get(key, 0) >= 1000:  # the grant's frequency: stay within it
                    continue
                day_uses[key] = day_uses.get(key, 0) + 1
                report = rng.random() < 0.1
                text = _ACCESS.format(
                    user=k % 97, at=at, cid=cid, grantee=grantee, seq=seq, subject=subject, tail=tail,
                    mode="report" if report else "query", type="report_issued" if report else "disclosure",
                    scope="tax.arrears" if report else "court.judgment",
                    payload=f"{seq:064x}",  # stands for the SHA-256 of what was disclosed
                )  # fmt: skip
            seqs.append(seq)
            out.append(text.encode())
            seq += 1
        if len(out) >= batch:
            yield seqs, out
            seqs, out = [], []
    if out:
        yield seqs, out
