"""Exactly-once across real database transactions.

These tests do not run inside the usual rolled-back test transaction: each worker gets
its own PostgreSQL connection, as two Odoo cron workers would, so advisory locks, row
locks and commits behave as in production (see ``tests/committed.py``).
"""
import dataclasses
import threading
from collections import Counter
from contextlib import closing
from datetime import datetime, timedelta
from unittest.mock import patch

import psycopg2
from freezegun import freeze_time

from odoo.tests import tagged

from ..models.invoice_engine_queue import ADVISORY_LOCK_CLASS
from .committed import CommittedEngineCase
from .harness_fakturownia import FakturowniaHarness
from .harness_smartbill import SmartBillHarness

INVOICES = 6
SOAK_INVOICES = 100
SOAK_FAULT_RATE = 0.2
SOAK_CRASH_EVERY = 9  # the worker dies after every 9th document the engine confirmed, before its commit
SOAK_ROUNDS = 40


class WorkerCrash(BaseException):
    """The worker process dies: its transaction is rolled back and its session locks are gone."""


class ConcurrencyTests:
    """Two workers, row locks and the ``sending`` marker, against any engine's sandbox."""

    def move_states(self, move_ids):
        with self.registry.cursor() as cr:
            cr.execute("SELECT id, engine_state, engine_error FROM account_move WHERE id = ANY(%s) ORDER BY id", [move_ids])
            rows = cr.fetchall()
        errors = [error for _id, state, error in rows if state == "error"]
        self.assertFalse(errors)
        return {move_id: state for move_id, state, _error in rows}

    def remote_by_key(self):
        counts = {}
        for document in self.harness.documents():
            counts[document["key"]] = counts.get(document["key"], 0) + 1
        return counts

    def test_two_workers_at_once_create_each_document_once(self):
        move_ids = self.post_invoices(INVOICES)
        # Slow creates so that the two workers overlap for the whole batch.
        self.harness.inject("delay", "create_document", seconds=0.2, times=None)
        errors = []
        workers = [threading.Thread(target=self.run_worker, args=(errors,)) for _ in range(2)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(120)
        self.assertEqual(errors, [])
        self.assertEqual(set(self.move_states(move_ids).values()), {"sent"})
        counts = self.remote_by_key()
        self.assertEqual(len(counts), INVOICES)
        self.assertEqual(set(counts.values()), {1}, "every invoice exists exactly once in the engine")

    def test_sending_marker_is_committed_before_the_create_call(self):
        move_ids = self.post_invoices(1)
        seen = []

        def look_from_another_connection(_request):
            seen.append(self.move_states(move_ids)[move_ids[0]])

        self.harness.inject("hook", "create_document", callback=look_from_another_connection)
        self.run_worker([])
        self.assertEqual(seen, ["sending"], "another transaction already sees the marker when the create arrives")
        self.assertEqual(self.move_states(move_ids)[move_ids[0]], "sent")

    def test_soak_two_workers_faults_and_crashes_lose_and_duplicate_nothing(self):
        """A fifth of all calls fail (5xx, 429, HTML, resets before and after the engine stored the
        document), two workers run at once, and a worker dies now and then between the engine's
        answer and its commit. Every invoice ends in the engine once; none is lost."""
        move_ids = self.post_invoices(SOAK_INVOICES)
        chaos = self.sandbox.set_chaos(SOAK_FAULT_RATE, seed=11)
        crashes = []
        with self.without_rate_limits(), self.crashing_after_confirmed_creates(crashes):
            self.run_rounds(move_ids, SOAK_ROUNDS)
            self.sandbox.set_chaos(0)
            self.run_rounds(move_ids, 10, start=SOAK_ROUNDS)
        states = self.all_move_states(move_ids)
        counts = self.remote_by_key()
        faults = Counter(kind for kind, _method, _path in chaos.dealt)
        print(f"soak: faults {dict(faults)}, crashes {len(crashes)}, states {Counter(states.values())}, requests {len(self.sandbox.requests)}")
        self.assertGreater(faults["reset_after_store"], 0)
        self.assertGreater(len(crashes), 0)
        in_review = [move_id for move_id, state in states.items() if state == "needs_review"]
        if self.harness.capabilities.reads_back_documents:
            self.assertEqual(in_review, [], "an engine that reads documents back always knows")
        self.assertEqual(Counter(states.values()) - Counter(needs_review=len(in_review)), Counter(sent=SOAK_INVOICES - len(in_review)),
                         f"faults dealt {dict(faults)}, crashes {len(crashes)}")
        self.assertEqual(set(counts.values()), {1}, "no document twice")
        self.assertEqual(len(counts), SOAK_INVOICES - len(in_review) + sum(
            1 for move_id in in_review if self.remote_key(move_id) in counts), "nothing lost")

    def run_rounds(self, move_ids, rounds, start=0):
        """Two workers at once per round; between rounds, time moves on past every backoff."""
        moment = datetime.now()
        for number in range(start, start + rounds):
            if set(self.all_move_states(move_ids).values()) <= {"sent", "needs_review"}:
                return
            with freeze_time(moment + timedelta(minutes=15 * (number + 1))):
                workers = [threading.Thread(target=self.run_crashing_worker) for _ in range(2)]
                for worker in workers:
                    worker.start()
                for worker in workers:
                    worker.join(120)

    def run_crashing_worker(self):
        try:
            self.run_worker([])
        except WorkerCrash:
            pass  # as SIGKILL: the transaction is rolled back, the session's advisory lock released

    def all_move_states(self, move_ids):
        with self.registry.cursor() as cr:
            cr.execute("SELECT id, engine_state FROM account_move WHERE id = ANY(%s)", [move_ids])
            return dict(cr.fetchall())

    def remote_key(self, move_id):
        with self.registry.cursor() as cr:
            return self.env_on(cr)["account.move"].browse(move_id)._engine_key()

    def without_rate_limits(self):
        """The soak is about exactly once, not about the rate limit: neither side counts calls."""
        client_class = self.harness.client_class
        return patch.object(client_class, "capabilities",
                            dataclasses.replace(client_class.capabilities, call_limit=None))

    def crashing_after_confirmed_creates(self, crashes):
        move_model = self.registry["account.move"]
        to_sent = move_model._engine_to_sent
        calls = []

        def crash_sometimes(move, ref, found_again=False):
            calls.append(move.id)
            if len(calls) % SOAK_CRASH_EVERY == 0:
                crashes.append(move.id)
                raise WorkerCrash()
            return to_sent(move, ref, found_again=found_again)

        return patch.object(move_model, "_engine_to_sent", crash_sometimes)

    def test_a_failed_run_never_keeps_the_engine_lock(self):
        """The advisory lock belongs to the database session, which Odoo's pool keeps open."""
        self.post_invoices(1)

        def break_the_transaction(engine, *args):
            engine.env.cr.execute("SELECT 1 / 0")

        with patch.object(self.registry["invoice.engine"], "_sync_payments", break_the_transaction), \
                self.assertRaises(psycopg2.errors.DivisionByZero):
            self.run_worker()
        self.assertTrue(self.engine_lock_is_free())
        self.run_worker([])

    def engine_lock_is_free(self):
        """Asked on a connection of its own: the pool would hand back the very session that may hold it."""
        with self.registry.cursor() as cr:
            params = cr._cnx.get_dsn_parameters()
        with closing(psycopg2.connect(**{key: params[key] for key in ("dbname", "user", "host", "port") if params.get(key)})) as cnx:
            with cnx.cursor() as cr:
                cr.execute("SELECT pg_try_advisory_lock(%s, %s)", [ADVISORY_LOCK_CLASS, self.engine_id])
                free = cr.fetchone()[0]
                cr.execute("SELECT pg_advisory_unlock_all()")
        return free

    def test_a_pdf_is_not_fetched_while_someone_edits_its_invoice(self):
        [move_id] = self.post_invoices(1)
        self.harness.inject("status", "fetch_pdf", status=503)
        self.run_worker([])
        self.assertEqual(self.move_states([move_id])[move_id], "sent")
        later = datetime.now() + timedelta(hours=1)
        with self.registry.cursor() as person:
            person.execute("SELECT id FROM account_move WHERE id = %s FOR UPDATE", [move_id])
            with freeze_time(later):
                self.run_worker([])
            self.assertFalse(self.pdf_attached(move_id), "left to the person, not fought over")
        with freeze_time(later):
            self.run_worker([])
        self.assertTrue(self.pdf_attached(move_id))

    def pdf_attached(self, move_id):
        with self.registry.cursor() as cr:
            cr.execute("SELECT engine_pdf_id FROM account_move WHERE id = %s", [move_id])
            return bool(cr.fetchone()[0])

    def test_a_move_locked_by_someone_else_is_left_for_later(self):
        move_ids = self.post_invoices(2)
        locked, free = move_ids
        with self.registry.cursor() as holder:
            holder.execute("SELECT id FROM account_move WHERE id = %s FOR UPDATE", [locked])
            self.run_worker([])
            self.assertEqual(self.move_states([free])[free], "sent")
            self.assertEqual(self.move_states([locked])[locked], "queued", "skipped, not lost")
        self.run_worker([])
        self.assertEqual(self.move_states([locked])[locked], "sent")
        self.assertEqual(set(self.remote_by_key().values()), {1})

    def test_a_move_changed_after_the_jobs_snapshot_is_left_for_later(self):
        """Locking a row another transaction changed after our snapshot fails to serialize: not a crash."""
        [move_id] = self.post_invoices(1)
        with self.registry.cursor() as job_cr:
            engine = self.env_on(job_cr)["invoice.engine"].browse(self.engine_id)
            move = engine.env["account.move"].browse(move_id)
            job_cr.execute("SELECT engine_state FROM account_move WHERE id = %s", [move_id])  # the snapshot
            with self.registry.cursor() as person_cr:
                person_cr.execute("UPDATE account_move SET ref = 'changed by a person' WHERE id = %s", [move_id])
            self.assertFalse(engine._lock_move(move), "left for the next run")
            self.assertTrue(engine._lock_move(move), "a new snapshot locks it")


@tagged("post_install", "-at_install")
class TestConcurrentWorkersFakturoid(ConcurrencyTests, CommittedEngineCase):

    slug = "concurrency"
    client_id = "concurrency-client"
    client_secret = "concurrency-secret"

    def test_token_refreshed_once_for_concurrent_callers(self):
        """Fakturoid invalidates the previous token on every grant: workers must share one."""
        tokens, errors = [], []
        barrier = threading.Barrier(3)

        def ask_for_token():
            try:
                with self.registry.cursor() as cr:
                    engine = self.env_on(cr)["invoice.engine"].browse(self.engine_id)
                    barrier.wait(10)
                    tokens.append(engine._fakturoid_access_token())
            except Exception as error:  # collected and asserted below
                errors.append(error)

        with self.registry.cursor() as cr:
            self.env_on(cr)["invoice.engine"].browse(self.engine_id)._forget_tokens()
        threads = [threading.Thread(target=ask_for_token) for _ in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        self.assertEqual(errors, [])
        self.assertEqual(len(set(tokens)), 1, "all callers use the same token")
        grants = [request for request in self.sandbox.requests if request["path"].endswith("/oauth/token")]
        self.assertEqual(len(grants), 1, "only one grant, under the row lock")


@tagged("post_install", "-at_install")
class TestConcurrentWorkersFakturownia(ConcurrencyTests, CommittedEngineCase):

    harness_class = FakturowniaHarness

    @classmethod
    def harness_options(cls):
        return {"account": "concurrency", "token": "concurrency-token"}


@tagged("post_install", "-at_install")
class TestConcurrentWorkersSmartBill(ConcurrencyTests, CommittedEngineCase):

    harness_class = SmartBillHarness

    @classmethod
    def harness_options(cls):
        return {"cif": "RO33034700", "email": "concurenta@firma-test.ro", "token": "concurrency-token"}
