#!/usr/bin/env python3
"""Fault soak: exactly once and nothing lost, per engine, with two worker processes that get killed.

    python scripts/bench_soak.py --db aie_bench [--engines fakturoid,...] [--invoices 1000]
        [--credit-notes 100] [--payments 300] [--fault-rate 0.2] [--kills 10] [--time-scale S]

The last phase of ``bash scripts/bench.sh`` (on its database). Per engine, in one run:

- ``--invoices`` invoices for customers new to the engine, then ``--credit-notes`` credit notes
  (every other one for the whole invoice) and ``--payments`` payments, while
- two worker processes run the sending job at once, each on its own database connection, and kill
  themselves (SIGKILL) now and then right after the engine confirmed a create and before the commit:
  at least ``--kills`` times; a killed worker is started again;
- a share ``--fault-rate`` of all calls fails: 5xx, 429 (SmartBill: 403), an HTML page, a connection
  reset before sending, a connection reset after the engine stored the document (``Chaos`` in
  ``sandbox/http.py``); Fakturoid's access token also expires in the middle of the run;
- the waits between attempts are compressed (every half second, all of them have passed), so
  that the run retries as often as it would over hours.

Then the faults stop, the workers finish, and the engine's state is compared with Odoo's: documents
per move, duplicates, moves lost (neither sent nor in a state a person is told about), payments
recorded twice or not at all, and the moves left in Needs review with their reasons.
"""
import argparse
import importlib
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
import types
from collections import Counter
from pathlib import Path

import psycopg2

from bench import TIME_SCALES, EngineRun
from demo import PYTHON, ROOT, engine_demos, odoo_options, say

SETTLED_MOVE_STATES = ("sent", "needs_review", "error", "missing")
SETTLED_PAYMENT_STATES = ("sent", "error", "deleted", "delete_error")
TIMEOUT = 3600  # seconds a soak of one engine may take

WORKER_SCRIPT = r"""
import dataclasses, os, random, signal, sys, time
import odoo
from odoo import SUPERUSER_ID, api
from odoo.modules.registry import Registry

db, engine_id, scale, kill_probability, kill_log, stop_file, seed = sys.argv[1:8]
odoo.tools.config.parse_config(sys.argv[8:])
registry = Registry(db)
from odoo.addons.account_invoice_engine.engines import CLIENT_CLASSES

with registry.cursor() as cr:
    engine_type = api.Environment(cr, SUPERUSER_ID, {})["invoice.engine"].browse(int(engine_id)).engine_type
client_class = CLIENT_CLASSES[engine_type]
limit = client_class.capabilities.call_limit
if limit:  # the throttle spends the budget over the sandbox's scaled window, as the benchmark does
    client_class.capabilities = dataclasses.replace(client_class.capabilities, call_limit=(limit[0], limit[1] * float(scale)))

engines = registry["invoice.engine"]
create = engines._create_document
dice = random.Random(int(seed))

def create_then_maybe_die(self, client, move, document, customer_id):
    ref = create(self, client, move, document, customer_id)
    if dice.random() < float(kill_probability):  # the engine stored it; Odoo never commits that
        with open(kill_log, "a") as log:
            log.write(f"{move.id}\n")
        os.kill(os.getpid(), signal.SIGKILL)
    return ref

engines._create_document = create_then_maybe_die
while not os.path.exists(stop_file):
    with registry.cursor() as cr:
        api.Environment(cr, SUPERUSER_ID, {})["invoice.engine"].browse(int(engine_id))._process_queue()
    time.sleep(0.05)
"""


def parse_arguments():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", default="aie_bench")
    parser.add_argument("--engines", default="")
    parser.add_argument("--invoices", type=int, default=1000)
    parser.add_argument("--credit-notes", type=int, default=100)
    parser.add_argument("--payments", type=int, default=300)
    parser.add_argument("--fault-rate", type=float, default=0.2)
    parser.add_argument("--kills", type=int, default=10, help="at least this many worker kills")
    parser.add_argument("--time-scale", type=float, default=None, help="default: bench.py's per engine")
    return parser.parse_args()


def load_harness(engine):
    """The test harness of ``engine`` (its neutral view of the sandbox), without the test suite.

    ``tests/__init__.py`` imports every test module and Odoo's test framework; a stand-in package
    lets the harness modules load on their own.
    """
    package = "odoo.addons.account_invoice_engine.tests"
    if package not in sys.modules:
        stand_in = types.ModuleType(package)
        stand_in.__path__ = [str(Path(ROOT, "tests"))]
        sys.modules[package] = stand_in
    module = importlib.import_module(f"{package}.harness_{engine}")
    return next(value for value in vars(module).values()
                if isinstance(value, type) and value.__module__ == module.__name__ and value.__name__.endswith("Harness"))


