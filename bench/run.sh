#!/usr/bin/env bash
# closeout vs Microsoft's official Graph SDK for Python, on the same graph-sim tenant.
#
#   bench/run.sh              # 10,000 users (and `closeout plan` of 100,000)
#   bench/run.sh --quick      #  2,000 users (and 20,000)
#   bench/run.sh --help       # every option (time scale, latency, contenders, ...)
#
# Builds closeout and graph-sim in release mode, creates bench/.venv with msgraph-sdk from
# PyPI (once), then runs bench/bench.py. Extra flags for `closeout apply` (e.g. a pacing
# flag of a newer closeout): BENCH_CLOSEOUT_FLAGS="--parallelism 16" bench/run.sh
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"
VENV=bench/.venv

echo "== cargo build --release (closeout, graph-sim)" >&2
cargo build --release --workspace --quiet

if [ ! -x "$VENV/bin/python" ] || ! cmp -s bench/requirements.txt "$VENV/.requirements"; then
  echo "== creating $VENV with bench/requirements.txt (PyPI)" >&2
  "$PYTHON" -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet -r bench/requirements.txt
  cp bench/requirements.txt "$VENV/.requirements"
fi

exec "$VENV/bin/python" bench/bench.py "$@"
