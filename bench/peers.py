"""Open-source peers measured beside fincredit in the same run: SecretFlow 1.14 SGB and spu's PSI engine.

    python -m bench peers                      # build var/peers/secretflow; SGB 20 trees, PSI, SGB 100 trees
    python -m bench peers --sgb t20_d3         # skip the 100-tree SGB (an hour or more on 2 busy cores)
    python -m bench peers --only psi --n 100000
    python -m bench peers --install-only       # build (or check) the peer virtualenv and stop

SecretFlow lives in its own virtualenv, ``var/peers/secretflow`` (the system python3.11; never the
project's lock), built idempotently by ``ensure_secretflow()``. Every measurement runs each party as its
own process of that virtualenv's python on 127.0.0.1 ports (SecretFlow's production mode; 1.14 has no
simulation mode without secretflow_fl), on CSV files the caller exported, and reports wall seconds, the
CPU seconds of both party processes and the result. Other benchmarks put the peer's figures beside their
own in one run: ``export_vertical`` + ``run_secretflow_sgb``, ``export_id_sets`` + ``run_spu_psi``.

Install recipe (encoded in ``_RECIPE``): secretflow 1.14.0b0 pins development builds of sdc-sdk,
sdc-apis, spu, sf-heu and sf-sml that are not on the index. So its wheel's own Requires-Dist are
installed with spu==0.9.5, sf-heu==0.5.2b0 and jax/jaxlib 0.4.34 (its metadata asks jax<=0.4.26; spu
0.9.5 and sf-sml accept up to 0.4.34) in place of those pins and without sdc-*; then sf-sml and
secretflow with --no-deps. spu 0.9.5 moved ``spu.logging`` to ``spu.libspu.logging``: the party scripts
alias it before importing secretflow or spu.psi.
"""

from __future__ import annotations

import argparse
import email.parser
import fcntl
import hashlib
import json
import math
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from packaging.requirements import Requirement

from bench._report import Result, machine, print_table, write

ROOT = Path(__file__).resolve().parent.parent
PEERS_DIR = ROOT / "var" / "peers"
SECRETFLOW_VENV = PEERS_DIR / "secretflow"
SCRIPTS = Path(__file__).resolve().parent / "_peers"
_STAMP = ".fincredit-recipe.json"
PSI_PROTOCOLS = ("RR22", "ECDH")


@dataclass(frozen=True, slots=True)
class _Recipe:
    python: str = "python3.11"
    secretflow: str = "secretflow==1.14.0b0"
    # secretflow's own pins that cannot be installed, and what goes in their place (None: left out).
    replace: tuple[tuple[str, str | None], ...] = (
        ("spu", "spu==0.9.5"),
        ("sf-heu", "sf-heu==0.5.2b0"),
        ("jax", "jax[cpu]==0.4.34"),
        ("jaxlib", "jaxlib==0.4.34"),
        ("sdc-sdk", None),
        ("sdc-apis", None),
        ("sf-sml", None),
    )
    # sf-sml pins the same unpublished spu build; what secretflow imports of it works with spu 0.9.5.
    no_deps: tuple[str, ...] = ("sf-sml==0.1.0.dev20250623", "secretflow==1.14.0b0")
    smoke: str = (
        "import spu, spu.libspu; spu.logging = spu.libspu.logging; import spu.psi; "
        "import secretflow; from secretflow.ml.boost.sgb_v import Sgb; print(secretflow.__version__)"
    )

    def digest(self) -> str:
        text = json.dumps([self.python, self.secretflow, self.replace, self.no_deps, self.smoke])
        return hashlib.sha256(text.encode()).hexdigest()[:16]


_RECIPE = _Recipe()


def _venv_python(venv: Path = SECRETFLOW_VENV) -> Path:
    return venv / "bin" / "python"


def secretflow_available() -> bool:
    """True when ``var/peers/secretflow`` holds a finished install of the current recipe."""
    stamp = SECRETFLOW_VENV / _STAMP
    if not (_venv_python().exists() and stamp.exists()):
        return False
    try:
        return bool(json.loads(stamp.read_text()).get("recipe") == _RECIPE.digest())
    except (OSError, ValueError):
        return False


