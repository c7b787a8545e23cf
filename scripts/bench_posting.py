#!/usr/bin/env python3
"""Benchmark: does the engine slow down posting? (DESIGN §2: no network while posting)

    bash scripts/bench.sh [--db aie_demo] [--invoices 200] [--rounds 5]

Posts the same batch of draft invoices of the demo company with the engine's *Send on
posting* off and on, alternately, inside transactions that are rolled back, and prints
the time per invoice for each. Needs the demo database (bash scripts/demo.sh --no-serve).
"""
import argparse
import statistics
import sys
import time

from demo import odoo_options


def build_drafts(env, count):
    ref = lambda name: env.ref(f"account_invoice_engine.{name}")  # noqa: E731
    partners = [ref("demo_partner_bakery"), ref("demo_partner_builder"), ref("demo_partner_software")]
    products = [ref("demo_product_consulting"), ref("demo_product_book")]
    return env["account.move"].create([{
        "move_type": "out_invoice",
        "partner_id": partners[index % len(partners)].id,
        "invoice_date": "2026-11-02",
        "invoice_line_ids": [(0, 0, {"product_id": product.id, "quantity": 1 + index % 3}) for product in products],
    } for index in range(count)])


def time_posting(env, count, auto_send):
    """Seconds to post ``count`` fresh drafts, everything rolled back afterwards."""
    env.cr.execute("SAVEPOINT bench")
    env.ref("account_invoice_engine.demo_engine").auto_send = auto_send
    drafts = build_drafts(env, count)
    env.flush_all()
    started = time.perf_counter()
    drafts.action_post()
    env.flush_all()
    elapsed = time.perf_counter() - started
    queued = sum(1 for move in drafts if move.engine_state == "queued")
    env.cr.execute("ROLLBACK TO SAVEPOINT bench")
    env.invalidate_all()
    assert queued == (count if auto_send else 0), queued
    return elapsed


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", default="aie_demo")
    parser.add_argument("--invoices", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=5)
    arguments = parser.parse_args()

    import odoo
    from odoo import SUPERUSER_ID, api
    from odoo.modules.registry import Registry

    odoo.tools.config.parse_config(odoo_options(arguments.db))
    results = {False: [], True: []}
    with Registry(arguments.db).cursor() as cr:
        company = api.Environment(cr, SUPERUSER_ID, {}).ref("account_invoice_engine.demo_company")
        env = api.Environment(cr, SUPERUSER_ID, {"allowed_company_ids": company.ids})
        time_posting(env, 20, False)  # warm the caches
        for round_number in range(arguments.rounds):
            order = (False, True) if round_number % 2 else (True, False)  # no bias from always going second
            for auto_send in order:
                results[auto_send].append(time_posting(env, arguments.invoices, auto_send))
        cr.rollback()

    per_invoice = {key: [seconds * 1000 / arguments.invoices for seconds in values] for key, values in results.items()}
    print(f"Posting {arguments.invoices} invoices, {arguments.rounds} rounds each (ms per invoice):")
    print(f"  {'':34} {'median':>8} {'min':>8} {'max':>8}")
    for auto_send, label in ((False, "engine off (plain Odoo)"), (True, "engine on (queued + cron trigger)")):
        values = per_invoice[auto_send]
        print(f"  {label:34} {statistics.median(values):8.2f} {min(values):8.2f} {max(values):8.2f}")
    for name, pick in (("median", statistics.median), ("min", min)):
        overhead = pick(per_invoice[True]) - pick(per_invoice[False])
        print(f"  overhead of the engine ({name}): {overhead:+.2f} ms per invoice "
              f"({overhead / pick(per_invoice[False]) * 100:+.1f} %)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
