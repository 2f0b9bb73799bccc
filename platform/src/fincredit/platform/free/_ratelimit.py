"""Per-institution rate limits of the free routes (fairness, G§11): a token bucket per (key, group)
in process memory. Exceeding it is a 429 problem with Retry-After — and never a metering event."""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass

from fincredit.platform.core.errors import RateLimited


@dataclass(frozen=True, slots=True)
class Limit:
    rate: float  # tokens per second
    burst: int


DEFAULT_LIMITS: dict[str, Limit] = {
    "query": Limit(rate=200.0, burst=400),
    "report": Limit(rate=20.0, burst=40),
    "push": Limit(rate=50.0, burst=100),
    "matchmaking": Limit(rate=20.0, burst=40),
    "verify": Limit(rate=10.0, burst=30),
    "sharing": Limit(rate=50.0, burst=100),
}


class RateLimiter:
    def __init__(self, limits: dict[str, Limit] | None = None) -> None:
        self.limits = dict(limits or DEFAULT_LIMITS)
        self._buckets: dict[tuple[str, str], tuple[float, float]] = {}
        self._lock = threading.Lock()

    def hit(self, key: str, group: str, *, now: float | None = None) -> None:
        """Take one token or raise :class:`RateLimited` with the seconds until one is available."""
        limit = self.limits[group]
        now = time.monotonic() if now is None else now
        with self._lock:
            tokens, at = self._buckets.get((key, group), (float(limit.burst), now))
            tokens = min(float(limit.burst), tokens + (now - at) * limit.rate)
            if tokens < 1.0:
                self._buckets[(key, group)] = (tokens, now)
                wait = max(1, math.ceil((1.0 - tokens) / limit.rate))
                raise RateLimited(
                    f"the free {group} service allows {limit.rate:g} calls/s per institution (burst "
                    f"{limit.burst}); retry in {wait} s",
                    retry_after=wait,
                    group=group,
                )
            self._buckets[(key, group)] = (tokens - 1.0, now)

    def reset(self) -> None:
        with self._lock:
            self._buckets.clear()


limiter = RateLimiter()
