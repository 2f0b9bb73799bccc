"""Joint modelling on the synthetic Ningbo city (the uplift the demo shows, on the
synthetic Ningbo data): the bank holds its loans' own features and the default label, the
platform the public-credit and market features of the borrowers (``fincredit.models.features``).
Bank-only, centralized (scikit-learn LR / LightGBM on the joined data) and federated (CKKS vertical LR,
SecureBoost) test AUC on a fixed 80/20 split, training time centralized vs federated in the same run,
and bytes exchanged. Kept apart from ``bench/joint_modelling.py`` (SBA), whose author is still editing it.

    .venv/bin/python -m bench joint_ningbo [--enterprises 20000] [--trees 10] [--iterations 30]
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from bench._report import Result, print_table, write
from fincredit.federation import LocalLink
from fincredit.federation.training import (
    BankLogisticTrainer,
    BankSecureBoostTrainer,
    LogisticParams,
    PlatformLogisticJob,
    PlatformSecureBoostJob,
    SecureBoostParams,
    ks_statistic,
    standardise,
)
from fincredit.models import BANK_FEATURES, generate_city
from fincredit.platform.catalog import default_catalog


def _frames(enterprises: int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame, np.ndarray]:
    city = generate_city(enterprises, seed=seed, catalog=default_catalog())
    loans = city.bank_loans()
    platform = city.features().reindex(loans["uscc"].to_numpy())
    bank = loans[list(BANK_FEATURES)].astype(np.float64).reset_index(drop=True)
    return (
        bank,
        platform.reset_index(drop=True).astype(np.float64),
        loans["default"].to_numpy().astype(np.int64),
    )


def _auc(y: np.ndarray, s: np.ndarray) -> float:
    return float(roc_auc_score(y, s))


def run_logistic(
    bank: pd.DataFrame,
    platform: pd.DataFrame,
    y: np.ndarray,
    train: np.ndarray,
    test: np.ndarray,
    params: LogisticParams,
) -> dict[str, Any]:
    platform = platform.fillna(platform.iloc[train].median()).fillna(0.0)
    xb = bank.to_numpy()
    c = 1.0 / (params.l2 * train.size)
    joined, _, _ = standardise(np.hstack([xb, platform.to_numpy()]), train)
    t0 = time.perf_counter()
    central = LogisticRegression(C=c, max_iter=5000).fit(joined[train], y[train])
    central_s = time.perf_counter() - t0
    bank_std, _, _ = standardise(xb, train)
    bank_only = LogisticRegression(C=c, max_iter=5000).fit(bank_std[train], y[train])
    job = PlatformLogisticJob(platform, job_id="ningbo-lr")
    link = LocalLink(job.handle)
    trainer = BankLogisticTrainer(link, job_id="ningbo-lr", params=params, timeout=3600)
    t0 = time.perf_counter()
    part = trainer.fit(
        xb, y, features=list(bank.columns), platform_features=list(platform.columns), train_rows=train
    )
    fed_s = time.perf_counter() - t0
    scores = trainer.joint_scores(part, xb, test)
    return {
        "auc_bank_only": _auc(y[test], bank_only.decision_function(bank_std[test])),
        "auc_centralized": _auc(y[test], central.decision_function(joined[test])),
        "auc_federated": _auc(y[test], scores),
        "ks_federated": ks_statistic(y[test], scores),
        "seconds_centralized": central_s,
        "seconds_federated": fed_s,
        "bytes": link.bytes_sent + link.bytes_received,
    }


def run_secureboost(
    bank: pd.DataFrame,
    platform: pd.DataFrame,
    y: np.ndarray,
    train: np.ndarray,
    test: np.ndarray,
    params: SecureBoostParams,
) -> dict[str, Any]:
    import lightgbm

    xb = bank.to_numpy()
    joined = np.hstack([xb, platform.to_numpy()])

    def gbm() -> Any:
        return lightgbm.LGBMClassifier(
            n_estimators=params.num_iterations,
            max_depth=params.max_depth,
            num_leaves=params.num_leaves,
            learning_rate=params.learning_rate,
            max_bin=params.max_bin,
            reg_lambda=params.lambda_l2,
            min_child_samples=params.min_data_in_leaf,
            min_child_weight=params.min_sum_hessian_in_leaf,
            verbose=-1,
            n_jobs=1,
        )

    t0 = time.perf_counter()
    central = gbm().fit(joined[train], y[train])
    central_s = time.perf_counter() - t0
    bank_only = gbm().fit(xb[train], y[train])
    job = PlatformSecureBoostJob(platform, job_id="ningbo-sb")
    link = LocalLink(job.handle)
    trainer = BankSecureBoostTrainer(link, job_id="ningbo-sb", params=params, timeout=3600)
    t0 = time.perf_counter()
    part = trainer.fit(
        xb, y, features=list(bank.columns), platform_features=list(platform.columns), train_rows=train
    )
    fed_s = time.perf_counter() - t0
    scores = trainer.joint_scores(part, xb, test)
    return {
        "auc_bank_only": _auc(y[test], bank_only.predict_proba(xb[test])[:, 1]),
        "auc_centralized": _auc(y[test], central.predict_proba(joined[test])[:, 1]),
        "auc_federated": _auc(y[test], scores),
        "ks_federated": ks_statistic(y[test], scores),
        "seconds_centralized": central_s,
        "seconds_federated": fed_s,
        "bytes": link.bytes_sent + link.bytes_received,
    }


def _results(prefix: str, r: dict[str, Any], auc_tol: float, time_target: float) -> list[Result]:
    return [
        Result(f"{prefix}.auc_bank_only", r["auc_bank_only"], "AUC", better="higher"),
        Result(
            f"{prefix}.auc_federated",
            r["auc_federated"],
            "AUC",
            better="higher",
            baseline=r["auc_centralized"],
        ),
        Result(
            f"{prefix}.auc_gap_vs_centralized",
            abs(r["auc_federated"] - r["auc_centralized"]),
            "AUC",
            target=auc_tol,
        ),
        Result(
            f"{prefix}.auc_uplift_vs_bank_only",
            r["auc_federated"] - r["auc_bank_only"],
            "AUC",
            better="higher",
        ),
        Result(f"{prefix}.ks_federated", r["ks_federated"], "KS", better="higher"),
        Result(
            f"{prefix}.train_seconds",
            r["seconds_federated"],
            "s",
            baseline=r["seconds_centralized"],
            target=time_target * r["seconds_centralized"],
        ),
        Result(f"{prefix}.bytes_exchanged", float(r["bytes"]), "bytes"),
    ]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bench joint_ningbo")
    parser.add_argument("--enterprises", type=int, default=20_000)
    parser.add_argument("--trees", type=int, default=10)
    parser.add_argument("--iterations", type=int, default=30)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    bank, platform, y = _frames(args.enterprises, args.seed)
    rng = np.random.default_rng(args.seed)
    order = rng.permutation(len(y))
    n_test = len(y) // 5
    test, train = np.sort(order[:n_test]), np.sort(order[n_test:])
    lr = run_logistic(bank, platform, y, train, test, LogisticParams(iterations=args.iterations))
    sb = run_secureboost(
        bank,
        platform,
        y,
        train,
        test,
        SecureBoostParams(num_iterations=args.trees, max_depth=3, num_leaves=8, max_bin=32, lambda_l2=1.0),
    )
    results = _results("ningbo.lr", lr, 0.002, 20.0) + _results("ningbo.secureboost", sb, 0.003, 100.0)
    shapes = f"bank {bank.shape[1]} / platform {platform.shape[1]} features"
    print(f"{len(y)} loans ({int(y.sum())} defaults), {shapes}")
    print_table(results)
    write("joint_ningbo", results, argv=argv, extra={"loans": len(y), "enterprises": args.enterprises})
    return 0
