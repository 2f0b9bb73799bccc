#!/usr/bin/env bash
# The full suite: the static gates (lint, formatting, types of every member, architecture contracts), then
# pytest (SQLite and PostgreSQL storage/API tests both run). `--static-only` stops after the gates.
set -euo pipefail
cd "$(dirname "$0")/.."
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy
.venv/bin/lint-imports
if [ "${1:-}" = "--static-only" ]; then exit 0; fi
.venv/bin/python -m pytest "$@"
