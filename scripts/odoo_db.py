#!/usr/bin/env python3
"""Create or drop an Odoo database for account_invoice_engine, driving Odoo in-process.

    odoo_db.py create --db NAME --modules account_invoice_engine[,other] [--demo]
                      [--test-tags SPEC] [--allow-warnings] [--log-file PATH]
    odoo_db.py drop --db NAME
    odoo_db.py drop-stale --prefix aie_test_
    odoo_db.py exists --db NAME

`create` does what `odoo-bin -d NAME -i MODULES [--without-demo=all] --stop-after-init`
does: an empty database (odoo.service.db._create_empty_database), then
Registry.new(NAME, update_module=True). The whole log, at INFO level, goes to
.build/logs/NAME-install.log; the console only shows WARNING and above. The command
fails when any log line is WARNING, ERROR or CRITICAL (listed at the end), or when a
module did not end up installed.

With --test-tags, Odoo's own test runner runs while installing (--test-enable,
HTTP server on a free port, post-install tests), exactly as odoo-bin does, and the
command fails when Odoo's final "N failed, M error(s) of K tests" line reports a
failure or error, or no test ran. Warnings do not fail this mode (tests may log
them on purpose); they are counted.

Connection, addons path and data dir default to the AIE_* variables exported by
scripts/_env.sh (AIE_DB_HOST, AIE_DB_PORT, AIE_DB_USER, AIE_ADDONS_PATH,
AIE_DATA_DIR, AIE_LOG_DIR), then to PGHOST/PGPORT/PGUSER, .build/addons plus
Odoo's own addons, and .build/data.
"""
import argparse
import logging
import os
import re
import socket
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SUMMARY_RE = re.compile(r"(\d+) failed, (\d+) error\(s\) of (\d+) tests")
LOG_FORMAT = "%(asctime)s %(pid)s %(levelname)s %(dbname)s %(name)s: %(message)s %(perf_info)s"


def shown(path):
    """A path as the user reads it: relative to the repository when inside it."""
    rel = os.path.relpath(os.path.abspath(path), ROOT)
    return path if rel.startswith("..") else rel


def say(msg):
    print(f"==> {msg}", file=sys.stderr, flush=True)


class Collector(logging.Handler):
    """Keeps WARNING+ lines and Odoo's final test summary."""

    def __init__(self):
        super().__init__(logging.INFO)
        self.problems = []
        self.summary = None

    def emit(self, record):
        try:
            msg = record.getMessage()
        except Exception:  # a broken log call is a problem too
            msg = f"{record.msg!r} % {record.args!r}"
        if record.name == "odoo.tests.result" and "when loading database" in msg:
            self.summary = msg
        if record.levelno >= logging.WARNING:
            first = msg.strip().splitlines()[0] if msg.strip() else ""
            self.problems.append(f"{record.levelname} {record.name}: {first}")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def default_addons_path():
    """.build/addons (made by scripts/_env.sh) plus Odoo's own addons folders."""
    import odoo
    pkg = os.path.dirname(os.path.abspath(odoo.__file__))
    dirs = [os.path.join(ROOT, ".build", "addons"), os.path.join(os.path.dirname(pkg), "addons"),
            os.path.join(pkg, "addons")]
    return ",".join(d for d in dirs if os.path.isdir(d))


def odoo_args(opts, log_level="info"):
    addons_path = opts.addons_path or default_addons_path()
    args = ["-d", opts.db, "--addons-path", addons_path, "--log-level", log_level,
            "--max-cron-threads", "0", "--workers", "0"]
    if opts.data_dir:
        args += ["--data-dir", opts.data_dir]
    if opts.db_host:
        args += ["--db_host", opts.db_host]
    if opts.db_port:
        args += ["--db_port", str(opts.db_port)]
    if opts.db_user:
        args += ["--db_user", opts.db_user]
    return args


def setup_odoo(args, verbose=False):
    import odoo
    from odoo.tools import config

    config.parse_config(args, setup_logging=True)
    if config["db_user"] == "postgres":
        sys.exit("odoo_db.py: Odoo refuses the database role 'postgres'; use another role")
    root = logging.getLogger()
    if not verbose:
        for handler in root.handlers:  # Odoo's console handler: problems only
            handler.setLevel(logging.WARNING)
    return odoo, config


