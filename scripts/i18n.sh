#!/usr/bin/env bash
# Refreshes the translation template i18n/account_invoice_engine.pot from the code and views:
#
#   bash scripts/i18n.sh
#
# Copies the module (its git-tracked files and what is changed in the work tree, without .build/)
# into a scratch addons folder, installs it in a scratch database (aie_i18n_<pid>), exports its
# terms with Odoo's own exporter (--i18n-export) and drops both. The copy: Odoo's exporter walks
# the module folder following links, and .build/addons/ links back to the repository.
# Then bring each language up to date, e.g. msgmerge --update i18n/cs.po i18n/account_invoice_engine.pot
# (and sk, ro, pl), and translate what is new: tests/test_translations.py fails while a term is missing.
set -euo pipefail
# shellcheck source=scripts/_env.sh
source "$(dirname "${BASH_SOURCE[0]}")/_env.sh"

aie_setup
DB="aie_i18n_$$"
SCRATCH=$(mktemp -d)
odoo_db() { "$AIE_PYTHON" "$AIE_ROOT/scripts/odoo_db.py" "$@"; }
cleanup() {
    odoo_db drop --db "$DB" >/dev/null 2>&1 || true
    rm -rf "$SCRATCH"
}
trap cleanup EXIT

mkdir -p "$SCRATCH/$AIE_MODULE"
(cd "$AIE_ROOT" && git ls-files -z --cached --others --exclude-standard | tar --null -cf - -T - 2>/dev/null) |
    tar -xf - -C "$SCRATCH/$AIE_MODULE"
ADDONS="$SCRATCH,$AIE_ODOO_ADDONS"

AIE_ADDONS_PATH="$ADDONS" odoo_db create --db "$DB" --modules "$AIE_MODULE"
POT="$AIE_ROOT/i18n/$AIE_MODULE.pot"
"$AIE_PYTHON" -m odoo -d "$DB" --addons-path="$ADDONS" \
    --db_host="$AIE_DB_HOST" --db_port="$AIE_DB_PORT" --db_user="$AIE_DB_USER" --data-dir="$AIE_DATA_DIR" \
    --i18n-export="$POT" --modules="$AIE_MODULE" --stop-after-init --log-level=warn 2>&1 |
    grep -v "Running as user 'root'" >&2 || true
[ -s "$POT" ] || aie_die "Odoo wrote no template to ${POT#"$AIE_ROOT"/}."
aie_say "wrote ${POT#"$AIE_ROOT"/}: $(grep -c '^msgid "' "$POT") terms"