def _run(cmd: Sequence[str | Path], *, log: Path) -> None:
    print("  $ " + " ".join(str(c) for c in cmd), flush=True)
    with log.open("a") as out:
        done = subprocess.run([str(c) for c in cmd], stdout=out, stderr=subprocess.STDOUT, check=False)
    if done.returncode != 0:
        tail = "\n".join(log.read_text().splitlines()[-30:])
        raise RuntimeError(f"{cmd[0]} failed ({done.returncode}); last lines of {log}:\n{tail}")


def _requirements_of(wheel: Path) -> list[str]:
    """The wheel's Requires-Dist (without extras), with ``_RECIPE.replace`` applied."""
    with zipfile.ZipFile(wheel) as zf:
        name = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
        metadata = email.parser.Parser().parsestr(zf.read(name).decode())
    replace = dict(_RECIPE.replace)
    out: list[str] = []
    for line in metadata.get_all("Requires-Dist") or []:
        req = Requirement(line)
        if req.marker is not None and "extra" in str(req.marker):
            continue
        key = req.name.lower().replace("_", "-")
        if key in replace:
            substitute = replace[key]
            if substitute is not None:
                out.append(substitute)
            continue
        out.append(str(req))
    return out


def ensure_secretflow() -> Path:
    """Build ``var/peers/secretflow`` if it is missing or from another recipe; return its python."""
    if secretflow_available():
        return _venv_python()
    PEERS_DIR.mkdir(parents=True, exist_ok=True)
    # Two benchmarks of one run may both find the virtualenv missing: one builds, the other waits.
    with (PEERS_DIR / "secretflow.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if secretflow_available():
            return _venv_python()
        return _build_secretflow()


def _build_secretflow() -> Path:
    base = shutil.which(_RECIPE.python)
    if base is None and sys.version_info[:2] in ((3, 10), (3, 11)):
        base = getattr(sys, "_base_executable", sys.executable)
    if base is None:
        raise RuntimeError(
            f"{_RECIPE.python} is not on PATH: SecretFlow 1.14 wheels are for CPython 3.10/3.11"
        )
    log = PEERS_DIR / "secretflow-install.log"
    log.write_text("")
    print(f"building {SECRETFLOW_VENV} (log: {log})", flush=True)
    if SECRETFLOW_VENV.exists():
        shutil.rmtree(SECRETFLOW_VENV)
    _run([base, "-m", "venv", SECRETFLOW_VENV], log=log)
    pip: list[str | Path] = [_venv_python(), "-m", "pip"]
    _run([*pip, "install", "--upgrade", "pip"], log=log)
    with tempfile.TemporaryDirectory(prefix="sf-wheel-") as tmp:
        _run([*pip, "download", "--no-deps", "--dest", tmp, _RECIPE.secretflow], log=log)
        wheel = next(Path(tmp).glob("secretflow-*.whl"))
        requirements = _requirements_of(wheel)
        reqs = Path(tmp) / "requirements.txt"
        reqs.write_text("\n".join(requirements) + "\n")
        _run([*pip, "install", "-r", reqs], log=log)
    _run([*pip, "install", "--no-deps", *_RECIPE.no_deps], log=log)
    _run([_venv_python(), "-c", _RECIPE.smoke], log=log)
    stamp = {"recipe": _RECIPE.digest(), "requirements": requirements, "no_deps": list(_RECIPE.no_deps)}
    (SECRETFLOW_VENV / _STAMP).write_text(json.dumps(stamp, indent=2) + "\n")
    return _venv_python()


def _free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


@dataclass(slots=True)
class _Party:
    name: str
    proc: subprocess.Popen[bytes]
    out: Path
    log: Path
    cpu_s: float = 0.0
    status: int | None = None


@dataclass(slots=True)
class _Run:
    wall_s: float
    outputs: list[dict[str, Any]]
    cpu_s: list[float]
    load_1min: list[float]

    def load_summary(self) -> dict[str, float]:
        return {
            "mean": round(sum(self.load_1min) / len(self.load_1min), 2),
            "max": round(max(self.load_1min), 2),
            "samples": len(self.load_1min),
        }


def _run_parties(
    script: str,
    spec: dict[str, Any],
    names: Sequence[str],
    args: Sequence[str],
    workdir: Path,
    timeout: float,
) -> _Run:
    """Start one process per party and wait for all; their JSON outputs, CPU seconds and the machine's load.

    CPU seconds come from each child's rusage (all its threads, start-up included), so nothing the party
    does escapes the count. The 1-minute load average is sampled every 5 s while they run.
    """
    python = ensure_secretflow()
    spec_path = workdir / "spec.json"
    spec_path.write_text(json.dumps(spec))
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("PYTHONPATH", None)
    parties: list[_Party] = []
    load = [os.getloadavg()[0]]
    started = next_sample = time.perf_counter()
    for name, arg in zip(names, args, strict=True):
        out, log = workdir / f"{name}.json", workdir / f"{name}.log"
        with log.open("wb") as sink:
            proc = subprocess.Popen(
                [str(python), str(SCRIPTS / script), str(spec_path), arg, str(out)],
                stdout=sink,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=workdir,
            )
        parties.append(_Party(name, proc, out, log))
    try:
        while any(p.status is None for p in parties):
            for p in parties:
                if p.status is not None:
                    continue
                # wait4 (not Popen.wait) so the child's rusage is read when it is reaped.
                pid, status, usage = os.wait4(p.proc.pid, os.WNOHANG)
                if pid == 0:
                    continue
                p.status = os.waitstatus_to_exitcode(status)
                p.proc.returncode = p.status
                p.cpu_s = usage.ru_utime + usage.ru_stime
                if p.status != 0:
                    kept = PEERS_DIR / "failed" / f"{Path(script).stem}-{p.name}.log"
                    kept.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy(p.log, kept)
                    tail = "\n".join(p.log.read_text(errors="replace").splitlines()[-20:])
                    raise RuntimeError(f"{script} party {p.name} exited {p.status} (log: {kept}):\n{tail}")
            now = time.perf_counter()
            if now - next_sample >= 5.0:
                load.append(os.getloadavg()[0])
                next_sample = now
            if now - started > timeout:
                raise TimeoutError(f"{script} did not finish in {timeout:.0f} s (logs in {workdir})")
            time.sleep(0.05)
        wall = time.perf_counter() - started
    finally:
        for p in parties:
            if p.status is None:
                p.proc.kill()
                p.proc.wait()
    return _Run(wall, [json.loads(p.out.read_text()) for p in parties], [p.cpu_s for p in parties], load)


def _check_aligned(bank: Path, platform: Path, id_column: str) -> int:
    a = pd.read_csv(bank, usecols=[id_column])[id_column]
    b = pd.read_csv(platform, usecols=[id_column])[id_column]
    if len(a) != len(b) or not (a.to_numpy() == b.to_numpy()).all():
        raise ValueError(f"{bank.name} and {platform.name} must list the same {id_column!r} row by row")
    return len(a)


def run_secretflow_sgb(
    bank_train: Path,
    platform_train: Path,
    bank_test: Path,
    platform_test: Path,
    *,
    label: str,
    id_column: str,
    num_boost_round: int,
    max_depth: int,
    learning_rate: float,
    sketch_eps: float,
    reg_lambda: float,
    seed: int,
    key_bits: int = 2048,
    timeout: float = 4 * 3600.0,
) -> dict[str, Any]:
    """Train SecretFlow's vertical SGB (HEU, Okamoto-Uchiyama) on the parties' CSVs; score the test rows.

    The bank files hold ``id_column``, the bank's features and ``label`` (the bank holds the label and the
    HEU secret key); the platform files hold ``id_column`` and the platform's features, the same ids in
    the same order (checked). Returns ``wall_s`` (training, as the slower party saw it), ``cpu_s`` (both
    parties' CPU during training), ``process_wall_s``/``process_cpu_s`` (whole party processes: start,
    key generation, loading, training, scoring), ``auc`` on the test rows, and ``bytes`` (both directions
    during training: the pickled messages SecretFlow hands to gRPC).
    """

    rows_train = _check_aligned(bank_train, platform_train, id_column)
    rows_test = _check_aligned(bank_test, platform_test, id_column)
    y = pd.read_csv(bank_train, usecols=[label])[label].to_numpy()
    rate = float(y.mean())
    params: dict[str, Any] = {
        "num_boost_round": num_boost_round,
        "max_depth": max_depth,
        "learning_rate": learning_rate,
        "sketch_eps": sketch_eps,
        "reg_lambda": reg_lambda,
        "objective": "logistic",
        "base_score": math.log(rate / (1.0 - rate)),
        "first_tree_with_label_holder_feature": False,
        "seed": seed,
    }
    load = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="sf-sgb-") as tmp:
        spec = {
            "job_name": f"fincredit-bench-{os.getpid()}-{int(time.time())}",
            "ports": dict(zip(("bank", "platform"), _free_ports(2), strict=True)),
            "bank": {"train": str(bank_train.resolve()), "test": str(bank_test.resolve())},
            "platform": {"train": str(platform_train.resolve()), "test": str(platform_test.resolve())},
            "label": label,
            "id_column": id_column,
            "key_bits": key_bits,
            "params": params,
        }
        run = _run_parties(
            "sf_sgb_party.py", spec, ["bank", "platform"], ["bank", "platform"], Path(tmp), timeout
        )
    outs, cpus = run.outputs, run.cpu_s
    bank_out, platform_out = outs
    return {
        "peer": "secretflow==1.14.0b0 SGB (HEU OU)",
        "wall_s": max(o["train_wall_s"] for o in outs),
        "cpu_s": sum(o["train_cpu_s"] for o in outs),
        "process_wall_s": run.wall_s,
        "process_cpu_s": sum(cpus),
        "auc": bank_out["auc_test"],
        "bytes": bank_out["bytes_sent_train"] + platform_out["bytes_sent_train"],
        "bytes_with_scoring": bank_out["bytes_sent_total"] + platform_out["bytes_sent_total"],
        "trees": bank_out["trees"],
        "rows_train": rows_train,
        "rows_test": rows_test,
        "params": {**params, "he": f"ou-{key_bits}"},
        "parties": {"bank": bank_out, "platform": platform_out},
        "process_cpu_s_by_party": dict(zip(("bank", "platform"), cpus, strict=True)),
        "load_average_before": list(load),
        "load_1min_during": run.load_summary(),
        "load_average_after": list(os.getloadavg()),
    }


