#!/usr/bin/env bash
# Makes sure uv and the project's .venv exist, using nothing but python3 and PyPI.
# Prints the path of the uv to use on its last line.
set -euo pipefail
cd "$(dirname "$0")/.."
export UV_PYTHON_DOWNLOADS=never   # only PyPI is reachable: use the system's Python 3.11+
UV_VERSION=0.13.9
uv_bin=""
if command -v uv >/dev/null 2>&1; then
  uv_bin=$(command -v uv)
elif [ -x .tools/uv/bin/uv ]; then
  uv_bin=.tools/uv/bin/uv
else
  py=""
  for cand in python3.13 python3.12 python3.11 python3; do
    if command -v "$cand" >/dev/null 2>&1 && "$cand" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
      py=$cand; break
    fi
  done
  [ -n "$py" ] || { echo "fincredit needs Python 3.11 or newer on PATH" >&2; exit 1; }
  echo "bootstrap: installing uv $UV_VERSION into .tools/uv" >&2
  "$py" -m venv .tools/uv >&2
  .tools/uv/bin/python -m pip install -q --disable-pip-version-check "uv==$UV_VERSION" >&2
  uv_bin=.tools/uv/bin/uv
fi
py_req=""
if [ ! -x .venv/bin/python ]; then
  for cand in python3.13 python3.12 python3.11 python3; do
    if command -v "$cand" >/dev/null 2>&1 && "$cand" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
      py_req=$(command -v "$cand"); break
    fi
  done
fi
./scripts/system-deps.sh ${FINCREDIT_SYSTEM_DEPS:-} >&2
"$uv_bin" sync --locked --all-packages ${py_req:+--python "$py_req"} ${FINCREDIT_SYNC_EXTRA:-} >&2
echo "$uv_bin"
