# shellcheck shell=bash
# scripts/_env.sh — shared set-up for scripts/test.sh, scripts/demo.sh and scripts/pg.sh.
# Sourced, never run. Defines settings and functions; `aie_setup` does the work:
#
#   1. Odoo 18.0:  $PYTHON if set (it must import odoo 18.0), else a `python3` that
#      imports odoo 18.0, else .venv/bin/python, else a bootstrap: git-clone
#      $ODOO_GIT_URL (default https://github.com/odoo/odoo.git) at $ODOO_GIT_REF
#      (default 18.0) into .odoo/, create .venv/ with $AIE_BASE_PYTHON (default
#      python3), install Debian build deps when root with apt-get, then
#      `pip install -r .odoo/requirements.txt` (build constraint setuptools<81)
#      and `pip install -e .odoo`. A second run reuses .odoo/ and .venv/.
#   2. Test deps: pytest, pytest-odoo, freezegun, requests, hypothesis, jsonschema; missing ones are
#      pip-installed into that interpreter.
#   3. PostgreSQL:
#      - Unless AIE_PG_PRIVATE=1, try an existing server: $PGHOST if set, else the
#        sockets /var/run/postgresql and /tmp, then 127.0.0.1; port $PGPORT
#        (default 5432); role $PGUSER (default: the OS user). The first one that
#        accepts a connection from a role allowed to create databases is used.
#        PGPORT/PGHOST only choose which *existing* server to try.
#      - Otherwise (nothing answers, or AIE_PG_PRIVATE=1) a private cluster in
#        .pgdata/ is created/started with the machine's PostgreSQL binaries
#        (PATH, /usr/lib/postgresql/*/bin): trust auth, 127.0.0.1 only, port
#        $AIE_PG_PORT or the first free one from 55432, fsync off (throw-away
#        data), superuser role named after $PGUSER / the OS user. As root, the
#        cluster is owned by $AIE_PG_OS_USER (default: postgres).
#        It keeps running between commands: `bash scripts/pg.sh stop` stops it,
#        `bash scripts/pg.sh destroy` deletes it, `bash scripts/pg.sh status`.
#      Odoo refuses the role name `postgres`: use another role.
#   4. Addons path: .build/addons/account_invoice_engine -> ../.. (Odoo needs the
#      folder to carry the module's name), then Odoo's own addons dirs.
#      Odoo's --data-dir is .build/data; logs go to .build/logs.
#
# Exports: AIE_ROOT AIE_PYTHON AIE_ADDONS_PATH AIE_DATA_DIR AIE_LOG_DIR
#          AIE_ADDON_LINK AIE_DB_HOST AIE_DB_PORT AIE_DB_USER (and PGHOST/PGPORT/PGUSER
#          pointing at the chosen server).

AIE_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
AIE_MODULE=account_invoice_engine
AIE_PGDATA="$AIE_ROOT/.pgdata"

# ---------------------------------------------------------------- messages
aie_say() { printf '==> %s\n' "$*" >&2; }
aie_note() { printf '    %s\n' "$*" >&2; }
aie_die() {
    printf '==> ERROR: %s\n' "$1" >&2
    shift
    local line
    for line in "$@"; do printf '    %s\n' "$line" >&2; done
    exit 1
}

