"""Thematic boards of district and sector teams (G§13): target populations over catalog fields,
products banks attach, public pages with statistics, and feeding of financing matchmaking."""

from fincredit.platform.boards._boards import (
    STATUSES,
    TEAM_KINDS,
    attach_product,
    board_view,
    create_board,
    feed_matchmaking,
    get_board,
    monthly_series,
    own_board,
    published_boards,
    statistics,
    team_boards,
    update_board,
)

__all__ = [
    "STATUSES",
    "TEAM_KINDS",
    "attach_product",
    "board_view",
    "create_board",
    "feed_matchmaking",
    "get_board",
    "monthly_series",
    "own_board",
    "published_boards",
    "statistics",
    "team_boards",
    "update_board",
]
