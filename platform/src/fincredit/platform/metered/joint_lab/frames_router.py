"""``POST /federation/v1/frames``: the bank SDK's wire (``fincredit.federation.HttpLink``).

Bodies are ``application/octet-stream`` frames of at most the frame limit (the body-limit middleware
has an override for this path), authenticated by the bank's bearer token; the bank id handed to the
platform party is the token's institution, never one a frame claims. A frame for another bank's job is
a 403 problem; protocol refusals travel back as ``error`` frames with HTTP 200. The work is CPU-bound,
so it runs in a worker thread. Scoring frames are metered (``market.encrypted_scoring``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from fincredit.federation.wire import DEFAULT_MAX_FRAME_BYTES
from fincredit.platform.core.deps import require
from fincredit.platform.identity.principal import Principal
from fincredit.platform.metered.joint_lab.router import federation_of

router = APIRouter(tags=["metered services: joint modelling"])

FRAMES_PATH = "/federation/v1/frames"
MAX_FRAME_BYTES = DEFAULT_MAX_FRAME_BYTES + 4096  # a full frame plus nothing else fits
_OCTETS = "application/octet-stream"


@router.post(FRAMES_PATH, response_class=Response)
async def frames(
    request: Request,
    principal: Annotated[Principal, Depends(require("joint_lab", "frames"))],
) -> Response:
    body = await request.body()
    reply = await run_in_threadpool(federation_of(request).handle_bytes, body, principal)
    return Response(content=reply, media_type=_OCTETS)