def run_spu_psi(
    protocol: str,
    set_a: Path,
    set_b: Path,
    *,
    id_column: str,
    broadcast_result: bool = True,
    timeout: float = 3600.0,
) -> dict[str, Any]:
    """Intersect two CSV files' ``id_column`` with spu's PSI engine ("RR22" or "ECDH" on FourQ).

    ``set_a``'s party is the receiver (rank 0); with ``broadcast_result`` both parties end with the
    intersection, as in fincredit's alignment. Returns ``wall_s`` (the slower party's psi_execute),
    ``cpu_s`` (both parties during psi_execute), ``process_wall_s``/``process_cpu_s`` (whole processes:
    start, link set-up, reading and writing the CSVs) and ``intersection``.
    """
    if protocol not in PSI_PROTOCOLS:
        raise ValueError(f"protocol must be one of {PSI_PROTOCOLS}, not {protocol!r}")
    load = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="spu-psi-") as tmp:
        spec = {
            "protocol": protocol,
            "ports": _free_ports(2),
            "inputs": [str(set_a.resolve()), str(set_b.resolve())],
            "outputs": [str(Path(tmp) / "a.out.csv"), str(Path(tmp) / "b.out.csv")],
            "id_column": id_column,
            "broadcast_result": broadcast_result,
        }
        run = _run_parties("spu_psi_party.py", spec, ["a", "b"], ["0", "1"], Path(tmp), timeout)
    outs, cpus = run.outputs, run.cpu_s
    sizes = {o["intersection_count"] for o in outs} if broadcast_result else {outs[0]["intersection_count"]}
    if len(sizes) != 1:
        raise RuntimeError(f"the two parties disagree on the intersection: {sizes}")
    return {
        "peer": f"spu==0.9.5 psi_execute {protocol}" + (" (FourQ)" if protocol == "ECDH" else ""),
        "protocol": protocol,
        "wall_s": max(o["psi_wall_s"] for o in outs),
        "cpu_s": sum(o["psi_cpu_s"] for o in outs),
        "process_wall_s": run.wall_s,
        "process_cpu_s": sum(cpus),
        "intersection": outs[0]["intersection_count"],
        "sizes": [o["original_count"] for o in outs],
        "broadcast_result": broadcast_result,
        "load_average_before": list(load),
        "load_1min_during": run.load_summary(),
        "load_average_after": list(os.getloadavg()),
    }