# Milliseconds since the epoch (bash 5 EPOCHREALTIME, else GNU date).
aie_now_ms() {
    if [ -n "${EPOCHREALTIME:-}" ]; then
        local t=${EPOCHREALTIME//[.,]/}
        echo $((t / 1000))
    else
        date +%s%3N
    fi
}
# aie_secs START_MS -> "12.3s"
aie_secs() {
    local ms=$(($(aie_now_ms) - $1))
    printf '%d.%ds' $((ms / 1000)) $((ms % 1000 / 100))
}

# ------------------------------------------------------------------ 1. Odoo
ODOO_GIT_URL="${ODOO_GIT_URL:-https://github.com/odoo/odoo.git}"
ODOO_GIT_REF="${ODOO_GIT_REF:-18.0}"
AIE_ODOO_SRC="$AIE_ROOT/.odoo"
AIE_VENV="$AIE_ROOT/.venv"
AIE_APT_BUILD_DEPS=(libldap2-dev libsasl2-dev libpq-dev)

# aie_odoo_probe PY: succeeds when PY imports odoo 18.0, and then sets AIE_PYTHON
# (the interpreter itself, not a wrapper such as a pyenv shim), AIE_ODOO_VERSION
# and AIE_ODOO_ADDONS (Odoo's own addons dirs, comma-separated). One import of odoo.
aie_odoo_probe() {
    local out
    out=$(cd / && "$1" -c '
import os, sys
import odoo
from odoo import release
if tuple(release.version_info[:2]) != (18, 0):
    sys.exit(1)
pkg = os.path.dirname(os.path.abspath(odoo.__file__))
dirs = [os.path.join(os.path.dirname(pkg), "addons"), os.path.join(pkg, "addons")]
print(sys.executable)
print(release.version)
print(",".join(d for d in dirs if os.path.isdir(d)))' 2>/dev/null) || return 1
    { read -r AIE_PYTHON; read -r AIE_ODOO_VERSION; read -r AIE_ODOO_ADDONS; } <<<"$out"
}

aie_find_python() {
    if [ -n "${PYTHON:-}" ]; then
        aie_odoo_probe "$PYTHON" ||
            aie_die "PYTHON=$PYTHON does not import odoo 18.0." \
                "Unset PYTHON to let the scripts find or set up Odoo 18.0 (in .venv/)."
        return
    fi
    if aie_odoo_probe python3 || aie_odoo_probe "$AIE_VENV/bin/python"; then return; fi
    aie_bootstrap_odoo
    aie_odoo_probe "$AIE_VENV/bin/python" || aie_die ".venv/bin/python still does not import odoo 18.0."
}

aie_clone_odoo() {
    if [ -f "$AIE_ODOO_SRC/odoo-bin" ] && [ -f "$AIE_ODOO_SRC/odoo/release.py" ]; then
        aie_say "reusing the Odoo checkout in .odoo/"
        return
    fi
    command -v git >/dev/null || aie_die "git is needed to fetch Odoo (Debian: apt-get install git)."
    local tmp="$AIE_ROOT/.build/odoo-clone.partial"
    rm -rf "$tmp" && mkdir -p "$AIE_ROOT/.build"
    aie_say "cloning Odoo $ODOO_GIT_REF from $ODOO_GIT_URL into .odoo/ (shallow)"
    git clone --quiet --depth 1 --branch "$ODOO_GIT_REF" "$ODOO_GIT_URL" "$tmp" ||
        aie_die "could not clone $ODOO_GIT_URL (branch $ODOO_GIT_REF)." \
            "Set ODOO_GIT_URL / ODOO_GIT_REF to a reachable copy, or PYTHON to an interpreter that imports odoo 18.0."
    rm -rf "$AIE_ODOO_SRC"
    mv "$tmp" "$AIE_ODOO_SRC"
}

# Debian packages needed to build python-ldap and psycopg2 (and a C compiler).
aie_apt_build_deps() {
    local pkgs=("${AIE_APT_BUILD_DEPS[@]}")
    command -v cc >/dev/null 2>&1 || pkgs+=(build-essential)
    local hint="On Debian/Ubuntu: apt-get install ${pkgs[*]} (elsewhere: the OpenLDAP, Cyrus SASL and libpq headers and a C compiler)."
    if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1 || ! command -v dpkg-query >/dev/null 2>&1; then
        aie_say "NOTE: building Odoo's requirements needs system headers; not root or no apt-get, so not installing them."
        aie_note "$hint"
        return
    fi
    local missing=() p
    for p in "${pkgs[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return
    aie_say "installing Debian build dependencies: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    local log="$AIE_ROOT/.build/logs/apt-get.log"
    mkdir -p "$(dirname "$log")"
    { apt-get install -y -q --no-install-recommends "${missing[@]}" ||
        { apt-get update -q && apt-get install -y -q --no-install-recommends "${missing[@]}"; }; } >"$log" 2>&1 ||
        aie_die "apt-get could not install ${missing[*]}; see ${log#"$AIE_ROOT"/}." "$hint"
}

# Chromium for Odoo's browser tours (HttpCase.start_tour), from Debian's packages when missing.
aie_browser() {
    local b
    for b in google-chrome chromium chromium-browser google-chrome-stable; do
        command -v "$b" >/dev/null 2>&1 && return 0
    done
    if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
        aie_say "NOTE: no Chromium, and not root with apt-get: the browser tours will be skipped."
        aie_note "On Debian/Ubuntu: apt-get install chromium"
        return 0
    fi
    aie_say "installing Chromium for the browser tours (apt-get install chromium)"
    export DEBIAN_FRONTEND=noninteractive
    local log="$AIE_ROOT/.build/logs/apt-get-chromium.log"
    mkdir -p "$(dirname "$log")"
    { apt-get install -y -q --no-install-recommends chromium ||
        { apt-get update -q && apt-get install -y -q --no-install-recommends chromium; }; } >"$log" 2>&1 ||
        aie_say "WARNING: apt-get could not install chromium (see ${log#"$AIE_ROOT"/}): the browser tours will be skipped."
}

# pip install with the build constraint setuptools<81 (cbor2's build needs
# pkg_resources). Newer pip has --build-constraint; older pip applies
# PIP_CONSTRAINT to its isolated build environments too.
aie_pip_install() {
    local py=$1
    shift
    local constraints="$AIE_ROOT/.build/pip-build-constraints.txt"
    mkdir -p "$AIE_ROOT/.build"
    echo 'setuptools<81' >"$constraints"
    if "$py" -m pip install --help 2>/dev/null | grep -q -- '--build-constraint'; then
        PIP_ROOT_USER_ACTION=ignore "$py" -m pip install --disable-pip-version-check --no-input -q --build-constraint "$constraints" "$@"
    else
        PIP_CONSTRAINT="$constraints" PIP_ROOT_USER_ACTION=ignore \
            "$py" -m pip install --disable-pip-version-check --no-input -q "$@"
    fi
}

aie_bootstrap_odoo() {
    local base="${AIE_BASE_PYTHON:-python3}"
    aie_say "no Python here imports odoo 18.0: setting up Odoo in .odoo/ and .venv/"
    command -v "$base" >/dev/null 2>&1 || aie_die "$base not found; install Python >= 3.10 (Debian: apt-get install python3 python3-venv python3-dev)."
    "$base" -c 'import sys; sys.exit(sys.version_info[:2] < (3, 10))' ||
        aie_die "Odoo 18.0 needs Python >= 3.10; $base is $("$base" -V 2>&1). Set AIE_BASE_PYTHON."
    aie_clone_odoo
    aie_apt_build_deps
    if [ ! -x "$AIE_VENV/bin/python" ]; then
        aie_say "creating .venv/ with $("$base" -V 2>&1)"
        "$base" -m venv "$AIE_VENV" ||
            aie_die "could not create .venv/ (Debian: apt-get install python3-venv)."
    fi
    aie_say "installing Odoo's Python requirements into .venv/ (several minutes the first time)"
    aie_pip_install "$AIE_VENV/bin/python" -r "$AIE_ODOO_SRC/requirements.txt" ||
        aie_die "pip could not install .odoo/requirements.txt (see above)." \
            "Building python-ldap and psycopg2 needs: ${AIE_APT_BUILD_DEPS[*]} and a C compiler (Debian package names)."
    aie_say "installing Odoo itself into .venv/ (pip install -e .odoo)"
    aie_pip_install "$AIE_VENV/bin/python" -e "$AIE_ODOO_SRC" ||
        aie_die "pip install -e .odoo failed (see above)."
}

# ------------------------------------------------------------ 2. test deps
# module name -> requirement
AIE_TEST_DEPS=("pytest:pytest>=8" "pytest_odoo:pytest-odoo>=2.3,<3" "freezegun:freezegun" "requests:requests" "hypothesis:hypothesis" "jsonschema:jsonschema" "websocket:websocket-client")

aie_test_deps() {
    local mods=() spec
    for spec in "${AIE_TEST_DEPS[@]}"; do mods+=("${spec%%:*}"); done
    local missing_mods
    missing_mods=$("$AIE_PYTHON" -c '
import importlib.util, sys
print(" ".join(m for m in sys.argv[1:] if importlib.util.find_spec(m) is None))' "${mods[@]}")
    [ -z "$missing_mods" ] && return
    local reqs=() m
    for m in $missing_mods; do
        for spec in "${AIE_TEST_DEPS[@]}"; do
            if [ "${spec%%:*}" = "$m" ]; then reqs+=("${spec#*:}"); fi
        done
    done
    aie_say "installing missing test dependencies into $AIE_PYTHON: ${reqs[*]}"
    aie_pip_install "$AIE_PYTHON" "${reqs[@]}" ||
        aie_die "pip could not install ${reqs[*]} into $AIE_PYTHON."
}

# ----------------------------------------------------------- 3. PostgreSQL
# Role name Odoo connects with.
aie_db_user() {
    local u="${PGUSER:-$(id -un)}"
    [ "$u" = postgres ] &&
        aie_die "Odoo refuses to connect as the role 'postgres'." \
            "Set PGUSER to another role (a private cluster creates it as a superuser)."
    echo "$u"
}

# aie_pg_probe HOST PORT USER: succeeds when USER can log in and create databases;
# prints the reason otherwise.
aie_pg_probe() {
    "$AIE_PYTHON" - "$@" <<'EOF'
import sys, psycopg2
host, port, user = sys.argv[1:4]
try:
    cnx = psycopg2.connect(host=host, port=port, user=user, dbname="postgres", connect_timeout=3)
except psycopg2.Error as e:
    print(str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__)
    sys.exit(1)
with cnx, cnx.cursor() as cr:
    cr.execute("SELECT rolsuper OR rolcreatedb FROM pg_roles WHERE rolname = current_user")
    ok = cr.fetchone()[0]
cnx.close()
if not ok:
    print(f"role {user!r} may not create databases")
    sys.exit(1)
EOF
}

# Try the server(s) the environment points at. Sets AIE_DB_HOST/PORT on success.
aie_pg_existing() {
    local port="${PGPORT:-5432}" user=$1 hosts=() host why
    if [ -n "${PGHOST:-}" ]; then hosts=("$PGHOST"); else hosts=(/var/run/postgresql /tmp 127.0.0.1); fi
    for host in "${hosts[@]}"; do
        if [ "${host#/}" != "$host" ] && [ ! -S "$host/.s.PGSQL.$port" ]; then continue; fi
        if why=$(aie_pg_probe "$host" "$port" "$user"); then
            AIE_DB_HOST=$host AIE_DB_PORT=$port
            aie_say "PostgreSQL: using the server at $host:$port as '$user'"
            return 0
        fi
        aie_note "PostgreSQL at $host:$port as '$user': $why"
    done
    aie_say "no usable PostgreSQL server at ${PGHOST:-the usual socket or 127.0.0.1}:$port for '$user'; using a private cluster in .pgdata/"
    return 1
}

# Directory holding initdb, pg_ctl and postgres; $1: wanted major version (optional).
aie_pg_bindir() {
    local want=${1:-} d candidates=()
    if command -v pg_ctl >/dev/null 2>&1; then
        candidates+=("$(dirname "$(readlink -f "$(command -v pg_ctl)")")")
    fi
    while IFS= read -r d; do candidates+=("$d"); done < <(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V -r)
    candidates+=(/usr/local/pgsql/bin)
    for d in "${candidates[@]}"; do
        [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ] && [ -x "$d/postgres" ] || continue
        if [ -n "$want" ] && [ "$("$d/postgres" -V | sed -E 's/^[^0-9]*([0-9]+).*/\1/')" != "$want" ]; then continue; fi
        echo "$d"
        return 0
    done
    return 1
}

# OS user that owns and runs the private cluster (PostgreSQL refuses root).
aie_pg_os_user() {
    if [ "$(id -u)" != 0 ]; then id -un; return; fi
    local u="${AIE_PG_OS_USER:-postgres}"
    id "$u" >/dev/null 2>&1 ||
        aie_die "running as root: the private PostgreSQL cluster must belong to a non-root user, and '$u' does not exist." \
            "Set AIE_PG_OS_USER to an existing unprivileged user."
    echo "$u"
}

# Run a command as the cluster's owner (from /, which it can always enter).
aie_as_pg_owner() {
    if [ "$(id -u)" != 0 ]; then "$@"; return; fi
    local u
    u=$(aie_pg_os_user)
    if command -v runuser >/dev/null 2>&1; then
        (cd / && runuser -u "$u" -- "$@")
    else
        (cd / && su -s /bin/sh "$u" -c "$(printf '%q ' "$@")")
    fi
}

# .pgdata with symlinks resolved: the owner may not be allowed through the project folder.
aie_pg_real() { readlink -f "$AIE_PGDATA"; }

aie_port_free() {
    ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

aie_pg_conf_port() {
    [ -f "$AIE_PGDATA/aie.conf" ] || return 0
    sed -nE "s/^port = ([0-9]+).*/\1/p" "$AIE_PGDATA/aie.conf" 2>/dev/null | tail -n 1
}

# Writes .pgdata/aie.conf (included from postgresql.conf) for port $1.
aie_pg_write_conf() {
    local port=$1 sockdir
    sockdir=$(aie_pg_real)
    # A Unix socket path is limited to 107 bytes: fall back to TCP only.
    [ $(( ${#sockdir} + 20 )) -gt 107 ] && sockdir=''
    aie_as_pg_owner tee "$(aie_pg_real)/aie.conf" >/dev/null <<EOF
# Written by scripts/_env.sh: private, throw-away cluster for tests and the demo.
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$sockdir'
fsync = off
synchronous_commit = off
full_page_writes = off
EOF
}

# Creates .pgdata (as the cluster owner); under root, when the owner cannot
# reach the project folder (e.g. below /root), the data lives in /var/tmp and
# .pgdata is a symlink to it.
aie_pg_make_datadir() {
    local owner
    owner=$(aie_pg_os_user)
    mkdir -p "$AIE_PGDATA"
    if [ "$(id -u)" = 0 ]; then
        chown "$owner" "$AIE_PGDATA"
        if ! aie_as_pg_owner test -w "$AIE_PGDATA"; then
            rmdir "$AIE_PGDATA"
            local real
            real="/var/tmp/aie-pgdata-$(printf '%s' "$AIE_ROOT" | cksum | cut -d' ' -f1)"
            aie_note "'$owner' cannot reach $AIE_ROOT; keeping the cluster in $real (.pgdata links to it)"
            mkdir -p "$real" && chown "$owner" "$real"
            ln -sfn "$real" "$AIE_PGDATA"
        fi
    fi
    chmod 700 "$AIE_PGDATA/"
}

aie_pg_init() {
    local bindir=$1 port=$2
    aie_say "initialising a private PostgreSQL cluster in .pgdata/ ($("$bindir/postgres" -V))"
    aie_pg_make_datadir
    local log="$AIE_ROOT/.build/logs/initdb.log"
    mkdir -p "$(dirname "$log")"
    # initdb empties the folder again when it fails; retry without C.UTF-8.
    local dir
    dir=$(aie_pg_real)
    if ! aie_as_pg_owner "$bindir/initdb" -D "$dir" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >"$log" 2>&1; then
        aie_as_pg_owner "$bindir/initdb" -D "$dir" -U postgres --auth=trust -E UTF8 --locale=C >"$log" 2>&1 ||
            aie_die "initdb failed; see $log"
    fi
    echo "include_if_exists = 'aie.conf'" | aie_as_pg_owner tee -a "$dir/postgresql.conf" >/dev/null
    aie_pg_write_conf "$port"
}

aie_pg_running() {
    [ -f "$AIE_PGDATA/PG_VERSION" ] || return 1
    local bindir
    bindir=$(aie_pg_bindir "$(cat "$AIE_PGDATA/PG_VERSION")") || return 1
    aie_as_pg_owner "$bindir/pg_ctl" -D "$(aie_pg_real)" status >/dev/null 2>&1
}

# Starts (initialising if needed) the private cluster; sets AIE_DB_HOST/PORT.
aie_pg_private() {
    local user=$1 bindir port
    if [ -f "$AIE_PGDATA/PG_VERSION" ]; then
        bindir=$(aie_pg_bindir "$(cat "$AIE_PGDATA/PG_VERSION")") ||
            aie_die ".pgdata/ was made by PostgreSQL $(cat "$AIE_PGDATA/PG_VERSION"), whose binaries are not here." \
                "Delete it (bash scripts/pg.sh destroy) to start afresh."
    else
        bindir=$(aie_pg_bindir) ||
            aie_die "no PostgreSQL server answers and no PostgreSQL binaries were found (PATH, /usr/lib/postgresql/*/bin)." \
                "Install PostgreSQL (Debian/Ubuntu: apt-get install postgresql), or point PGHOST/PGPORT/PGUSER at a server."
    fi
    if aie_pg_running; then
        port=$(aie_pg_conf_port)
    else
        port=${AIE_PG_PORT:-$(aie_pg_conf_port)}
        if [ -z "$port" ] || ! aie_port_free "$port"; then
            port=55432
            while ! aie_port_free "$port"; do port=$((port + 1)); done
        fi
        if [ -f "$AIE_PGDATA/PG_VERSION" ]; then
            aie_pg_write_conf "$port"
        else
            aie_pg_init "$bindir" "$port"
        fi
        aie_say "starting the private PostgreSQL cluster on 127.0.0.1:$port (stop it: bash scripts/pg.sh stop)"
        aie_as_pg_owner "$bindir/pg_ctl" -D "$(aie_pg_real)" -l "$(aie_pg_real)/server.log" -w -t 60 start >/dev/null ||
            aie_die "the private PostgreSQL cluster did not start; see .pgdata/server.log"
    fi
    aie_pg_ensure_role "$bindir" "$port" "$user"
    AIE_DB_HOST=127.0.0.1 AIE_DB_PORT=$port
    aie_say "PostgreSQL: private cluster at 127.0.0.1:$port as '$user'"
}

aie_pg_ensure_role() {
    local bindir=$1 port=$2 user=$3 psql
    psql="$bindir/psql"
    [ -x "$psql" ] || psql=$(command -v psql) || aie_die "psql not found (Debian: apt-get install postgresql-client)."
    local sql="DO \$\$BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$user') THEN CREATE ROLE \"$user\" SUPERUSER LOGIN; END IF; END\$\$;"
    "$psql" -X -q -h 127.0.0.1 -p "$port" -U postgres -d postgres -v ON_ERROR_STOP=1 -c "$sql" >/dev/null ||
        aie_die "could not create the role '$user' in the private cluster."
}

aie_pg_setup() {
    local user
    user=$(aie_db_user)
    if [ "${AIE_PG_PRIVATE:-0}" = 1 ] || ! aie_pg_existing "$user"; then
        aie_pg_private "$user"
    fi
    AIE_DB_USER=$user
    export AIE_DB_HOST AIE_DB_PORT AIE_DB_USER
    export PGHOST=$AIE_DB_HOST PGPORT=$AIE_DB_PORT PGUSER=$AIE_DB_USER
}

# -------------------------------------------------------- 4. addons path
aie_addons_setup() {
    local build="$AIE_ROOT/.build"
    AIE_ADDON_LINK="$build/addons/$AIE_MODULE"
    AIE_DATA_DIR="$build/data"
    AIE_LOG_DIR="$build/logs"
    mkdir -p "$build/addons" "$AIE_DATA_DIR" "$AIE_LOG_DIR"
    if [ ! -L "$AIE_ADDON_LINK" ] || [ "$(readlink "$AIE_ADDON_LINK")" != ../.. ]; then
        [ -e "$AIE_ADDON_LINK" ] && [ ! -L "$AIE_ADDON_LINK" ] &&
            aie_die "$AIE_ADDON_LINK exists and is not a symlink; remove it."
        ln -sfn ../.. "$AIE_ADDON_LINK"
    fi
    AIE_ADDONS_PATH="$build/addons,$AIE_ODOO_ADDONS"
    local d found='' dirs
    IFS=, read -r -a dirs <<<"$AIE_ODOO_ADDONS"
    for d in "${dirs[@]}"; do
        if [ -f "$d/account/__manifest__.py" ]; then found=1; fi
    done
    [ -n "$found" ] || aie_die "Odoo's 'account' module is not in $AIE_ODOO_ADDONS; this Odoo install lacks its addons."
    export AIE_ADDON_LINK AIE_DATA_DIR AIE_LOG_DIR AIE_ADDONS_PATH
}

# ---------------------------------------------------------------- all of it
aie_setup() {
    aie_find_python
    export AIE_PYTHON AIE_ROOT
    aie_say "Odoo: $AIE_ODOO_VERSION with $AIE_PYTHON"
    aie_test_deps
    aie_addons_setup
    aie_pg_setup
}
