"""The subjects of the city: enterprises (with the hidden quality ``z`` that drives everything else) and
persons (residents, among them each enterprise's legal representative), as numpy/Arrow columns."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from fincredit.consent.identifiers import NINGBO_REGIONS
from fincredit.models import _identity as ident
from fincredit.models.synthetic._common import date_array, sigmoid, std, to_days


@dataclass(frozen=True, slots=True)
class Enterprises:
    """One entry per enterprise in every array; ``z ~ N(0, 1)`` is the quality nobody observes."""

    region: np.ndarray
    industry: np.ndarray
    reg_day: np.ndarray
    capital: np.ndarray
    employees: np.ndarray
    z: np.ndarray
    tech: np.ndarray
    exporter: np.ndarray
    ecommerce: np.ndarray
    status: np.ndarray
    uscc: pa.Array
    name: pa.Array
    address: pa.Array
    etype: pa.Array

    @property
    def n(self) -> int:
        return len(self.z)


@dataclass(frozen=True, slots=True)
class Persons:
    """Residents; ``rep[i]`` is the person who represents enterprise ``i``."""

    person_id: pa.Array
    person_name: pa.Array
    person_region: np.ndarray
    person_birth: np.ndarray
    person_female: np.ndarray
    rep: np.ndarray
    person_z: np.ndarray


def draw_enterprises(rng: np.random.Generator, n: int, as_of: dt.date) -> Enterprises:
    """The enterprises component: where and what each firm is, how old and big, and its hidden quality."""
    t = to_days(as_of)
    codes = np.array(list(ident.REGION_WEIGHTS), dtype="U6")
    rw = np.array(list(ident.REGION_WEIGHTS.values()))
    region = codes[rng.choice(len(codes), size=n, p=rw / rw.sum())]
    sections = np.array(list(ident.INDUSTRY_SECTIONS), dtype="U1")
    iw = np.array([w for _, w in ident.INDUSTRY_SECTIONS.values()])
    industry = sections[rng.choice(len(sections), size=n, p=iw / iw.sum())]
    # Ages: many young firms, a long tail back to the early 1990s.
    age_days = np.minimum(rng.exponential(7.5 * 365, size=n), 34 * 365).astype(np.int64) + 30
    reg_day = t - age_days
    log_cap = rng.normal(np.log(200.0), 1.2, size=n)
    capital = np.maximum(np.round(np.exp(log_cap), 0), 1.0)  # 万元
    employees = np.maximum(
        1, np.exp(1.6 + 0.45 * (log_cap - np.log(200.0)) + rng.normal(0, 0.8, size=n))
    ).astype(np.int64)
    z = 0.30 * std(np.log(age_days)) + 0.20 * std(log_cap) + np.sqrt(1 - 0.13) * rng.normal(size=n)
    tech_p = np.select([np.isin(industry, ["I", "M"]), industry == "C"], [0.35, 0.12], 0.02)
    tech = rng.random(n) < tech_p * np.exp(0.3 * z) / np.exp(0.3 * z).mean()
    export_p = np.select([industry == "C", industry == "F", industry == "G"], [0.4, 0.35, 0.2], 0.03)
    exporter = rng.random(n) < export_p
    ecom_p = np.select([industry == "F", industry == "C"], [0.45, 0.2], 0.05)
    ecommerce = rng.random(n) < ecom_p
    big = log_cap > np.log(3000.0)
    suffix_draw = rng.random(n)
    suffix_idx = np.where(big & (suffix_draw < 0.4), 1, np.where(suffix_draw > 0.95, 2, 0))
    suffixes = pa.array(["有限公司", "股份有限公司", "有限责任公司"]).take(pa.array(suffix_idx))
    etype_idx = np.where(suffix_idx == 1, 1, 0)
    etype_idx = np.where(rng.random(n) < 0.03, 4, etype_idx)  # foreign-invested, same suffixes
    status_p = sigmoid(-4.2 - 1.0 * z)
    draw = rng.random(n)
    status = np.where(
        draw < status_p, 2, np.where(draw < 1.6 * status_p, 3, np.where(draw < 1.8 * status_p, 4, 0))
    )
    status = np.where((status == 0) & (rng.random(n) < 0.5), 1, status)
    uscc = ident.uscc_codes(rng, region)
    name = ident.enterprise_names(rng, region, industry, suffixes)
    address = ident.addresses(rng, region)
    etype = pa.array(["有限责任公司", "股份有限公司", "个人独资企业", "合伙企业", "外商投资企业"]).take(
        pa.array(etype_idx)
    )
    return Enterprises(
        region=region,
        industry=industry,
        reg_day=reg_day,
        capital=capital,
        employees=employees,
        z=z,
        tech=tech,
        exporter=exporter,
        ecommerce=ecommerce,
        status=status,
        uscc=uscc,
        name=name,
        address=address,
        etype=etype,
    )


def draw_persons(rng: np.random.Generator, e: Enterprises) -> Persons:
    """The persons component: residents with IDs, among them each enterprise's legal representative."""
    n = e.n
    m = max(1, round(n * 0.95))
    female = rng.random(m) < 0.32
    born = np.datetime64("1955-01-01") + rng.integers(0, 47 * 365, size=m).astype("timedelta64[D]")
    regions = ident.person_regions(rng, m)
    person_id = ident.resident_ids(rng, regions, born, female)
    person_name = ident.person_names(rng, female)
    person_region = regions
    person_birth = born.astype(np.int64)
    person_female = female
    # Legal representatives: mostly one company each, some serial entrepreneurs.
    rep = rng.integers(0, m, size=n)
    # A person's risk follows the worst company they represent (or is their own when they represent none).
    pz = rng.normal(size=m)
    np.minimum.at(pz, rep, e.z)
    person_z = pz
    return Persons(
        person_id=person_id,
        person_name=person_name,
        person_region=person_region,
        person_birth=person_birth,
        person_female=person_female,
        rep=rep,
        person_z=person_z,
    )