def export_vertical(
    bank: pd.DataFrame,
    platform: pd.DataFrame,
    y: np.ndarray,
    train: np.ndarray,
    test: np.ndarray,
    workdir: Path,
) -> dict[str, Path]:
    """Write the parties' feature frames as the four CSVs ``run_secretflow_sgb`` reads.

    Rows are numbered into an ``id`` column (the same in both parties' files); the bank's files carry
    ``label``. Returns ``{"bank_train", "platform_train", "bank_test", "platform_test"}`` paths.
    """

    ids = pd.Series([f"r{i:08d}" for i in range(len(bank))], name="id", index=bank.index)
    bank_full = pd.concat([ids, bank, pd.Series(y, name="label", index=bank.index)], axis=1)
    platform_full = pd.concat([ids, platform], axis=1)
    paths: dict[str, Path] = {}
    for split, rows in (("train", train), ("test", test)):
        for party, frame in (("bank", bank_full), ("platform", platform_full)):
            path = workdir / f"{party}_{split}.csv"
            frame.iloc[rows].to_csv(path, index=False)
            paths[f"{party}_{split}"] = path
    return paths


def export_id_sets(set_a: Sequence[str], set_b: Sequence[str], workdir: Path) -> tuple[Path, Path]:
    """Write two identifier lists as the one-column (``id``) CSVs ``run_spu_psi`` reads."""
    a, b = workdir / "psi_a.csv", workdir / "psi_b.csv"
    a.write_text("id\n" + "\n".join(set_a) + "\n")
    b.write_text("id\n" + "\n".join(set_b) + "\n")
    return a, b


