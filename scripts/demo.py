#!/usr/bin/env python3
"""The demo: the Fakturoid sandbox, a demo database, invoices pushed and numbered, then Odoo.

    bash scripts/demo.sh [--no-serve] [--db aie_demo] [--http-port 8069] [--sandbox-port 8765]

1. starts the Fakturoid sandbox (``python -m sandbox fakturoid --seed-demo``);
2. builds the database with the addon and its demo data (a Czech company in CZK, Czech and
   Slovak customers, 21 % and 12 % products, an engine pointing at the sandbox);
3. posts four invoices and one credit note, runs the sending job and prints what Fakturoid
   numbered and which PDFs came back;
4. serves Odoo on localhost until Ctrl-C (not with ``--no-serve``).

Run through scripts/demo.sh, which sets up Odoo and PostgreSQL and exports the AIE_* variables.
"""
import argparse
import json
import os
import signal
import subprocess
import sys
import time

ROOT = os.environ.get("AIE_ROOT") or os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PYTHON = os.environ.get("AIE_PYTHON") or sys.executable


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


def start_sandbox(port):
    say(f"Starting the Fakturoid sandbox on 127.0.0.1:{port}")
    process = subprocess.Popen(
        [PYTHON, "-m", "sandbox", "fakturoid", "--port", str(port), "--seed-demo"],
        cwd=ROOT, stdout=subprocess.PIPE, text=True,
    )
    line = process.stdout.readline()
    if not line:
        process.wait(5)
        raise SystemExit(f"The sandbox did not start (exit code {process.returncode}); is port {port} free?")
    return process, json.loads(line)


def build_database(db):
    say(f"Building the demo database {db} (about a minute)")
    script = os.path.join(ROOT, "scripts", "odoo_db.py")
    for command in (["drop", "--db", db], ["create", "--db", db, "--modules", "account_invoice_engine", "--demo"]):
        if subprocess.run([PYTHON, script, *command]).returncode:
            raise SystemExit(f"Building the demo database failed ({' '.join(command[:1])}); see the lines above.")


def push_demo_documents(db, sandbox):
    """Post the demo invoices and run the sending job in this process; return summary rows."""
    import odoo
    from odoo import SUPERUSER_ID, Command, api, fields
    from odoo.modules.registry import Registry

    odoo.tools.config.parse_config(odoo_options(db))
    with Registry(db).cursor() as cr:
        env = api.Environment(cr, SUPERUSER_ID, {})
        company = env.ref("account_invoice_engine.demo_company")
        env = env(context={"allowed_company_ids": company.ids})
        engine = env.ref("account_invoice_engine.demo_engine")
        # A new API URL clears the saved secret: give it again with the sandbox's actual address.
        engine.write({"base_url": sandbox["api_url"], "fakturoid_client_secret_input": "demo-client-secret"})

        def ref(name):
            return env.ref(f"account_invoice_engine.{name}")

        def invoice(partner, lines, **values):
            return env["account.move"].create({
                "move_type": "out_invoice",
                "partner_id": ref(partner).id,
                "invoice_date": fields.Date.context_today(engine),
                "invoice_line_ids": [
                    Command.create({"product_id": ref(product).id, "quantity": quantity, "discount": discount})
                    for product, quantity, discount in lines
                ],
                **values,
            })

        invoices = (
            invoice("demo_partner_bakery", [("demo_product_consulting", 10, 0), ("demo_product_book", 2, 0)])
            + invoice("demo_partner_builder", [("demo_product_training", 2, 10)])
            + invoice("demo_partner_software", [("demo_product_consulting", 8, 0)],
                      currency_id=env.ref("base.EUR").id)
            + invoice("demo_partner_cafe", [("demo_product_book", 3, 0)])
        )
        invoices.action_post()
        credit_note = invoices[1]._reverse_moves([{
            "invoice_date": fields.Date.context_today(engine), "ref": "Jeden den školení zrušen",
        }])
        credit_note.invoice_line_ids.quantity = 1
        credit_note.action_post()
        cr.commit()

        moves = invoices + credit_note
        say("Posted 4 invoices and 1 credit note; running the sending job")
        for _attempt in range(5):
            env["invoice.engine"]._cron_send()
            moves.invalidate_recordset()
            if all(move.engine_state == "sent" and move.engine_pdf_id for move in moves):
                break
            time.sleep(1)
        return [
            (move.name, move.partner_id.name, move.engine_state, move.engine_number or "-",
             move.currency_id.format(move.amount_total),
             "PDF attached" if move.engine_pdf_id else "no PDF yet",
             f"credit note correcting {move.reversed_entry_id.engine_number}" if move.move_type == "out_refund" else "",
             move.engine_error or "")
            for move in moves
        ]


def print_summary(rows, sandbox, elapsed):
    sent = [row for row in rows if row[2] == "sent"]
    with_pdf = [row for row in rows if row[5] == "PDF attached"]
    print()
    print(f"Pushed {len(sent)} of {len(rows)} documents to the Fakturoid sandbox ({sandbox['api_url']}), "
          f"{len(with_pdf)} PDFs attached:")
    for name, partner, state, number, total, pdf, note, error in rows:
        line = f"  {name:<17} {partner:<26} {state:<6} Fakturoid {number:<10} {total:>14}  {pdf}"
        print(line + (f"  ({note})" if note else "") + (f"\n      {error}" if error else ""))
    print(f"Summary after {elapsed:.0f} s.", flush=True)
    return len(sent) == len(rows) and len(with_pdf) == len(rows)


def serve(db, port, sandbox):
    print(f"\nOdoo: http://localhost:{port}/odoo/action-account_invoice_engine.action_invoice_engine"
          f"   login: admin   password: admin")
    print(f"Fakturoid sandbox: {sandbox['url']} (state: {sandbox['url']}/_sandbox/state?slug={sandbox['slug']})")
    print("Ctrl-C stops both.", flush=True)
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
    parser.add_argument("--sandbox-port", type=int, default=8765)
    arguments = parser.parse_args()
    # Stopped by a signal as by Ctrl-C: the sandbox and Odoo are stopped on the way out.
    signal.signal(signal.SIGTERM, lambda *_args: sys.exit(143))

    started = time.monotonic()
    sandbox_process, sandbox = start_sandbox(arguments.sandbox_port)
    try:
        build_database(arguments.db)
        rows = push_demo_documents(arguments.db, sandbox)
        complete = print_summary(rows, sandbox, time.monotonic() - started)
        if arguments.no_serve:
            return 0 if complete else 1
        return serve(arguments.db, arguments.http_port, sandbox)
    finally:
        sandbox_process.terminate()
        sandbox_process.wait(10)


if __name__ == "__main__":
    sys.exit(main())
