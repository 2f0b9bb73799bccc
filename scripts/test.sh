#!/usr/bin/env bash
# The full suite: lint, types, then pytest (SQLite and PostgreSQL storage/API tests both run).
set -euo pipefail
cd "$(dirname "$0")/.."
.venv/bin/ruff check .
.venv/bin/mypy consent/src federation/src
.venv/bin/python -m pytest "$@"
