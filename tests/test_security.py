import json
from datetime import timedelta

from odoo import fields
from odoo.exceptions import AccessError
from odoo.modules.neutralize import get_neutralization_queries
from odoo.tests import new_test_user, tagged

from .common import CLIENT_SECRET, InvoiceEngineCase


@tagged("post_install", "-at_install")
class TestSecrets(InvoiceEngineCase):
    """Secrets never leave the server: not to the browser, not to chatter, not to logs."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.manager = new_test_user(
            cls.env, login="engine_manager", company_id=cls.company.id, company_ids=[cls.company.id],
            groups="account.group_account_manager,base.group_user",
        )
        cls.invoicing_user = new_test_user(
            cls.env, login="engine_invoicing", company_id=cls.company.id, company_ids=[cls.company.id],
            groups="account.group_account_invoice,base.group_user",
        )

    def secret_values(self):
        token = self.engine._token()
        return [value for value in (CLIENT_SECRET, token.access_token, token.refresh_token) if value]

    def form_payload(self, user):
        """What the browser receives when the engine form is opened."""
        engine = self.engine.with_user(user)
        views = engine.get_views([(False, "form")])
        fields_spec = {name: {} for name in views["models"]["invoice.engine"]["fields"]}
        self.assertIn("fakturoid_client_secret_input", fields_spec)
        return json.dumps(engine.web_read(fields_spec), default=str)

    def test_form_never_sends_secrets_to_the_browser(self):
        self.create_invoice()
        self.run_queue()  # obtains an access token
        self.assertEqual(len(self.secret_values()), 2)
        payload = self.form_payload(self.manager)
        for secret in self.secret_values():
            self.assertNotIn(secret, payload)
        self.assertIn('"has_fakturoid_client_secret": true', payload)

    def test_only_administrators_read_secrets(self):
        with self.assertRaises(AccessError):
            self.engine.with_user(self.manager).read(["fakturoid_client_secret"])
        with self.assertRaises(AccessError):
            self.env["invoice.engine.token"].with_user(self.manager).search([]).read(["access_token"])
        self.create_invoice()
        self.run_queue()
        with self.assertRaises(AccessError):
            self.engine._token().with_user(self.manager).read(["access_token"])
        self.assertEqual(self.engine.with_user(self.manager).fakturoid_client_secret_input, False)

    def test_manager_replaces_the_secret_without_seeing_it(self):
        self.engine.with_user(self.manager).write({"fakturoid_client_secret_input": "  new-secret  "})
        self.assertEqual(self.engine.sudo().fakturoid_client_secret, "new-secret")
        self.assertFalse(self.engine._token(), "a new secret drops tokens obtained with the old one")

    def test_invoicing_user_sees_states_but_cannot_configure(self):
        move = self.create_invoice()
        self.run_queue()
        self.assertEqual(move.with_user(self.invoicing_user).engine_state, "sent")
        self.assertEqual(move.with_user(self.invoicing_user).engine_id.name, "Fakturoid")
        with self.assertRaises(AccessError):
            self.engine.with_user(self.invoicing_user).write({"auto_send": False})
        with self.assertRaises(AccessError):
            self.engine.with_user(self.invoicing_user).read(["fakturoid_client_secret"])
        with self.assertRaises(AccessError):
            self.env["invoice.engine.log"].with_user(self.invoicing_user).search([])

    def test_invoicing_user_can_post_and_reconcile(self):
        """The hooks run with the rights they need, whoever posts or pays."""
        move = self.create_invoice(post=False).with_user(self.invoicing_user)
        move.action_post()
        self.assertEqual(move.engine_state, "queued")

    def test_secrets_not_in_chatter_nor_logs(self):
        self.engine.fakturoid_client_secret_input = CLIENT_SECRET
        self.create_invoice()
        self.run_queue()
        texts = [message.body or "" for message in self.env["mail.message"].search([])]
        texts += self.env["mail.tracking.value"].search([]).mapped(lambda value: f"{value.old_value_char}{value.new_value_char}")
        logs = self.env["invoice.engine.log"].search([("engine_id", "=", self.engine.id)])
        self.assertTrue(logs)
        texts += logs.mapped(lambda log: f"{log.url}{log.request_excerpt}{log.response_excerpt}{log.error}")
        everything = "\n".join(texts)
        for secret in self.secret_values():
            self.assertNotIn(secret, everything)

    def test_neutralize_clears_secrets_and_stops_sending(self):
        self.create_invoice()
        self.run_queue()
        for query in get_neutralization_queries(["account_invoice_engine"]):
            self.env.cr.execute(query)
        self.env.invalidate_all()
        secrets = self.engine.sudo()
        self.assertFalse(secrets.fakturoid_client_secret)
        self.assertFalse(self.engine._token())
        self.assertFalse(self.engine.auto_send)
        self.assertEqual(self.engine.state, "draft")


@tagged("post_install", "-at_install")
class TestMultiCompany(InvoiceEngineCase):

    def test_engines_of_other_companies_are_invisible(self):
        other = self.setup_other_company(name="Jiná s.r.o.")["company"]
        other_engine = self.engine.copy({"name": "Fakturoid jiné firmy", "company_id": other.id})
        user = new_test_user(
            self.env, login="one_company", company_id=self.company.id, company_ids=[self.company.id],
            groups="account.group_account_manager,base.group_user",
        )
        visible = self.env["invoice.engine"].with_user(user).search([])
        self.assertIn(self.engine, visible)
        self.assertNotIn(other_engine, visible)

    def test_a_journal_of_another_company_is_refused(self):
        other = self.setup_other_company(name="Třetí s.r.o.")
        with self.assertRaises(Exception):
            self.engine.journal_ids = other["default_journal_sale"]


@tagged("post_install", "-at_install")
class TestCallLog(InvoiceEngineCase):

    def test_every_call_is_logged_and_linked_to_its_invoice(self):
        move = self.create_invoice()
        self.run_queue()
        logs = self.env["invoice.engine.log"].search([("engine_id", "=", self.engine.id)])
        self.assertEqual(len(logs), len(self.sandbox.requests), "one row per HTTP call")
        create = logs.filtered(lambda log: log.operation == "create_document")
        self.assertEqual(create.move_id, move)
        self.assertEqual(create.status_code, 201)
        self.assertIn(move._engine_key(), create.request_excerpt)

    def test_failed_calls_are_logged_with_their_error(self):
        self.create_invoice()
        self.sandbox.inject("status", method="POST", path=r"/invoices\.json$", status=500)
        self.run_queue()
        failed = self.env["invoice.engine.log"].search([("engine_id", "=", self.engine.id), ("status_code", "=", 500)])
        self.assertEqual(len(failed), 1)
        self.assertEqual(failed.error, "MaybeCreated")

    def test_old_calls_are_vacuumed(self):
        self.create_invoice()
        self.run_queue()
        logs = self.env["invoice.engine.log"].search([("engine_id", "=", self.engine.id)])
        old, recent = logs[0], logs[1:]
        self.env.cr.execute(
            "UPDATE invoice_engine_log SET create_date = %s WHERE id = %s",
            [fields.Datetime.now() - timedelta(days=self.engine.log_retention_days + 1), old.id],
        )
        self.env["invoice.engine.log"]._gc_old_calls()
        self.assertFalse(old.exists())
        self.assertEqual(recent.exists(), recent)
