"""Exactly-once across real database transactions.

These tests do not run inside the usual rolled-back test transaction: each worker gets
its own PostgreSQL connection, as two Odoo cron workers would, so advisory locks, row
locks and commits behave as in production. The data they commit lives in a company of
its own and its engine is archived afterwards.
"""
import threading
import uuid
from unittest.mock import patch

from odoo import SUPERUSER_ID, Command, api
from odoo.modules.registry import Registry
from odoo.tests import tagged
from odoo.tests.common import BaseCase, get_db_name

from ..sandbox.fakturoid import FakturoidSandbox
from .loopback import LoopbackHttpMixin

SLUG = "concurrency"
CLIENT_ID = "concurrency-client"
CLIENT_SECRET = "concurrency-secret"
INVOICES = 6


@tagged("post_install", "-at_install")
class TestConcurrentWorkers(LoopbackHttpMixin, BaseCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.registry = Registry(get_db_name())
        cls.sandbox = FakturoidSandbox().start()
        cls.addClassCleanup(cls.sandbox.stop)
        with cls.registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            env.ref("base.CZK").active = True
            company = env["res.company"].create({
                "name": f"Souběh s.r.o. {uuid.uuid4().hex[:8]}",  # committed data: unique across runs
                "country_id": env.ref("base.cz").id,
                "currency_id": env.ref("base.CZK").id,
            })
            env["account.chart.template"].try_loading("generic_coa", company=company, install_demo=False)
            company.write({"currency_id": env.ref("base.CZK").id, "tax_calculation_rounding_method": "round_globally"})
            env = env(context={"allowed_company_ids": company.ids})
            tax = env["account.tax"].create({
                "name": "DPH 21 %", "amount": 21, "type_tax_use": "sale", "company_id": company.id,
            })
            engine = env["invoice.engine"].create({
                "name": "Fakturoid (souběh)",
                "company_id": company.id,
                "base_url": cls.sandbox.api_url,
                "contact_email": "ucetni@soubeh.cz",
                "fakturoid_client_id": CLIENT_ID,
                "fakturoid_client_secret_input": CLIENT_SECRET,
                "fakturoid_account_slug": SLUG,
            })
            partner = env["res.partner"].create({"name": "Odběratel", "country_id": env.ref("base.cz").id})
            cls.company_id, cls.engine_id, cls.tax_id, cls.partner_id = company.id, engine.id, tax.id, partner.id
        cls.addClassCleanup(cls._archive_engine)

    @classmethod
    def _archive_engine(cls):
        with cls.registry.cursor() as cr:
            api.Environment(cr, SUPERUSER_ID, {})["invoice.engine"].browse(cls.engine_id).active = False

    def setUp(self):
        super().setUp()
        # Odoo's own runner runs post-install tests while holding the registry lock
        # (ThreadedServer.run); worker threads look the registry up under that lock when they
        # create environments. Give them a free lock, as Registry.enter_test_mode does.
        self.startPatcher(patch.object(Registry, "_lock", threading.RLock()))
        self.sandbox.reset()
        self.sandbox.add_account(SLUG)
        self.sandbox.add_client(CLIENT_ID, CLIENT_SECRET, accounts=(SLUG,))
        self.sandbox.pdf_render_polls = 0
        with self.registry.cursor() as cr:  # the sandbox forgot its subjects: so do we
            self.env_on(cr)["invoice.engine.partner"].search([("engine_id", "=", self.engine_id)]).unlink()

    def env_on(self, cr):
        return api.Environment(cr, SUPERUSER_ID, {"allowed_company_ids": [self.company_id]})

    def post_invoices(self, count):
        with self.registry.cursor() as cr:
            env = self.env_on(cr)
            moves = env["account.move"].create([{
                "move_type": "out_invoice",
                "partner_id": self.partner_id,
                "invoice_date": "2026-11-02",
                "invoice_line_ids": [Command.create({
                    "name": f"Služba {index}", "quantity": 1, "price_unit": 100 + index,
                    "tax_ids": [Command.set([self.tax_id])],
                })],
            } for index in range(count)])
            moves.action_post()
            return moves.ids

    def move_states(self, move_ids):
        with self.registry.cursor() as cr:
            cr.execute("SELECT id, engine_state, engine_error FROM account_move WHERE id = ANY(%s) ORDER BY id", [move_ids])
            rows = cr.fetchall()
        errors = [error for _id, state, error in rows if state == "error"]
        self.assertFalse(errors)
        return {move_id: state for move_id, state, _error in rows}

    def run_worker(self, errors):
        try:
            with self.registry.cursor() as cr:
                self.env_on(cr)["invoice.engine"]._cron_send()
        except Exception as error:  # collected and asserted by the test
            errors.append(error)

    def remote_by_custom_id(self):
        counts = {}
        for invoice in self.sandbox.state(SLUG)["invoices"]:
            counts[invoice["custom_id"]] = counts.get(invoice["custom_id"], 0) + 1
        return counts

    def test_two_workers_at_once_create_each_document_once(self):
        move_ids = self.post_invoices(INVOICES)
        # Slow creates so that the two workers overlap for the whole batch.
        self.sandbox.inject("delay", method="POST", path=r"/invoices\.json$", seconds=0.2, times=None)
        errors = []
        workers = [threading.Thread(target=self.run_worker, args=(errors,)) for _ in range(2)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(120)
        self.assertEqual(errors, [])
        self.assertEqual(set(self.move_states(move_ids).values()), {"sent"})
        counts = self.remote_by_custom_id()
        self.assertEqual(len(counts), INVOICES)
        self.assertEqual(set(counts.values()), {1}, "every invoice exists exactly once in Fakturoid")

    def test_sending_marker_is_committed_before_the_create_call(self):
        move_ids = self.post_invoices(1)
        seen = []

        def look_from_another_connection(_request):
            seen.append(self.move_states(move_ids)[move_ids[0]])

        self.sandbox.inject("hook", method="POST", path=r"/invoices\.json$", callback=look_from_another_connection)
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
        self.assertEqual(set(self.remote_by_custom_id().values()), {1})

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
