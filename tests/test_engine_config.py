from dataclasses import replace
from unittest.mock import patch

from odoo.exceptions import ValidationError
from odoo.tests import Form, tagged

from ..engines.base import CREDENTIAL_API_TOKEN
from ..engines.fakturoid import FakturoidClient
from .common import CLIENT_ID, CLIENT_SECRET, SLUG, FakturoidCase


@tagged("post_install", "-at_install")
class TestEngineConfiguration(FakturoidCase):

    def notification(self, action):
        self.assertEqual(action["tag"], "display_notification")
        return action["params"]

    def test_test_connection_reports_the_account(self):
        params = self.notification(self.engine.action_test_connection())
        self.assertEqual(params["type"], "success")
        self.assertIn("Testovací s.r.o.", params["message"])
        self.assertEqual(self.engine.state, "connected")
        self.assertEqual(self.engine.remote_currency, "CZK")
        self.assertEqual(self.engine.remote_vat_mode, "vat_payer")
        self.assertEqual(len(self.engine.numbering_ids), 2, "number formats are loaded with the test")

    def test_test_connection_wrong_credentials(self):
        self.engine.fakturoid_client_secret_input = "not-the-secret"
        params = self.notification(self.engine.action_test_connection())
        self.assertEqual(params["type"], "danger")
        self.assertIn("does not accept the Client ID and Client Secret", params["message"])
        self.assertEqual(params["message"].count("Client Secret"), 1, "what to do is said once")
        self.assertEqual(self.engine.state, "error")

    def test_test_connection_blocked_account(self):
        self.sandbox.block_account(SLUG)
        params = self.notification(self.engine.action_test_connection())
        self.assertIn("overdue", params["message"])
        self.assertIn("/robot/p/", params["message"], "the overdue invoice link from Fakturoid is shown")
        self.assertEqual(params["message"].count("Pay the overdue"), 1, "what to do is said once")

    def test_test_connection_without_contact_email(self):
        self.engine.contact_email = False
        params = self.notification(self.engine.action_test_connection())
        self.assertIn("contact e-mail", params["message"])
        self.assertFalse(self.sandbox.requests, "stopped before any call")

    def test_number_format_is_used_for_new_invoices(self):
        self.engine.action_test_connection()
        other_format = self.engine.numbering_ids.filtered(lambda numbering: not numbering.is_default)
        self.engine.numbering_id = other_format
        move = self.create_invoice()
        self.run_queue()
        remote = self.remote_invoice(move)
        self.assertEqual(str(remote["number_format_id"]), other_format.remote_id)
        self.assertTrue(move.engine_number.startswith("OD"))

    def test_currency_mismatch_with_the_engine_account_is_caught_before_sending(self):
        """Nobody clicked "Test connection": the job asks Fakturoid for the account first."""
        self.reset_sandbox_with_currency("EUR")
        self.assertFalse(self.engine.remote_currency)
        move = self.create_invoice()
        self.run_queue()
        self.assertEqual(self.engine.remote_currency, "EUR")
        self.assertEqual(move.engine_state, "error")
        self.assertIn("keeps its books in EUR", move.engine_error)
        self.assertFalse(self.requests_to("/invoices.json", "POST"))

    def reset_sandbox_with_currency(self, currency):
        self.sandbox.reset()
        self.sandbox.add_account(SLUG, currency=currency)
        self.sandbox.add_client(CLIENT_ID, CLIENT_SECRET, accounts=(SLUG,))

    def test_plain_http_only_for_a_local_test_server(self):
        with self.assertRaises(ValidationError):
            self.engine.base_url = "http://app.fakturoid.cz/api/v3"
        self.engine.base_url = "https://app.fakturoid.cz/api/v3"

    def test_settings_show_the_engine_block(self):
        settings = self.env["res.config.settings"].create({})
        self.assertIn("Fakturoid", settings.invoice_engine_summary)
        arch = self.env["res.config.settings"].get_views([(False, "form")])["views"]["form"]["arch"]
        self.assertIn("invoice_engine_settings", arch)
        action = settings.action_open_invoice_engines()
        self.assertEqual(action["res_model"], "invoice.engine")

    def test_engine_form_opens(self):
        with Form(self.engine) as form:
            form.auto_send = False
        self.assertFalse(self.engine.auto_send)


@tagged("post_install", "-at_install")
class TestDisconnect(FakturoidCase):

    def test_disconnect_revokes_oauth_tokens_and_keeps_the_client_secret(self):
        self.engine.action_test_connection()
        self.engine.action_disconnect()
        self.assertFalse(self.engine._token())
        self.assertEqual(self.engine.sudo().fakturoid_client_secret, CLIENT_SECRET, "OAuth: the client stays registered")
        self.assertEqual(self.engine.state, "draft")
        self.assertIn("Disconnected by", self.engine.message_ids[0].body)

    def test_disconnect_forgets_an_api_token(self):
        """An engine that signs in with an API token has nothing to revoke: the token is forgotten."""
        api_token_engine = replace(FakturoidClient.capabilities, credential=CREDENTIAL_API_TOKEN)
        with patch.object(FakturoidClient, "capabilities", api_token_engine):
            self.engine.action_disconnect()
        self.assertFalse(self.engine.sudo().fakturoid_client_secret)
        self.assertFalse(self.engine.has_credentials)
