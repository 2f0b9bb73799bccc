"""One party of SecretFlow's PSI engine (``spu.psi.psi_execute`` over a brpc link), run by the peer venv.

    python spu_psi_party.py SPEC.json RANK OUT.json

SPEC names both parties' ports, input CSVs, output CSVs, the id column and the protocol ("RR22" or
"ECDH", FourQ); rank 0 is the receiver. Each party writes its timing and the intersection size to OUT.json.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import spu
import spu.libspu

# spu 0.9.5 moved its logging module; its psi module still imports it from the old place.
spu.logging = spu.libspu.logging  # type: ignore[attr-defined]

import spu.psi as psi  # noqa: E402
from spu.libspu import link  # noqa: E402


def main(spec_path: str, rank_arg: str, out_path: str) -> None:
    spec = json.loads(Path(spec_path).read_text())
    rank = int(rank_arg)
    desc = link.Desc()
    for index, port in enumerate(spec["ports"]):
        desc.add_party(f"party{index}", f"127.0.0.1:{port}")
    desc.connect_retry_times = 600
    desc.connect_retry_interval_ms = 100
    desc.recv_timeout_ms = 3_600_000
    desc.http_timeout_ms = 3_600_000
    cpu0, wall0 = time.process_time(), time.perf_counter()
    lctx = link.create_brpc(desc, rank)
    lctx.barrier()
    linked_wall = time.perf_counter() - wall0

    protocol = spec["protocol"]
    conf = psi.PsiProtocolConfig(
        protocol=psi.PsiProtocol.PROTOCOL_RR22 if protocol == "RR22" else psi.PsiProtocol.PROTOCOL_ECDH,
        receiver_rank=0,
        broadcast_result=spec["broadcast_result"],
    )
    if protocol == "ECDH":
        conf.ecdh_params = psi.EcdhParams(curve=psi.EllipticCurveType.CURVE_FOURQ)
    config = psi.PsiExecuteConfig(
        protocol_conf=conf,
        input_params=psi.InputParams(
            path=spec["inputs"][rank], selected_keys=[spec["id_column"]], keys_unique=True
        ),
        output_params=psi.OutputParams(path=spec["outputs"][rank]),
    )
    cpu1, wall1 = time.process_time(), time.perf_counter()
    report = psi.psi_execute(config, lctx)
    wall, cpu = time.perf_counter() - wall1, time.process_time() - cpu1
    lctx.stop_link()
    result = {
        "rank": rank,
        "protocol": protocol,
        "psi_wall_s": wall,
        "psi_cpu_s": cpu,
        "link_wall_s": linked_wall,
        "original_count": report.original_count,
        "intersection_count": report.intersection_count,
        "cpu_s_total": time.process_time() - cpu0,
    }
    Path(out_path).write_text(json.dumps(result))


if __name__ == "__main__":
    main(*sys.argv[1:4])
