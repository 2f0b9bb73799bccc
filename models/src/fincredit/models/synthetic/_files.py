"""A city on disk: every table as Parquet plus ``catalog.json`` and ``manifest.json``, read back by
:func:`load_city`; the ``python -m fincredit.models.synthetic`` command."""

from __future__ import annotations

import argparse
import datetime as dt
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from fincredit.models.catalog_spec import CatalogSpec, load_catalog
from fincredit.models.errors import SyntheticDataError
from fincredit.models.synthetic._city import City, generate_city
from fincredit.models.synthetic._common import DEFAULT_AS_OF
from fincredit.models.synthetic._loans import BANKS


def write_city(
    out_dir: str | Path,
    n_enterprises: int,
    seed: int = 0,
    *,
    catalog: CatalogSpec | None = None,
    as_of: dt.date = DEFAULT_AS_OF,
    bad_row_share: float = 0.02,
    loan_share: float = 0.5,
    city: City | None = None,
) -> dict[str, Any]:
    """Generate (or take ``city``) and write every table as Parquet plus ``manifest.json``.

    Layout: ``enterprises.parquet``, ``persons.parquet``, ``loans.parquet``,
    ``records/<item>.parquet`` (clean truth), ``submissions/<item>.parquet`` (raw provider files) and
    ``submissions/<item>.defects.parquet``, ``market/<dataset>.parquet``, ``catalog.json``. Same
    arguments, same bytes in every table. ``catalog`` is the one to generate in (see
    :func:`generate_city`); a given ``city`` brings its own.
    """
    out = Path(out_dir)
    if city is None:
        if catalog is None:
            raise SyntheticDataError("write_city generates a city: give the catalog to generate it in")
        city = generate_city(
            n_enterprises,
            seed,
            catalog=catalog,
            as_of=as_of,
            bad_row_share=bad_row_share,
            loan_share=loan_share,
            submissions=False,
        )
    for sub in ("records", "submissions", "market"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    files: dict[str, dict[str, Any]] = {}

    def put(rel: str, table: pa.Table) -> None:
        pq.write_table(table, out / rel, compression="zstd")
        files[rel] = {"rows": table.num_rows, "columns": table.column_names}

    put("enterprises.parquet", city.enterprises)
    put("persons.parquet", city.persons)
    put("loans.parquet", city.loans)
    for code, table in city.records.items():
        put(f"records/{code}.parquet", table)
    if city.submissions:
        pairs: Iterable[tuple[str, pa.Table, pa.Table]] = (
            (code, table, city.defects[code]) for code, table in city.submissions.items()
        )
    else:
        pairs = city.iter_submissions()
    for code, table, side in pairs:
        put(f"submissions/{code}.parquet", table)
        put(f"submissions/{code}.defects.parquet", side)
        del table, side
    for code, table in city.market.items():
        put(f"market/{code}.parquet", table)
    if city.catalog is None:
        raise SyntheticDataError("this city has no catalog to write (load_city(..., catalog=))")
    described = {**city.catalog.to_dict(), "banks": BANKS}
    (out / "catalog.json").write_text(json.dumps(described, ensure_ascii=False, indent=1), encoding="utf-8")
    manifest = {**city.info, "files": files}
    (out / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=1), encoding="utf-8")
    return manifest


def load_city(out_dir: str | Path, *, catalog: CatalogSpec | None = None) -> City:
    """Read back what ``write_city`` wrote (``catalog``: the one it was generated in, which
    :meth:`City.iter_submissions` needs to remake the submissions)."""
    root = Path(out_dir)
    info = json.loads((root / "manifest.json").read_text(encoding="utf-8"))

    def read_dir(sub: str, suffix: str = ".parquet") -> dict[str, pa.Table]:
        return {
            p.name[: -len(suffix)]: pq.read_table(p)
            for p in sorted((root / sub).glob(f"*{suffix}"))
            if not p.name.endswith(".defects.parquet") or suffix == ".defects.parquet"
        }

    return City(
        seed=int(info["seed"]),
        as_of=dt.date.fromisoformat(info["as_of"]),
        enterprises=pq.read_table(root / "enterprises.parquet"),
        persons=pq.read_table(root / "persons.parquet"),
        records=read_dir("records"),
        submissions=read_dir("submissions"),
        defects=read_dir("submissions", ".defects.parquet"),
        market=read_dir("market"),
        loans=pq.read_table(root / "loans.parquet"),
        info={k: v for k, v in info.items() if k != "files"},
        catalog=catalog,
    )


def main(argv: list[str] | None = None) -> int:
    """``python -m fincredit.models.synthetic OUT_DIR --catalog FILE --enterprises N --seed S``."""
    ap = argparse.ArgumentParser(
        prog="python -m fincredit.models.synthetic", description="Write a seeded synthetic Ningbo as Parquet."
    )
    ap.add_argument("out_dir")
    ap.add_argument(
        "--catalog",
        required=True,
        type=Path,
        help="the catalog file to generate in (TOML or JSON), e.g. the platform's default_catalog.toml",
    )
    ap.add_argument("--enterprises", type=int, default=10_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--bad-row-share", type=float, default=0.02)
    ap.add_argument("--loan-share", type=float, default=0.5)
    ap.add_argument("--as-of", type=dt.date.fromisoformat, default=DEFAULT_AS_OF)
    args = ap.parse_args(argv)
    manifest = write_city(
        args.out_dir,
        args.enterprises,
        args.seed,
        catalog=load_catalog(args.catalog),
        as_of=args.as_of,
        bad_row_share=args.bad_row_share,
        loan_share=args.loan_share,
    )
    for rel, meta in manifest["files"].items():
        print(f"{meta['rows']:>10}  {rel}")
    model = manifest["loan_model"]
    print(f"loans default rate {model['default_rate']:.3f}, generating-model AUC {model['oracle_auc']:.3f}")
    return 0
