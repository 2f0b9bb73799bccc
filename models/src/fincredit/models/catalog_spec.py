"""The default public credit information catalog and market dataset descriptions (R§6, G§7, G§9).

One place defines every catalog item: who provides it, whose records it holds, its fields with their
Arrow types, and the attributes the regulations attach to it (disclosure, sharing, validity). The
synthetic generator writes submissions in exactly these shapes and the platform's catalog loads
``DEFAULT_CATALOG`` as its first version, so the two can never drift apart.

Every submission row also carries the envelope columns in ``ENVELOPE_FIELDS`` (provider record id,
subject id, subject name, report month). Provider files arrive as text (CSV exports, or Parquet with
string columns); ``FieldSpec.arrow_type`` is the type a cleaned value is cast to.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import pyarrow as pa

__all__ = [
    "DEFAULT_CATALOG",
    "DEFAULT_MARKET_DATASETS",
    "DEFAULT_PROVIDERS",
    "DEFAULT_VENDORS",
    "ENVELOPE_FIELDS",
    "NEGATIVE_INFO_VALIDITY_YEARS",
    "CatalogItemSpec",
    "FieldSpec",
    "MarketDatasetSpec",
    "ProviderSpec",
    "VendorSpec",
    "catalog_item",
    "market_dataset",
]

# Credit Reporting Industry Regulations Art. 16: negative information is kept 5 years from the end of
# the act or event.
NEGATIVE_INFO_VALIDITY_YEARS = 5

ArrowTypeName = Literal["string", "date32", "float64", "int32", "int64", "bool"]
SubjectKindName = Literal["legal", "natural"]
Disclosure = Literal["public", "authorized"]
Sharing = Literal["unconditional", "conditional"]

_ARROW_TYPES: dict[str, pa.DataType] = {
    "string": pa.string(),
    "date32": pa.date32(),
    "float64": pa.float64(),
    "int32": pa.int32(),
    "int64": pa.int64(),
    "bool": pa.bool_(),
}


@dataclass(frozen=True, slots=True)
class FieldSpec:
    name: str
    type: ArrowTypeName
    title: str  # the Chinese label a provider's clerk sees on the template
    required: bool = True
    enum: tuple[str, ...] | None = None
    sensitive: bool = False  # encrypted at rest, never published (R§17)

    @property
    def arrow_type(self) -> pa.DataType:
        return _ARROW_TYPES[self.type]


@dataclass(frozen=True, slots=True)
class ProviderSpec:
    id: str
    name: str
    kind: Literal["government", "utility", "court", "customs"]


@dataclass(frozen=True, slots=True)
class CatalogItemSpec:
    code: str
    name: str
    provider_id: str
    subject_kind: SubjectKindName
    fields: tuple[FieldSpec, ...]
    disclosure: Disclosure
    sharing: Sharing
    # Years a record stays in public query, counted from ``validity_from_field`` (or the event date
    # field when that is empty); None = as long as the record is current.
    validity_years: int | None
    event_date_field: str
    validity_from_field: str | None = None
    negative: bool = False
    sensitive: bool = False
    on_sharing_list: bool = True  # G§7: the financing-credit sharing list

    def field(self, name: str) -> FieldSpec:
        for f in (*ENVELOPE_FIELDS, *self.fields):
            if f.name == name:
                return f
        raise KeyError(f"catalog item {self.code} has no field {name!r}")

    @property
    def all_fields(self) -> tuple[FieldSpec, ...]:
        return (*ENVELOPE_FIELDS, *self.fields)

    def arrow_schema(self) -> pa.Schema:
        """The typed schema of a cleaned record (envelope + item fields)."""
        return pa.schema([pa.field(f.name, f.arrow_type, nullable=not f.required) for f in self.all_fields])

    def raw_schema(self) -> pa.Schema:
        """The schema of a provider file as submitted: every column text."""
        return pa.schema([pa.field(f.name, pa.string()) for f in self.all_fields])


@dataclass(frozen=True, slots=True)
class VendorSpec:
    id: str
    name: str
    # Suggested contract terms for the demo contract the platform signs with this vendor (G§9, G§16).
    allowed_purposes: tuple[str, ...]
    derived_products_allowed: bool
    annual_fee_cny: int


@dataclass(frozen=True, slots=True)
class MarketDatasetSpec:
    code: str
    name: str
    vendor_id: str
    fields: tuple[FieldSpec, ...]
    description: str = ""

    def arrow_schema(self) -> pa.Schema:
        return pa.schema(
            [
                pa.field(f.name, f.arrow_type, nullable=not f.required)
                for f in (*MARKET_ENVELOPE, *self.fields)
            ]
        )


ENVELOPE_FIELDS: tuple[FieldSpec, ...] = (
    FieldSpec("provider_record_id", "string", "报送记录编号"),
    FieldSpec("subject_id", "string", "主体标识(统一社会信用代码/身份证号)"),
    FieldSpec("subject_name", "string", "主体名称/姓名"),
    FieldSpec("report_month", "string", "报送月份(YYYY-MM)"),
)

# Per-record provenance for purchased data: which vendor, which dataset, the vendor's own record key
# and when the vendor observed it.
MARKET_ENVELOPE: tuple[FieldSpec, ...] = (
    FieldSpec("record_id", "string", "记录编号"),
    FieldSpec("vendor_id", "string", "供应商编号"),
    FieldSpec("dataset_code", "string", "数据集编号"),
    FieldSpec("source_ref", "string", "来源引用"),
    FieldSpec("collected_at", "date32", "采集日期"),
    FieldSpec("uscc", "string", "统一社会信用代码"),
)

DEFAULT_PROVIDERS: tuple[ProviderSpec, ...] = (
    ProviderSpec("NB-AMR", "宁波市市场监督管理局", "government"),
    ProviderSpec("NB-TAX", "国家税务总局宁波市税务局", "government"),
    ProviderSpec("NB-HRSS", "宁波市人力资源和社会保障局", "government"),
    ProviderSpec("NB-HPF", "宁波市住房公积金管理中心", "government"),
    ProviderSpec("NB-COURT", "宁波市中级人民法院", "court"),
    ProviderSpec("NB-CUSTOMS", "中华人民共和国宁波海关", "customs"),
    ProviderSpec("NB-WATER", "宁波市水务环境集团有限公司", "utility"),
    ProviderSpec("NB-POWER", "国网浙江省电力有限公司宁波供电公司", "utility"),
    ProviderSpec("NB-GAS", "宁波兴光燃气集团有限公司", "utility"),
    ProviderSpec("NB-APPROVAL", "宁波市行政审批管理办公室", "government"),
    ProviderSpec("NB-EIB", "宁波市经济和信息化局", "government"),
)

ENTERPRISE_TYPES = ("有限责任公司", "股份有限公司", "个人独资企业", "合伙企业", "外商投资企业")
REGISTRATION_STATUSES = ("存续", "在业", "吊销", "注销", "迁出")
PENALTY_TYPES = ("警告", "罚款", "没收违法所得", "责令停产停业", "暂扣或吊销许可证")
TAX_RATINGS = ("A", "B", "M", "C", "D")
CASE_TYPES = ("民事", "商事", "行政", "执行")
LITIGATION_ROLES = ("原告", "被告", "第三人")
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


def _utility_arrears(code: str, name: str, provider: str) -> CatalogItemSpec:
    return CatalogItemSpec(
        code=code,
        name=name,
        provider_id=provider,
        subject_kind="legal",
        fields=(
            FieldSpec("account_no", "string", "用户号"),
            FieldSpec("arrears_start", "date32", "欠费起始日期"),
            FieldSpec("arrears_end", "date32", "欠费结清日期", required=False),
            FieldSpec("arrears_amount", "float64", "欠费金额(元)"),
            FieldSpec("months_overdue", "int32", "欠费月数"),
        ),
        disclosure="authorized",
        sharing="conditional",
        validity_years=NEGATIVE_INFO_VALIDITY_YEARS,
        event_date_field="arrears_start",
        validity_from_field="arrears_end",
        negative=True,
    )


DEFAULT_CATALOG: tuple[CatalogItemSpec, ...] = (
    CatalogItemSpec(
        code="market_registration",
        name="市场主体登记信息",
        provider_id="NB-AMR",
        subject_kind="legal",
        fields=(
            FieldSpec("registration_date", "date32", "成立日期"),
            FieldSpec("enterprise_type", "string", "企业类型", enum=ENTERPRISE_TYPES),
            FieldSpec("registered_capital", "float64", "注册资本(万元)"),
            FieldSpec("industry_code", "string", "国民经济行业门类(GB/T 4754)"),
            FieldSpec("region_code", "string", "登记机关行政区划代码"),
            FieldSpec("status", "string", "登记状态", enum=REGISTRATION_STATUSES),
            FieldSpec("employees", "int32", "从业人数(年报)", required=False),
            FieldSpec("legal_rep_name", "string", "法定代表人姓名"),
            FieldSpec("legal_rep_id", "string", "法定代表人身份证号", sensitive=True),
            FieldSpec("address", "string", "住所"),
        ),
        disclosure="public",
        sharing="unconditional",
        validity_years=None,
        event_date_field="registration_date",
    ),
    CatalogItemSpec(
        code="admin_penalty",
        name="行政处罚信息",
        provider_id="NB-AMR",
        subject_kind="legal",
        fields=(
            FieldSpec("decision_no", "string", "处罚决定书文号"),
            FieldSpec("penalty_date", "date32", "处罚决定日期"),
            FieldSpec("penalty_type", "string", "处罚类别", enum=PENALTY_TYPES),
            FieldSpec("fine_amount", "float64", "罚款金额(元)", required=False),
            FieldSpec("violation", "string", "违法行为类型"),
            FieldSpec("authority", "string", "处罚机关"),
            FieldSpec("completed_date", "date32", "履行完毕日期", required=False),
        ),
        disclosure="public",
        sharing="unconditional",
        validity_years=NEGATIVE_INFO_VALIDITY_YEARS,
        event_date_field="penalty_date",
        validity_from_field="completed_date",
        negative=True,
    ),
    CatalogItemSpec(
        code="tax_rating",
        name="纳税信用等级",
        provider_id="NB-TAX",
        subject_kind="legal",
        fields=(
            FieldSpec("rating_year", "int32", "评价年度"),
            FieldSpec("rating", "string", "纳税信用级别", enum=TAX_RATINGS),
            FieldSpec("rated_date", "date32", "评定日期"),
        ),
        # Only A-level ratings are published by the tax bureau; the rest is by authorization.
        disclosure="authorized",
        sharing="conditional",
        validity_years=3,
        event_date_field="rated_date",
    ),
    CatalogItemSpec(
        code="social_insurance_arrears",
        name="社会保险费欠缴信息",
        provider_id="NB-HRSS",
        subject_kind="legal",
        fields=(
            FieldSpec("arrears_start", "date32", "欠缴起始日期"),
            FieldSpec("arrears_end", "date32", "补缴完成日期", required=False),
            FieldSpec("arrears_amount", "float64", "欠缴金额(元)"),
            FieldSpec("months_overdue", "int32", "欠缴月数"),
            FieldSpec("insured_employees", "int32", "参保人数"),
        ),
        disclosure="authorized",
        sharing="conditional",
        validity_years=NEGATIVE_INFO_VALIDITY_YEARS,
        event_date_field="arrears_start",
        validity_from_field="arrears_end",
        negative=True,
        sensitive=True,
    ),
    CatalogItemSpec(
        code="housing_fund_arrears",
        name="住房公积金欠缴信息",
        provider_id="NB-HPF",
        subject_kind="legal",
        fields=(
            FieldSpec("arrears_start", "date32", "欠缴起始日期"),
            FieldSpec("arrears_end", "date32", "补缴完成日期", required=False),
            FieldSpec("arrears_amount", "float64", "欠缴金额(元)"),
            FieldSpec("months_overdue", "int32", "欠缴月数"),
        ),
        disclosure="authorized",
        sharing="conditional",
        validity_years=NEGATIVE_INFO_VALIDITY_YEARS,
        event_date_field="arrears_start",
        validity_from_field="arrears_end",
        negative=True,
        sensitive=True,
    ),
    CatalogItemSpec(
        code="court_judgment",
        name="法院裁判文书信息",
        provider_id="NB-COURT",
        subject_kind="legal",
        fields=(
            FieldSpec("case_no", "string", "案号"),
            FieldSpec("judgment_date", "date32", "裁判日期"),
            FieldSpec("case_type", "string", "案件类型", enum=CASE_TYPES),
            FieldSpec("role", "string", "诉讼地位", enum=LITIGATION_ROLES),
            FieldSpec("claim_amount", "float64", "标的金额(元)", required=False),
            FieldSpec("court", "string", "审理法院"),
        ),
        disclosure="public",
        sharing="unconditional",
        validity_years=NEGATIVE_INFO_VALIDITY_YEARS,
        event_date_field="judgment_date",
        negative=True,
    ),
    CatalogItemSpec(
        code="dishonest_debtor",
        name="失信被执行人信息(单位)",
        provider_id="NB-COURT",
        subject_kind="legal",
        fields=(
            FieldSpec("case_no", "string", "执行案号"),
            FieldSpec("listed_date", "date32", "发布日期"),
            FieldSpec("conduct", "string", "失信行为情形", enum=DISHONEST_CONDUCT),
            FieldSpec("unperformed_amount", "float64", "未履行金额(元)"),
            FieldSpec("removed_date", "date32", "移除日期", required=False),
        ),
        disclosure="public",
        sharing="unconditional",
        validity_years=NEGATIVE_INFO_VALIDITY_YEARS,
        event_date_field="listed_date",
        validity_from_field="removed_date",
        negative=True,
    ),
    CatalogItemSpec(
        code="dishonest_debtor_person",
        name="失信被执行人信息(自然人)",
        provider_id="NB-COURT",
        subject_kind="natural",
        fields=(
            FieldSpec("case_no", "string", "执行案号"),
            FieldSpec("listed_date", "date32", "发布日期"),
            FieldSpec("conduct", "string", "失信行为情形", enum=DISHONEST_CONDUCT),
            FieldSpec("unperformed_amount", "float64", "未履行金额(元)"),
            FieldSpec("removed_date", "date32", "移除日期", required=False),
        ),
        disclosure="public",
        sharing="conditional",
        validity_years=NEGATIVE_INFO_VALIDITY_YEARS,
        event_date_field="listed_date",
        validity_from_field="removed_date",
        negative=True,
        sensitive=True,
    ),
    CatalogItemSpec(
        code="customs_rating",
        name="海关企业信用等级",
        provider_id="NB-CUSTOMS",
        subject_kind="legal",
        fields=(
            FieldSpec("customs_code", "string", "海关注册编码"),
            FieldSpec("rating", "string", "信用等级", enum=CUSTOMS_RATINGS),
            FieldSpec("rated_date", "date32", "认定日期"),
        ),
        disclosure="public",
        sharing="unconditional",
        validity_years=3,
        event_date_field="rated_date",
    ),
    _utility_arrears("water_arrears", "水费欠费信息", "NB-WATER"),
    _utility_arrears("electricity_arrears", "电费欠费信息", "NB-POWER"),
    _utility_arrears("gas_arrears", "燃气费欠费信息", "NB-GAS"),
    CatalogItemSpec(
        code="admin_licence",
        name="行政许可信息",
        provider_id="NB-APPROVAL",
        subject_kind="legal",
        fields=(
            FieldSpec("licence_no", "string", "许可证编号"),
            FieldSpec("licence_type", "string", "许可类别", enum=LICENCE_TYPES),
            FieldSpec("issue_date", "date32", "许可决定日期"),
            FieldSpec("expiry_date", "date32", "有效期至", required=False),
            FieldSpec("authority", "string", "许可机关"),
        ),
        disclosure="public",
        sharing="unconditional",
        validity_years=None,
        event_date_field="issue_date",
    ),
    CatalogItemSpec(
        code="award_honour",
        name="表彰荣誉信息",
        provider_id="NB-EIB",
        subject_kind="legal",
        fields=(
            FieldSpec("honour", "string", "荣誉名称", enum=HONOURS),
            FieldSpec("level", "string", "授予级别", enum=HONOUR_LEVELS),
            FieldSpec("award_date", "date32", "授予日期"),
            FieldSpec("issuer", "string", "授予单位"),
        ),
        disclosure="public",
        sharing="unconditional",
        validity_years=3,
        event_date_field="award_date",
    ),
)

DEFAULT_VENDORS: tuple[VendorSpec, ...] = (
    VendorSpec(
        "V-SCF", "甬链供应链数据服务有限公司", ("credit_assessment", "post_loan_monitoring"), True, 480_000
    ),
    VendorSpec("V-ECOM", "东海电商数据科技有限公司", ("credit_assessment", "marketing"), False, 360_000),
    VendorSpec(
        "V-UTIL", "浙东公用事业数据有限公司", ("credit_assessment", "post_loan_monitoring"), True, 240_000
    ),
    VendorSpec(
        "V-NEWS",
        "甬舆情信息技术有限公司",
        ("credit_assessment", "post_loan_monitoring", "research"),
        True,
        180_000,
    ),
)

DEFAULT_MARKET_DATASETS: tuple[MarketDatasetSpec, ...] = (
    MarketDatasetSpec(
        code="supply_chain_payments",
        name="供应链付款行为",
        vendor_id="V-SCF",
        fields=(
            FieldSpec("period", "string", "统计期(YYYY-MM)"),
            FieldSpec("on_time_ratio", "float64", "按期付款比例"),
            FieldSpec("avg_days_late", "float64", "平均逾期天数"),
            FieldSpec("counterparties", "int32", "交易对手数"),
            FieldSpec("payables_amount", "float64", "应付金额(元)"),
        ),
        description="Monthly payment behaviour towards suppliers, from supply-chain finance platforms.",
    ),
    MarketDatasetSpec(
        code="ecommerce_sales",
        name="电商经营数据",
        vendor_id="V-ECOM",
        fields=(
            FieldSpec("period", "string", "统计期(YYYY-MM)"),
            FieldSpec("gmv", "float64", "成交额(元)"),
            FieldSpec("orders", "int32", "订单数"),
            FieldSpec("return_rate", "float64", "退货率"),
            FieldSpec("gmv_growth_yoy", "float64", "成交额同比增长"),
        ),
        description="Online-store sales of enterprises that sell through e-commerce platforms.",
    ),
    MarketDatasetSpec(
        code="utility_payment_score",
        name="公用事业缴费评分",
        vendor_id="V-UTIL",
        fields=(
            FieldSpec("score", "int32", "缴费评分(300-900)"),
            FieldSpec("score_date", "date32", "评分日期"),
            FieldSpec("consumption_trend", "float64", "用能同比变化"),
        ),
        description="Payment-regularity score and energy-consumption trend from utility billing data.",
    ),
    MarketDatasetSpec(
        code="public_opinion_risk",
        name="舆情风险监测",
        vendor_id="V-NEWS",
        fields=(
            FieldSpec("period", "string", "统计期(YYYY-MM)"),
            FieldSpec("negative_news", "int32", "负面舆情条数"),
            FieldSpec("risk_score", "float64", "舆情风险分(0-100)"),
        ),
        description="Negative news and public-opinion risk score per enterprise.",
    ),
)

_CATALOG_BY_CODE = {item.code: item for item in DEFAULT_CATALOG}
_MARKET_BY_CODE = {ds.code: ds for ds in DEFAULT_MARKET_DATASETS}


def catalog_item(code: str) -> CatalogItemSpec:
    try:
        return _CATALOG_BY_CODE[code]
    except KeyError:
        raise KeyError(f"no catalog item {code!r}; known: {', '.join(_CATALOG_BY_CODE)}") from None


def market_dataset(code: str) -> MarketDatasetSpec:
    try:
        return _MARKET_BY_CODE[code]
    except KeyError:
        raise KeyError(f"no market dataset {code!r}; known: {', '.join(_MARKET_BY_CODE)}") from None