def _sba_exports(rows: int, seed: int, workdir: Path) -> tuple[dict[str, Path], dict[str, Any]]:
    """The joint-modelling benchmark's SBA sample, split and party columns, written as the four CSVs."""
    from bench.joint_modelling import load_sba, split_rows, tree_frames

    df = load_sba(rows, seed)
    y = (df["MIS_Status"] == "CHGOFF").to_numpy().astype(np.int64)
    train, test = split_rows(len(df), seed)
    bank, platform = tree_frames(df)
    paths = export_vertical(bank, platform, y, train, test, workdir)
    info = {
        "rows": len(df),
        "train_rows": int(train.size),
        "test_rows": int(test.size),
        "bank_columns": list(bank.columns),
        "platform_columns": list(platform.columns),
        "charge_off_rate": float(y.mean()),
    }
    return paths, info


def _lightgbm_same_split(paths: dict[str, Path], setting: _SgbSetting) -> dict[str, float]:
    """Centralized LightGBM (n_jobs=1) with the same trees on the same rows: the AUC the peer should reach."""
    import lightgbm
    from sklearn.metrics import roc_auc_score

    def joined(split: str) -> tuple[Any, Any]:
        bank = pd.read_csv(paths[f"bank_{split}"])
        platform = pd.read_csv(paths[f"platform_{split}"])
        x = pd.concat([bank.drop(columns=["id", "label"]), platform.drop(columns=["id"])], axis=1)
        return x.to_numpy(), bank["label"].to_numpy()

    x_train, y_train = joined("train")
    x_test, y_test = joined("test")
    model = lightgbm.LGBMClassifier(
        n_estimators=setting.num_boost_round,
        max_depth=setting.max_depth,
        num_leaves=2**setting.max_depth,
        learning_rate=setting.learning_rate,
        max_bin=setting.bins,
        reg_lambda=1.0,
        verbose=-1,
        n_jobs=1,
    )
    cpu, wall = time.process_time(), time.perf_counter()
    model.fit(x_train, y_train)
    return {
        "wall_s": time.perf_counter() - wall,
        "cpu_s": time.process_time() - cpu,
        "auc": float(roc_auc_score(y_test, np.asarray(model.predict_proba(x_test))[:, 1])),
    }


