"""Thematic boards (G§13). A district or sector team opens a board ("Yinzhou tech-innovation
enterprises"), describes the population it targets with the matchmaking rule language over catalog
fields (``free.rules``), and publishes it; banks attach their loan products; the board feeds the
financing needs of enterprises in its population into matchmaking, where every lead still passes the
enterprise's consent. Teams edit only their own boards. Statistics count what the board fed: enterprises
reached, applications (leads on the board's products), loans granted and their amount."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fincredit.platform.boards.tables import Board, BoardProduct, BoardReach
from fincredit.platform.core.db import Organisation, Subject, utcnow
from fincredit.platform.core.errors import Conflict, Forbidden, InvalidInput, NotFound
from fincredit.platform.core.services import Services
from fincredit.platform.free import evaluate, match_need, subject_facts, validate
from fincredit.platform.free.tables import FinancingNeed, LoanProduct, MatchLead
from fincredit.platform.identity.principal import Principal

TEAM_KINDS = ("district_team", "sector_team")
STATUSES = ("draft", "published", "closed")
EDITABLE = ("title", "description", "theme", "region", "rules", "status")


def team_district(session: Session, principal: Principal) -> str | None:
    """A district team's district: the division code (characters 3-8) of its organisation's unified
    social credit code, the district government that registered it; None if no code is registered."""
    if principal.org_kind != "district_team" or principal.org_id is None:
        return None
    org = session.get(Organisation, principal.org_id)
    return org.uscc[2:8] if org is not None and org.uscc else None


def _confined(rule: Any, district: str) -> bool:
    """Whether ``rule`` admits only subjects whose region lies in ``district``."""
    if not isinstance(rule, dict):
        return False
    if "all" in rule:
        return any(_confined(r, district) for r in rule["all"])
    if "any" in rule:
        return bool(rule["any"]) and all(_confined(r, district) for r in rule["any"])
    if rule.get("fact") != "region":
        return False
    values = rule.get("value") if rule.get("op") == "in" else [rule.get("value")]
    return rule.get("op") in ("eq", "prefix", "in") and all(
        str(v).startswith(district) for v in values or [None]
    )


def _check_district(session: Session, principal: Principal, region: str | None, rules: Any) -> None:
    """A district team targets its own district only: the board's region and its population rule."""
    if principal.org_kind != "district_team":
        return
    district = team_district(session, principal)
    if district is None:
        raise Forbidden(
            "this district team has no unified social credit code on record, so its district is unknown: "
            "the operator registers the code before the team opens boards"
        )
    if region is not None and not region.startswith(district):
        raise Forbidden(
            f"region {region} is outside this team's district {district}: a district team's boards "
            "target its own district"
        )
    if not _confined(rules, district):
        raise Forbidden(
            f"the board's rule must keep its population inside the team's district {district}: add "
            f'{{"fact": "region", "op": "prefix", "value": "{district}"}} to its "all"'
        )


def create_board(session: Session, principal: Principal, spec: dict[str, Any]) -> Board:
    if principal.org_kind not in TEAM_KINDS or principal.org_id is None:
        raise Forbidden("boards are opened by district and sector teams")
    validate(spec["rules"])
    _check_district(session, principal, spec.get("region"), spec["rules"])
    board = Board(
        id=f"board_{uuid.uuid4().hex[:16]}",
        org_id=principal.org_id,
        title=spec["title"],
        description=spec["description"],
        theme=spec["theme"],
        region=spec.get("region"),
        rules=spec["rules"],
        status="draft",
        created_by=principal.account_id,
    )
    session.add(board)
    session.flush()
    return board


def get_board(session: Session, board_id: str) -> Board:
    board = session.get(Board, board_id)
    if board is None:
        raise NotFound(f"no board {board_id!r}")
    return board


def own_board(session: Session, principal: Principal, board_id: str) -> Board:
    """The board, if the caller's team owns it (403 for another team's board)."""
    board = get_board(session, board_id)
    if board.org_id != principal.org_id:
        raise Forbidden(f"board {board_id} belongs to another team; teams edit only their own boards")
    return board


def update_board(session: Session, principal: Principal, board_id: str, changes: dict[str, Any]) -> Board:
    board = own_board(session, principal, board_id)
    unknown = set(changes) - set(EDITABLE)
    if unknown:
        raise InvalidInput(f"a board's editable fields are {EDITABLE}")
    if "rules" in changes:
        validate(changes["rules"])
    if "rules" in changes or "region" in changes:
        _check_district(
            session, principal, changes.get("region", board.region), changes.get("rules", board.rules)
        )
    if "status" in changes and changes["status"] not in STATUSES:
        raise InvalidInput(f"status is one of {STATUSES}")
    for key, value in changes.items():
        setattr(board, key, value)
    board.updated_at = utcnow()
    session.flush()
    return board


def attach_product(session: Session, principal: Principal, board_id: str, product_id: str) -> BoardProduct:
    board = get_board(session, board_id)
    if board.status != "published":
        raise Conflict(f"board {board_id} is not open for products")
    product = session.get(LoanProduct, product_id)
    if product is None or product.org_id != principal.org_id or not product.active:
        raise NotFound(f"your bank has no active loan product {product_id!r}")
    link = session.get(BoardProduct, (board_id, product_id))
    if link is None:
        link = BoardProduct(board_id=board_id, product_id=product_id, org_id=product.org_id)
        session.add(link)
        session.flush()
    return link


