"""Thematic boards of district and sector teams (G§13): target populations over catalog fields,
products banks attach, public pages with statistics, and feeding of financing matchmaking."""

from ._boards import (
    TEAM_KINDS,
    attach_product,
    board_view,
    create_board,
    feed_matchmaking,
    get_board,
    own_board,
    published_boards,
    statistics,
    update_board,
)

__all__ = [
    "TEAM_KINDS",
    "attach_product",
    "board_view",
    "create_board",
    "feed_matchmaking",
    "get_board",
    "own_board",
    "published_boards",
    "statistics",
    "update_board",
]
