#!/usr/bin/env bash
# Runs the whole test suite of account_invoice_engine.
#
#   bash scripts/test.sh [PYTEST ARGS...]   pytest + pytest-odoo, e.g. -k oauth, -x,
#                                           tests/test_foo.py (paths relative to the repo)
#   bash scripts/test.sh --odoo-runner      the same tests through Odoo's own runner
#                                           (--test-enable while installing)
#
# Every run: sets up Odoo, test deps and PostgreSQL (scripts/_env.sh), creates a
# fresh database aie_test_<pid> with the module and Odoo's l10n_ro_edi (TEST_MODULES below)
# installed WITHOUT demo data and fails if that install logs any WARNING/ERROR/CRITICAL line
# (scripts/odoo_db.py),
# runs the tests, prints the summary and the wall times, and drops the database
# (also on failure or Ctrl-C). Logs: .build/logs/aie_test_<pid>-*.log; a browser tour that fails
# leaves its screenshot in .build/logs/screenshots/. The tours need Chromium: installed with
# apt-get when missing (as root), else they are skipped and the run says so.
#
# Env: AIE_KEEP_DB=1 keeps the database; AIE_TEST_TAGS overrides the runner's
# --test-tags (default /account_invoice_engine); PYTHON, PGHOST/PGPORT/PGUSER,
# AIE_PG_PRIVATE=1 ... are described at the top of scripts/_env.sh.
set -euo pipefail
# shellcheck source=scripts/_env.sh
source "$(dirname "${BASH_SOURCE[0]}")/_env.sh"

usage() { sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '$d' -e 's/^# \{0,1\}//'; }

DB=
T_START=$(aie_now_ms)
# Installed beside the addon, as the companies using it have them: Odoo's own RO e-Factura
# (with l10n_ro and base_vat), for tests/test_ro_efactura.py: it and SmartBill never both submit
# an invoice to ANAF.
TEST_MODULES=l10n_ro_edi

odoo_db() { "$AIE_PYTHON" "$AIE_ROOT/scripts/odoo_db.py" "$@"; }

on_exit() {
    local rc=$?
    trap - EXIT INT TERM
    if [ -n "$DB" ]; then
        if [ "${AIE_KEEP_DB:-0}" = 1 ]; then
            aie_say "keeping database $DB (AIE_KEEP_DB=1); drop it with:"
            aie_note "PGHOST=$AIE_DB_HOST PGPORT=$AIE_DB_PORT $AIE_PYTHON scripts/odoo_db.py drop --db $DB"
        else
            odoo_db drop --db "$DB" >/dev/null 2>&1 || aie_say "WARNING: could not drop database $DB"
        fi
    fi
    aie_say "total wall time: $(aie_secs "$T_START")"
    [ "$rc" = 0 ] || aie_say "FAILED (exit $rc)"
    exit "$rc"
}

create_db() {
    local t0
    t0=$(aie_now_ms)
    odoo_db create --db "$DB" --modules "$AIE_MODULE,$TEST_MODULES" "$@"
    T_INSTALL=$(aie_secs "$t0")
}

