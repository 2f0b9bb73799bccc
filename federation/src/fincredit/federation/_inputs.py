"""What the bank SDK checks in its caller's data before anything is sent to the platform.

The people calling ``JointModel.fit`` and ``EncryptedScorer.score`` are risk analysts with a
DataFrame: labels written as words, features read from a spreadsheet as text. numpy's own refusals
("invalid literal for int()", "could not convert string to float") name neither the column nor the
fix, and come after a job was opened with the platform. Each check here names the column, shows a few
of the offending values and says what to write instead.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from fincredit.federation.errors import InputError, MissingColumnsError

_SHOWN = 3  # offending values quoted in a message
# Label values that usually mean "the event the model predicts" (default, bad loan), so the mapping the
# message suggests already points the right way; otherwise the suggestion takes the first value found.
_EVENT_WORDS = ("bad", "default", "defaulted", "yes", "true", "y", "坏", "违约", "是")


def _quote(values: Sequence[Any]) -> str:
    return ", ".join(repr(v) if isinstance(v, str) else str(v) for v in values)


def _distinct(col: pd.Series) -> list[Any]:
    values: list[Any] = col.dropna().unique().tolist()
    try:
        return sorted(values)
    except TypeError:
        return values


def require_columns(columns: Sequence[str], present: Sequence[str], *, what: str = "the data") -> None:
    missing = [c for c in columns if c not in present]
    if missing:
        raise MissingColumnsError(f"columns missing from {what}: {missing}")


def _not_numbers(col: pd.Series) -> pd.Series:
    """True where a non-missing value does not read as a number."""
    return col.notna() & pd.to_numeric(col, errors="coerce").isna()


def check_feature(col: pd.Series, name: str, *, allow_missing: bool = True) -> None:
    """Refuse a feature column that cannot be turned into float64, saying how to turn it into one."""
    if pd.api.types.is_datetime64_any_dtype(col) or pd.api.types.is_timedelta64_dtype(col):
        raise InputError(
            f"feature {name!r} is a date: the SDK trains and scores on numbers; turn it into one, e.g. "
            f"days since a reference date: df[{name!r}] = (df[{name!r}] - pd.Timestamp('2020-01-01')).dt.days"
        )
    if not (pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col)):
        present = col.dropna()
        if len(present) and all(isinstance(v, dt.date) for v in present.head(100)):
            raise InputError(
                f"feature {name!r} holds dates: the SDK trains and scores on numbers; turn them into one, "
                f"e.g. df[{name!r}] = (pd.to_datetime(df[{name!r}]) - pd.Timestamp('2020-01-01')).dt.days"
            )
        bad = _not_numbers(col)
        if bad.any():
            examples = _distinct(col[bad])[:_SHOWN]
            if bad.sum() == len(present):
                raise InputError(
                    f"feature {name!r} is text (values such as {_quote(examples)}): the SDK trains and "
                    f"scores on numbers. Encode it first, e.g. one column per category with "
                    f"df = pd.get_dummies(df, columns=[{name!r}], dtype=float) and list the new columns "
                    f"in features=, or map each category to a number with df[{name!r}].map({{...}})"
                )
            raise InputError(
                f"feature {name!r} has {int(bad.sum())} values that are not numbers (e.g. "
                f"{_quote(examples)}): fix them, or make them missing values with "
                f"df[{name!r}] = pd.to_numeric(df[{name!r}], errors='coerce')"
            )
    values = pd.to_numeric(col, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    infinite = int(np.isinf(values).sum())
    if infinite:
        raise InputError(
            f"feature {name!r} has {infinite} infinite values: replace them (a ratio divided by zero?) "
            f"or drop those rows"
        )
    if not allow_missing and np.isnan(values).any():
        raise InputError(
            f"feature {name!r} has {int(np.isnan(values).sum())} missing values, which logistic regression "
            f"cannot use: fill them, e.g. df[{name!r}] = df[{name!r}].fillna(df[{name!r}].median()), or "
            f"train with algorithm='secureboost', whose trees route missing values"
        )


def check_label(col: pd.Series, name: str) -> None:
    """The label must be 0/1 with 1 the event the model predicts (a default, a bad loan)."""
    missing = int(col.isna().sum())
    if missing:
        raise InputError(
            f"label column {name!r} has {missing} missing values: drop those rows, e.g. "
            f"df = df.dropna(subset=[{name!r}])"
        )
    found = _distinct(col)
    if pd.api.types.is_bool_dtype(col):
        values = set(col.astype(int))
    elif _not_numbers(col).any():
        values = {None}  # text: not 0/1 whatever it says
    else:
        values = set(pd.to_numeric(col).tolist())
    if values - {0, 1}:
        event = next(
            (v for v in found if isinstance(v, str) and v.strip().lower() in _EVENT_WORDS), found[-1]
        )
        raise InputError(
            f"label column {name!r} must be 0/1 (binary; 1 = the event predicted, e.g. a default); found "
            f"values {_quote(found[: _SHOWN + 2])}{' ...' if len(found) > _SHOWN + 2 else ''}: map them, "
            f"e.g. df[{name!r}] = (df[{name!r}] == {event!r}).astype(int)"
        )
    if len(values) < 2:
        (only,) = values
        raise InputError(
            f"label column {name!r} has only the value {int(only)}: a model needs both goods (0) and bads (1)"
        )


def check_training_frame(
    df: pd.DataFrame,
    *,
    id_column: str,
    label: str,
    features: Sequence[str],
    algorithm: str = "secureboost",
    test_size: float = 0.2,
) -> None:
    """Everything ``JointModel.fit`` needs of its arguments, checked before the platform is called."""
    from fincredit.federation._protocols import training_protocol  # the protocols import the HE stack

    protocol = training_protocol(algorithm)
    if not 0.0 < test_size < 1.0:
        raise InputError("test_size must be in (0, 1)")
    require_columns([id_column, label, *features], list(df.columns), what="the DataFrame")
    if label in features:
        raise InputError(f"label {label!r} is also listed as a feature: remove it from features=")
    if id_column in features:
        raise InputError(f"id column {id_column!r} is also listed as a feature: remove it from features=")
    ids = df[id_column]
    if ids.isna().any():
        raise InputError(f"{id_column!r} has {int(ids.isna().sum())} missing identifiers: drop those rows")
    repeated = ids[ids.duplicated()]
    if len(repeated):
        raise InputError(
            f"{id_column!r} has duplicate identifiers (e.g. {_quote(_distinct(repeated)[:_SHOWN])}): "
            "keep one row per subject"
        )
    check_label(df[label], label)
    for name in features:
        check_feature(df[name], name, allow_missing=protocol.allows_missing)


def scoring_frame(data: Any, id_column: str, features: Sequence[str]) -> tuple[pd.DataFrame, list[str]]:
    """The applicants as a DataFrame (from pandas or Arrow) and their identifiers, checked for scoring."""
    columns = [id_column, *features]
    if isinstance(data, pd.DataFrame):
        df = data
    elif hasattr(data, "to_pandas") and hasattr(data, "column_names"):  # pyarrow Table / RecordBatch
        require_columns(columns, list(data.column_names))
        df = data.select(columns).to_pandas()
    else:
        raise InputError("score() takes a pandas DataFrame or a pyarrow Table")
    require_columns(columns, list(df.columns))
    col = df[id_column]
    if col.isna().any():
        raise InputError(f"the id column has {int(col.isna().sum())} missing values")
    ids = col.astype(str).tolist()
    bad = [i for i in ids if not i or "\n" in i or len(i) > 128]
    if bad:
        raise InputError(f"{len(bad)} identifiers are empty, multi-line or longer than 128 characters")
    for name in features:
        check_feature(df[name], name)
    return df, ids
