"""Calling the other party without ever hanging, and answering frames without ever crashing.

Bank side: :class:`Channel` wraps any :class:`~fincredit.federation.wire.Link` with a deadline on every
call, retries for calls the caller marks idempotent, and turns an ``error`` frame from the platform into
a :class:`PartyError`. Platform side: :class:`FrameRouter` dispatches frames by kind prefix to the
party handlers (PSI, LR, SecureBoost, scoring) and turns every failure into an ``error`` frame, so the
HTTP endpoint only moves bytes.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any, cast

from fincredit.federation.errors import FederationError, PartyError, PartyTimeout, PsiInputError
from fincredit.federation.wire import DEFAULT_MAX_FRAME_BYTES, Frame, Link, WireError, decode, encode

__all__ = [
    "ERROR_KIND",
    "Channel",
    "FrameRouter",
    "PartyHandler",
    "error_frame",
    "raise_for_error",
]

ERROR_KIND = "error"
_log = logging.getLogger("fincredit.federation")

# A platform-side handler gets the frame and the bank id the transport authenticated (never one the
# frame claims for itself).
PartyHandler = Callable[[Frame, str], Frame]


def error_frame(job_id: str, code: str, message: str) -> Frame:
    return Frame(kind=ERROR_KIND, job_id=job_id, meta={"code": code, "message": message})


def raise_for_error(frame: Frame) -> Frame:
    if frame.kind == ERROR_KIND:
        code = str(frame.meta.get("code", "internal"))
        message = str(frame.meta.get("message", "the platform party reported an error"))
        raise PartyError(f"platform party refused the request ({code}): {message}", code=code)
    return frame


class Channel:
    """The bank's way to call the platform: deadlines, retries, error frames as exceptions.

    ``timeout`` bounds every call (seconds). A link that offers ``call_with_timeout(frame, timeout)``
    (the HTTP link) enforces it itself; any other link is called on a daemon thread that is abandoned
    at the deadline, so a wedged in-process handler cannot hang the bank either. Calls marked
    ``idempotent`` are retried ``retries`` times on a timeout or a transport failure, with backoff.
    """

    def __init__(self, link: Link, *, timeout: float = 120.0, retries: int = 2, backoff: float = 0.5) -> None:
        if timeout <= 0:
            raise ValueError("timeout must be positive")
        self.link = link
        self.timeout = timeout
        self.retries = max(0, retries)
        self.backoff = backoff

    def call(
        self,
        frame: Frame,
        *,
        timeout: float | None = None,
        idempotent: bool = False,
        expect: str | None = None,
    ) -> Frame:
        deadline = self.timeout if timeout is None else timeout
        attempts = 1 + (self.retries if idempotent else 0)
        for attempt in range(1, attempts + 1):
            try:
                reply = raise_for_error(self._call_once(frame, deadline))
            except PartyError as exc:
                if exc.code not in ("timeout", "transport") or attempt == attempts:
                    raise
                _log.warning("retrying %s for job %s after: %s", frame.kind, frame.job_id, exc)
                time.sleep(self.backoff * 2 ** (attempt - 1))
                continue
            if expect is not None and reply.kind != expect:
                raise PartyError(
                    f"platform party answered {reply.kind!r} to {frame.kind!r} (expected {expect!r})",
                    code="protocol",
                )
            return reply
        raise AssertionError("unreachable")  # pragma: no cover

    def _call_once(self, frame: Frame, timeout: float) -> Frame:
        call_with_timeout: Callable[[Frame, float], Frame] | None = getattr(
            self.link, "call_with_timeout", None
        )
        if call_with_timeout is not None:
            return call_with_timeout(frame, timeout)
        box: queue.Queue[tuple[bool, Any]] = queue.Queue(maxsize=1)

        def run() -> None:
            try:
                box.put((True, self.link.call(frame)))
            except BaseException as exc:
                box.put((False, exc))

        threading.Thread(target=run, name=f"fincredit-call-{frame.kind}", daemon=True).start()
        try:
            ok, value = box.get(timeout=timeout)
        except queue.Empty:
            raise PartyTimeout(
                f"platform party did not answer {frame.kind!r} for job {frame.job_id!r} within {timeout:g} s"
            ) from None
        if ok:
            return cast(Frame, value)
        if isinstance(value, FederationError | WireError):
            raise value
        raise PartyError(
            f"platform party failed on {frame.kind!r}: {type(value).__name__}: {value}", code="transport"
        ) from value


class FrameRouter:
    """Platform-side dispatcher: ``psi.*`` to the PSI party, ``lr.*`` to the LR party, and so on.

    ``handle_bytes`` is what the HTTP endpoint calls with the request body and the bank id its bearer
    token authenticated; it always returns an encoded frame, an ``error`` frame when anything failed
    (internal errors are logged with a reference and reported without their message, which could
    carry platform data).

    The endpoint contract the bank's ``HttpLink`` expects, ``POST /federation/v1/frames``:

    - ``Authorization: Bearer <bank token>`` -> bank id; unknown or revoked token: HTTP 401 (any body).
    - Body over ``max_bytes`` (check ``Content-Length`` before reading): HTTP 413.
    - Otherwise HTTP 200, ``Content-Type: application/octet-stream``, body = ``handle_bytes(...)``;
      refusals travel as ``error`` frames with a ``code`` (the bank raises ``PartyError(code=...)``).
    - Run ``handle_bytes`` in a worker thread (it is CPU-bound and blocking; PSI steps take seconds).
    """

    def __init__(self, *, max_bytes: int = DEFAULT_MAX_FRAME_BYTES) -> None:
        self.max_bytes = max_bytes
        self._routes: dict[str, PartyHandler] = {}

    def register(self, prefix: str, handler: PartyHandler) -> None:
        if not prefix.endswith("."):
            raise ValueError(f"a route prefix ends with '.', like 'psi.' (got {prefix!r})")
        self._routes[prefix] = handler

    def handle(self, frame: Frame, *, bank_id: str) -> Frame:
        prefix = frame.kind.split(".", 1)[0] + "."
        handler = self._routes.get(prefix)
        if handler is None:
            return error_frame(frame.job_id, "protocol", f"no party handles frames of kind {frame.kind!r}")
        try:
            return handler(frame, bank_id)
        except PartyError as exc:
            return error_frame(frame.job_id, exc.code, str(exc))
        except PermissionError as exc:
            return error_frame(frame.job_id, "unauthorized", str(exc))
        except WireError as exc:
            return error_frame(frame.job_id, "limit", str(exc))
        except PsiInputError as exc:
            return error_frame(frame.job_id, "protocol", str(exc))
        except FederationError as exc:
            return error_frame(frame.job_id, "protocol", str(exc))
        except Exception as exc:
            ref = uuid.uuid4().hex[:12]
            _log.exception("frame %s for job %s failed (ref %s)", frame.kind, frame.job_id, ref)
            return error_frame(
                frame.job_id, "internal", f"internal error ({type(exc).__name__}) on the platform, ref {ref}"
            )

    def handle_bytes(self, body: bytes, *, bank_id: str) -> bytes:
        try:
            frame = decode(body, max_bytes=self.max_bytes)
        except WireError as exc:
            return encode(error_frame("", "wire", str(exc)))
        reply = encode(self.handle(frame, bank_id=bank_id))
        if len(reply) > self.max_bytes:
            return encode(
                error_frame(frame.job_id, "limit", f"reply of {len(reply)} bytes exceeds {self.max_bytes}")
            )
        return reply
