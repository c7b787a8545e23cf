#!/usr/bin/env python3
"""The demo: each engine's sandbox, one demo database, invoices pushed and numbered, then Odoo.

    bash scripts/demo.sh [--no-serve] [--db aie_demo] [--http-port 8069] [--sandbox-port 8765]

1. starts every engine's sandbox (``python -m sandbox <engine> --seed-demo``), on
   ``--sandbox-port`` and the ports after it, in the order of the engines' names;
2. builds the database with the addon and its demo data (one company per engine, each with its
   customers, products and an engine pointing at its sandbox), the engines' localizations and
   their languages, then makes each company one of its country: its localization's chart of
   accounts, the chart's sale taxes on its products, its partners in their country's language;
3. for each engine (``scripts/demo_<engine>.py``): posts its invoices and credit notes, runs
   the sending job and prints what the engine numbered and what came back;
4. serves Odoo on localhost until Ctrl-C (not with ``--no-serve``).

An engine's demo module names the engine (``ENGINE``, ``LABEL``), its company and how it is
localized (``COMPANY``, ``LOCALIZATION``, ``CHART_TEMPLATE``, ``LANGUAGES`` by country,
``PRODUCT_TAXES``: product xml id -> the chart's tax) and provides ``push(env, sandbox, today)``
returning the moves it posted; optionally ``after_localizing(env)`` (what needs the chart),
``after_sending(env, moves)`` (payments, status read-back) and ``notes(move)``, extra words for
the summary line of a move.

Run through scripts/demo.sh, which sets up Odoo and PostgreSQL and exports the AIE_* variables.
"""
import argparse
import functools
import importlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = os.environ.get("AIE_ROOT") or os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PYTHON = os.environ.get("AIE_PYTHON") or sys.executable
SEND_ATTEMPTS = 10


def say(message):
    print(f"==> {message}", file=sys.stderr, flush=True)


def odoo_options(db):
    options = ["-d", db, "--log-level", "warn"]
    for option, variable in (
        ("--addons-path", "AIE_ADDONS_PATH"),
        ("--data-dir", "AIE_DATA_DIR"),
        ("--db_host", "AIE_DB_HOST"),
        ("--db_port", "AIE_DB_PORT"),
        ("--db_user", "AIE_DB_USER"),
    ):
        if os.environ.get(variable):
            options += [option, os.environ[variable]]
    return options


def engine_demos():
    """Each engine's part of the demo: the ``scripts/demo_<engine>.py`` modules, in name order."""
    sys.path.insert(0, os.path.join(ROOT, "scripts"))
    return [importlib.import_module(path.stem) for path in sorted(Path(ROOT, "scripts").glob("demo_*.py"))]


def start_sandbox(demo, port):
    say(f"Starting the {demo.LABEL} sandbox on 127.0.0.1:{port}")
    process = subprocess.Popen(
        [PYTHON, "-m", "sandbox", demo.ENGINE, "--port", str(port), "--seed-demo"],
        cwd=ROOT, stdout=subprocess.PIPE, text=True,
    )
    line = process.stdout.readline()
    if not line:
        process.wait(5)
        raise SystemExit(f"The {demo.LABEL} sandbox did not start (exit code {process.returncode}); "
                         f"is port {port} free?")
    return process, json.loads(line)


def build_demo_database(db):
    """The demo database: the addon with its demo data, each engine's localization and languages,
    then each demo company localized.

    The charts are loaded here, once everything is installed, and not by the demo data: the
    localizations only need account, as the addon does, so one install may load the addon's demo
    data before them, and the addon's demo data must not need modules its manifest does not name.
    """
    demos = engine_demos()
    modules = ",".join(["account_invoice_engine", *(demo.LOCALIZATION for demo in demos)])
    # The first language loaded is the database's default one: English stays the users' language.
    languages = ",".join(["en_US", *sorted({language for demo in demos for language in demo.LANGUAGES.values()})])
    say(f"Building the database {db}: {modules} with demo data, in {languages} (a few minutes)")
    script = os.path.join(ROOT, "scripts", "odoo_db.py")
    create = ["create", "--db", db, "--modules", modules, "--demo", f"--odoo-arg=--load-language={languages}"]
    for command in (["drop", "--db", db], create):
        if subprocess.run([PYTHON, script, *command]).returncode:
            raise SystemExit(f"Building the database {db} failed ({command[0]}); see the lines above.")
    from odoo import SUPERUSER_ID, api
    from odoo.modules.registry import Registry

    configure_odoo(db)
    with Registry(db).cursor() as cr:
        for demo in demos:
            say(f"Making the {demo.LABEL} demo company one of its country ({demo.LOCALIZATION})")
            localize(api.Environment(cr, SUPERUSER_ID, {}), demo)


