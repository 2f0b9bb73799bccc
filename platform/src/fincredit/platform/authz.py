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

from .db import CasbinRule
from .db.hooks import after_commit
from .identity.kinds import BORROWER_ROLE
from .identity.principal import Principal

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

# (role, resource, action). Capabilities add their rows here; `sync_default_policies` inserts what is
# missing at every start and `fincredit db upgrade`, and never deletes what an operator added.
DEFAULT_POLICIES: list[tuple[str, str, str]] = [
    ("operator", "*", "*"),
    ("bank", "self", "read"),
    ("bank", "own_keys", "write"),
    ("bank", "subjects", "read"),
    ("provider", "self", "read"),
    ("provider", "own_keys", "write"),
    ("provider", "subjects", "read"),
    ("provider", "subjects", "write"),
    ("vendor", "self", "read"),
    ("vendor", "own_keys", "write"),
    ("board_team", "self", "read"),
    ("board_team", "own_keys", "write"),
    ("regulator", "self", "read"),
    ("regulator", "own_keys", "write"),
    ("regulator", "audit", "read"),
    ("regulator", "organisations", "read"),
    ("credit_authority", "self", "read"),
    ("credit_authority", "own_keys", "write"),
    ("credit_authority", "audit", "read"),
    ("credit_authority", "organisations", "read"),
    ("credit_authority", "subjects", "read"),
    ("credit_authority", "subjects", "reveal"),
    # G§16: the credit authority may receive public credit information without the subject's consent.
    ("credit_authority", "credit_info", "query_without_consent"),
    # Metered market services (G§14): usage, balances and statements of one's own institution.
    ("bank", "billing", "read_own"),
    # Joint modelling and encrypted scoring (G§13): jobs and the frames wire of one's own institution.
    ("bank", "joint_lab", "create"),
    ("bank", "joint_lab", "read"),
    ("bank", "joint_lab", "frames"),
    ("vendor", "billing", "read_own"),
    ("regulator", "billing", "read_all"),
    ("credit_authority", "billing", "read_all"),
    # Market data (G§9, G§16) and objections (R§10).
    ("bank", "market_datasets", "read"),
    ("vendor", "market_datasets", "read"),
    ("vendor", "market_datasets", "upload"),
    ("vendor", "market_contracts", "read"),
    ("provider", "provider_objections", "read"),
    ("provider", "provider_objections", "write"),
    ("regulator", "market_contracts", "read"),
    ("regulator", "market_datasets", "read"),
    ("regulator", "derived_products", "read"),
    ("regulator", "objections", "read"),
    ("credit_authority", "objections", "read"),
    (BORROWER_ROLE, "own_objections", "read"),
    (BORROWER_ROLE, "own_objections", "write"),
    (BORROWER_ROLE, "self", "read"),
    (BORROWER_ROLE, "own_subject", "read"),
    # Consents (issue 3): banks request and hold them; borrowers decide on theirs and see every access;
    # regulators and the credit authority read and export the ledger (checkpoints and proofs are public).
    ("bank", "consents", "request"),
    ("bank", "consents", "read"),
    ("bank", "consents", "check"),
    (BORROWER_ROLE, "own_consents", "read"),
    (BORROWER_ROLE, "own_consents", "write"),
    (BORROWER_ROLE, "own_accesses", "read"),
    ("regulator", "ledger", "read"),
    ("regulator", "ledger", "export"),
    ("credit_authority", "ledger", "read"),
    ("credit_authority", "ledger", "export"),
    # Catalog (R§6, G§7) and provider submissions (R§7, R§8): every institution reads the catalog;
    # providers submit and read their own; supervisors read every provider's compliance.
    ("bank", "catalog", "read"),
    ("provider", "catalog", "read"),
    ("vendor", "catalog", "read"),
    ("board_team", "catalog", "read"),
    ("regulator", "catalog", "read"),
    ("credit_authority", "catalog", "read"),
    ("provider", "submissions", "write"),
    ("provider", "submissions", "read"),
    ("regulator", "submissions", "read"),
    ("regulator", "submissions", "read_all"),
    ("credit_authority", "submissions", "read"),
    ("credit_authority", "submissions", "read_all"),
    # Free public-interest services (G§11, never metered) and government sharing (R§12-15).
    ("bank", "free_query", "query"),
    ("credit_authority", "free_query", "query"),
    ("bank", "free_report", "create"),
    ("credit_authority", "free_report", "create"),
    ("bank", "free_push", "subscribe"),
    ("bank", "free_push", "read"),
    ("bank", "matchmaking", "publish_product"),
    ("bank", "matchmaking", "read_products"),
    ("bank", "matchmaking", "leads"),
    (BORROWER_ROLE, "matchmaking", "publish_need"),
    (BORROWER_ROLE, "matchmaking", "read_products"),
    ("provider", "gov_sharing", "use"),
    ("provider", "gov_sharing", "approve"),
    ("provider", "gov_sharing", "read"),
    ("regulator", "gov_sharing", "read"),
    ("credit_authority", "gov_sharing", "read"),
    # Metered market products (G§14): credit score, premium data, data product trading.
    ("bank", "market_products", "credit_score"),
    ("bank", "market_products", "premium_data"),
    ("bank", "data_products", "browse"),
    ("bank", "data_products", "purchase"),
    ("regulator", "data_products", "browse"),
    # Thematic boards (G§13): teams write their own; banks attach products.
    ("board_team", "boards", "write"),
    ("bank", "boards", "attach_product"),
    # National network reporting (G§12): supervisors watch the outbox; the operator runs it.
    ("regulator", "national", "read"),
    ("credit_authority", "national", "read"),
    # Publication (R§17): departments draft and review (another account approves); supervisors see lateness.
    ("provider", "publications", "draft"),
    ("provider", "publications", "review"),
    ("credit_authority", "publications", "draft"),
    ("credit_authority", "publications", "review"),
    ("credit_authority", "publications", "read_all"),
    ("regulator", "publications", "read_all"),
    # Supervision (G§18-22, R§22): reports, plans, inspections, experts.
    ("regulator", "supervision", "read"),
    ("credit_authority", "supervision", "read"),
    ("credit_authority", "supervision", "inspect"),
    ("credit_authority", "supervision", "experts"),
    ("regulator", "supervision", "inspect"),
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
        self._change_policy(self._enforcer.load_policy)

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


def sync_default_policies(
    session: Session, policies: Iterable[tuple[str, str, str]] = DEFAULT_POLICIES
) -> int:
    """Insert the default rules that are missing; returns how many were added."""
    have = {
        (r.v0, r.v1, r.v2, r.v3) for r in session.scalars(select(CasbinRule).where(CasbinRule.ptype == "p"))
    }
    added = 0
    for role, resource, action in policies:
        if (role, "*", resource, action) not in have:
            session.add(CasbinRule(ptype="p", v0=role, v1="*", v2=resource, v3=action))
            added += 1
    return added
