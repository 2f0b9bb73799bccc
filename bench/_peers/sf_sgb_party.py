"""One party of SecretFlow's vertical SGB (HEU, production mode over 127.0.0.1), run by the peer venv.

    python sf_sgb_party.py SPEC.json PARTY OUT.json

SPEC names both parties' ports and CSV files, the label, the id column and the SGB parameters; both
parties run this same script (SecretFlow's production mode runs one driver program per party). The bank
(label holder) also scores the test rows and computes the AUC. Each writes its timings to OUT.json.
"""

from __future__ import annotations

import json
import sys
import time
import traceback
from pathlib import Path
from typing import Any

import spu
import spu.libspu

# spu 0.9.5 moved its logging module; secretflow 1.14 still imports it from the old place.
spu.logging = spu.libspu.logging  # type: ignore[attr-defined]

import secretflow as sf  # noqa: E402
from secretflow.distributed.fed import global_context  # noqa: E402
from secretflow.distributed.fed.proxy.grpc import grpc as sf_grpc  # noqa: E402
from secretflow.ml.boost.sgb_v import Sgb  # noqa: E402


class _CountingPickle:
    """Counts the bytes of every cross-party message this process sends (measurement only)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.sent = 0
        self.messages = 0

    def dumps(self, obj: Any, *args: Any, **kwargs: Any) -> bytes:
        data: bytes = self.inner.dumps(obj, *args, **kwargs)
        self.sent += len(data)
        self.messages += 1
        return data

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def _log_task_failures() -> None:
    """A failed device task makes SecretFlow SIGINT itself without its traceback: print it first."""
    original = global_context.GlobalContext.set_local_exception

    def set_local_exception(self: Any, exc: BaseException) -> None:
        traceback.print_exception(exc, file=sys.stderr)
        original(self, exc)

    global_context.GlobalContext.set_local_exception = set_local_exception  # type: ignore[method-assign]


def main(spec_path: str, party: str, out_path: str) -> None:
    _log_task_failures()
    spec = json.loads(Path(spec_path).read_text())
    counter = _CountingPickle(sf_grpc.secure_pickle)
    sf_grpc.secure_pickle = counter
    cluster = {
        "parties": {
            name: {"address": f"127.0.0.1:{port}", "listen_addr": f"127.0.0.1:{port}"}
            for name, port in spec["ports"].items()
        },
        "self_party": party,
    }
    cpu0, wall0 = time.process_time(), time.perf_counter()
    sf.init(
        address="local",
        ray_mode=False,
        cluster_config=cluster,
        logging_level="warning",
        job_name=spec["job_name"],
        cross_silo_comm_options={"messages_max_size_in_bytes": 2**31 - 1, "timeout_in_ms": 3_600_000},
    )
    bank, platform = sf.PYU("bank"), sf.PYU("platform")
    heu = sf.HEU(
        {
            "sk_keeper": {"party": "bank"},
            "evaluators": [{"party": "platform"}],
            "mode": "PHEU",
            "he_parameters": {"schema": "ou", "key_pair": {"generate": {"bit_size": spec["key_bits"]}}},
            # SecretFlow's SGB tutorial settings: SGB fixed-points and packs g, h itself.
            "encoding": {
                "cleartext_type": "DT_I32",
                "encoder": "IntegerEncoder",
                "encoder_args": {"scale": 1},
            },
        },
        spu.FieldType.FM128,
    )
    id_column, label = spec["id_column"], spec["label"]

    def frame(split: str) -> Any:
        return sf.data.vertical.read_csv(
            {bank: spec["bank"][split], platform: spec["platform"][split]},
            keys=id_column,
            drop_keys=id_column,
        )

    train = frame("train")
    x_train, y_train = train.drop(columns=[label]), train[[label]]
    sf.wait([p.data for p in train.partitions.values()])
    load_cpu, load_wall = time.process_time() - cpu0, time.perf_counter() - wall0

    cpu1, wall1 = time.process_time(), time.perf_counter()
    model = Sgb(heu).train(spec["params"], x_train, y_train)
    # The calls above may return before the devices finish: wait for every party's share of the last tree.
    last = model.trees[-1]
    sf.wait([*last.get_split_tree_dict().values(), last.get_leaf_weight()])
    train_wall, train_cpu = time.perf_counter() - wall1, time.process_time() - cpu1
    sent_after_train = counter.sent

    test = frame("test")
    x_test = test.drop(columns=[label])
    pred = model.predict(x_test)  # a PYUObject of the label holder (the bank)

    def auc(scores: Any, path: str) -> float:
        import numpy as np
        import pandas as pd
        from sklearn.metrics import roc_auc_score

        truth = pd.read_csv(path, usecols=[label])[label].to_numpy()
        return float(roc_auc_score(truth, np.asarray(scores).ravel()))

    # The bank scores its own test rows with its own labels; only the AUC leaves that function.
    test_auc = sf.reveal(bank(auc)(pred, spec["bank"]["test"]))
    result = {
        "party": party,
        "train_wall_s": train_wall,
        "train_cpu_s": train_cpu,
        "load_wall_s": load_wall,
        "load_cpu_s": load_cpu,
        "bytes_sent_train": sent_after_train,
        "bytes_sent_total": counter.sent,
        "messages_sent": counter.messages,
        "auc_test": test_auc,
        "trees": len(model.trees),
        "cpu_s_total": time.process_time(),
    }
    sf.shutdown()
    Path(out_path).write_text(json.dumps(result))


if __name__ == "__main__":
    main(*sys.argv[1:4])