def db_exists(odoo, name):
    from contextlib import closing
    with closing(odoo.sql_db.db_connect("postgres").cursor()) as cr:
        cr.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
        return bool(cr.fetchone())


def modules_not_installed(odoo, db, modules):
    from contextlib import closing
    with closing(odoo.sql_db.db_connect(db).cursor()) as cr:
        cr.execute("SELECT name, state FROM ir_module_module WHERE name = ANY(%s)", (modules,))
        states = dict(cr.fetchall())
    return {m: states.get(m, "unknown") for m in modules if states.get(m) != "installed"}


def cmd_create(opts):
    modules = [m.strip() for m in opts.modules.split(",") if m.strip()]
    log_file = opts.log_file or os.path.join(opts.log_dir, f"{opts.db}-install.log")
    os.makedirs(os.path.dirname(os.path.abspath(log_file)), exist_ok=True)

    args = odoo_args(opts) + ["-i", ",".join(modules), "--stop-after-init"]
    if not opts.demo:
        args.append("--without-demo=all")
    if opts.test_tags:
        args += ["--test-tags", opts.test_tags, "--http-port", str(free_port())]
    else:
        args.append("--no-http")
    args += opts.odoo_arg
    odoo, config = setup_odoo(args, opts.verbose)

    root = logging.getLogger()
    file_handler = logging.FileHandler(log_file, mode="w", encoding="utf-8")
    file_handler.setLevel(logging.INFO)
    file_handler.setFormatter(odoo.netsvc.DBFormatter(LOG_FORMAT))
    collector = Collector()
    root.addHandler(file_handler)
    root.addHandler(collector)

    import odoo.service.db
    import odoo.service.server
    from odoo.modules.registry import Registry

    if db_exists(odoo, opts.db):
        sys.exit(f"odoo_db.py: database {opts.db!r} already exists; drop it first "
                 f"(scripts/odoo_db.py drop --db {opts.db})")
    what = "with" if opts.demo else "without"
    tests = f", running Odoo's tests {opts.test_tags}" if opts.test_tags else ""
    say(f"creating database {opts.db}: installing {', '.join(modules)} {what} demo data{tests}")
    say(f"install log: {shown(log_file)}")
    t0 = time.time()
    odoo.service.db._create_empty_database(opts.db)
    config["init"]["base"] = True  # as odoo-bin does for a database it just created
    rc = 0
    if opts.test_tags:
        # Same path as odoo-bin: HTTP server (HttpCase), install with at_install
        # tests, post_install tests, final summary, stop.
        rc = odoo.service.server.start(preload=[opts.db], stop=True)
    else:
        odoo.service.server.load_server_wide_modules()
        try:
            Registry.new(opts.db, update_module=True)
        except Exception:
            logging.getLogger("odoo_db").critical("Failed to initialize database `%s`.",
                                                  opts.db, exc_info=True)
            rc = 1
    elapsed = time.time() - t0
    file_handler.flush()

    missing = {} if rc else modules_not_installed(odoo, opts.db, modules)
    odoo.sql_db.close_all()
    failed = bool(rc) or bool(missing)
    for module, state in missing.items():
        say(f"module {module} is not installed (state: {state})")

    if opts.test_tags:
        return report_tests(collector, rc, elapsed, log_file) or int(failed)
    if collector.problems:
        say(f"the install logged {len(collector.problems)} WARNING/ERROR/CRITICAL line(s):")
        for line in collector.problems:
            print(f"    {line}", file=sys.stderr)
        say(f"full log: {shown(log_file)}")
        failed = failed or not opts.allow_warnings
    if failed:
        say(f"FAILED: database {opts.db} did not install cleanly ({elapsed:.1f}s)")
        return 1
    say(f"database {opts.db} ready: installed with no warning or error in {elapsed:.1f}s")
    return 0


def report_tests(collector, rc, elapsed, log_file):
    warnings = sum(1 for p in collector.problems if p.startswith("WARNING"))
    if not collector.summary:
        say(f"FAILED: Odoo printed no test summary (rc={rc}); see {shown(log_file)}")
        return 1
    say(f"Odoo test runner: {collector.summary} ({elapsed:.1f}s, {warnings} warning line(s) "
        f"in {shown(log_file)})")
    failed, errors, total = map(int, SUMMARY_RE.search(collector.summary).groups())
    if total == 0:
        say("FAILED: no tests ran (tests must be imported from tests/__init__.py)")
        return 1
    if failed or errors or rc:
        say("FAILED: see the errors above and the log")
        return 1
    return 0


