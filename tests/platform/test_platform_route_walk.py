"""Every route passes the authorization gate, or is explicitly public. A route that forgets fails here."""

from __future__ import annotations

import re
from typing import Any

from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts

from fincredit.platform.testing.plugin import csrf_token

# Documentation routes FastAPI adds itself (not APIRoutes, listed for clarity).
FRAMEWORK_ROUTES = {"/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"}


def _markers(dependant: Dependant) -> set[str]:
    found: set[str] = set()
    call: Any = dependant.call
    if getattr(call, "__fincredit_permission__", None):
        found.add("authz")
    if getattr(call, "__fincredit_public__", False):
        found.add("public")
    for sub in dependant.dependencies:
        found |= _markers(sub)
    return found


def api_routes(app) -> list[APIRoute]:  # type: ignore[no-untyped-def]
    """Every APIRoute, including those of included routers (FastAPI keeps those nested)."""
    routes = [ctx.original_route for ctx in iter_route_contexts(app.routes)]
    found = [r for r in routes if isinstance(r, APIRoute)]
    assert len(found) > 10, "the route walk found too few routes: has FastAPI's router layout changed?"
    return found


def test_every_route_is_gated_or_explicitly_public(app) -> None:  # type: ignore[no-untyped-def]
    ungated = []
    both = []
    for route in api_routes(app):
        marks = _markers(route.dependant)
        if not marks:
            ungated.append(f"{sorted(route.methods)} {route.path}")
        if marks == {"authz", "public"}:
            both.append(route.path)
    assert not ungated, f"routes without require(...) or public: {ungated}"
    assert not both, f"routes both public and gated: {both}"


def test_gated_routes_refuse_anonymous_callers_with_problem_json(app, client) -> None:  # type: ignore[no-untyped-def]
    # With the CSRF token a page gives any visitor, so that a form's refusal is the login, not the token.
    client.headers["X-CSRF-Token"] = csrf_token(client)
    checked = 0
    for route in api_routes(app):
        if "public" in _markers(route.dependant):
            continue
        path = re.sub(r"\{[^}]+\}", "x", route.path)
        for method in route.methods:
            r = client.request(method, path, follow_redirects=False)
            if path.startswith("/web/"):  # pages are for people: to the login page, not a 401 document
                assert r.status_code == 303, f"{method} {route.path} answered {r.status_code}"
                assert r.headers["location"].startswith("/web/login")
            else:
                assert r.status_code == 401, f"{method} {route.path} answered {r.status_code}"
                assert r.headers["content-type"] == "application/problem+json"
            checked += 1
    assert checked > 10


def test_framework_docs_are_served(client) -> None:  # type: ignore[no-untyped-def]
    assert client.get("/openapi.json").status_code == 200
    assert client.get("/docs").status_code == 200
    assert set(FRAMEWORK_ROUTES) >= {"/openapi.json", "/docs"}
