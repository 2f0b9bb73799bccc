"""Synthetic Ningbo generator speed, the joint-model lift it was built to show, and the SBA reference.

    python -m bench synthetic                      # 1,000,000 enterprises, 20k-loan lift, SBA 200k sample
    python -m bench synthetic --enterprises 100000 --no-sba      # a quick run
    python -m bench synthetic --sba-full           # all 897k SBA loans

Measures, with the baseline measured in the same run:

* generate_city(1M): wall seconds (target 60); write_city Parquet seconds; total rows per second.
* USCC codes per second, vectorised vs ``fincredit.consent.identifiers.generate_uscc`` in a loop.
* Lift on synthetic loans (LightGBM and logistic regression): joint AUC with bank-only AUC as
  baseline; platform-only AUC; the generating model's own (oracle) AUC for reference.
* The platform's enterprise credit score (public + market features only): test AUC and KS.
* SBA (the joint-modelling vertical split, fixed 80/20 split): centralised bank-only vs joint AUC — the
  reference numbers the federated algorithms must match.
* MLflow on SQLite: log + register one LightGBM model, load it back by alias.

The machine has 2 cores shared with other engineers' jobs; timings are pessimistic and the load
average is recorded with the results.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from pathlib import Path

from bench._report import Result, print_table, write
from fincredit.consent.identifiers import generate_uscc
from fincredit.models import sba
from fincredit.models._identity import uscc_codes
from fincredit.models.credit_score import register_enterprise_score, train_enterprise_score
from fincredit.models.errors import DatasetNotInstalledError
from fincredit.models.evaluation import evaluate
from fincredit.models.features import MARKET_FEATURES, PUBLIC_FEATURES
from fincredit.models.synthetic import BANK_FEATURES, generate_city, write_city
from fincredit.models.tracking import Tracking
from fincredit.models.training import compare_bank_vs_joint, predict_scores, train_lightgbm
from fincredit.platform.catalog import default_catalog


def _uscc_rates(n: int) -> tuple[float, float]:
    import numpy as np

    rng = np.random.default_rng(0)
    regions = np.full(n, "330212")
    t = time.perf_counter()
    uscc_codes(rng, regions)
    vector = n / (time.perf_counter() - t)
    r = random.Random(0)
    m = max(1000, n // 10)
    t = time.perf_counter()
    for _ in range(m):
        generate_uscc(r, "330212")
    scalar = m / (time.perf_counter() - t)
    return vector, scalar


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench synthetic")
    ap.add_argument("--enterprises", type=int, default=1_000_000)
    ap.add_argument("--lift-enterprises", type=int, default=42_000, help="about half get a loan")
    ap.add_argument("--seed", type=int, default=2024)
    ap.add_argument("--no-sba", action="store_true")
    ap.add_argument("--sba-sample", type=int, default=200_000)
    ap.add_argument("--sba-full", action="store_true")
    args = ap.parse_args(argv)
    results: list[Result] = []
    notes: dict[str, object] = {}

    vector, scalar = _uscc_rates(200_000)
    results.append(Result("uscc_codes_per_s", vector, "codes/s", None, "higher", scalar))

    t, cpu = time.perf_counter(), time.process_time()
    city = generate_city(args.enterprises, seed=args.seed, catalog=default_catalog())
    gen_s = time.perf_counter() - t
    gen_cpu_s = time.process_time() - cpu
    rows = (
        city.enterprises.num_rows
        + city.persons.num_rows
        + city.loans.num_rows
        + sum(x.num_rows for x in city.records.values())
        + sum(x.num_rows for x in city.market.values())
    )
    # Wall time depends on what else runs on the shared 2 cores; CPU time is what the generator costs.
    results.append(Result(f"generate_city_{args.enterprises}_s", gen_s, "s", 60.0, "lower"))
    results.append(Result(f"generate_city_{args.enterprises}_cpu_s", gen_cpu_s, "s", 60.0, "lower"))
    results.append(Result("generated_rows_per_s", rows / gen_s, "rows/s", None, "higher"))
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        manifest = write_city(Path(tmp) / "city", args.enterprises, args.seed, city=city)
        write_s = time.perf_counter() - t
        size = sum(p.stat().st_size for p in (Path(tmp) / "city").rglob("*") if p.is_file())
    results.append(Result("write_city_parquet_s", write_s, "s", None, "lower"))
    notes["city"] = {
        "enterprises": args.enterprises,
        "rows_total": rows,
        "records": {k: v.num_rows for k, v in city.records.items()},
        "market": {k: v.num_rows for k, v in city.market.items()},
        "loans": city.loans.num_rows,
        "bytes_on_disk": size,
        "files": len(manifest["files"]),
    }
    del city

    lift_city = generate_city(args.lift_enterprises, seed=args.seed, catalog=default_catalog())
    feats = lift_city.features()
    data = lift_city.loans.to_pandas().join(feats, on="uscc")
    train = data.sample(frac=0.8, random_state=0)
    test = data.drop(train.index)
    oracle = lift_city.info["loan_model"]["oracle_auc"]
    for algorithm in ("lightgbm", "logistic"):
        t = time.perf_counter()
        cmp = compare_bank_vs_joint(
            train,
            test,
            label="default",
            bank_features=BANK_FEATURES,
            platform_features=[*PUBLIC_FEATURES, *MARKET_FEATURES],
            algorithm=algorithm,
        )
        fit_s = time.perf_counter() - t
        results.append(
            Result(
                f"synthetic_{algorithm}_joint_auc", cmp.joint.auc, "AUC", 0.78, "higher", cmp.bank_only.auc
            )
        )
        results.append(
            Result(f"synthetic_{algorithm}_joint_ks", cmp.joint.ks, "KS", None, "higher", cmp.bank_only.ks)
        )
        notes[f"synthetic_{algorithm}"] = {**cmp.metrics(), "fit_both_s": fit_s}
    platform = [*PUBLIC_FEATURES, *MARKET_FEATURES]
    platform_model = train_lightgbm(train, train["default"], features=platform)
    platform_only = evaluate(test["default"], predict_scores(platform_model, test))
    results.append(Result("synthetic_lightgbm_platform_only_auc", platform_only.auc, "AUC", None, "higher"))
    notes["synthetic_loans"] = {
        "rows": len(data),
        "default_rate": float(data["default"].mean()),
        "oracle_auc": oracle,
    }

    score = train_enterprise_score(feats, lift_city.loans.to_pandas(), as_of=lift_city.as_of)
    results.append(Result("enterprise_score_auc", score.evaluation.auc, "AUC", None, "higher"))
    results.append(Result("enterprise_score_ks", score.evaluation.ks, "KS", None, "higher"))

    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        tracking = Tracking(tmp)
        init_s = time.perf_counter() - t
        t = time.perf_counter()
        register_enterprise_score(tracking, score)
        log_s = time.perf_counter() - t
        t = time.perf_counter()
        loaded = tracking.load("enterprise-credit-score")
        load_s = time.perf_counter() - t
    results.append(Result("mlflow_log_register_s", log_s, "s", None, "lower"))
    results.append(Result("mlflow_load_by_alias_s", load_s, "s", None, "lower"))
    notes["mlflow"] = {"store_init_s": init_s, "loaded_version": loaded.version}

    if not args.no_sba:
        try:
            df = sba.load_sba()
        except DatasetNotInstalledError as exc:
            print(f"SBA skipped: {exc}")
        else:
            df = sba.sample(df, None if args.sba_full else args.sba_sample, seed=args.seed)
            train_s, test_s = sba.train_test_split_fixed(df)
            for algorithm in ("lightgbm", "logistic"):
                t = time.perf_counter()
                cmp = compare_bank_vs_joint(
                    train_s,
                    test_s,
                    label=sba.LABEL,
                    bank_features=sba.BANK_COLUMNS,
                    platform_features=sba.PLATFORM_COLUMNS,
                    algorithm=algorithm,
                )
                fit_s = time.perf_counter() - t
                results.append(
                    Result(
                        f"sba_{algorithm}_joint_auc", cmp.joint.auc, "AUC", None, "higher", cmp.bank_only.auc
                    )
                )
                notes[f"sba_{algorithm}"] = {**cmp.metrics(), "rows": len(df), "fit_both_s": fit_s}

    print_table(results)
    path = write("synthetic", results, argv=argv, extra=notes)
    print(f"wrote {path}")
    return 0