class Workers:
    """Two worker processes running the sending job for one engine; killed ones are started again."""

    def __init__(self, run, db, kill_probability, folder):
        self.run, self.db, self.kill_probability = run, db, kill_probability
        self.kill_log, self.stop_file = Path(folder, "kills"), Path(folder, "stop")
        self.kill_log.touch()
        self.processes, self.started = [], 0

    def keep_two_running(self):
        self.processes = [process for process in self.processes if process.poll() is None]
        while len(self.processes) < 2:
            self.started += 1
            self.processes.append(subprocess.Popen([
                PYTHON, "-c", WORKER_SCRIPT, self.db, str(self.run.engine_id), str(self.run.time_scale),
                str(self.kill_probability), str(self.kill_log), str(self.stop_file), str(self.started),
                *odoo_options("x")[2:],
            ]))

    def calm(self):
        """From now on, nobody dies any more (the killers read their probability at start)."""
        self.kill_probability = 0.0
        self.stop()
        self.stop_file.unlink()

    def stop(self):
        self.stop_file.touch()
        for process in self.processes:
            try:
                process.wait(120)
            except subprocess.TimeoutExpired:
                process.kill()
        self.processes = []

    @property
    def kills(self):
        return len(self.kill_log.read_text().split())


def soak(run, harness, arguments, folder):
    say(f"{run.demo.LABEL}: soak with {arguments.invoices} invoices, {arguments.credit_notes} credit notes, "
        f"{arguments.payments} payments, {arguments.fault_rate:.0%} of calls faulted, two workers")
    kill_probability = min(1.0, 3 * arguments.kills / max(arguments.invoices + arguments.credit_notes, 1))
    workers = Workers(run, arguments.db, kill_probability, folder)
    chaos = run.sandbox.set_chaos(arguments.fault_rate, seed=17)
    started = time.monotonic()
    with run.env() as env:
        partners = run.new_partners(env, arguments.invoices).ids
    invoice_ids = run.post_invoices(partners)
    credit_note_ids, payment_keys, expired = [], set(), False
    try:
        while time.monotonic() - started < TIMEOUT:
            workers.keep_two_running()
            with run.env() as env:
                moves = env["account.move"].browse(invoice_ids)
                sent = moves.filtered(lambda move: move.engine_state == "sent")
                if not expired and len(sent) >= len(moves) // 2 and hasattr(run.sandbox, "expire_tokens"):
                    run.sandbox.expire_tokens(harness.client_id)
                    expired = True
                if not credit_note_ids and len(sent) >= arguments.credit_notes:
                    credit_note_ids = post_credit_notes(env, sent[:arguments.credit_notes])
                if len(payment_keys) < arguments.payments:
                    payment_keys |= register_payments(env, sent - env["account.move"].browse(credit_note_ids).reversed_entry_id,
                                                      arguments.payments - len(payment_keys))
                done = settled(env, invoice_ids + credit_note_ids)
                compress_waits(env, invoice_ids + credit_note_ids)
            if done and credit_note_ids and len(payment_keys) >= arguments.payments and workers.kills >= arguments.kills:
                break
            if done and workers.kills < arguments.kills:
                break  # nothing left to kill a worker on
            time.sleep(0.5)
        run.sandbox.set_chaos(0)
        workers.calm()
        while time.monotonic() - started < TIMEOUT:
            workers.keep_two_running()
            with run.env() as env:
                if settled(env, invoice_ids + credit_note_ids, pdfs=True):
                    break
                compress_waits(env, invoice_ids + credit_note_ids)
            time.sleep(0.5)
    finally:
        workers.stop()
    return compare(run, harness, invoice_ids + credit_note_ids, chaos, workers, time.monotonic() - started)


def compress_waits(env, move_ids):
    as_a_person(env, lambda: _compress_waits(env, move_ids))


def _compress_waits(env, move_ids):
    """Every wait between attempts has passed: backoffs after a failure, and the minute before a lost
    create is looked up (the sandbox answers at once, so nothing is still in flight). Without this a
    soak would mostly wait; with it, a move fails and retries as often as it would over hours."""
    now = env.cr.now()
    moves = env["account.move"].browse(move_ids)
    moves.filtered(lambda move: move.engine_next_attempt_at and move.engine_next_attempt_at > now)._engine_write(
        {"engine_next_attempt_at": now})
    moves.filtered(lambda move: move.engine_pdf_next_attempt_at and move.engine_pdf_next_attempt_at > now)._engine_write(
        {"engine_pdf_next_attempt_at": now})
    moves.engine_payment_ids.filtered(lambda payment: payment.next_attempt_at and payment.next_attempt_at > now).write(
        {"next_attempt_at": now})


def post_credit_notes(env, invoices):
    """A credit note for each invoice: every other one for the whole invoice, the others for one unit less."""
    def post():
        credit_notes = invoices._reverse_moves([{"invoice_date": invoice.invoice_date} for invoice in invoices])
        for index, credit_note in enumerate(credit_notes):
            line = credit_note.invoice_line_ids[:1]
            if index % 2 and line.quantity > 1:
                line.quantity -= 1
        credit_notes.action_post()
        return credit_notes.ids

    return as_a_person(env, post) or []


