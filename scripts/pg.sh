#!/usr/bin/env bash
# Manages the private PostgreSQL cluster that scripts/_env.sh starts in .pgdata/
# when no usable server answers (or AIE_PG_PRIVATE=1). It keeps running between
# commands until stopped here.
#
#   bash scripts/pg.sh status    is it initialised / running, and on which port
#   bash scripts/pg.sh start     initialise if needed and start it
#   bash scripts/pg.sh stop      stop it (data kept)
#   bash scripts/pg.sh destroy   stop it and delete .pgdata/
set -euo pipefail
# shellcheck source=scripts/_env.sh
source "$(dirname "${BASH_SOURCE[0]}")/_env.sh"

usage() { sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '$d' -e 's/^# \{0,1\}//'; }

bindir() {
    [ -f "$AIE_PGDATA/PG_VERSION" ] || return 1
    aie_pg_bindir "$(cat "$AIE_PGDATA/PG_VERSION")"
}

pg_status() {
    if [ ! -f "$AIE_PGDATA/PG_VERSION" ]; then
        aie_say "no private cluster (.pgdata/ is not initialised)"
    elif aie_pg_running; then
        aie_say "private cluster running on 127.0.0.1:$(aie_pg_conf_port) (data: .pgdata/)"
    else
        aie_say "private cluster initialised but stopped (data: .pgdata/)"
        return 3
    fi
}

pg_stop() {
    if aie_pg_running; then
        aie_as_pg_owner "$(bindir)/pg_ctl" -D "$(aie_pg_real)" -m fast -w stop >/dev/null
        aie_say "stopped the private cluster"
    else
        aie_say "the private cluster is not running"
    fi
}

pg_destroy() {
    pg_stop
    local real
    real=$(readlink -f "$AIE_PGDATA" 2>/dev/null || true)
    if [ -L "$AIE_PGDATA" ]; then rm -f "$AIE_PGDATA"; fi
    if [ -n "$real" ] && [ -d "$real" ]; then rm -rf "$real"; fi
    rm -rf "$AIE_PGDATA"
    aie_say "deleted .pgdata/"
}

case "${1:-status}" in
    status) pg_status ;;
    start)
        user=$(aie_db_user)
        aie_pg_private "$user"
        ;;
    stop) pg_stop ;;
    destroy) pg_destroy ;;
    -h | --help | help) usage ;;
    *) usage >&2; exit 2 ;;
esac
