"""Thematic boards (G§13) as pages: a district or sector team edits its own boards (title, description,
theme, region, target population, publication) in forms that show what is wrong next to the field; and
the public pages anyone opens without logging in — the published boards, each with its products, its
statistics and, when it has some history, a monthly chart drawn as inline SVG."""

from __future__ import annotations

import json
import re
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select

from fincredit.consent.identifiers import NINGBO_REGIONS
from fincredit.platform.boards import (
    STATUSES,
    board_view,
    create_board,
    feed_matchmaking,
    get_board,
    monthly_series,
    own_board,
    published_boards,
    team_boards,
    update_board,
)
from fincredit.platform.boards._builder import BASE_FACTS, MAX_ROWS, OPS, Row, build, rows_from_form, rows_of
from fincredit.platform.catalog import current_version, items_of
from fincredit.platform.core.db import Organisation
from fincredit.platform.core.deps import ServicesDep, public
from fincredit.platform.core.errors import Conflict, FincreditError, Forbidden, NotFound
from fincredit.platform.core.web.deps import PREFIX, lang_of, page, page_principal, render
from fincredit.platform.core.web.i18n import label, translator
from fincredit.platform.free import validate
from fincredit.platform.identity.principal import Principal

router = APIRouter(prefix=PREFIX, include_in_schema=False)
Team = Annotated[Principal, Depends(page("boards", "write"))]
Visitor = Annotated[Principal | None, Depends(page_principal)]

THEMES = ("tech_innovation", "manufacturing", "agriculture", "green", "foreign_trade", "small_micro")
_REGION = re.compile(r"^\d{2,12}$")
FIELDS = ("title", "description", "theme", "region", "rules")
LIMITS = {"title": 200, "description": 5000, "theme": 64, "region": 12}


def _org_names(session: Any, ids: set[str]) -> dict[str, str]:
    if not ids:
        return {}
    return {o.id: o.name for o in session.scalars(select(Organisation).where(Organisation.id.in_(ids)))}


