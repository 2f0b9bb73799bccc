"""The records component: the public credit records each provider holds about the city's subjects, one
clean typed table per catalog item. Negative events (penalties, arrears, judgments, dishonest-debtor
listings) happen more often to enterprises of low hidden quality ``z``; honours and good ratings to those
of high ``z``.

The records are written in the shapes of the catalog the generator is given; the items and the values
drawn below are what the simulated Ningbo providers submit. A catalog that lacks one of these items or
fields, or whose enumeration does not allow a value drawn here, is refused with a
:class:`SyntheticDataError` naming it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from fincredit.consent.identifiers import NINGBO_REGIONS
from fincredit.models import _identity as ident
from fincredit.models.catalog_spec import CatalogItemSpec, CatalogSpec
from fincredit.models.errors import SyntheticDataError
from fincredit.models.synthetic._common import PLATFORM_START, date_array, month_strings, sigmoid, to_days
from fincredit.models.synthetic._subjects import Enterprises, Persons

# The values the simulated providers write into enumerated fields. The draws below give each position a
# meaning (fines go with 罚款 and 没收违法所得, the first three honours with high-tech firms), so the
# lists are the simulation's own, checked against the catalog's enumerations rather than read from them.
PENALTY_TYPES = ("警告", "罚款", "没收违法所得", "责令停产停业", "暂扣或吊销许可证")
CASE_TYPES = ("民事", "商事", "行政", "执行")
DISHONEST_CONDUCT = (
    "有履行能力而拒不履行",
    "以伪造证据等方法妨碍执行",
    "违反财产报告制度",
    "违反限制消费令",
)
CUSTOMS_RATINGS = ("高级认证企业", "一般认证企业", "一般信用企业", "失信企业")
LICENCE_TYPES = (
    "食品经营许可证",
    "安全生产许可证",
    "排污许可证",
    "建筑业企业资质",
    "危险化学品经营许可证",
    "道路运输经营许可证",
    "医疗器械经营许可证",
)
HONOURS = (
    "高新技术企业",
    "专精特新中小企业",
    "科技型中小企业",
    "守合同重信用企业",
    "纳税信用A级纳税人",
    "制造业单项冠军企业",
)
HONOUR_LEVELS = ("国家级", "省级", "市级", "区县级")


def draw_records(
    rng: np.random.Generator, e: Enterprises, p: Persons, as_of: dt.date, catalog: CatalogSpec
) -> dict[str, pa.Table]:
    """Every simulated catalog item's clean records about the city, keyed by item code."""
    return _Records(rng, e, p, as_of, catalog).draw()


def conform(item: CatalogItemSpec, data: Mapping[str, Any]) -> pa.Table:
    """``data`` as a table of ``item``'s schema; fields that differ, or an enumerated value the item does
    not allow, are errors."""
    schema = item.arrow_schema()
    unwritten, undeclared = set(schema.names) - set(data), set(data) - set(schema.names)
    if unwritten or undeclared:
        raise SyntheticDataError(
            f"catalog item {item.code}: its fields are not those the generator writes"
            f" (declared, not written: {sorted(unwritten)}; written, not declared: {sorted(undeclared)})"
        )
    table = pa.table(dict(data), schema=schema)
    for f in item.all_fields:
        if f.enum is not None:
            drawn = pc.unique(table.column(f.name).drop_null()).to_pylist()
            bad = sorted(set(drawn) - set(f.enum))
            if bad:
                raise SyntheticDataError(
                    f"catalog item {item.code}, field {f.name}: its enumeration does not allow {bad}"
                )
    return table


