"""Role-based access control with domains (casbin), policies stored in the database.

Requests are (subject, domain, resource, action): the subject is an account id (institution accounts,
linked to roles per organisation domain by ``g`` rules) or the role name itself for borrower accounts
(every borrower has exactly the ``borrower`` role, so a ``g`` rule per borrower would only cost memory).
Default deny: only an explicit ``p`` rule allows anything. Only the platform operator can change rules
(the ``policies:write`` permission is the operator's alone).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable

import casbin
from casbin_sqlalchemy_adapter import Adapter
from sqlalchemy import Engine, and_, select
from sqlalchemy.orm import Session

from fincredit.platform.core.coherence import POLICY, announce
from fincredit.platform.core.db import CasbinRule
from fincredit.platform.core.db.hooks import after_commit
from fincredit.platform.identity.kinds import BORROWER_ROLE
from fincredit.platform.identity.principal import Principal

MODEL_TEXT = """
[request_definition]
r = sub, dom, obj, act

[policy_definition]
p = sub, dom, obj, act

[role_definition]
g = _, _, _

[policy_effect]
e = some(where (p.eft == allow))

[matchers]
m = g(r.sub, p.sub, r.dom) && (p.dom == "*" || r.dom == p.dom) && (p.obj == "*" || r.obj == p.obj) \
&& (p.act == "*" || r.act == p.act)
"""

# (role, resource, action) rules every deployment needs whatever its capabilities: each institution reads
# itself and manages its own keys, supervisors read the audit trail. Capabilities declare their own rows
# (``Capability.policies``); `sync_default_policies` inserts what is missing at every start and
# `fincredit db upgrade`, and never deletes what an operator added.
CORE_POLICIES: list[tuple[str, str, str]] = [
    ("operator", "*", "*"),
    *(
        (role, resource, action)
        for role in ("bank", "provider", "vendor", "board_team", "regulator", "credit_authority")
        for resource, action in (("self", "read"), ("own_keys", "write"))
    ),
    ("regulator", "audit", "read"),
    ("regulator", "organisations", "read"),
    ("credit_authority", "audit", "read"),
    ("credit_authority", "organisations", "read"),
    (BORROWER_ROLE, "self", "read"),
    (BORROWER_ROLE, "own_subject", "read"),
]


# Decisions are cached per (subject, domain, resource, action); the key space is institution accounts
# times permissions (borrowers share one subject), but a bound keeps a pathological caller from growing
# it without limit: past it the cache simply starts over.
_MAX_CACHED_DECISIONS = 100_000


def _model() -> casbin.Model:
    model = casbin.Model()
    model.load_model_from_text(MODEL_TEXT)
    return model


class Authorizer:
    def __init__(self, engine: Engine) -> None:
        self._adapter = Adapter(engine, db_class=CasbinRule, create_all_models=False)
        self._enforcer = casbin.Enforcer(_model(), self._adapter)
        # Writes go through our own session (same transaction as the change they belong to);
        # the in-memory model is updated after commit, never by the adapter.
        self._enforcer.enable_auto_save(False)
        # Serialises changes to the in-memory policy with the cache invalidation that follows them.
        self._lock = threading.Lock()
        # casbin evaluates its matcher for every request (tens of microseconds to milliseconds as the
        # rules grow); the answer only changes when the policy does, and every change below clears this.
        self._decisions: dict[tuple[str, str, str, str], bool] = {}
        # Bumped by every policy change: a decision computed before a change is not cached after it.
        self._generation = 0
        # casbin logs every decision (denials at WARNING); the audit trail already records them.
        for name in ("casbin", "casbin.enforcer", "casbin.policy", "casbin.role"):
            logging.getLogger(name).setLevel(logging.ERROR)

    def reload(self) -> None:
        """Read the whole policy again from the database (another process changed it).

        Into a new enforcer, swapped in whole: casbin's ``load_policy`` clears the shared role manager
        before rebuilding the role links, and a request enforcing in that window was refused (403 for a
        new operator, twice in one evening's suites). The lock is held throughout, so a change this
        process commits meanwhile lands on the new enforcer."""
        with self._lock:
            fresh = casbin.Enforcer(_model(), self._adapter)
            fresh.enable_auto_save(False)
            self._enforcer = fresh
            self._generation += 1
            self._decisions.clear()

    def enforce(self, principal: Principal, resource: str, action: str) -> bool:
        sub = BORROWER_ROLE if principal.account_kind == "borrower" else principal.account_id
        key = (sub, principal.domain, resource, action)
        cached = self._decisions.get(key)
        if cached is not None:
            return cached
        generation = self._generation
        decision = bool(self._enforcer.enforce(*key))
        with self._lock:
            # A policy change finished while we evaluated: our answer may predate it, so don't keep it.
            if generation == self._generation:
                if len(self._decisions) >= _MAX_CACHED_DECISIONS:
                    self._decisions.clear()
                self._decisions[key] = decision
        return decision

    def _change_policy(self, change: Callable[[], object]) -> None:
        """Apply a change to the in-memory policy, then drop every cached decision. The generation is
        bumped after the change, so an evaluation that started before it cannot cache a stale answer."""
        with self._lock:
            change()
            self._generation += 1
            self._decisions.clear()

    def _after_commit_change(self, session: Session, change: Callable[[], object]) -> None:
        # This process applies the change as soon as it commits; every other process (other workers,
        # other instances, the service after a CLI change) reloads when its change watcher sees the epoch.
        announce(session, POLICY)
        after_commit(session, lambda: self._change_policy(change))

    def roles_of(self, account_id: str, domain: str) -> list[str]:
        return list(self._enforcer.get_roles_for_user_in_domain(account_id, domain))

    def assign_role(self, session: Session, account_id: str, role: str, domain: str) -> None:
        exists = session.scalar(
            select(CasbinRule.id).where(
                and_(
                    CasbinRule.ptype == "g",
                    CasbinRule.v0 == account_id,
                    CasbinRule.v1 == role,
                    CasbinRule.v2 == domain,
                )
            )
        )
        if exists is None:
            session.add(CasbinRule(ptype="g", v0=account_id, v1=role, v2=domain))
            self._after_commit_change(
                session, lambda: self._enforcer.add_grouping_policy(account_id, role, domain)
            )

    def remove_role(self, session: Session, account_id: str, role: str, domain: str) -> bool:
        rows = list(
            session.scalars(
                select(CasbinRule).where(
                    and_(
                        CasbinRule.ptype == "g",
                        CasbinRule.v0 == account_id,
                        CasbinRule.v1 == role,
                        CasbinRule.v2 == domain,
                    )
                )
            )
        )
        for row in rows:
            session.delete(row)
        if rows:
            self._after_commit_change(
                session, lambda: self._enforcer.remove_grouping_policy(account_id, role, domain)
            )
        return bool(rows)

    def add_policy(self, session: Session, role: str, domain: str, resource: str, action: str) -> bool:
        exists = session.scalar(
            select(CasbinRule.id).where(
                and_(
                    CasbinRule.ptype == "p",
                    CasbinRule.v0 == role,
                    CasbinRule.v1 == domain,
                    CasbinRule.v2 == resource,
                    CasbinRule.v3 == action,
                )
            )
        )
        if exists is not None:
            return False
        session.add(CasbinRule(ptype="p", v0=role, v1=domain, v2=resource, v3=action))
        self._after_commit_change(session, lambda: self._enforcer.add_policy(role, domain, resource, action))
        return True

    def remove_policy(self, session: Session, role: str, domain: str, resource: str, action: str) -> bool:
        rows = list(
            session.scalars(
                select(CasbinRule).where(
                    and_(
                        CasbinRule.ptype == "p",
                        CasbinRule.v0 == role,
                        CasbinRule.v1 == domain,
                        CasbinRule.v2 == resource,
                        CasbinRule.v3 == action,
                    )
                )
            )
        )
        for row in rows:
            session.delete(row)
        if rows:
            self._after_commit_change(
                session, lambda: self._enforcer.remove_policy(role, domain, resource, action)
            )
        return bool(rows)

    def policies(self) -> list[list[str]]:
        return [list(p) for p in self._enforcer.get_policy()]


def sync_default_policies(session: Session, policies: Iterable[tuple[str, str, str]] | None = None) -> int:
    """Insert the default rules (the core's and every capability's) that are missing; returns how many
    were added."""
    if policies is None:
        from fincredit.platform.core.registry import default_policies

        policies = default_policies()
    have = {
        (r.v0, r.v1, r.v2, r.v3) for r in session.scalars(select(CasbinRule).where(CasbinRule.ptype == "p"))
    }
    added = 0
    for role, resource, action in policies:
        if (role, "*", resource, action) not in have:
            session.add(CasbinRule(ptype="p", v0=role, v1="*", v2=resource, v3=action))
            added += 1
    if added:
        announce(session, POLICY)
    return added
