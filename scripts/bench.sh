#!/usr/bin/env bash
# Posting benchmark (engine off vs on): bash scripts/bench.sh [--db aie_demo] [--invoices N] [--rounds N]
# Needs the demo database: bash scripts/demo.sh --no-serve
set -euo pipefail
# shellcheck source=scripts/_env.sh
source "$(dirname "${BASH_SOURCE[0]}")/_env.sh"

aie_setup
exec "$AIE_PYTHON" "$AIE_ROOT/scripts/bench_posting.py" "$@"
