"""Write ``bench/results/<name>.json`` in the project's one benchmark format and print a short table.

{"benchmark", "machine", "date", "command", "results": [{"name", "value", "unit", "target",
"better": "higher"|"lower", "baseline", "ratio"}]}; the baseline is measured in the same run, and
``ratio`` is value / baseline.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

RESULTS_DIR = Path(__file__).resolve().parent / "results"


@dataclass(slots=True)
class Result:
    name: str
    value: float
    unit: str
    target: float | None = None
    better: Literal["higher", "lower"] = "lower"
    baseline: float | None = None
    ratio: float | None = None

    def __post_init__(self) -> None:
        if self.ratio is None and self.baseline:
            self.ratio = self.value / self.baseline


def machine() -> dict[str, Any]:
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpus": cpus,
        "cpu_model": model,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "load_average_1_5_15": list(load) if load else None,
    }


def write(name: str, results: list[Result], *, argv: list[str], extra: dict[str, Any] | None = None) -> Path:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    doc: dict[str, Any] = {
        "benchmark": name,
        "machine": machine(),
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "command": " ".join(["python -m bench", name, *argv]),
        "results": [asdict(r) for r in results],
    }
    if extra:
        doc["notes"] = extra
    path = RESULTS_DIR / f"{name}.json"
    path.write_text(json.dumps(doc, indent=2) + "\n")
    return path


def print_table(results: list[Result]) -> None:
    width = max([len(r.name) for r in results] + [4])
    print(f"{'name':<{width}}  {'value':>14}  {'unit':<10} {'target':>10}  {'baseline':>12}  {'ratio':>8}")
    for r in results:
        target = "" if r.target is None else f"{r.target:g}"
        baseline = "" if r.baseline is None else f"{r.baseline:.4g}"
        ratio = "" if r.ratio is None else f"{r.ratio:.3g}"
        print(f"{r.name:<{width}}  {r.value:>14.4g}  {r.unit:<10} {target:>10}  {baseline:>12}  {ratio:>8}")
