"""The SBA loan CSV: money strings, label, leak columns, issue 7's vertical split, the fixed split."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pandas as pd
import pytest

from fincredit.models import DatasetNotInstalledError, sba
from fincredit.models.training import compare_bank_vs_joint

FIXTURE = Path(__file__).parent / "fixtures" / "sba_sample.csv"


@pytest.fixture(scope="module")
def loans() -> pd.DataFrame:
    return sba.load_sba(FIXTURE)


def test_parser_cleans_money_labels_charge_offs_and_drops_rows_without_status(loans) -> None:
    raw = pd.read_csv(FIXTURE, dtype=str)
    assert len(loans) == raw["MIS_Status"].notna().sum()  # the one row with no status is gone
    first = loans.iloc[0]
    assert first["LoanNr_ChkDgt"] == "1000014003"
    assert first["DisbursementGross"] == 60000.0 and first["SBA_Appv"] == 48000.0
    chgoff = raw.dropna(subset=["MIS_Status"])["MIS_Status"].eq("CHGOFF").to_numpy()
    assert loans[sba.LABEL].tolist() == chgoff.astype(int).tolist()
    assert set(loans[sba.LABEL].unique()) == {0, 1}


def test_label_leaks_are_dropped(loans) -> None:
    assert not set(sba.LEAK_COLUMNS) & set(loans.columns)


def test_odd_codes_are_normalised(loans) -> None:
    assert set(loans["RevLineCr"].astype(str)) <= {"Y", "N", "other"}
    assert "other" in set(loans["RevLineCr"].astype(str))  # the file's "0"/"T" values
    fy = loans.set_index("LoanNr_ChkDgt")["ApprovalFY"]
    assert fy["7268591001"] == 1976.0  # "1976A" in the file
    assert loans.loc[loans["NAICS"] == "0", "NAICS_sector"].astype(str).eq("0").all()
    assert set(loans["FranchiseCode"].unique()) <= {0, 1}


def test_vertical_split_follows_issue_7(loans) -> None:
    bank, platform = sba.vertical_split(loans)
    assert list(bank.columns) == [sba.ID_COLUMN, *sba.BANK_COLUMNS, sba.LABEL]
    assert list(platform.columns) == [sba.ID_COLUMN, *sba.PLATFORM_COLUMNS]
    assert sba.LABEL not in platform.columns
    assert bank[sba.ID_COLUMN].tolist() == platform[sba.ID_COLUMN].tolist()


def test_fixed_split_is_reproducible_and_independent_of_row_order(loans) -> None:
    big = pd.concat([loans.assign(**{sba.ID_COLUMN: loans[sba.ID_COLUMN] + f"{i:03d}"}) for i in range(400)])
    train, test = sba.train_test_split_fixed(big)
    assert len(test) / len(big) == pytest.approx(0.2, abs=0.02)
    shuffled = big.sample(frac=1.0, random_state=1)
    _, test2 = sba.train_test_split_fixed(shuffled)
    assert set(test[sba.ID_COLUMN]) == set(test2[sba.ID_COLUMN])
    assert not set(train[sba.ID_COLUMN]) & set(test[sba.ID_COLUMN])
    assert len(sba.sample(big, 100, seed=3)) == 100
    assert sba.sample(big, 100, seed=3).equals(sba.sample(big, 100, seed=3))


def test_missing_package_gives_an_error_that_says_how_to_install_it(monkeypatch) -> None:
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(DatasetNotInstalledError, match="make bench"):
        sba.sba_csv_path()


@pytest.mark.skipif(importlib.util.find_spec("gbc_model") is None, reason="bench-only package not installed")
def test_installed_dataset_parses_and_platform_columns_add_signal() -> None:
    df = sba.load_sba(nrows=20_000)
    assert len(df) > 19_000
    assert 0.05 < df[sba.LABEL].mean() < 0.4
    train, test = sba.train_test_split_fixed(df)
    r = compare_bank_vs_joint(
        train, test, label=sba.LABEL, bank_features=sba.BANK_COLUMNS, platform_features=sba.PLATFORM_COLUMNS
    )
    assert r.joint.auc > r.bank_only.auc
