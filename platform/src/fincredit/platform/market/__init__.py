"""Purchased market data (G§9, G§14, G§16).

Vendors sell datasets to the platform under contracts that name the allowed purposes (the consent
vocabulary), whether derived products may be sold, resale rights, start, expiry and fee. Every use goes
through ``check_market_use`` / ``market_fields_for``: a market field is served only for a purpose a
contract in force allows; an expired or terminated contract stops all use. Uploaded versions are stored
as Parquet with a manifest and SHA-256, each record carrying its provenance. The platform's derived
products record their sources with ``record_derivation``.
"""

from fincredit.platform.market._contracts import (
    CHINA_TZ,
    ContractView,
    DatasetTerms,
    MarketUseDecision,
    check_market_use,
    china_date,
    contract_in_force,
    contracts_for_dataset,
    get_contract,
    list_contracts,
    parse_purposes,
    register_contract,
    terminate_contract,
)
from fincredit.platform.market._datasets import (
    PROVENANCE_COLUMNS,
    RECORD_ID,
    SUBJECT_CODE,
    SUBJECT_INDEX_KEY,
    DatasetVersionView,
    MarketFields,
    UsableDataset,
    datasets_for_purpose,
    latest_version,
    list_versions,
    market_fields_for,
    read_subjects,
    read_version,
    sha256_file,
    upload_dataset_version,
)
from fincredit.platform.market._lineage import (
    ProductView,
    Source,
    SourceKind,
    SourceView,
    may_sell,
    product_lineage,
    record_derivation,
)

__all__ = [
    "CHINA_TZ",
    "PROVENANCE_COLUMNS",
    "RECORD_ID",
    "SUBJECT_CODE",
    "SUBJECT_INDEX_KEY",
    "ContractView",
    "DatasetTerms",
    "DatasetVersionView",
    "MarketFields",
    "MarketUseDecision",
    "ProductView",
    "Source",
    "SourceKind",
    "SourceView",
    "UsableDataset",
    "check_market_use",
    "china_date",
    "contract_in_force",
    "contracts_for_dataset",
    "datasets_for_purpose",
    "get_contract",
    "latest_version",
    "list_contracts",
    "list_versions",
    "market_fields_for",
    "may_sell",
    "parse_purposes",
    "product_lineage",
    "read_subjects",
    "read_version",
    "record_derivation",
    "register_contract",
    "sha256_file",
    "terminate_contract",
    "upload_dataset_version",
]