# pytest arguments: repo-relative test paths are mapped onto the symlinked
# addon (.build/addons/account_invoice_engine/...), everything else passes through.
PYTEST_OPTS=()
PYTEST_PATHS=()
split_pytest_args() {
    local a rel
    for a in "$@"; do
        rel=
        case $a in
            "$AIE_ROOT"/*) rel=${a#"$AIE_ROOT"/} ;;
            ./*) rel=${a#./} ;;
            tests | tests/* | *.py | *.py::*) rel=$a ;;
        esac
        if [ -n "$rel" ] && [ "${a#-}" = "$a" ] && [ -e "$AIE_ROOT/${rel%%::*}" ]; then
            PYTEST_PATHS+=("$AIE_ADDON_LINK/$rel")
        else
            PYTEST_OPTS+=("$a")
        fi
    done
    [ ${#PYTEST_PATHS[@]} -gt 0 ] || PYTEST_PATHS=("$AIE_ADDON_LINK/tests")
}

run_pytest() {
    split_pytest_args "$@"
    create_db
    local log="$AIE_LOG_DIR/$DB-pytest.log" rc t0 http_port
    # A port of our own: another test run (another clone) may hold Odoo's default 8069.
    http_port=$("$AIE_PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    aie_say "running pytest (log: ${log#"$AIE_ROOT"/})"
    t0=$(aie_now_ms)
    # Run from .build/addons: pytest-odoo names test modules after the folder
    # holding __manifest__.py, which must be called account_invoice_engine.
    set +e
    (
        cd "$AIE_ROOT/.build/addons" &&
            PYTHONPATH="$AIE_ROOT/scripts${PYTHONPATH:+:$PYTHONPATH}" \
            "$AIE_PYTHON" -m pytest -p no:cacheprovider -p pytest_quiet_odoo --rootdir "$AIE_ADDON_LINK" \
                --odoo-database="$DB" \
                --odoo-addons-path="$AIE_ADDONS_PATH" \
                --odoo-log-level=warn \
                --odoo-http \
                --odoo-extra "db_host=$AIE_DB_HOST" \
                --odoo-extra "db_port=$AIE_DB_PORT" \
                --odoo-extra "db_user=$AIE_DB_USER" \
                --odoo-extra "data-dir=$AIE_DATA_DIR" \
                --odoo-extra "max-cron-threads=0" \
                --odoo-extra "http-port=$http_port" \
                --odoo-extra "screenshots=$AIE_LOG_DIR/screenshots" \
                "${PYTEST_OPTS[@]}" "${PYTEST_PATHS[@]}"
    ) 2>&1 | (trap '' INT; tee "$log") # tee outlives Ctrl-C: pytest's own summary is kept
    rc=${PIPESTATUS[0]}
    set -e
    local summary
    summary=$(grep -E '(passed|failed|error|errors|skipped|deselected|xfailed|xpassed|no tests ran).* in [0-9.]+s' "$log" | tail -n 1 || true)
    echo
    aie_say "pytest: ${summary:-no summary line (exit $rc)}"
    aie_say "wall times: fresh install $T_INSTALL, pytest $(aie_secs "$t0")"
    case $rc in
        0) ;;
        5) aie_die "pytest collected no tests (or all were deselected): nothing was tested." \
            "Tests are tests/test_*.py modules, imported from tests/__init__.py." ;;
        *) return "$rc" ;;
    esac
}

run_odoo_runner() {
    [ $# -eq 0 ] || aie_die "--odoo-runner takes no pytest arguments ($*); use AIE_TEST_TAGS=... to select tests."
    local tags="${AIE_TEST_TAGS:-/$AIE_MODULE}"
    create_db --test-tags "$tags" --log-file "$AIE_LOG_DIR/$DB-odoo-runner.log"
    aie_say "wall times: fresh install + Odoo test runner $T_INSTALL"
}

prune_logs() {
    # keep the newest 30 test logs
    local logs=("$AIE_LOG_DIR"/aie_test_*.log)
    [ -e "${logs[0]}" ] || return 0
    # shellcheck disable=SC2012 # our own file names, no odd characters
    ls -1t "${logs[@]}" | tail -n +31 | xargs -r rm -f
}

main() {
    local runner=0 args=() a
    for a in "$@"; do
        case $a in
            --odoo-runner) runner=1 ;;
            -h | --help) usage; exit 0 ;;
            *) args+=("$a") ;;
        esac
    done
    aie_setup
    aie_browser
    prune_logs
    odoo_db drop-stale --prefix aie_test_
    DB="aie_test_$$"
    trap on_exit EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    if [ "$runner" = 1 ]; then
        run_odoo_runner "${args[@]}"
    else
        run_pytest "${args[@]}"
    fi
}

main "$@"
