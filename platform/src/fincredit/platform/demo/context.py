"""What the demo story's steps share: the running service, an HTTP client, the actors and what earlier
steps found."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from fincredit.platform.core.services import Services
from fincredit.platform.identity.tokens import CLIENT_ASSERTION_TYPE, make_client_assertion


@dataclass
class Actor:
    org_id: str
    account_id: str
    kid: str
    private_pem: str
    token: str = ""


@dataclass
class DemoContext:
    services: Services
    http: httpx.Client
    base_url: str
    actors: dict[str, Actor] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)
    rng: random.Random = field(default_factory=lambda: random.Random(20261122))

    def token_for(self, name: str) -> str:
        actor = self.actors[name]
        assertion = make_client_assertion(
            actor.private_pem, actor.account_id, actor.kid, self.base_url + "/oauth2/token"
        )
        r = self.http.post(
            "/oauth2/token",
            data={
                "grant_type": "client_credentials",
                "client_assertion_type": CLIENT_ASSERTION_TYPE,
                "client_assertion": assertion,
            },
        )
        r.raise_for_status()
        actor.token = r.json()["access_token"]
        return actor.token

    def as_(self, name: str) -> dict[str, str]:
        actor = self.actors[name]
        return {"Authorization": f"Bearer {actor.token or self.token_for(name)}"}


Step = Callable[[DemoContext], str]