@dataclass(frozen=True, slots=True)
class _SgbSetting:
    num_boost_round: int
    max_depth: int
    learning_rate: float
    sketch_eps: float

    @property
    def bins(self) -> int:
        return round(1 / self.sketch_eps)


_SGB_SETTINGS = {
    # The settings of the side-by-side figures so far (today's federated benchmark).
    "t20_d3": _SgbSetting(num_boost_round=20, max_depth=3, learning_rate=0.3, sketch_eps=1 / 16),
    # The size a risk team uses: 100 trees, depth 5, about 63 bins.
    "t100_d5": _SgbSetting(num_boost_round=100, max_depth=5, learning_rate=0.1, sketch_eps=1 / 63),
}


def _psi_exports(n: int, overlap: float, seed: int, workdir: Path) -> tuple[Path, Path, int]:
    from bench.psi import _datasets

    bank, platform, shared = _datasets(n, overlap, seed)
    a, b = export_id_sets(bank, platform, workdir)
    return a, b, shared


def _label(n: int) -> str:
    return f"{n // 1_000_000}M" if n % 1_000_000 == 0 else f"{n // 1000}k" if n % 1000 == 0 else str(n)


def _measure_sgb(key: str, paths: dict[str, Path], seed: int) -> tuple[list[Result], dict[str, Any]]:
    setting = _SGB_SETTINGS[key]
    lgb = _lightgbm_same_split(paths, setting)
    print(f"SGB {key}: LightGBM n_jobs=1 AUC {lgb['auc']:.4f} in {lgb['cpu_s']:.2f} CPU-s", flush=True)
    sgb = run_secretflow_sgb(
        paths["bank_train"],
        paths["platform_train"],
        paths["bank_test"],
        paths["platform_test"],
        label="label",
        id_column="id",
        num_boost_round=setting.num_boost_round,
        max_depth=setting.max_depth,
        learning_rate=setting.learning_rate,
        sketch_eps=setting.sketch_eps,
        reg_lambda=1.0,
        seed=seed,
    )
    wall, cpu, auc = sgb["wall_s"], sgb["cpu_s"], sgb["auc"]
    print(f"  SecretFlow SGB {key}: {wall:.1f} s, {cpu:.1f} CPU-s, AUC {auc:.4f}", flush=True)
    prefix = f"secretflow_sgb.{key}"
    results = [
        Result(f"{prefix}.train_seconds", wall, "s", baseline=lgb["wall_s"]),
        Result(f"{prefix}.train_cpu_seconds", cpu, "cpu-s", baseline=lgb["cpu_s"]),
        Result(f"{prefix}.process_seconds", sgb["process_wall_s"], "s"),
        Result(f"{prefix}.process_cpu_seconds", sgb["process_cpu_s"], "cpu-s"),
        Result(f"{prefix}.auc", auc, "AUC", better="higher", baseline=lgb["auc"]),
        Result(f"{prefix}.bytes_exchanged", float(sgb["bytes"]), "bytes"),
    ]
    keep = (
        "peer",
        "params",
        "process_cpu_s_by_party",
        "load_average_before",
        "load_1min_during",
        "load_average_after",
    )
    note = {k: sgb[k] for k in keep} | {"lightgbm_n_jobs_1_same_split": lgb, "lightgbm_max_bin": setting.bins}
    return results, {prefix: note}