def enterprise_table(e: Enterprises, p: Persons, as_of: dt.date) -> pa.Table:
    t = to_days(as_of)
    region_names = pa.array(list(NINGBO_REGIONS.values())).take(pa.array(ident.region_index(e.region)))
    sections = {k: v[0] for k, v in ident.INDUSTRY_SECTIONS.items()}
    rep = pa.array(p.rep)
    return pa.table(
        {
            "uscc": e.uscc,
            "name": e.name,
            "region_code": pa.array(e.region.tolist(), pa.string()),
            "region_name": region_names,
            "industry_code": pa.array(e.industry.tolist(), pa.string()),
            "industry_name": pa.array(list(sections.values())).take(
                pa.array(np.searchsorted(np.array(list(sections)), e.industry))
            ),
            "enterprise_type": e.etype,
            "registration_date": date_array(e.reg_day),
            "years_in_business": pa.array(np.round((t - e.reg_day) / 365.25, 2)),
            "registered_capital": pa.array(e.capital),
            "employees": pa.array(e.employees.astype(np.int32)),
            "status": pa.array(["存续", "在业", "吊销", "注销", "迁出"]).take(pa.array(e.status)),
            "tech_enterprise": pa.array(e.tech),
            "exporter": pa.array(e.exporter),
            "legal_rep_id": p.person_id.take(rep),
            "legal_rep_name": p.person_name.take(rep),
            "address": e.address,
        }
    )


def person_table(p: Persons) -> pa.Table:
    return pa.table(
        {
            "resident_id": p.person_id,
            "name": p.person_name,
            "sex": pa.array(np.where(p.person_female, "F", "M").tolist(), pa.string()),
            "birth_date": date_array(p.person_birth),
            "region_code": pa.array(p.person_region.tolist(), pa.string()),
        }
    )
