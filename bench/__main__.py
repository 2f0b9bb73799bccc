"""Dispatch ``python -m bench <name> [args...]`` to ``bench.<name>.main(args)``; no name runs them all."""

from __future__ import annotations

import importlib
import pkgutil
import sys
from pathlib import Path


def _names() -> list[str]:
    modules = pkgutil.iter_modules([str(Path(__file__).parent)])
    return sorted(m.name for m in modules if not m.name.startswith("_"))


def run(argv: list[str]) -> int:
    if argv and argv[0] in ("-h", "--help"):
        print("usage: python -m bench [<name> [args...]]  (no name: every benchmark with its defaults)")
        print("benchmarks: " + ", ".join(_names()))
        return 0
    if not argv:
        failed = [name for name in _names() if run([name]) != 0]
        return 1 if failed else 0
    name, rest = argv[0], argv[1:]
    if name not in _names():
        print(f"unknown benchmark {name!r}; known: {', '.join(_names())}", file=sys.stderr)
        return 2
    module = importlib.import_module(f"bench.{name}")
    return int(module.main(rest))


if __name__ == "__main__":
    sys.exit(run(sys.argv[1:]))
