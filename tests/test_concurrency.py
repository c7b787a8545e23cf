"""Exactly-once across real database transactions.

These tests do not run inside the usual rolled-back test transaction: each worker gets
its own PostgreSQL connection, as two Odoo cron workers would, so advisory locks, row
locks and commits behave as in production (see ``tests/committed.py``).
"""
import threading

from odoo.tests import tagged

from .committed import CommittedEngineCase
from .harness_smartbill import SmartBillHarness

INVOICES = 6


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
class TestConcurrentWorkersSmartBill(ConcurrencyTests, CommittedEngineCase):

    harness_class = SmartBillHarness

    @classmethod
    def harness_options(cls):
        return {"cif": "RO33034700", "email": "concurenta@firma-test.ro", "token": "concurrency-token"}