def _check(request: Request, form: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """The board fields from a form, or per-field messages (in the page's language) saying what is wrong.
    The service validates again; this only turns its rules into sentences people can act on."""
    t = translator(lang_of(request))
    errors: dict[str, str] = {}
    values = {k: (form.get(k) or "").strip() for k in FIELDS}
    for key in ("title", "description", "theme"):
        if not values[key]:
            errors[key] = t("boards.error.required")
    for key, limit in LIMITS.items():
        if len(values[key]) > limit and key not in errors:
            errors[key] = t("boards.error.too_long", limit=limit)
    if values["region"] and "region" not in errors and not _REGION.match(values["region"]):
        errors["region"] = t("boards.error.region")
    rules: Any = None
    if form.get("rules_mode") == "builder":
        built, understood = build(form.get("combine") or "all", form.get("rows") or [])
        if not understood:
            errors["rules"] = t("boards.builder.problem.rows")
        elif built is not None:
            rules = built
        elif values["region"] and "region" not in errors:
            rules = {"fact": "region", "op": "prefix", "value": values["region"]}
        elif "region" not in errors:
            errors["rules"] = t("boards.error.rules_required")
    elif not values["rules"]:
        if values["region"] and "region" not in errors:
            rules = {"fact": "region", "op": "prefix", "value": values["region"]}
        elif "region" not in errors:
            errors["rules"] = t("boards.error.rules_required")
    else:
        try:
            rules = json.loads(values["rules"])
        except ValueError as exc:
            errors["rules"] = t("boards.error.json", detail=str(exc))
        else:
            try:
                validate(rules)
            except FincreditError as exc:
                errors["rules"] = t("boards.error.rule", detail=exc.detail)
    spec = {
        "title": values["title"],
        "description": values["description"],
        "theme": values["theme"],
        "region": values["region"] or None,
        "rules": rules,
    }
    return spec, errors


def _form_of(board: Any) -> dict[str, Any]:
    flat = rows_of(board.rules)
    return {
        "title": board.title,
        "description": board.description,
        "theme": board.theme,
        "region": board.region or "",
        "rules": json.dumps(board.rules, ensure_ascii=False, indent=2),
        # A rule the builder cannot show as rows opens in the JSON view.
        "rules_mode": "builder" if flat is not None else "json",
        "combine": flat[0] if flat else "all",
        "rows": flat[1] if flat else [],
    }


def _fact_choices(request: Request) -> list[tuple[str, str]]:
    """The facts a row may test, in words: the derived ones, then "number of records of <item>" for each
    catalog item (names read once per page)."""
    lang = lang_of(request)
    t = translator(lang)
    choices = [(f, label("fact", f, lang)) for f in BASE_FACTS]
    services = request.app.state.services
    with services.read() as session:
        items = items_of(session, current_version(session))
    english = lang == "en"
    for item in items:
        name = (label("item", item.code, lang) if english else "") or item.name
        if english and name == item.code:
            name = item.name
        choices.append((f"count.{item.code}", t("fact.count", item=name)))
    return choices


def _refused(request: Request, exc: FincreditError) -> HTMLResponse:
    if isinstance(exc, Forbidden):
        return render(request, "forbidden.html", status_code=403)
    t = translator(lang_of(request))
    title = t("boards.not_found") if isinstance(exc, NotFound) else t("boards.refused")
    return render(request, "message.html", status_code=exc.status, title=title, text=exc.detail)


def _editor(
    request: Request,
    *,
    board: dict[str, Any] | None,
    form: dict[str, Any],
    errors: dict[str, str],
    status_code: int = 200,
    extra_rows: int = 1,
) -> HTMLResponse:
    rows: list[Row] = list(form.get("rows") or [])
    preview, _ = build(form.get("combine") or "all", [Row(r.fact, r.op, r.value) for r in rows])
    blanks = min(extra_rows, MAX_ROWS - len(rows))
    return render(
        request,
        "boards/edit.html",
        status_code=status_code,
        board=board,
        form={
            **form,
            "rules_mode": form.get("rules_mode") or "builder",
            "combine": form.get("combine") or "all",
        },
        rows=rows + [Row() for _ in range(max(blanks, 0))],
        preview=preview,
        facts=_fact_choices(request),
        ops=OPS,
        errors=errors,
        themes=THEMES,
        regions=NINGBO_REGIONS,
        statuses=STATUSES,
        notice=request.query_params.get("notice"),
        fed=request.query_params.get("fed"),
    )


# The team's pages --------------------------------------------------------------------------------------


async def _board_form(request: Request) -> dict[str, Any]:
    """The editor's fields as typed (empty ones included), for validation and for showing back: the board's
    fields, the rule builder's rows (or the JSON of its advanced view), and which button was pressed. A
    form with JSON and no builder rows (a script, or the advanced view alone) is taken as JSON."""
    form = await request.form()
    values: dict[str, Any] = {k: str(form.get(k) or "")[:10_000] for k in FIELDS}
    combine, rows = rows_from_form(form)
    has_builder = any(str(k).startswith("fact_") for k in form)
    mode = str(
        form.get("rules_mode") or ("builder" if has_builder or not values["rules"].strip() else "json")
    )
    values.update(
        rules_mode="json" if mode == "json" else "builder",
        combine=combine,
        rows=rows,
        action=str(form.get("action") or ""),
    )
    return values


BoardForm = Annotated[dict[str, Any], Depends(_board_form)]


def _not_saving(request: Request, form: dict[str, Any], board: dict[str, Any] | None) -> HTMLResponse | None:
    """The builder's own buttons: another row, or the rule in words, without saving anything."""
    if form["action"] not in ("add", "preview"):
        return None
    return _editor(request, board=board, form=form, errors={}, extra_rows=2 if form["action"] == "add" else 1)


@router.get("/team/boards", response_class=HTMLResponse)
def team_board_list(request: Request, services: ServicesDep, principal: Team) -> HTMLResponse:
    with services.read() as session:
        boards = [board_view(session, b) for b in team_boards(session, principal.org_id or "")]
    return render(request, "boards/team.html", boards=boards, regions=NINGBO_REGIONS)


@router.get("/team/boards/new", response_class=HTMLResponse)
def new_board_form(request: Request, principal: Team) -> HTMLResponse:
    return _editor(request, board=None, form={k: "" for k in FIELDS}, errors={}, extra_rows=2)


@router.post("/team/boards")
def open_board(
    request: Request,
    services: ServicesDep,
    principal: Team,
    form: BoardForm,
) -> Response:
    shown = _not_saving(request, form, None)
    if shown is not None:
        return shown
    spec, errors = _check(request, form)
    if errors:
        return _editor(request, board=None, form=form, errors=errors, status_code=422)
    try:
        with services.tx() as session:
            board_id = create_board(session, principal, spec).id
    except FincreditError as exc:
        return _refused(request, exc)
    return RedirectResponse(f"{PREFIX}/team/boards/{board_id}?notice=created", status_code=303)


@router.get("/team/boards/{board_id}", response_class=HTMLResponse)
def edit_board_form(board_id: str, request: Request, services: ServicesDep, principal: Team) -> HTMLResponse:
    try:
        with services.read() as session:
            board = own_board(session, principal, board_id)
            view, form = board_view(session, board), _form_of(board)
    except FincreditError as exc:
        return _refused(request, exc)
    return _editor(request, board=view, form=form, errors={})


@router.post("/team/boards/{board_id}")
def save_board(
    board_id: str,
    request: Request,
    services: ServicesDep,
    principal: Team,
    form: BoardForm,
) -> Response:
    try:
        with services.read() as session:
            view = board_view(session, own_board(session, principal, board_id))
    except FincreditError as exc:
        return _refused(request, exc)
    shown = _not_saving(request, form, view)
    if shown is not None:
        return shown
    spec, errors = _check(request, form)
    if errors:
        return _editor(request, board=view, form=form, errors=errors, status_code=422)
    try:
        with services.tx() as session:
            update_board(session, principal, board_id, spec)
    except FincreditError as exc:
        return _refused(request, exc)
    return RedirectResponse(f"{PREFIX}/team/boards/{board_id}?notice=saved", status_code=303)


@router.post("/team/boards/{board_id}/status")
def change_status(
    board_id: str,
    request: Request,
    services: ServicesDep,
    principal: Team,
    status: Annotated[str, Form()] = "",
) -> Response:
    """Publish, take back to draft (off the public pages) or close (stays public, takes no products)."""
    try:
        with services.tx() as session:
            update_board(session, principal, board_id, {"status": status})
    except FincreditError as exc:
        return _refused(request, exc)
    return RedirectResponse(f"{PREFIX}/team/boards/{board_id}?notice={status}", status_code=303)


@router.post("/team/boards/{board_id}/matchmaking")
def feed(board_id: str, request: Request, services: ServicesDep, principal: Team) -> Response:
    """Feed the open needs of the board's population into matchmaking (consent still gates each lead)."""
    t = translator(lang_of(request))
    try:
        with services.tx() as session:
            board = own_board(session, principal, board_id)
            if board.status != "published":
                raise Conflict(t("boards.feed.unpublished"))
            reached = feed_matchmaking(session, services, board)
    except FincreditError as exc:
        return _refused(request, exc)
    return RedirectResponse(f"{PREFIX}/team/boards/{board_id}?fed={reached}", status_code=303)


# Public pages ------------------------------------------------------------------------------------------


@router.get("/boards", response_class=HTMLResponse, dependencies=[Depends(public)])
def public_board_list(request: Request, services: ServicesDep, _visitor: Visitor) -> HTMLResponse:
    with services.read() as session:
        boards = [board_view(session, b) for b in published_boards(session)]
        teams = _org_names(session, {b["team"] for b in boards})
    return render(request, "boards/list.html", boards=boards, teams=teams, regions=NINGBO_REGIONS)


@router.get("/boards/{board_id}", response_class=HTMLResponse, dependencies=[Depends(public)])
def public_board_page(
    board_id: str, request: Request, services: ServicesDep, _visitor: Visitor
) -> HTMLResponse:
    try:
        with services.read() as session:
            board = get_board(session, board_id)
            if board.status == "draft":  # a draft is not public: the same answer as no board at all
                raise NotFound(f"no published board {board_id!r}")
            view = board_view(session, board)
            series = monthly_series(session, board_id)
            names = _org_names(session, {view["team"], *(p["bank"] for p in view["products"])})
    except FincreditError as exc:
        return _refused(request, exc)
    return render(
        request,
        "boards/board.html",
        board=view,
        names=names,
        chart=_chart(series),
        series=series,
        regions=NINGBO_REGIONS,
    )


def _chart(series: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Geometry for an inline SVG of the last 24 months: bars of enterprises reached, a line of
    applications and dots of loans granted, all on one count scale."""
    if not series:
        return None
    months = series[-24:]
    peak = max([1] + [max(m["reached"], m["applications"], m["granted"]) for m in months])
    step, left, base, height = 36, 34, 150, 130
    points = []
    for i, m in enumerate(months):
        x = left + i * step
        points.append(
            {
                **m,
                "x": x,
                "cx": x + 16,
                "h_reached": round(height * m["reached"] / peak, 1),
                "y_apps": round(base - height * m["applications"] / peak, 1),
                "y_granted": round(base - height * m["granted"] / peak, 1),
            }
        )
    return {
        "points": points,
        "peak": peak,
        "width": left + max(len(months), 6) * step + 8,
        "base": base,
        "top": base - height,
        "line": " ".join(f"{p['cx']},{p['y_apps']}" for p in points),
    }
