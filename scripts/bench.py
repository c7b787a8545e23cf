#!/usr/bin/env python3
"""Benchmark: what users wait for, per engine, measured on this machine in one run.

    bash scripts/bench.sh [--engines fakturoid,smartbill,fakturownia] [--invoices 1000]
                          [--sizes 1,10,100] [--rounds 3] [--time-scale 0.1] [--posting-invoices 1000]
                          [--skip drain,overhead,queries,posting,soak] [--soak-invoices 1000] [--db aie_bench]

It builds its own database with the demo data (as ``bash scripts/demo.sh`` does) and runs each
engine's sandbox in this process with the engine's real rate limit, time-scaled so that a run
stays short: at ``--time-scale 0.25`` a 10-second window lasts 2.5 seconds, SmartBill's 10-minute
block 2.5 minutes, and the addon's throttle is scaled alike. Rates are reported in the engine's
own time (divided back by the scale), so the scale cancels out of every ratio.

Per engine:

1. Backlog drain: ``--invoices`` posted invoices for customers new to the engine, then as many for
   the same (now known) customers; the scheduled job runs until nothing is due. Reported: invoices
   per minute against the most the engine's limit allows for the calls each invoice needs; calls
   per invoice by kind; 429s received and SmartBill's 403 blocks provoked; the most calls seen in
   any window of the engine's limit.
2. Overhead: the same drain with the sandbox answering at once and no limit: the addon's own time
   per invoice.
3. SQL queries per invoice sent, for invoices of each ``--sizes`` lines (constant is the goal).
4. Posting: ``--posting-invoices`` drafts posted with the addon (engine on) against a database with
   Invoicing and the same localizations only, on the same chart, alternately, ``--rounds`` times;
   the ratio of the medians.
5. Fault soak (``scripts/bench_soak.py``): exactly once under faults with two workers.

Every figure is a count or a ratio measured in the same run; absolute times are this machine's.
"""
import argparse
import dataclasses
import os
import statistics
import subprocess
import sys
import time
from collections import Counter

from demo import PYTHON, ROOT, build_demo_database, configure_odoo, engine_demos, odoo_options, say

PHASES = ("drain", "overhead", "queries", "posting", "soak")
# How much faster than the engine's own clock each sandbox runs its limit by default: as fast as
# possible while a window still leaves the addon's own time per call (tens of ms) far below the
# time the limit allows per call, so that the drain measures the limit, not this machine.
TIME_SCALES = {"fakturoid": 0.5, "smartbill": 0.25, "fakturownia": 0.25}
PDF_RENDER_SECONDS = 2  # Fakturoid renders a PDF in the background, in a second or two [I]


