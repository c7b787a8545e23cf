"""What separate transactions see: token renewals, call logs and refusals, as in production.

Each cursor here has its own PostgreSQL connection (``tests/committed.py``): a renewal
committed by the token lock's cursor is invisible to the snapshot of the action's own
transaction, and an action that fails rolls its transaction back for real.
"""
import uuid

from odoo import SUPERUSER_ID, api
from odoo.exceptions import AccessError, UserError
from odoo.tests import new_test_user, tagged

from .committed import CommittedEngineCase

SLUG = "committed-calls"


@tagged("post_install", "-at_install")
class TestCallsOnRealTransactions(CommittedEngineCase):

    slug = SLUG
    client_id = "committed-calls-client"
    client_secret = "committed-calls-secret"

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        with cls.registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {"allowed_company_ids": [cls.company_id]})
            cls.billing_user_id = new_test_user(
                env, login=f"billing-{uuid.uuid4().hex[:8]}", company_id=cls.company_id,
                company_ids=[cls.company_id], groups="account.group_account_invoice,base.group_user",
            ).id

    def engine_on(self, cr, uid=None):
        env = self.env_on(cr, uid) if uid else self.env_on(cr)
        return env["invoice.engine"].browse(self.engine_id)

    def connection_test(self, uid=None):
        with self.registry.cursor() as cr:
            return self.engine_on(cr, uid).action_test_connection()

    def calls_since(self, log_id):
        with self.registry.cursor() as cr:
            cr.execute(
                "SELECT operation, status_code, move_id FROM invoice_engine_log WHERE engine_id = %s AND id > %s ORDER BY id",
                [self.engine_id, log_id],
            )
            return cr.fetchall()

    def last_log_id(self):
        with self.registry.cursor() as cr:
            cr.execute("SELECT COALESCE(MAX(id), 0) FROM invoice_engine_log")
            return cr.fetchone()[0]

    def token_row(self):
        with self.registry.cursor() as cr:
            cr.execute("SELECT access_token, write_uid, write_date FROM invoice_engine_token WHERE engine_id = %s",
                       [self.engine_id])
            return cr.fetchone()

    def test_a_connection_test_costs_only_the_calls_it_needs(self):
        """No 401 with the token that the renewal has just replaced."""
        self.connection_test()  # a stored token exists from now on, as in any working database
        self.sandbox.requests.clear()
        before = self.last_log_id()
        result = self.connection_test()
        self.assertEqual(result["params"]["type"], "success", result["params"]["message"])
        calls = [(request["method"], request["path"].rsplit("/", 2)[-2:], request["status"])
                 for request in self.sandbox.requests]
        self.assertEqual(calls, [
            ("POST", ["oauth", "token"], 200),
            ("GET", [SLUG, "account.json"], 200),
            ("GET", ["number_formats", "invoices.json"], 200),
        ])
        self.assertEqual([(operation, status) for operation, status, _move in self.calls_since(before)],
                         [("oauth_token", 200), ("check", 200), ("reference_data", 200)])

    def test_calls_are_logged_even_when_the_action_fails(self):
        [move_id] = self.post_invoices(1)
        self.run_worker()
        with self.registry.cursor() as cr:
            self.engine_on(cr)._forget_tokens()  # the refresh below renews the token first
        before = self.last_log_id()
        self.sandbox.inject("status", method="GET", path=r"/invoices/\d+\.json$", status=500)
        with self.assertRaises(UserError), self.registry.cursor() as cr:
            self.env_on(cr)["account.move"].browse(move_id).action_engine_refresh()
        calls = self.calls_since(before)
        self.assertEqual([(operation, status) for operation, status, _move in calls],
                         [("oauth_token", 200), ("document_status", 500)])
        self.assertEqual(calls[-1][2], move_id)

    def test_a_refused_user_changes_nothing(self):
        self.connection_test()
        token_before = self.token_row()
        self.sandbox.requests.clear()
        before = self.last_log_id()
        with self.assertRaises(AccessError):
            self.connection_test(uid=self.billing_user_id)
        self.assertEqual(self.sandbox.requests, [])
        self.assertEqual(self.token_row(), token_before, "the token was neither renewed nor saved")
        self.assertEqual(self.calls_since(before), [])
