"""Thematic boards (G§13): district and sector teams open and edit their own boards and feed them into
matchmaking; banks attach loan products; anyone reads the public pages (JSON, no personal data)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import Field

from fincredit.platform.boards import (
    attach_product,
    board_view,
    create_board,
    feed_matchmaking,
    get_board,
    own_board,
    published_boards,
    update_board,
)
from fincredit.platform.core.deps import ServicesDep, public, require
from fincredit.platform.core.errors import NotFound
from fincredit.platform.core.schemas import Strict
from fincredit.platform.identity.principal import Principal

router = APIRouter(tags=["thematic boards"])


class BoardIn(Strict):
    title: str = Field(min_length=1, max_length=200)
    description: str = Field(min_length=1, max_length=5000)
    theme: str = Field(min_length=1, max_length=64)
    region: str | None = Field(default=None, max_length=12)
    rules: dict[str, Any]


class BoardPatch(Strict):
    title: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=5000)
    theme: str | None = Field(default=None, max_length=64)
    region: str | None = Field(default=None, max_length=12)
    rules: dict[str, Any] | None = None
    status: str | None = None


class AttachIn(Strict):
    product_id: str = Field(max_length=40)


@router.post("/api/v1/boards", status_code=201)
def open_board(
    body: BoardIn, services: ServicesDep, principal: Annotated[Principal, Depends(require("boards", "write"))]
) -> dict[str, Any]:
    with services.tx() as session:
        return board_view(session, create_board(session, principal, body.model_dump()))


@router.patch("/api/v1/boards/{board_id}")
def edit_board(
    board_id: str,
    body: BoardPatch,
    services: ServicesDep,
    principal: Annotated[Principal, Depends(require("boards", "write"))],
) -> dict[str, Any]:
    """Edit (or publish/close, through ``status``) one of the caller's team's boards; 403 otherwise."""
    with services.tx() as session:
        return board_view(
            session, update_board(session, principal, board_id, body.model_dump(exclude_unset=True))
        )


@router.post("/api/v1/boards/{board_id}/matchmaking")
def feed(
    board_id: str, services: ServicesDep, principal: Annotated[Principal, Depends(require("boards", "write"))]
) -> dict[str, Any]:
    """Feed the open needs of the board's population into matchmaking (consent still gates each lead)."""
    with services.tx() as session:
        board = own_board(session, principal, board_id)
        reached = feed_matchmaking(session, services, board)
        return {"newly_reached_needs": reached, **board_view(session, board)}


@router.post("/api/v1/boards/{board_id}/products", status_code=201)
def attach(
    board_id: str,
    body: AttachIn,
    services: ServicesDep,
    principal: Annotated[Principal, Depends(require("boards", "attach_product"))],
) -> dict[str, Any]:
    with services.tx() as session:
        attach_product(session, principal, board_id, body.product_id)
        return board_view(session, get_board(session, board_id))


@router.get("/public/boards", dependencies=[Depends(public)])
def public_boards(services: ServicesDep) -> list[dict[str, Any]]:
    """Every published board with its products and statistics."""
    with services.read() as session:
        return [board_view(session, b) for b in published_boards(session)]


@router.get("/public/boards/{board_id}", dependencies=[Depends(public)])
def public_board(board_id: str, services: ServicesDep) -> dict[str, Any]:
    with services.read() as session:
        board = get_board(session, board_id)
        if board.status == "draft":
            raise NotFound(f"no published board {board_id!r}")
        return board_view(session, board)