def parse_arguments():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engines", default="", help="comma-separated engine types (default: every engine's demo)")
    parser.add_argument("--invoices", type=int, default=1000, help="invoices per drain (new, then known customers)")
    parser.add_argument("--sizes", default="1,10,100", help="lines per invoice for the SQL query counts")
    parser.add_argument("--size-invoices", type=int, default=20, help="invoices per size for the SQL counts")
    parser.add_argument("--overhead-invoices", type=int, default=200)
    parser.add_argument("--posting-invoices", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3, help="posting rounds (each posts with and without)")
    parser.add_argument("--time-scale", type=float, default=None,
                        help=f"multiplies every rate-limit window (default per engine: {TIME_SCALES})")
    parser.add_argument("--skip", default="", help=f"phases to leave out: {', '.join(PHASES)}")
    parser.add_argument("--soak-invoices", type=int, default=1000)
    parser.add_argument("--db", default="aie_bench")
    arguments = parser.parse_args()
    arguments.sizes = [int(size) for size in arguments.sizes.split(",") if size]
    arguments.skip = {phase for phase in arguments.skip.split(",") if phase}
    unknown = arguments.skip - set(PHASES)
    if unknown:
        parser.error(f"unknown phases: {', '.join(sorted(unknown))}")
    return arguments


# ---------------------------------------------------------------------------- set-up


def build_plain_database(db, modules):
    script = os.path.join(ROOT, "scripts", "odoo_db.py")
    commands = [["drop", "--db", db], ["create", "--db", db, "--modules", modules]]
    for command in commands:
        if subprocess.run([PYTHON, script, *command]).returncode:
            raise SystemExit(f"Building the benchmark database {db} failed; see the lines above.")


class EngineRun:
    """One engine's sandbox in this process, its demo fixtures, and the figures measured."""

    def __init__(self, registry, demo, time_scale):
        from odoo.addons.account_invoice_engine.engines import CLIENT_CLASSES
        from odoo.addons.account_invoice_engine.sandbox.__main__ import ENGINES

        self.registry, self.demo, self.time_scale = registry, demo, time_scale
        sandbox_class, seed = ENGINES[demo.ENGINE]
        self.sandbox = sandbox_class(time_scale=time_scale).start()
        if hasattr(self.sandbox, "pdf_render_seconds"):
            self.sandbox.pdf_render_seconds = PDF_RENDER_SECONDS
        self.info = {"url": self.sandbox.url, "api_url": self.sandbox.api_url, **seed(self.sandbox)}
        self.client_class = CLIENT_CLASSES[demo.ENGINE]
        self.capabilities = self.client_class.capabilities
        self.limit = self.capabilities.call_limit
        with self.env() as env:
            env, engine = demo.connect(env, self.info)
            engine.write({"auto_send": True})
            self.engine_id, self.company_id = engine.id, engine.company_id.id
        self.scale_throttle(time_scale)
        self.customers = 0

    def stop(self):
        self.client_class.capabilities = self.capabilities
        self.sandbox.stop()

    def env(self):
        from contextlib import contextmanager

        from odoo import SUPERUSER_ID, api

        @contextmanager
        def scope():
            with self.registry.cursor() as cr:
                company_ids = [self.company_id] if getattr(self, "company_id", None) else []
                yield api.Environment(cr, SUPERUSER_ID, {"allowed_company_ids": company_ids} if company_ids else {})

        return scope()

    def unlimited(self):
        """No rate limit for a while: the sandbox's windows shrink to nothing, the throttle is off."""
        from contextlib import contextmanager

        @contextmanager
        def scope():
            self.sandbox.time_scale = 1e-6
            self.scale_throttle(None)
            try:
                yield
            finally:
                self.sandbox.time_scale = self.time_scale
                self.scale_throttle(self.time_scale)

        return scope()

    def scale_throttle(self, scale):
        """The addon's throttle spends the engine's budget over the sandbox's scaled window."""
        limit = None if scale is None or self.limit is None else (self.limit[0], self.limit[1] * scale)
        self.client_class.capabilities = dataclasses.replace(self.capabilities, call_limit=limit)

    # -- invoices ------------------------------------------------------------

    def new_partners(self, env, count):
        fixtures = self.demo.bench_fixtures(env)
        values = [fixtures["new_customer"](self.customers + index) for index in range(count)]
        self.customers += count
        return env["res.partner"].create(values)

    def post_invoices(self, partners, lines=1):
        """Post one invoice per partner with ``lines`` lines; return their ids (queued at once)."""
        from odoo import Command

        with self.env() as env:
            products = self.demo.bench_fixtures(env)["products"]
            engine = env["invoice.engine"].browse(self.engine_id)
            # A journal the engine covers, one that sends on posting if there is one.
            journals = engine.journal_ids.sorted(lambda journal: not engine._sends_on_post(journal))
            moves = env["account.move"].create([{
                "move_type": "out_invoice",
                **({"journal_id": journals[0].id} if journals else {}),
                "partner_id": partner_id,
                "invoice_date": time.strftime("%Y-%m-%d"),
                "invoice_line_ids": [
                    Command.create({"product_id": products[line % len(products)].id, "quantity": 1 + line % 3})
                    for line in range(lines)
                ],
            } for partner_id in partners])
            moves.action_post()
            moves.filtered(lambda move: not move.engine_state).action_engine_send()  # the journal sends by button
            return moves.ids

    def drain(self, cr=None):
        """Run the sending job until nothing is due; return the seconds it took."""
        from odoo import SUPERUSER_ID, api, fields

        started = time.monotonic()
        while True:
            if cr is None:
                with self.registry.cursor() as own_cr:
                    wait = self._run_once(api.Environment(own_cr, SUPERUSER_ID, {}), fields)
            else:
                wait = self._run_once(api.Environment(cr, SUPERUSER_ID, {}), fields)
            if wait is None:
                return time.monotonic() - started
            time.sleep(min(max(wait, 0.01), 1.0))

    def _run_once(self, env, fields):
        """One run of the job for this engine; None when all is done, else seconds until the next is due."""
        engine = env["invoice.engine"].browse(self.engine_id)
        engine._process_queue()
        moves = env["account.move"]
        pending = moves.search([("engine_id", "=", engine.id), "|",
                                ("engine_state", "in", ("queued", "sending")),
                                "&", ("engine_state", "=", "sent"), ("engine_pdf_id", "=", False)])
        if not pending:
            return None
        now = fields.Datetime.now()
        moments = [moment for moment in pending.mapped("engine_next_attempt_at") + pending.mapped(
            "engine_pdf_next_attempt_at") + [engine.paused_until] if moment]
        return min(((moment - now).total_seconds() for moment in moments), default=0.0)

    # -- what the engine saw ---------------------------------------------------

    def log_mark(self):
        with self.env() as env:
            env.cr.execute("SELECT COALESCE(MAX(id), 0) FROM invoice_engine_log")
            return env.cr.fetchone()[0], len(self.sandbox.requests)

    def calls_since(self, mark):
        log_id, request_index = mark
        with self.env() as env:
            env.cr.execute(
                "SELECT operation, status_code FROM invoice_engine_log WHERE id > %s AND engine_id = %s",
                [log_id, self.engine_id],
            )
            rows = env.cr.fetchall()
        requests = self.sandbox.requests[request_index:]
        return Counter(operation for operation, _status in rows), Counter(status for _op, status in rows), requests

    def busiest_window(self, requests):
        """The most calls the sandbox received in any window of the engine's limit (scaled)."""
        if not self.limit:
            return None
        window = self.limit[1] * self.time_scale
        moments = sorted(request["at"] for request in requests)
        most, first = 0, 0
        for last, moment in enumerate(moments):
            while moments[first] <= moment - window:
                first += 1
            most = max(most, last - first + 1)
        return most


# ---------------------------------------------------------------------------- phases


def phase_drain(run, count, known):
    """Queue ``count`` invoices and drain them; ``known``: for customers the engine already holds."""
    with run.env() as env:
        partners = run.known_partners if known else run.new_partners(env, count).ids
    if not known:
        run.known_partners = partners
    move_ids = run.post_invoices(partners[:count])
    mark = run.log_mark()
    seconds = run.drain()
    operations, statuses, requests = run.calls_since(mark)
    with run.env() as env:
        moves = env["account.move"].browse(move_ids)
        sent = len(moves.filtered(lambda move: move.engine_state == "sent" and move.engine_pdf_id))
        states = Counter(moves.mapped("engine_state"))
    calls = sum(operations.values())
    if not calls:
        raise SystemExit(f"{run.demo.LABEL}: the drain made no call; states {dict(states)}")
    per_invoice = calls / count
    result = {
        "label": "known customers" if known else "new customers",
        "invoices": count, "sent": sent, "states": states, "seconds": seconds,
        "operations": operations, "calls_per_invoice": per_invoice,
        "status_429": statuses.get(429, 0),
        "status_403": statuses.get(403, 0),
        "busiest_window": run.busiest_window(requests),
    }
    if run.limit:
        # The least time the limit allows for these calls: a window's worth at once, then a window's
        # worth per window. Engine time: divided back by the sandbox's time scale.
        limit_calls, window = run.limit
        least = max(calls - limit_calls, 0) / limit_calls * window
        engine_seconds = seconds / run.time_scale
        result["theoretical"] = count / least * 60 if least else None
        result["measured"] = count / engine_seconds * 60
        result["limit_share"] = least / engine_seconds
        # The steady rate: the limit's calls per minute divided by the calls each invoice needs.
        result["steady"] = limit_calls / window * 60 / (calls / count)
    return result


def phase_overhead(run, count):
    """The addon's own time per invoice: the sandbox answers at once and nothing is throttled."""
    with run.unlimited():
        move_ids = run.post_invoices(run.known_partners[:count])
        seconds = run.drain()
    return {"invoices": len(move_ids), "ms_per_invoice": seconds * 1000 / len(move_ids)}


def phase_queries(run, sizes, count):
    """SQL statements per invoice sent (the job's own cursor, and all cursors), by number of lines."""
    import threading

    results = []
    with run.unlimited():
        for size in sizes:
            run.post_invoices(run.known_partners[:count], lines=size)
            thread = threading.current_thread()
            thread.query_count, thread.query_time = 0, 0.0
            with run.registry.cursor() as cr:
                before = cr.sql_log_count
                run.drain(cr)
                job = cr.sql_log_count - before
            results.append({"lines": size, "job": job / count, "all": thread.query_count / count})
    return results


# ---------------------------------------------------------------------------- posting


POSTING_SCRIPT = r"""
import statistics, sys, time
import odoo
from odoo import SUPERUSER_ID, Command, api
from odoo.modules.registry import Registry
odoo.tools.config.parse_config(sys.argv[4:])
count, chart = int(sys.argv[2]), sys.argv[3]
with Registry(sys.argv[1]).cursor() as cr:
    env = api.Environment(cr, SUPERUSER_ID, {})
    # With the addon: the demo company on this chart, whose engine covers its sales journals.
    # Without: the main company, on the same chart.
    company = (env["invoice.engine"].search([("company_id.chart_template", "=", chart)], order="id", limit=1).company_id
               if "invoice.engine" in env else env.company)
    env = env(context={"allowed_company_ids": company.ids})
    if company.chart_template != chart:
        env["account.chart.template"].try_loading(chart, company=company, install_demo=False)
    company.tax_calculation_rounding_method = "round_globally"
    tax = env["account.tax"].search([("name", "=", "Bench 21 %")]) or env["account.tax"].create(
        {"name": "Bench 21 %", "amount": 21, "type_tax_use": "sale", "company_id": company.id})
    products = env["product.product"].search([("name", "like", "Bench product")]) or env["product.product"].create(
        [{"name": f"Bench product {i}", "list_price": 10 + i * 7.35, "taxes_id": [Command.set(tax.ids)]} for i in range(3)])
    partner = env["res.partner"].search([("name", "=", "Bench customer")]) or env["res.partner"].create(
        {"name": "Bench customer", "country_id": company.country_id.id})
    if "invoice.engine" in env:  # posting queues the invoices and aligns their VAT
        assert env["invoice.engine"]._find_for_journal(env["account.journal"].search(
            [("company_id", "=", company.id), ("type", "=", "sale")], limit=1)).auto_send
    cr.commit()
    timings = []
    for _round in range(2):
        cr.execute("SAVEPOINT bench")
        drafts = env["account.move"].create([{
            "move_type": "out_invoice", "partner_id": partner.id, "invoice_date": "2026-11-02",
            "invoice_line_ids": [Command.create({"product_id": p.id, "quantity": 1 + (i + j) % 3, "discount": (i % 4) * 2.5})
                                 for j, p in enumerate(products)],
        } for i in range(count)])
        env.flush_all()
        started = time.perf_counter()
        drafts.action_post()
        env.flush_all()
        timings.append(time.perf_counter() - started)
        cr.execute("ROLLBACK TO SAVEPOINT bench")
        env.invalidate_all()
    print(min(timings))
"""


def phase_posting(arguments, demo):
    """Posting ``--posting-invoices`` drafts in the demo's company with the addon and its engine, against
    Invoicing alone with the same localizations and the same chart."""
    plain_db = f"{arguments.db}_plain"
    modules = ",".join(["account", *(each.LOCALIZATION for each in engine_demos())])
    say(f"Building {plain_db} with {modules} only, for the posting comparison")
    build_plain_database(plain_db, modules)
    options = odoo_options("x")[2:]  # every option but the database

    def post(db):
        output = subprocess.run([PYTHON, "-c", POSTING_SCRIPT, db, str(arguments.posting_invoices),
                                 demo.CHART_TEMPLATE, *options],
                                capture_output=True, text=True, check=True).stdout
        return float(output.strip().splitlines()[-1])

    timings = {"addon": [], "plain": []}
    for round_number in range(arguments.rounds):
        order = ("plain", "addon") if round_number % 2 else ("addon", "plain")  # no bias from going second
        for which in order:
            timings[which].append(post(arguments.db if which == "addon" else plain_db))
    return timings


# ---------------------------------------------------------------------------- report


def print_engine(run, results):
    label = run.demo.LABEL
    limit = run.limit
    print(f"\n{label}: limit {limit[0]} calls / {limit[1]:g} s" if limit else f"\n{label}: no documented limit",
          f"(sandbox time scale {run.time_scale:g}: windows last {limit[1] * run.time_scale:g} s here)" if limit else "")
    for drain in results.get("drain", ()):
        kinds = ", ".join(f"{name} {count / drain['invoices']:.2f}" for name, count in sorted(drain["operations"].items()))
        print(f"  backlog, {drain['label']}: {drain['sent']}/{drain['invoices']} sent with PDF in "
              f"{drain['seconds']:.1f} s here; states {dict(drain['states'])}")
        print(f"    calls per invoice {drain['calls_per_invoice']:.2f}: {kinds}")
        if drain.get("theoretical"):
            print(f"    invoices per minute (engine time) {drain['measured']:.1f} of {drain['steady']:.1f} that the "
                  f"limit allows for {drain['calls_per_invoice']:.2f} calls each: {drain['measured'] / drain['steady']:.0%} "
                  f"(of {drain['theoretical']:.1f} counting a first window's burst: {drain['limit_share']:.0%})")
        elif "measured" in drain:
            print(f"    invoices per minute (engine time) {drain['measured']:.1f}: too few calls to meet the limit")
        if limit:
            print(f"    busiest window: {drain['busiest_window']} calls (limit {limit[0]}); "
                  f"429 received: {drain['status_429']}; 403 received: {drain['status_403']}")
    overhead = results.get("overhead")
    if overhead:
        print(f"  addon's own time per invoice (instant sandbox, no limit): {overhead['ms_per_invoice']:.1f} ms "
              f"over {overhead['invoices']} invoices (this machine)")
    for size in results.get("queries", ()):
        print(f"  SQL per invoice sent, {size['lines']:>3} lines: job cursor {size['job']:.1f}, "
              f"all cursors (call log, throttle) {size['all']:.1f}")


def print_posting(timings, count):
    addon, plain = statistics.median(timings["addon"]), statistics.median(timings["plain"])
    print(f"\nPosting {count} invoices (best of 2 per round, {len(timings['addon'])} rounds, this machine):")
    print(f"  with the addon and an engine: median {addon:.2f} s ({addon * 1000 / count:.2f} ms per invoice)")
    print(f"  Invoicing alone:              median {plain:.2f} s ({plain * 1000 / count:.2f} ms per invoice)")
    print(f"  ratio: {addon / plain:.3f}x (goal: at most 1.05x)")


def main():
    arguments = parse_arguments()
    demos = [demo for demo in engine_demos() if not arguments.engines or demo.ENGINE in arguments.engines.split(",")]
    if not demos:
        raise SystemExit(f"No engine demo matches --engines {arguments.engines}")
    say(f"Building the benchmark database {arguments.db} as the demo's")
    build_demo_database(arguments.db)

    from odoo.modules.registry import Registry

    configure_odoo(arguments.db)
    registry = Registry(arguments.db)
    started = time.monotonic()
    for demo in demos:
        run = EngineRun(registry, demo, arguments.time_scale or TIME_SCALES.get(demo.ENGINE, 0.25))
        results = {}
        try:
            if "drain" not in arguments.skip:
                say(f"{demo.LABEL}: draining {arguments.invoices} invoices for new customers, then known ones")
                results["drain"] = [phase_drain(run, arguments.invoices, known=False),
                                    phase_drain(run, arguments.invoices, known=True)]
            elif {"overhead", "queries"} - arguments.skip:
                with run.env() as env:
                    run.known_partners = run.new_partners(env, max(arguments.overhead_invoices, arguments.size_invoices)).ids
            if "overhead" not in arguments.skip:
                say(f"{demo.LABEL}: the addon's own time per invoice")
                results["overhead"] = phase_overhead(run, min(arguments.overhead_invoices, len(run.known_partners)))
            if "queries" not in arguments.skip:
                say(f"{demo.LABEL}: SQL queries per invoice by size")
                results["queries"] = phase_queries(run, arguments.sizes, min(arguments.size_invoices, len(run.known_partners)))
        finally:
            run.stop()
        print_engine(run, results)
    if "posting" not in arguments.skip:
        say("Posting with the addon against Invoicing alone")
        print_posting(phase_posting(arguments, demos[0]), arguments.posting_invoices)
    if "soak" not in arguments.skip:
        soak = [PYTHON, os.path.join(ROOT, "scripts", "bench_soak.py"), "--db", arguments.db,
                "--invoices", str(arguments.soak_invoices), "--engines", ",".join(demo.ENGINE for demo in demos)]
        if arguments.time_scale:
            soak += ["--time-scale", str(arguments.time_scale)]
        if os.path.exists(soak[1]):
            subprocess.run(soak, check=False)
    print(f"\nBenchmark done in {time.monotonic() - started:.0f} s (this machine).", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