def _measure_psi(protocol: str, a: Path, b: Path, n: int, shared: int) -> tuple[list[Result], dict[str, Any]]:
    label = _label(n)
    psi = run_spu_psi(protocol, a, b, id_column="id")
    print(f"spu PSI {protocol} {label}x{label}: {psi['wall_s']:.1f} s, {psi['cpu_s']:.1f} CPU-s", flush=True)
    if psi["intersection"] != shared:
        raise SystemExit(f"spu {protocol} found {psi['intersection']} common ids, expected {shared}")
    prefix = f"spu_psi.{protocol.lower()}.{label}x{label}"
    results = [
        Result(f"{prefix}.wall", psi["wall_s"], "s"),
        Result(f"{prefix}.cpu", psi["cpu_s"], "cpu-s"),
        Result(f"{prefix}.process_seconds", psi["process_wall_s"], "s"),
        Result(f"{prefix}.process_cpu_seconds", psi["process_cpu_s"], "cpu-s"),
        Result(f"{prefix}.intersection", float(psi["intersection"]), "rows", better="higher"),
    ]
    keep = ("peer", "broadcast_result", "load_average_before", "load_1min_during", "load_average_after")
    return results, {prefix: {k: psi[k] for k in keep}}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench peers", description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=["sgb", "psi"], default=None)
    parser.add_argument(
        "--sgb",
        nargs="+",
        choices=sorted(_SGB_SETTINGS),
        default=list(_SGB_SETTINGS),
        help="SGB settings to run (default: both; t100_d5 takes half an hour or more on 2 cores)",
    )
    parser.add_argument(
        "--rows", type=int, default=200_000, help="SBA sample (default 200,000, as joint_modelling)"
    )
    parser.add_argument("--n", type=int, default=1_000_000, help="PSI identifiers per side (default 1M)")
    parser.add_argument("--overlap", type=float, default=0.5)
    parser.add_argument(
        "--seed", type=int, default=0, help="SBA sample/split seed (joint_modelling's default)"
    )
    parser.add_argument("--psi-seed", type=int, default=20261122, help="PSI data seed (bench.psi's default)")
    parser.add_argument("--install-only", action="store_true", help="build or check the virtualenv and stop")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    python = ensure_secretflow()
    install_s = time.perf_counter() - started
    print(f"SecretFlow virtualenv: {python} (ready in {install_s:.1f} s)")
    if args.install_only:
        return 0

    results: list[Result] = []
    notes: dict[str, Any] = {
        "virtualenv": str(SECRETFLOW_VENV.relative_to(ROOT)),
        "install": json.loads((SECRETFLOW_VENV / _STAMP).read_text()),
        "install_or_check_s": round(install_s, 1),
        "how": "each party is its own process of the peer virtualenv's python on 127.0.0.1 ports; "
        "cpu = both party processes; wall/cpu are the protocol's own calls, process_* the whole processes",
    }

    def save(step: tuple[list[Result], dict[str, Any]]) -> None:
        # Written after every measurement, so a long run that stops early still leaves what it measured.
        results.extend(step[0])
        notes.update(step[1])
        notes["machine_at_last_write"] = machine()
        write("peers", results, argv=argv, extra=notes)

    with tempfile.TemporaryDirectory(prefix="bench-peers-") as tmp:
        workdir = Path(tmp)
        sgb_keys = args.sgb if args.only in (None, "sgb") else []
        paths: dict[str, Path] = {}
        if sgb_keys:
            paths, info = _sba_exports(args.rows, args.seed, workdir)
            notes["sba"] = info
            print(f"SBA: {info['rows']} rows ({info['train_rows']} train / {info['test_rows']} test)")
        # The quick settings first and the long one last.
        for key in [k for k in sgb_keys if k != "t100_d5"]:
            save(_measure_sgb(key, paths, args.seed))
        if args.only in (None, "psi"):
            a, b, shared = _psi_exports(args.n, args.overlap, args.psi_seed, workdir)
            notes["psi"] = {"n": args.n, "overlap": args.overlap, "expected_intersection": shared}
            for protocol in PSI_PROTOCOLS:
                save(_measure_psi(protocol, a, b, args.n, shared))
        if "t100_d5" in sgb_keys:
            save(_measure_sgb("t100_d5", paths, args.seed))
    print_table(results)
    print(f"wrote {write('peers', results, argv=argv, extra=notes)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
