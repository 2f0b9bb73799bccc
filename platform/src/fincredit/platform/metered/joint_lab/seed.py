"""A small synthetic joint-modelling setting on a live platform, for tests, the notebook and the demo:
enterprises registered with tax-rating records loaded through the real ingestion pipeline, consents of
one bank for joint modelling and encrypted scoring, and the bank's own frame (its loan features and
default labels, plus applicants the platform does not know). The default risk depends on both sides,
so the joint model beats the bank-only one."""

from __future__ import annotations

import csv
import random
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from fincredit.consent.identifiers import generate_uscc
from fincredit.platform.catalog import default_catalog, get_item
from fincredit.platform.core.db import utcnow
from fincredit.platform.core.services import Services
from fincredit.platform.ingestion import ingest_file
from fincredit.platform.metered.billing.tables import Entitlement
from fincredit.platform.subjects import register_subject
from fincredit.platform.testing.seed import grant_consent

__all__ = [
    "BANK_FEATURES",
    "PLATFORM_FEATURES",
    "SCOPES",
    "JointSetting",
    "entitle",
    "model_risk_officer",
    "seed_joint_setting",
]

SCOPES = ("tax_rating",)
PLATFORM_FEATURES = ("tax_rating_latest", "tax_rating_worst_3y")
BANK_FEATURES = ("loan_amount_log", "term_months", "prior_arrears")
_RATING_RISK = {"A": -1.2, "B": -0.4, "M": 0.0, "C": 0.9, "D": 1.8}


@dataclass(frozen=True, slots=True)
class JointSetting:
    bank: pd.DataFrame  # uscc, bank features, default: training applicants
    applicants: pd.DataFrame  # uscc, bank features: to score (some without a scoring consent)
    consenting: list[str]  # joint-modelling consent holders among the bank's rows
    scoring_consenting: list[str]
    unknown: list[str]  # bank rows the platform does not know


@dataclass(frozen=True, slots=True)
class Officer:
    """An account of a bank with its signing key (as the test plugin's ``Institution``)."""

    org_id: str
    account_id: str
    kid: str
    private_pem: str


def model_risk_officer(services: Services, org_id: str) -> Officer:
    """A second account of the bank ``org_id`` (its model-risk officer, who signs models off), with a
    registered key to obtain tokens as the first account does."""
    from fincredit.platform.identity.accounts import (
        create_institution_account,
        generate_key_pair,
        register_key,
    )

    private_pem, public_pem = generate_key_pair()
    with services.tx() as session:
        account = create_institution_account(
            session,
            services.authz,
            org_id=org_id,
            username=f"risk-{uuid.uuid4().hex[:10]}",
            real_name="风险官",
            stated_use="model-risk sign-off of joint models",
        )
        key = register_key(session, account.id, public_pem)
        return Officer(org_id, account.id, key.kid, private_pem)


def entitle(services: Services, org_id: str, products: tuple[str, ...]) -> None:
    with services.tx() as session:
        for product in products:
            if session.get(Entitlement, (org_id, product)) is None:
                session.add(Entitlement(org_id=org_id, product=product, enabled=True, monthly_quota=None))


def seed_joint_setting(
    services: Services,
    bank_org: str,
    *,
    n: int = 600,
    consent_share: float = 0.85,
    scoring_share: float = 0.7,
    unknown: int = 60,
    seed: int | None = None,
) -> JointSetting:
    seed = uuid.uuid4().int % 2**32 if seed is None else seed
    rng = np.random.default_rng(seed)
    # The seed fixes the data; the subjects' codes are new on every call, so two settings seeded alike can
    # live in one database.
    ids = random.Random(uuid.uuid4().int)
    codes = [generate_uscc(ids, "330203") for _ in range(n)]
    names = [f"宁波联合{uuid.uuid4().hex[:6]}有限公司" for _ in range(n)]
    tax_ratings = default_catalog().item("tax_rating").field("rating").enum or ()
    ratings = rng.choice(list(tax_ratings), size=n, p=[0.3, 0.3, 0.15, 0.15, 0.1])
    subject_ids: list[int] = []
    with services.tx() as session:
        for code, name in zip(codes, names, strict=True):
            subject_ids.append(register_subject(session, services.keyring, code, name).id)
    now = utcnow()
    month = f"{now.year:04d}-{now.month:02d}"
    with services.read() as session:
        item = get_item(session, "tax_rating")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "tax_rating.csv"
        with path.open("w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            w.writerow([f.name for f in item.all_fields])
            for code, name, rating in zip(codes, names, ratings, strict=True):
                w.writerow([f"tr-{code}", code, name, month, now.year - 1, rating, f"{now.year - 1}-04-30"])
        ingest_file(
            services, provider_org_id=item.provider_org_id, item_code="tax_rating", month=month, path=path
        )
    consenting = [c for c in codes if rng.random() < consent_share]
    scoring = [c for c in codes if rng.random() < scoring_share]
    sid = dict(zip(codes, subject_ids, strict=True))
    for code in consenting:
        grant_consent(
            services, sid[code], bank_org, purpose="joint_modelling", scopes=SCOPES, modes=("model_training",)
        )
    for code in scoring:
        grant_consent(
            services, sid[code], bank_org, purpose="encrypted_scoring", scopes=SCOPES, modes=("scoring",)
        )
    strangers = [generate_uscc(ids, "330281") for _ in range(unknown)]
    all_codes = codes + strangers
    m = len(all_codes)
    frame = pd.DataFrame(
        {
            "uscc": all_codes,
            "loan_amount_log": rng.normal(13.0, 1.0, m),
            "term_months": rng.choice([12.0, 24.0, 36.0, 60.0], m),
            "prior_arrears": rng.poisson(0.4, m).astype(float),
        }
    )
    risk = np.array([_RATING_RISK[str(r)] for r in ratings] + [0.0] * unknown)
    logit = -1.0 + 0.6 * (frame["prior_arrears"] - 0.4) + 0.3 * (frame["loan_amount_log"] - 13) + 1.3 * risk
    frame["default"] = (rng.random(m) < 1 / (1 + np.exp(-logit))).astype(int)
    applicants = (
        frame.drop(columns=["default"]).sample(frac=0.3, random_state=seed % 1000).reset_index(drop=True)
    )
    return JointSetting(frame, applicants, consenting, scoring, strangers)