def register_payments(env, invoices, count):
    """Pay up to ``count`` sent invoices in full, each in a transaction of its own; return the keys."""
    unpaid = invoices.filtered(lambda move: move.payment_state == "not_paid")[:count]
    keys = set()
    for invoice in unpaid:
        def pay(invoice=invoice):
            env["account.payment.register"].with_context(active_model="account.move", active_ids=invoice.ids).create(
                {"payment_date": invoice.invoice_date})._create_payments()
            return set(invoice.engine_payment_ids.mapped("key"))

        keys |= as_a_person(env, pay) or set()
    return keys


def as_a_person(env, work, attempts=5):
    """Run ``work`` and commit, retrying on a concurrent update as Odoo's web requests do."""
    for _attempt in range(attempts):
        try:
            result = work()
            env.cr.commit()
            return result
        except psycopg2.extensions.TransactionRollbackError:
            env.cr.rollback()
            time.sleep(random.uniform(0.05, 0.3))
    return None


def settled(env, move_ids, pdfs=False):
    moves = env["account.move"].browse(move_ids)
    if any(move.engine_state not in SETTLED_MOVE_STATES for move in moves):
        return False
    if pdfs and any(move.engine_state == "sent" and not move.engine_pdf_id for move in moves):
        return False
    payments = moves.engine_payment_ids
    return all(payment.state in SETTLED_PAYMENT_STATES for payment in payments)


def compare(run, harness, move_ids, chaos, workers, seconds):
    documents = harness.documents()
    by_key = Counter(document["key"] for document in documents)
    remote_payments = Counter(payment["document_id"] for payment in harness.payments())
    with run.env() as env:
        moves = env["account.move"].browse(move_ids)
        states = Counter(moves.mapped("engine_state"))
        lost = moves.filtered(lambda move: move.engine_state not in SETTLED_MOVE_STATES)
        review = moves.filtered(lambda move: move.engine_state == "needs_review")
        sent = moves.filtered(lambda move: move.engine_state == "sent")
        # By our key, and for a credit note also the storno of its invoice, which carries no key of ours.
        per_move = Counter(len(harness.documents_of(move)) for move in sent)
        odoo_payments = Counter()
        for payment in moves.engine_payment_ids.filtered(lambda payment: payment.state == "sent"):
            odoo_payments[payment.move_id.engine_remote_id] += 1
        payment_errors = moves.engine_payment_ids.filtered(lambda payment: payment.state == "error")
        twice = sum(max(remote_payments[remote_id] - count, 0) for remote_id, count in odoo_payments.items())
        missing = sum(max(count - remote_payments[remote_id], 0) for remote_id, count in odoo_payments.items())
        return {
            "label": run.demo.LABEL, "moves": len(moves), "seconds": seconds, "states": states,
            "documents_per_sent_move": per_move, "duplicates": sum(count - 1 for key, count in by_key.items() if key and count > 1),
            "lost": len(lost), "review": [(move.name, (move.engine_error or "").splitlines()[0]) for move in review],
            "payments": sum(odoo_payments.values()), "payments_twice": twice, "payments_missing": missing,
            "payment_errors": len(payment_errors), "faults": Counter(kind for kind, _method, _path in chaos.dealt),
            "calls": len(run.sandbox.requests), "kills": workers.kills, "workers_started": workers.started,
        }


def print_result(result):
    print(f"\n{result['label']} soak: {result['moves']} documents in {result['seconds']:.0f} s (this machine), "
          f"{result['calls']} calls, faults dealt {dict(result['faults'])}, "
          f"{result['kills']} workers killed ({result['workers_started']} started)")
    print(f"  final states {dict(result['states'])}; documents in the engine per sent move "
          f"{dict(result['documents_per_sent_move'])}; duplicates {result['duplicates']}; lost {result['lost']}")
    print(f"  payments recorded {result['payments']}: twice {result['payments_twice']}, "
          f"not at all {result['payments_missing']}, in error {result['payment_errors']}")
    print(f"  needs review: {len(result['review'])}")
    for name, reason in result["review"]:
        print(f"    {name}: {reason}")


def main():
    arguments = parse_arguments()
    demos = [demo for demo in engine_demos() if not arguments.engines or demo.ENGINE in arguments.engines.split(",")]

    import odoo
    from odoo.modules.registry import Registry

    odoo.tools.config.parse_config(odoo_options(arguments.db))
    registry = Registry(arguments.db)
    for demo in demos:
        run = EngineRun(registry, demo, arguments.time_scale or TIME_SCALES.get(demo.ENGINE, 0.25))
        harness = load_harness(demo.ENGINE)(**demo.harness_options(run.info))
        harness.sandbox = run.sandbox
        try:
            with tempfile.TemporaryDirectory() as folder:
                print_result(soak(run, harness, arguments, folder))
        finally:
            run.stop()
    return 0


if __name__ == "__main__":
    random.seed(0)
    signal.signal(signal.SIGTERM, lambda *_args: sys.exit(143))
    sys.exit(main())