class _Records:
    def __init__(
        self, rng: np.random.Generator, e: Enterprises, p: Persons, as_of: dt.date, catalog: CatalogSpec
    ) -> None:
        self.rng, self.e, self.p = rng, e, p
        self.catalog = catalog
        self.as_of = as_of
        self.t = to_days(as_of)

    def _events(self, rate: np.ndarray) -> np.ndarray:
        return np.repeat(np.arange(len(rate)), self.rng.poisson(rate))

    def _recent(self, size: int, years: float, floor: np.ndarray | None = None) -> np.ndarray:
        rng = self.rng
        day = self.t - rng.integers(0, int(years * 365), size=size)
        return day if floor is None else np.maximum(day, floor)

    def _envelope(
        self, item: CatalogItemSpec, idx: np.ndarray, event_day: np.ndarray, natural: bool = False
    ) -> dict[str, pa.Array]:
        provider = item.provider_id
        seq = pc.utf8_lpad(pc.cast(pa.array(np.arange(len(idx))), pa.string()), 9, "0")
        record_ids = pc.binary_join_element_wise(f"{provider}-{item.code}-", seq, "")
        months = np.maximum(event_day.astype("datetime64[D]").astype("datetime64[M]") + 1, PLATFORM_START)
        months = np.minimum(months, np.datetime64(self.as_of, "M"))
        take = pa.array(idx)
        ids = self.p.person_id if natural else self.e.uscc
        names = self.p.person_name if natural else self.e.name
        return {
            "provider_record_id": record_ids,
            "subject_id": ids.take(take),
            "subject_name": names.take(take),
            "report_month": month_strings(months.astype("datetime64[D]").astype(np.int64))
            if len(idx)
            else pa.array([], pa.string()),
        }

    def _table(
        self,
        code: str,
        idx: np.ndarray,
        event_day: np.ndarray,
        cols: Mapping[str, Any],
        natural: bool = False,
    ) -> pa.Table:
        try:
            item = self.catalog.item(code)
        except KeyError:
            raise SyntheticDataError(
                f"the catalog has no item {code!r}, which the synthetic city simulates"
            ) from None
        data = self._envelope(item, idx, event_day, natural)
        data.update(cols)
        return conform(item, data)

    def _choice(
        self, pool: tuple[str, ...], size: int, p: list[float] | np.ndarray | None = None
    ) -> pa.Array:
        rng = self.rng
        probs = None if p is None else np.asarray(p, dtype=float) / np.sum(p)
        return pa.array(pool, pa.string()).take(pa.array(rng.choice(len(pool), size=size, p=probs)))

    def draw(self) -> dict[str, pa.Table]:
        rng, n, t, z = self.rng, self.e.n, self.t, self.e.z
        out: dict[str, pa.Table] = {}
        risk = np.exp(-z)  # multiplier on negative-event rates; about 1 on average, 3x for z = -1.1

        idx = np.arange(n)
        rep = pa.array(self.p.rep)
        out["market_registration"] = self._table(
            "market_registration",
            idx,
            self.e.reg_day,
            {
                "registration_date": date_array(self.e.reg_day),
                "enterprise_type": self.e.etype,
                "registered_capital": pa.array(self.e.capital),
                "industry_code": pa.array(self.e.industry.tolist(), pa.string()),
                "region_code": pa.array(self.e.region.tolist(), pa.string()),
                "status": pa.array(["存续", "在业", "吊销", "注销", "迁出"]).take(pa.array(self.e.status)),
                "employees": pa.array(self.e.employees.astype(np.int32)),
                "legal_rep_name": self.p.person_name.take(rep),
                "legal_rep_id": self.p.person_id.take(rep),
                "address": self.e.address,
            },
        )

        idx = self._events(0.10 * risk**0.8)
        day = self._recent(len(idx), 5, self.e.reg_day[idx])
        ptype = rng.choice(len(PENALTY_TYPES), size=len(idx), p=[0.30, 0.55, 0.08, 0.05, 0.02])
        fine = np.where(np.isin(ptype, [1, 2]), np.round(np.exp(rng.normal(8.5, 1.3, len(idx))), -2), np.nan)
        done = day + rng.integers(10, 150, size=len(idx))
        done_valid = (done <= t) & (rng.random(len(idx)) < 0.92)
        districts = pa.array(list(NINGBO_REGIONS.values())).take(
            pa.array(ident.region_index(self.e.region[idx]))
        )
        violations = (
            "虚假宣传",
            "产品质量不合格",
            "未按规定公示年度报告",
            "无照经营",
            "价格违法",
            "食品安全违法",
            "商标侵权",
            "未依法取得许可从事经营",
            "计量违法",
        )
        out["admin_penalty"] = self._table(
            "admin_penalty",
            idx,
            day,
            {
                "decision_no": pc.binary_join_element_wise(
                    "甬市监罚〔",
                    pc.cast(
                        pa.array(day.astype("datetime64[D]").astype("datetime64[Y]").astype(int) + 1970),
                        pa.string(),
                    ),
                    "〕",
                    pc.cast(pa.array(rng.integers(1, 9999, size=len(idx))), pa.string()),
                    "号",
                    "",
                ),
                "penalty_date": date_array(day),
                "penalty_type": pa.array(PENALTY_TYPES).take(pa.array(ptype)),
                "fine_amount": pa.array(fine, from_pandas=True),
                "violation": self._choice(violations, len(idx)),
                "authority": pc.binary_join_element_wise("宁波市", districts, "市场监督管理局", ""),
                "completed_date": date_array(done, done_valid),
            },
        )

        # Tax credit ratings are issued each April for the previous year, to firms in business then.
        years = [self.as_of.year - k for k in (3, 2, 1)]
        parts_idx, parts_year = [], []
        for year in years:
            alive = self.e.reg_day < to_days(dt.date(year, 1, 1))
            parts_idx.append(np.flatnonzero(alive))
            parts_year.append(np.full(int(alive.sum()), year))
        idx = np.concatenate(parts_idx)
        year_arr = np.concatenate(parts_year)
        rated = np.array([to_days(dt.date(y + 1, 4, 15)) for y in years])[year_arr - years[0]]
        quality = z[idx] + rng.normal(0, 0.6, size=len(idx))
        # Thresholds put about 25% at A, 45% B, 18% M, 7% C, 5% D; firms under a year old get M.
        grade = np.searchsorted(np.array([-1.65, -1.2, -0.35, 0.65]), quality)  # 0=D .. 4=A
        young = (rated - self.e.reg_day[idx]) < 2 * 365
        grade = np.where(young & (grade >= 3), 2, grade)
        rating = np.array(["D", "C", "M", "B", "A"])[grade]
        rated = np.minimum(rated, t)
        out["tax_rating"] = self._table(
            "tax_rating",
            idx,
            rated,
            {
                "rating_year": pa.array(year_arr.astype(np.int32)),
                "rating": pa.array(rating.tolist(), pa.string()),
                "rated_date": date_array(rated),
            },
        )

        for code, rate, per_month in (
            ("social_insurance_arrears", 0.05, 1100.0),
            ("housing_fund_arrears", 0.035, 600.0),
        ):
            idx = self._events(rate * risk**1.1)
            start = self._recent(len(idx), 4, self.e.reg_day[idx])
            months = rng.integers(1, 13, size=len(idx))
            end = start + months * 30 + rng.integers(0, 60, size=len(idx))
            end_valid = (end <= t) & (rng.random(len(idx)) < 0.85 + 0.1 * np.tanh(z[idx]))
            cols: dict[str, Any] = {
                "arrears_start": date_array(start),
                "arrears_end": date_array(end, end_valid),
                "arrears_amount": pa.array(
                    np.round(self.e.employees[idx] * months * per_month * rng.uniform(0.6, 1.2, len(idx)), 2)
                ),
                "months_overdue": pa.array(months.astype(np.int32)),
            }
            if code == "social_insurance_arrears":
                cols["insured_employees"] = pa.array(self.e.employees[idx].astype(np.int32))
            out[code] = self._table(code, idx, start, cols)

        idx = self._events(0.15 * risk**0.6)
        day = self._recent(len(idx), 5, self.e.reg_day[idx])
        defendant_p = sigmoid(0.2 - 0.9 * z[idx])
        role = np.where(rng.random(len(idx)) < defendant_p, 1, np.where(rng.random(len(idx)) < 0.9, 0, 2))
        ctype = rng.choice(len(CASE_TYPES), size=len(idx), p=[0.45, 0.35, 0.05, 0.15])
        court_codes = np.array(
            ["0203", "0205", "0206", "0211", "0212", "0213", "0225", "0226", "0281", "0282"]
        )
        court_code = court_codes[ident.region_index(self.e.region[idx])]
        letter = np.array(["民初", "民初", "行初", "执"])[ctype]
        case_year = day.astype("datetime64[D]").astype("datetime64[Y]").astype(int) + 1970
        case_no = np.char.add(
            np.char.add(np.char.add(np.char.add("(", case_year.astype(str)), ")浙"), court_code),
            np.char.add(np.char.add(letter, rng.integers(1, 20000, size=len(idx)).astype(str)), "号"),
        )
        court_names = pa.array(list(NINGBO_REGIONS.values())).take(
            pa.array(ident.region_index(self.e.region[idx]))
        )
        out["court_judgment"] = self._table(
            "court_judgment",
            idx,
            day,
            {
                "case_no": pa.array(case_no.tolist(), pa.string()),
                "judgment_date": date_array(day),
                "case_type": pa.array(CASE_TYPES).take(pa.array(ctype)),
                "role": pa.array(["原告", "被告", "第三人"]).take(pa.array(role)),
                "claim_amount": pa.array(np.round(np.exp(rng.normal(11.0, 1.4, len(idx))), 2)),
                "court": pc.binary_join_element_wise("宁波市", court_names, "人民法院", ""),
            },
        )

        for code, subj_z, rate, natural in (
            ("dishonest_debtor", z, 0.012, False),
            ("dishonest_debtor_person", self.p.person_z, 0.008, True),
        ):
            idx = self._events(rate * np.exp(-1.5 * subj_z))
            floor = None if natural else self.e.reg_day[idx]
            listed = self._recent(len(idx), 4, floor)
            removed = listed + rng.integers(60, 900, size=len(idx))
            removed_valid = (removed <= t) & (rng.random(len(idx)) < 0.6)
            case_year = listed.astype("datetime64[D]").astype("datetime64[Y]").astype(int) + 1970
            case = np.char.add(
                np.char.add(np.char.add("(", case_year.astype(str)), ")浙02执"),
                np.char.add(rng.integers(1, 9000, size=len(idx)).astype(str), "号"),
            )
            out[code] = self._table(
                code,
                idx,
                listed,
                {
                    "case_no": pa.array(case.tolist(), pa.string()),
                    "listed_date": date_array(listed),
                    "conduct": self._choice(DISHONEST_CONDUCT, len(idx), [0.7, 0.05, 0.15, 0.1]),
                    "unperformed_amount": pa.array(np.round(np.exp(rng.normal(11.5, 1.3, len(idx))), 2)),
                    "removed_date": date_array(removed, removed_valid),
                },
                natural=natural,
            )

        idx = np.flatnonzero(self.e.exporter)
        q = z[idx] + rng.normal(0, 0.5, size=len(idx))
        grade = np.searchsorted(np.array([-2.0, 1.1, 1.6]), q)  # 0=失信 .. 3=高级认证
        rated = self._recent(len(idx), 3, self.e.reg_day[idx])
        out["customs_rating"] = self._table(
            "customs_rating",
            idx,
            rated,
            {
                "customs_code": pc.utf8_slice_codeunits(self.e.uscc.take(pa.array(idx)), 8, 18),
                "rating": pa.array(list(reversed(CUSTOMS_RATINGS))).take(pa.array(grade)),
                "rated_date": date_array(rated),
            },
        )

        for code, rate, monthly in (
            ("water_arrears", 0.04, 800.0),
            ("electricity_arrears", 0.05, 6000.0),
            ("gas_arrears", 0.02, 1500.0),
        ):
            idx = self._events(rate * risk)
            start = self._recent(len(idx), 3, self.e.reg_day[idx])
            months = rng.integers(1, 7, size=len(idx))
            end = start + months * 30 + rng.integers(0, 30, size=len(idx))
            end_valid = (end <= t) & (rng.random(len(idx)) < 0.9)
            out[code] = self._table(
                code,
                idx,
                start,
                {
                    "account_no": pc.utf8_lpad(
                        pc.cast(pa.array(rng.integers(0, 10**10, size=len(idx))), pa.string()), 10, "0"
                    ),
                    "arrears_start": date_array(start),
                    "arrears_end": date_array(end, end_valid),
                    "arrears_amount": pa.array(
                        np.round(monthly * months * np.exp(rng.normal(0, 0.8, len(idx))), 2)
                    ),
                    "months_overdue": pa.array(months.astype(np.int32)),
                },
            )

        licence_rate = np.select(
            [np.isin(self.e.industry, ["H", "E", "G"]), np.isin(self.e.industry, ["C", "Q"])],
            [0.9, 0.5],
            0.15,
        )
        idx = self._events(licence_rate)
        issued = self._recent(len(idx), 8, self.e.reg_day[idx])
        ltype = rng.choice(len(LICENCE_TYPES), size=len(idx))
        out["admin_licence"] = self._table(
            "admin_licence",
            idx,
            issued,
            {
                "licence_no": pc.binary_join_element_wise(
                    "JY",
                    pc.utf8_lpad(
                        pc.cast(pa.array(rng.integers(0, 10**12, size=len(idx))), pa.string()), 14, "3"
                    ),
                    "",
                ),
                "licence_type": pa.array(LICENCE_TYPES).take(pa.array(ltype)),
                "issue_date": date_array(issued),
                "expiry_date": date_array(issued + 5 * 365),
                "authority": pc.binary_join_element_wise(
                    "宁波市",
                    pa.array(list(NINGBO_REGIONS.values())).take(
                        pa.array(ident.region_index(self.e.region[idx]))
                    ),
                    "行政审批管理办公室",
                    "",
                ),
            },
        )

        honour_rate = 0.03 * np.exp(0.6 * z) + 0.6 * self.e.tech
        idx = self._events(honour_rate)
        day = self._recent(len(idx), 5, self.e.reg_day[idx])
        tech_row = self.e.tech[idx]
        honour = np.where(
            tech_row & (rng.random(len(idx)) < 0.6),
            rng.choice([0, 1, 2], size=len(idx), p=[0.5, 0.25, 0.25]),
            rng.choice(len(HONOURS), size=len(idx), p=[0.05, 0.1, 0.1, 0.45, 0.27, 0.03]),
        )
        level = rng.choice(len(HONOUR_LEVELS), size=len(idx), p=[0.1, 0.3, 0.35, 0.25])
        issuer = np.array(
            ["工业和信息化部", "浙江省经济和信息化厅", "宁波市经济和信息化局", "区县经济和信息化局"]
        )[level]
        out["award_honour"] = self._table(
            "award_honour",
            idx,
            day,
            {
                "honour": pa.array(HONOURS).take(pa.array(honour)),
                "level": pa.array(HONOUR_LEVELS).take(pa.array(level)),
                "award_date": date_array(day),
                "issuer": pa.array(issuer.tolist(), pa.string()),
            },
        )
        return out