def feed_matchmaking(session: Session, services: Services, board: Board, *, limit: int = 5000) -> int:
    """Feed the open needs of enterprises in the board's population into matchmaking; returns how many
    needs were newly reached. The population is evaluated inside the platform (the team sees only
    counts); banks see a lead only where the enterprise's matchmaking consent covers them."""
    if board.status != "published":
        raise Conflict(f"board {board.id} is not published")
    seen = set(session.scalars(select(BoardReach.need_id).where(BoardReach.board_id == board.id)))
    needs = session.scalars(
        select(FinancingNeed)
        .where(FinancingNeed.status == "open")
        .order_by(FinancingNeed.created_at.desc())
        .limit(limit)
    )
    reached = 0
    facts_of: dict[int, dict[str, Any]] = {}
    for need in needs:
        if need.id in seen:
            continue
        if need.subject_id not in facts_of:
            subject = session.get(Subject, need.subject_id)
            assert subject is not None
            facts_of[need.subject_id] = subject_facts(session, subject)
        if not evaluate(board.rules, facts_of[need.subject_id]):
            continue
        session.add(BoardReach(board_id=board.id, need_id=need.id, subject_id=need.subject_id))
        match_need(session, services, need)
        reached += 1
    session.flush()
    return reached


def statistics(session: Session, board_id: str) -> dict[str, Any]:
    reached = int(
        session.scalar(
            select(func.count(func.distinct(BoardReach.subject_id))).where(BoardReach.board_id == board_id)
        )
        or 0
    )
    leads = (
        select(MatchLead.outcome, FinancingNeed.amount)
        .join(BoardReach, (BoardReach.need_id == MatchLead.need_id) & (BoardReach.board_id == board_id))
        .join(
            BoardProduct,
            (BoardProduct.product_id == MatchLead.product_id) & (BoardProduct.board_id == board_id),
        )
        .join(FinancingNeed, FinancingNeed.id == MatchLead.need_id)
    )
    rows = session.execute(leads).all()
    granted = [amount for outcome, amount in rows if outcome == "granted"]
    return {
        "enterprises_reached": reached,
        "applications": len(rows),
        "loans_granted": len(granted),
        "amount_granted": round(float(sum(granted)), 2),
    }


def board_view(session: Session, board: Board) -> dict[str, Any]:
    """The public page's data: the board, its products and statistics; no personal data."""
    products = session.execute(
        select(LoanProduct)
        .join(BoardProduct, BoardProduct.product_id == LoanProduct.id)
        .where(BoardProduct.board_id == board.id)
        .order_by(LoanProduct.rate_min, LoanProduct.id)
    ).scalars()
    return {
        "id": board.id,
        "team": board.org_id,
        "title": board.title,
        "description": board.description,
        "theme": board.theme,
        "region": board.region,
        "target_population": board.rules,
        "status": board.status,
        "products": [
            {
                "id": p.id,
                "bank": p.org_id,
                "name": p.name,
                "amount_range": [p.amount_min, p.amount_max],
                "term_range": [p.term_min, p.term_max],
                "rate_range": [p.rate_min, p.rate_max],
            }
            for p in products
        ],
        "statistics": statistics(session, board.id),
        "updated_at": board.updated_at,
    }


def team_boards(session: Session, org_id: str) -> list[Board]:
    """Every board of one team, whatever its status, newest edit first (the team's own pages)."""
    return list(
        session.scalars(select(Board).where(Board.org_id == org_id).order_by(Board.updated_at.desc()))
    )


def monthly_series(session: Session, board_id: str) -> list[dict[str, Any]]:
    """The statistics as a monthly time series (UTC months, oldest first): enterprises first reached,
    applications (leads on the board's products) made, and loans granted with their amount. Counts
    only, like :func:`statistics`; months without activity between the first and last are zeros."""
    months: dict[str, dict[str, Any]] = {}

    def at(when: dt.datetime | None) -> dict[str, Any] | None:
        if when is None:
            return None
        key = f"{when.year:04d}-{when.month:02d}"
        return months.setdefault(
            key, {"month": key, "reached": 0, "applications": 0, "granted": 0, "amount_granted": 0.0}
        )

    first_reach = (
        select(BoardReach.subject_id, func.min(BoardReach.reached_at))
        .where(BoardReach.board_id == board_id)
        .group_by(BoardReach.subject_id)
    )
    for _subject, when in session.execute(first_reach):
        bucket = at(when)
        if bucket is not None:
            bucket["reached"] += 1
    leads = (
        select(MatchLead.created_at, MatchLead.outcome, MatchLead.outcome_at, FinancingNeed.amount)
        .join(BoardReach, (BoardReach.need_id == MatchLead.need_id) & (BoardReach.board_id == board_id))
        .join(
            BoardProduct,
            (BoardProduct.product_id == MatchLead.product_id) & (BoardProduct.board_id == board_id),
        )
        .join(FinancingNeed, FinancingNeed.id == MatchLead.need_id)
    )
    for created, outcome, outcome_at, amount in session.execute(leads):
        bucket = at(created)
        if bucket is not None:
            bucket["applications"] += 1
        if outcome == "granted":
            bucket = at(outcome_at or created)
            if bucket is not None:
                bucket["granted"] += 1
                bucket["amount_granted"] = round(bucket["amount_granted"] + float(amount), 2)
    if not months:
        return []
    keys = sorted(months)
    y, m = (int(part) for part in keys[0].split("-"))
    out = []
    while True:
        key = f"{y:04d}-{m:02d}"
        out.append(
            months.get(
                key, {"month": key, "reached": 0, "applications": 0, "granted": 0, "amount_granted": 0.0}
            )
        )
        if key == keys[-1]:
            return out
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)


def published_boards(session: Session) -> list[Board]:
    return list(
        session.scalars(select(Board).where(Board.status == "published").order_by(Board.updated_at.desc()))
    )
