"""The platform's enterprise credit score as a metered product (G§14): the LightGBM model of
``fincredit.models.credit_score`` registered in MLflow under ``var_dir/mlflow``, served with its
version. Each enterprise is scored only under its consent (one ledgered disclosure per enterprise), and
the call is billed per enterprise scored, in the same transaction."""

from __future__ import annotations

import datetime as dt
import threading
import time
import uuid
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from fincredit.platform.consents import authorize_access, check_access
from fincredit.platform.core.db import Subject
from fincredit.platform.core.errors import ConsentRefused, InvalidInput, NotFound
from fincredit.platform.core.services import Services
from fincredit.platform.free import item_scope
from fincredit.platform.identity.principal import Principal
from fincredit.platform.metered.billing import Usage, ensure_allowed, record_usage
from fincredit.platform.metered.products._features import CATALOG_ITEMS, MARKET_DATASETS, feature_frame
from fincredit.platform.metered.products.errors import ScoreModelUnavailable
from fincredit.platform.metered.products.tables import CreditScoreResult
from fincredit.platform.subjects import find_subject

PRODUCT = "market.credit_score"
SCOPES: tuple[str, ...] = tuple(item_scope(c) for c in CATALOG_ITEMS)
ROUTE = "/api/v1/market-products/credit-score"
_lock = threading.Lock()
_cache: dict[Path, tuple[float, Any]] = {}
_TTL_SECONDS = 60.0


def _tracking(var_dir: Path) -> Any:
    from fincredit.models.tracking import Tracking

    return Tracking(var_dir / "mlflow")


def train_and_register(var_dir: Path, *, enterprises: int = 2000, seed: int = 7) -> int:
    """Train the score on a synthetic city (public + market features only) and register it as the
    ``production`` version; returns the version number."""
    from fincredit.models.credit_score import register_enterprise_score, train_enterprise_score
    from fincredit.models.synthetic import generate_city
    from fincredit.platform.catalog import default_catalog

    city = generate_city(enterprises, seed=seed, catalog=default_catalog(), submissions=False)
    trained = train_enterprise_score(
        city.features(), city.loans.to_pandas(), params={"n_estimators": 60}, as_of=city.as_of
    )
    record = register_enterprise_score(_tracking(var_dir), trained)
    with _lock:
        _cache.pop(var_dir, None)
    if record.version is None:
        raise RuntimeError("MLflow registered the enterprise score without a version")
    return int(record.version)


def score_model(var_dir: Path) -> Any:
    """The ``production`` model. Loading from MLflow is slow, so a loaded model is kept for
    ``_TTL_SECONDS``; a newly registered version is served at the latest after that (or at once after
    :func:`train_and_register` in this process)."""
    from fincredit.models.credit_score import load_enterprise_score
    from fincredit.models.errors import ModelNotFoundError

    with _lock:
        cached = _cache.get(var_dir)
        if cached is not None and time.monotonic() - cached[0] < _TTL_SECONDS:
            return cached[1]
        try:
            model = load_enterprise_score(_tracking(var_dir))
        except ModelNotFoundError:
            raise ScoreModelUnavailable(
                "no enterprise credit score is registered; run `fincredit products train-score`"
            ) from None
        _cache[var_dir] = (time.monotonic(), model)
        return model


@dataclass(frozen=True, slots=True)
class ScoreCall:
    model_version: int
    scored: list[dict[str, Any]]
    refused: list[dict[str, Any]]
    billed: int
    usage_event_id: str
    market_datasets: list[tuple[str, int]]


def _code(services: Services, subject: Subject) -> str:
    return services.keyring.decrypt(subject.code_enc, context=f"subject:{subject.kind}")


def score_enterprises(
    session: Session,
    services: Services,
    principal: Principal,
    identifiers: list[str],
    *,
    purpose: str = "loan_application_assessment",
    idempotency_key: str | None = None,
    at: dt.datetime | None = None,
) -> ScoreCall:
    """Score ``identifiers`` for ``principal``'s institution. Refused before any work when the quota or
    credit limit would be passed; enterprises whose consent does not allow it are refused and not billed."""
    if principal.org_id is None:
        raise InvalidInput("only an institution buys credit scores")
    if not identifiers or len(identifiers) > 500:
        raise InvalidInput("score between 1 and 500 enterprises per call")
    ensure_allowed(session, principal.org_id, PRODUCT, len(identifiers), at=at)
    model = score_model(services.settings.var_dir)
    subjects: list[Subject] = []
    refused: list[dict[str, Any]] = []
    for ident in dict.fromkeys(identifiers):
        try:
            subject = find_subject(session, services.keyring, ident)
        except NotFound:
            refused.append({"identifier": ident, "reason": "unknown-subject"})
            continue
        if subject.kind != "legal":
            refused.append({"identifier": ident, "reason": "not-an-enterprise"})
            continue
        decision = check_access(
            session,
            services,
            principal=principal,
            subject=subject,
            scopes=SCOPES,
            purpose=purpose,
            mode="query",
        )
        if not decision.allowed:
            refused.append({"identifier": ident, "reason": str(getattr(decision, "reason", "refused"))})
            continue
        subjects.append(subject)
    pairs = [(s.id, _code(services, s)) for s in subjects]
    scored: list[dict[str, Any]] = []
    used: list[tuple[str, int]] = []
    usage_id = idempotency_key or uuid.uuid4().hex
    if pairs:
        frame, used = feature_frame(
            session, services, pairs, purpose=purpose, market_datasets=MARKET_DATASETS
        )
        result = model.score(frame)
        for subject, (_, code) in zip(subjects, pairs, strict=True):
            row = result.loc[code]
            entry = {
                "identifier": code,
                "score": int(row["score"]),
                "grade": str(row["grade"]),
                "pd": round(float(row["pd"]), 6),
                "model_version": model.version,
            }
            try:
                allowed = authorize_access(
                    session,
                    services,
                    principal=principal,
                    subject=subject,
                    scopes=SCOPES,
                    purpose=purpose,
                    mode="query",
                    route=ROUTE,
                )
            except ConsentRefused as exc:
                refused.append({"identifier": code, "reason": str(exc)})
                continue
            session.add(
                CreditScoreResult(
                    org_id=principal.org_id,
                    account_id=principal.account_id,
                    subject_id=subject.id,
                    purpose=purpose,
                    model_name="enterprise-credit-score",
                    model_version=model.version,
                    score=entry["score"],
                    grade=entry["grade"],
                    pd=entry["pd"],
                    ledger_seq=allowed.ledger_seq,
                    usage_event_id=usage_id,
                )
            )
            scored.append(entry)
    if scored:
        record_usage(
            session,
            Usage(
                product=PRODUCT,
                org_id=principal.org_id,
                quantity=Decimal(len(scored)),
                id=usage_id,
                source="fincredit.platform/market-products",
                data={"model_version": model.version, "enterprises": len(scored)},
                **({"time": at} if at else {}),
            ),
        )
    session.flush()
    return ScoreCall(model.version, scored, refused, len(scored), usage_id, used)
