"""The bank SDK checks what it is handed before anything is sent, and each refusal says what to do.

A risk analyst's DataFrame holds labels written as words and features written as text; numpy's own
errors ("invalid literal for int()", "could not convert string to float") name neither the column
nor the fix.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fincredit.federation import FederationError, InputError, JointModel, LocalLink, PlatformTrainingParty
from fincredit.federation.joint_model import BankLogisticPart
from fincredit.federation.scorer import EncryptedScorer
from fincredit.federation.wire import Frame

N = 60
RNG = np.random.default_rng(5)


def _bank() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "id": [f"A{i:04d}" for i in range(N)],
            "income": RNG.normal(size=N),
            "y": (RNG.random(N) < 0.3).astype(int),
        }
    )


def _fit(df: pd.DataFrame, **kwargs: object) -> tuple[LocalLink, pytest.ExceptionInfo[InputError]]:
    party = PlatformTrainingParty(lambda job_id, bank_id: pd.DataFrame({"tax": RNG.normal(size=N)}))
    link = LocalLink(party, record=True)
    args: dict[str, object] = {
        "id_column": "id",
        "label": "y",
        "features": ["income"],
        "platform_features": ["tax"],
        **kwargs,
    }
    with pytest.raises(InputError) as info:
        JointModel(link, progress=False).fit(df, **args)  # type: ignore[arg-type]
    return link, info


def test_a_text_label_is_refused_with_the_mapping_to_write() -> None:
    df = _bank().assign(y=lambda d: np.where(d["y"] == 1, "bad", "good"))
    link, info = _fit(df)
    message = str(info.value)
    assert "label column 'y' must be 0/1" in message and "'bad', 'good'" in message
    assert "df['y'] = (df['y'] == 'bad').astype(int)" in message
    assert "invalid literal" not in message
    assert link.transcript == []  # refused before the platform heard anything


def test_a_numeric_label_other_than_0_1_says_which_values_it_found() -> None:
    _, info = _fit(_bank().assign(y=lambda d: d["y"] + 1))
    assert "must be 0/1" in str(info.value) and "1, 2" in str(info.value)
    assert "df['y'] = (df['y'] == 2).astype(int)" in str(info.value)


def test_a_label_with_missing_values_or_one_class_is_refused() -> None:
    df = _bank().astype({"y": "float64"})
    df.loc[[3, 7], "y"] = np.nan
    assert "2 missing values" in str(_fit(df)[1].value)
    assert "only the value 0" in str(_fit(_bank().assign(y=0))[1].value)


def test_a_text_feature_is_refused_with_how_to_encode_it() -> None:
    df = _bank().assign(sector=np.where(np.arange(N) % 2 == 0, "manufacturing", "retail"))
    link, info = _fit(df, features=["income", "sector"])
    message = str(info.value)
    assert "feature 'sector' is text" in message and "'manufacturing'" in message
    assert "pd.get_dummies(df, columns=['sector'], dtype=float)" in message
    assert "could not convert" not in message
    assert link.transcript == []


def test_a_mostly_numeric_feature_names_the_values_that_are_not_numbers() -> None:
    income = [str(v) for v in RNG.normal(size=N)]
    income[4], income[9] = "n/a", "-"
    _, info = _fit(_bank().assign(income=income))
    message = str(info.value)
    assert "feature 'income' has 2 values that are not numbers" in message and "'n/a'" in message
    assert "pd.to_numeric(df['income'], errors='coerce')" in message


def test_dates_infinities_and_the_label_as_a_feature_are_refused() -> None:
    dates = _bank().assign(opened=pd.date_range("2020-01-01", periods=N))
    assert "feature 'opened' is a date" in str(_fit(dates, features=["income", "opened"])[1].value)
    inf = _bank()
    inf.loc[2, "income"] = np.inf
    assert "infinite" in str(_fit(inf)[1].value)
    assert "label 'y' is also listed as a feature" in str(_fit(_bank(), features=["income", "y"])[1].value)


def test_boolean_labels_and_numbers_written_as_text_are_accepted_by_the_checks() -> None:
    from fincredit.federation._inputs import check_training_frame

    df = _bank().assign(y=lambda d: d["y"] == 1, income=lambda d: d["income"].astype(str))
    check_training_frame(df, id_column="id", label="y", features=["income"])


def _scorer() -> tuple[EncryptedScorer, list[Frame]]:
    sent: list[Frame] = []

    def handler(frame: Frame) -> Frame:
        sent.append(frame)
        raise AssertionError("nothing should reach the platform")

    part = BankLogisticPart("m", ["income", "sector"], [0.5, 0.1], 0.0, [0.0, 0.0], [1.0, 1.0])
    return EncryptedScorer(LocalLink(handler), part), sent


def test_scoring_a_text_feature_is_refused_before_anything_is_sent() -> None:
    scorer, sent = _scorer()
    df = pd.DataFrame({"id": ["a", "b"], "income": [1.0, 2.0], "sector": ["retail", "trade"]})
    with pytest.raises(InputError, match="feature 'sector' is text") as info:
        scorer.score(df)
    assert "could not convert" not in str(info.value) and sent == []


def test_scoring_with_missing_columns_is_an_input_error_and_still_a_key_error() -> None:
    scorer, sent = _scorer()
    with pytest.raises(KeyError, match="sector"):
        scorer.score(pd.DataFrame({"id": ["a"], "income": [1.0]}))
    with pytest.raises(InputError, match="sector"):
        scorer.score(pd.DataFrame({"id": ["a"], "income": [1.0]}))
    assert sent == []


def test_input_errors_are_federation_errors_and_value_errors() -> None:
    assert issubclass(InputError, FederationError) and issubclass(InputError, ValueError)
