from dataclasses import replace
from unittest.mock import patch

from odoo import SUPERUSER_ID, Command
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
        # What the settings form shows: the web client's first onchange of a new settings record
        shown = self.env["res.config.settings"].onchange({}, [], {"company_id": {}, "invoice_engine_summary": {}})["value"]
        self.assertIn(f"{self.engine.name}: ", shown["invoice_engine_summary"])
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
        self.assertEqual(self.engine.state, "disconnected")
        self.assertIn("Disconnected by", self.engine.message_ids[0].body)

    def test_a_disconnected_engine_sends_nothing_until_tested_again(self):
        """As its warning says: the client credentials could fetch a new token, yet nothing goes out."""
        self.engine.action_test_connection()
        self.engine.action_disconnect()
        move = self.create_invoice()
        self.assertEqual(move.engine_state, "queued", "posting still queues")
        requests_before = len(self.sandbox.requests)
        self.run_queue()
        self.assertEqual(len(self.sandbox.requests), requests_before, "no call while disconnected")
        self.assertEqual(move.engine_state, "queued")
        self.engine.action_test_connection()
        self.assertEqual(self.engine.state, "connected")
        self.run_queue()
        self.assertEqual(move.engine_state, "sent")

    def test_disconnect_forgets_an_api_token(self):
        """An engine that signs in with an API token has nothing to revoke: the token is forgotten."""
        api_token_engine = replace(FakturoidClient.capabilities, credential=CREDENTIAL_API_TOKEN)
        with patch.object(FakturoidClient, "capabilities", api_token_engine):
            self.engine.action_disconnect()
        self.assertFalse(self.engine.sudo().fakturoid_client_secret)
        self.assertFalse(self.engine.has_credentials)


@tagged("post_install", "-at_install")
class TestEngineAtAGlance(FakturoidCase):

    def test_the_needs_attention_activity_closes_when_the_engine_recovers(self):
        self.engine._mark_broken("Wrong client secret")
        attention = self.env.ref("account_invoice_engine.mail_activity_engine_attention")
        self.assertEqual(self.engine.activity_ids.activity_type_id, attention)
        self.assertEqual(self.engine.activity_ids.user_id, self.engine.responsible_user_id)
        self.engine.action_test_connection()
        self.assertEqual(self.engine.state, "connected")
        self.assertFalse(self.engine.activity_ids, "done by itself, with a note in the chatter")
        self.assertTrue(any("answers again" in (message.body or "") for message in self.engine.message_ids))

    def test_the_responsible_is_a_person_never_odoobot(self):
        manager = self.env["res.users"].create({
            "name": "Účetní", "login": "ucetni-responsible", "company_id": self.company.id,
            "company_ids": [Command.set(self.company.ids)],
            "groups_id": [Command.set(self.env.ref("account.group_account_manager").ids)],
        })
        by_odoobot = self.env["invoice.engine"].with_user(SUPERUSER_ID).with_company(self.company).new({})
        self.assertTrue(by_odoobot.responsible_user_id)
        self.assertNotEqual(by_odoobot.responsible_user_id.id, SUPERUSER_ID)
        by_manager = self.env["invoice.engine"].with_user(manager).with_company(self.company).new({})
        self.assertEqual(by_manager.responsible_user_id, manager)

    def test_the_api_url_says_sandbox_or_production(self):
        self.assertEqual(self.engine.api_environment, "sandbox", "the bundled sandbox on loopback")
        production = self.engine.new({"engine_type": self.engine.engine_type,
                                      "base_url": FakturoidClient.capabilities.default_base_url})
        self.assertEqual(production.api_environment, "production")

    def test_codes_read_as_words(self):
        self.engine.remote_vat_mode = "identified_person"
        self.assertEqual(self.engine.remote_vat_mode_label, "Identified person (VAT on EU purchases only)")
        self.engine.remote_vat_mode = "something_new"
        self.assertEqual(self.engine.remote_vat_mode_label, "something_new", "an unknown code is shown as it is")

    def test_each_counter_opens_the_list_it_names(self):
        queued = self.engine.with_context(engine_filter="engine_pending").action_view_moves()
        self.assertEqual(queued["context"], {"search_default_engine_pending": 1})
        to_fix = self.engine.with_context(engine_filter="engine_attention").action_view_moves()
        self.assertEqual(to_fix["context"], {"search_default_engine_attention": 1})
        arch = self.env.ref("account_invoice_engine.invoice_engine_view_form").arch
        self.assertIn("'engine_filter': 'engine_pending'", arch)
        self.assertIn("'engine_filter': 'engine_attention'", arch)
        search = self.env.ref("account_invoice_engine.view_account_invoice_filter_invoice_engine").arch
        self.assertIn('name="engine_pending"', search)
        self.assertIn('name="engine_attention"', search)

    def test_a_credit_note_names_the_document_it_corrects(self):
        invoice = self.create_invoice()
        self.run_queue()
        credit_note = self.refund(invoice)
        self.assertEqual(credit_note.engine_corrected_number, invoice.engine_display_number)

    def test_a_payment_odoo_knows_and_the_engine_not_yet_is_explained(self):
        move = self.create_invoice()
        self.run_queue()
        self.assertFalse(move.engine_payment_note)
        self.register_payment(move)
        self.assertIn(move.payment_state, ("paid", "in_payment"))
        self.assertIn("recorded in the engine with its next run", move.engine_payment_note)
        self.run_queue()
        move.action_engine_refresh()
        self.assertEqual(move.engine_status, "paid")
        self.assertFalse(move.engine_payment_note)
