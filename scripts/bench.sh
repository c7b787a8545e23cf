#!/usr/bin/env bash
# The benchmark: bash scripts/bench.sh [--engines ...] [--invoices N] [--sizes 1,10,100] [--rounds N] [--skip ...]
# Builds its own database (aie_bench, with the demo data) and runs the sandboxes in its own process;
# `bash scripts/bench.sh --help` lists the options. See scripts/bench.py.
set -euo pipefail
# shellcheck source=scripts/_env.sh
source "$(dirname "${BASH_SOURCE[0]}")/_env.sh"

aie_setup
exec "$AIE_PYTHON" "$AIE_ROOT/scripts/bench.py" "$@"