def localize(env, demo):
    """The localization's chart and sale taxes for the engine's demo company, its partners in their languages."""
    company = env.ref(demo.COMPANY)
    env = env(context={"allowed_company_ids": company.ids})
    charts = env["account.chart.template"]
    charts.try_loading(demo.CHART_TEMPLATE, company, install_demo=False)
    for product, tax in demo.PRODUCT_TAXES.items():
        env.ref(product).taxes_id = charts.ref(tax)
    customers = env["res.partner"].search(
        [("company_id", "=", company.id), ("country_id.code", "in", list(demo.LANGUAGES))])
    for partner in customers | company.partner_id:
        partner.lang = demo.LANGUAGES[partner.country_id.code]
    if hasattr(demo, "after_localizing"):
        demo.after_localizing(env)


@functools.cache
def configure_odoo(db):
    """Odoo's configuration, read once: a second parse_config in one process fails."""
    import odoo

    odoo.tools.config.parse_config(odoo_options(db))


def push_demo_documents(db, demo, sandbox):
    """Post the engine's demo documents and run the sending job in this process; return summary rows."""
    from odoo import SUPERUSER_ID, api, fields
    from odoo.modules.registry import Registry

    configure_odoo(db)
    with Registry(db).cursor() as cr:
        env = api.Environment(cr, SUPERUSER_ID, {})
        moves = demo.push(env, sandbox, fields.Date.context_today(env.user))
        cr.commit()
        say(f"Posted {len(moves)} documents for {demo.LABEL}; running the sending job")
        for _attempt in range(SEND_ATTEMPTS):
            env["invoice.engine"]._cron_send()
            moves.invalidate_recordset()
            if all(move.engine_state == "sent" and move.engine_pdf_id for move in moves):
                break
            time.sleep(1)
        if hasattr(demo, "after_sending"):
            demo.after_sending(env, moves)
            cr.commit()
            moves.invalidate_recordset()
        return [summary_row(demo, move) for move in moves]


def summary_row(demo, move):
    notes = [f"credit note correcting {move.reversed_entry_id.engine_display_number}"] if move.move_type == "out_refund" else []
    notes += demo.notes(move) if hasattr(demo, "notes") else []
    return (move.name, move.partner_id.name, move.engine_state, move.engine_display_number or "-",
            move.currency_id.format(move.amount_total), "PDF attached" if move.engine_pdf_id else "no PDF yet",
            "; ".join(notes), move.engine_error or "")


def print_summary(demo, rows, sandbox):
    sent = [row for row in rows if row[2] == "sent"]
    with_pdf = [row for row in rows if row[5] == "PDF attached"]
    print()
    print(f"Pushed {len(sent)} of {len(rows)} documents to the {demo.LABEL} sandbox ({sandbox['api_url']}), "
          f"{len(with_pdf)} PDFs attached:")
    for name, partner, state, number, total, pdf, note, error in rows:
        line = f"  {name:<17} {partner[:26]:<26} {state:<6} {demo.LABEL} {number:<12} {total:>15}  {pdf}"
        print(line + (f"  ({note})" if note else "") + (f"\n      {error}" if error else ""), flush=True)
    return len(sent) == len(rows) and len(with_pdf) == len(rows)


def serve(db, port, sandboxes):
    print(f"\nOdoo: http://localhost:{port}/odoo/action-account_invoice_engine.action_invoice_engine"
          f"   login: admin   password: admin")
    for label, sandbox in sandboxes:
        print(f"{label} sandbox: {sandbox['url']}")
    print("Ctrl-C stops them all.", flush=True)
    server = subprocess.Popen([PYTHON, "-m", "odoo", *odoo_options(db), "--db-filter", f"^{db}$",
                               "--http-port", str(port), "--http-interface", "127.0.0.1"])
    try:
        return server.wait()
    except KeyboardInterrupt:
        return 0
    finally:
        if server.poll() is None:
            server.terminate()
            server.wait(30)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-serve", action="store_true", help="exit after the summary (for scripts)")
    parser.add_argument("--db", default="aie_demo")
    parser.add_argument("--http-port", type=int, default=8069)
    parser.add_argument("--sandbox-port", type=int, default=8765,
                        help="the first engine's sandbox port; the next engines take the ports after it")
    arguments = parser.parse_args()
    # Stopped by a signal as by Ctrl-C: the sandboxes and Odoo are stopped on the way out.
    signal.signal(signal.SIGTERM, lambda *_args: sys.exit(143))

    started = time.monotonic()
    demos = engine_demos()
    processes, sandboxes = [], []
    try:
        for offset, demo in enumerate(demos):
            process, sandbox = start_sandbox(demo, arguments.sandbox_port + offset)
            processes.append(process)
            sandboxes.append((demo.LABEL, sandbox))
        build_demo_database(arguments.db)
        complete = True
        for demo, (_label, sandbox) in zip(demos, sandboxes):
            rows = push_demo_documents(arguments.db, demo, sandbox)
            complete = print_summary(demo, rows, sandbox) and complete
        print(f"\nSummary after {time.monotonic() - started:.0f} s.", flush=True)
        if arguments.no_serve:
            return 0 if complete else 1
        return serve(arguments.db, arguments.http_port, sandboxes)
    finally:
        for process in processes:
            process.terminate()
            process.wait(10)


if __name__ == "__main__":
    sys.exit(main())