def cmd_drop(opts):
    odoo, config = setup_odoo(odoo_args(opts, log_level="warn"))
    import odoo.service.db
    dropped = drop(odoo, config, opts.db)
    say(f"dropped database {opts.db}" if dropped else f"no database {opts.db} to drop")
    return 0


def drop(odoo, config, name):
    if not db_exists(odoo, name):
        fs = config.filestore(name)
        if os.path.isdir(fs):
            import shutil
            shutil.rmtree(fs)
        return False
    config["db_name"], config["dbfilter"] = name, ""  # exp_drop only drops listed dbs
    return odoo.service.db.exp_drop(name)


def cmd_drop_stale(opts):
    """Drops PREFIX<pid> databases whose process is gone (killed test runs).

    Lists them with plain psycopg2 first: Odoo is only loaded when there is one."""
    from contextlib import closing
    import psycopg2
    params = {"host": opts.db_host, "port": opts.db_port, "user": opts.db_user}
    with closing(psycopg2.connect(dbname="postgres", **{k: v for k, v in params.items() if v})) as cnx:
        with cnx.cursor() as cr:
            cr.execute("SELECT datname FROM pg_database WHERE starts_with(datname, %s)", (opts.prefix,))
            names = [n for (n,) in cr.fetchall()]
    stale = [n for n in names
             if n[len(opts.prefix):].isdigit() and not pid_alive(int(n[len(opts.prefix):]))]
    if not stale:
        return 0
    opts.db = "postgres"
    odoo, config = setup_odoo(odoo_args(opts, log_level="warn"))
    import odoo.service.db
    for name in stale:
        drop(odoo, config, name)
        say(f"dropped stale database {name} (process {name[len(opts.prefix):]} is gone)")
    return 0


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def cmd_exists(opts):
    odoo, _config = setup_odoo(odoo_args(opts, log_level="warn"))
    return 0 if db_exists(odoo, opts.db) else 1


def main(argv=None):
    env = os.environ.get
    common = argparse.ArgumentParser(add_help=False)
    build = os.path.join(ROOT, ".build")
    common.add_argument("--addons-path", default=env("AIE_ADDONS_PATH"),
                        help="default: .build/addons and Odoo's own addons")
    common.add_argument("--data-dir", default=env("AIE_DATA_DIR") or os.path.join(build, "data"))
    common.add_argument("--log-dir", default=env("AIE_LOG_DIR") or os.path.join(build, "logs"))
    common.add_argument("--db-host", default=env("AIE_DB_HOST") or env("PGHOST"))
    common.add_argument("--db-port", default=env("AIE_DB_PORT") or env("PGPORT"))
    common.add_argument("--db-user", default=env("AIE_DB_USER") or env("PGUSER"))

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    create = sub.add_parser("create", parents=[common], help="create a database and install modules")
    create.add_argument("--db", required=True)
    create.add_argument("--modules", required=True, help="comma-separated module names")
    create.add_argument("--demo", action="store_true", help="load demo data")
    create.add_argument("--test-tags", help="run Odoo's own test runner with these tags")
    create.add_argument("--allow-warnings", action="store_true",
                        help="report WARNING/ERROR lines but do not fail on them")
    create.add_argument("--log-file", help="default: LOG_DIR/DB-install.log")
    create.add_argument("--verbose", action="store_true", help="show the INFO log on the console")
    create.add_argument("--odoo-arg", action="append", default=[],
                        help="extra odoo-bin option, e.g. --odoo-arg=--load-language=fr_FR")
    drop_p = sub.add_parser("drop", parents=[common], help="drop a database and its filestore")
    drop_p.add_argument("--db", required=True)
    stale = sub.add_parser("drop-stale", parents=[common], help="drop PREFIX<pid> databases of dead processes")
    stale.add_argument("--prefix", required=True)
    exists = sub.add_parser("exists", parents=[common], help="exit 0 when the database exists")
    exists.add_argument("--db", required=True)

    opts = parser.parse_args(argv)
    command = {"create": cmd_create, "drop": cmd_drop, "drop-stale": cmd_drop_stale,
               "exists": cmd_exists}[opts.command]
    try:
        return command(opts)
    except KeyboardInterrupt:
        say("interrupted")
        return 130


if __name__ == "__main__":
    sys.exit(main())
