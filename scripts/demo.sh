#!/usr/bin/env bash
# Runs the demo of account_invoice_engine: bash scripts/demo.sh [ARGS...]
#
# Sets up Odoo, the test/demo Python deps and PostgreSQL exactly as
# scripts/test.sh does (scripts/_env.sh), then runs scripts/demo.py with ARGS and
# these variables exported:
#   AIE_PYTHON       interpreter that imports odoo 18.0
#   AIE_ROOT         repository root (the addon)
#   AIE_ADDONS_PATH  .build/addons (symlink named account_invoice_engine) + Odoo's addons
#   AIE_DATA_DIR     Odoo --data-dir (.build/data)
#   AIE_LOG_DIR      .build/logs
#   AIE_DB_HOST, AIE_DB_PORT, AIE_DB_USER   the PostgreSQL server to use
# demo.py can build its database with
#   "$AIE_PYTHON" "$AIE_ROOT/scripts/odoo_db.py" create --db NAME --modules account_invoice_engine,... --demo
set -euo pipefail
# shellcheck source=scripts/_env.sh
source "$(dirname "${BASH_SOURCE[0]}")/_env.sh"

aie_setup
[ -f "$AIE_ROOT/scripts/demo.py" ] || aie_die "scripts/demo.py is missing."
exec "$AIE_PYTHON" "$AIE_ROOT/scripts/demo.py" "$@"
