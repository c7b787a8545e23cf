import json
from datetime import timedelta
from unittest.mock import patch

import requests

from odoo import fields
from odoo.exceptions import AccessError, UserError, ValidationError
from odoo.modules.neutralize import get_neutralization_queries
from odoo.tests import new_test_user, tagged
from odoo.tools import config

from ..sandbox.fakturoid import FakturoidSandbox
from .common import CLIENT_ID, CLIENT_SECRET, SLUG, FakturoidCase


class EngineRolesCase(FakturoidCase):
    """An administrator (the test's own user), an accounting manager and a billing user."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.manager = new_test_user(
            cls.env, login="roles_manager", company_id=cls.company.id, company_ids=[cls.company.id],
            groups="account.group_account_manager,base.group_user",
        )
        cls.billing_user = new_test_user(
            cls.env, login="roles_billing", company_id=cls.company.id, company_ids=[cls.company.id],
            groups="account.group_account_invoice,base.group_user",
        )


@tagged("post_install", "-at_install")
class TestSecrets(EngineRolesCase):
    """Secrets never leave the server: not to the browser, not to chatter, not to logs."""

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

    def test_administrator_replaces_the_secret_without_seeing_it(self):
        administrator = new_test_user(
            self.env, login="engine_admin", company_id=self.company.id, company_ids=[self.company.id],
            groups="account.group_account_manager,base.group_system",
        )
        self.engine.with_user(administrator).write({"fakturoid_client_secret_input": "  new-secret  "})
        self.assertEqual(self.engine.sudo().fakturoid_client_secret, "new-secret")
        self.assertFalse(self.engine._token(), "a new secret drops tokens obtained with the old one")
        self.env.invalidate_all()  # the form is read again in a new request
        self.assertNotIn("new-secret", self.form_payload(administrator))

    def test_invoicing_user_sees_states_but_cannot_configure(self):
        move = self.create_invoice()
        self.run_queue()
        self.assertEqual(move.with_user(self.billing_user).engine_state, "sent")
        self.assertEqual(move.with_user(self.billing_user).engine_id.name, "Fakturoid")
        with self.assertRaises(AccessError):
            self.engine.with_user(self.billing_user).write({"auto_send": False})
        with self.assertRaises(AccessError):
            self.engine.with_user(self.billing_user).read(["fakturoid_client_secret"])
        with self.assertRaises(AccessError):
            self.env["invoice.engine.log"].with_user(self.billing_user).search([])

    def test_invoicing_user_can_post_and_reconcile(self):
        """The hooks run with the rights they need, whoever posts or pays."""
        move = self.create_invoice(post=False).with_user(self.billing_user)
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
class TestMultiCompany(FakturoidCase):

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
class TestCallLog(FakturoidCase):

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


@tagged("post_install", "-at_install")
class TestWhereSecretsGo(EngineRolesCase):
    """Whoever may not read a secret must not be able to send it elsewhere (issue: URL exfiltration)."""

    def test_manager_cannot_point_the_engine_at_another_server(self):
        """The probe: change the API URL, click Test connection, read the Basic header."""
        attacker = FakturoidSandbox().start()
        self.addCleanup(attacker.stop)
        engine = self.engine.with_user(self.manager)
        with self.assertRaises(AccessError) as caught:
            engine.write({"base_url": attacker.api_url})
        self.assertIn("Only administrators", str(caught.exception))
        engine.action_test_connection()
        self.assertEqual(attacker.requests, [], "nothing, and certainly no client secret, reached the other server")
        self.assertEqual(self.engine.base_url, self.sandbox.api_url)

    def test_manager_cannot_change_any_credential(self):
        engine = self.engine.with_user(self.manager)
        for values in ({"fakturoid_client_id": "other"}, {"fakturoid_client_secret_input": "other"},
                       {"fakturoid_auth_flow": "authorization_code"}, {"engine_type": "fakturoid"}):
            with self.subTest(values=values), self.assertRaises(AccessError):
                engine.write(values)
        self.assertTrue(engine.auto_send)
        engine.write({"auto_send": False, "contact_email": "jina@firma.cz"})  # the rest stays theirs
        self.assertFalse(self.engine.auto_send)
        self.assertFalse(engine.can_edit_credentials)
        self.assertTrue(self.engine.can_edit_credentials)

    def test_manager_creates_an_engine_only_with_the_vendor_url(self):
        engine_model = self.env["invoice.engine"].with_user(self.manager)
        engine = engine_model.create({"name": "Fakturoid 2", "engine_type": "fakturoid",
                                      "base_url": "https://app.fakturoid.cz/api/v3",
                                      "fakturoid_auth_flow": "client_credentials"})
        self.assertEqual(engine.base_url, "https://app.fakturoid.cz/api/v3")
        with self.assertRaises(AccessError):
            engine_model.create({"name": "Fakturoid 3", "base_url": "https://api.fakturoid.cz/api/v3"})
        with self.assertRaises(AccessError):
            engine_model.create({"name": "Fakturoid 4", "fakturoid_client_id": "mine"})

    def test_changing_the_url_clears_secrets_and_tokens_and_is_tracked(self):
        self.engine.action_test_connection()
        self.assertTrue(self.engine._token())
        old_url = self.engine.base_url
        self.engine.write({"base_url": "https://app.fakturoid.cz/api/v3"})
        self.assertFalse(self.engine.sudo().fakturoid_client_secret)
        self.assertFalse(self.engine._token())
        self.assertEqual(self.engine.state, "draft")
        note = self.engine.message_ids[0]
        self.assertIn(f"from {old_url} to https://app.fakturoid.cz/api/v3", note.body)
        self.assertIn("credentials and tokens were cleared", note.body)
        self.assertEqual(note.author_id, self.env.user.partner_id, "who")
        self.assertTrue(note.date, "when")
        self.assertTrue(self.engine._fields["base_url"].tracking, "the field is tracked in the chatter too")

    def test_a_new_secret_given_with_the_new_url_is_kept(self):
        self.engine.write({"base_url": "https://app.fakturoid.cz/api/v3/", "fakturoid_client_secret_input": "s2"})
        self.assertEqual(self.engine.sudo().fakturoid_client_secret, "s2")

    def test_the_same_url_written_again_clears_nothing(self):
        self.engine.write({"base_url": self.sandbox.api_url + "/"})
        self.assertEqual(self.engine.sudo().fakturoid_client_secret, CLIENT_SECRET)

    def test_api_url_rules_in_production(self):
        cases = {
            "https://app.fakturoid.cz/api/v3": None,
            "https://staging.app.fakturoid.cz/api/v3": None,
            "https://app.fakturoid.cz.evil.example/api/v3": "own domain",
            "https://evil.example/api/v3": "own domain",
            "http://app.fakturoid.cz/api/v3": "https://",
            "https://user:pw@app.fakturoid.cz/api/v3": "user name",
            "http://127.0.0.1:8765/api/v3": "points at this server",
            "http://localhost:8765/api/v3": "points at this server",
            "http://[::1]:8765/api/v3": "points at this server",
            "ftp://app.fakturoid.cz": "full address",
        }
        with patch.dict(config.options, {"test_enable": False}):
            for url, problem in cases.items():
                with self.subTest(url=url):
                    engine = self.engine.new({"name": "x", "engine_type": "fakturoid", "base_url": url})
                    found = engine._base_url_problem()
                    if problem is None:
                        self.assertFalse(found)
                    else:
                        self.assertIn(problem, found)
            with self.assertRaises(ValidationError):
                self.engine.base_url = "http://127.0.0.2:9/api/v3"

    def test_system_parameters_allow_the_sandbox_and_a_vendor_test_host(self):
        parameters = self.env["ir.config_parameter"]
        with patch.dict(config.options, {"test_enable": False}):
            engine = self.engine.new({"name": "x", "engine_type": "fakturoid",
                                      "base_url": "https://test.vendor-staging.example/api/v3"})
            self.assertTrue(engine._base_url_problem())
            parameters.set_param("account_invoice_engine.extra_api_hosts", "test.vendor-staging.example")
            self.assertFalse(engine._base_url_problem())
            engine.base_url = "http://127.0.0.1:8765/api/v3"
            self.assertTrue(engine._base_url_problem())
            parameters.set_param("account_invoice_engine.allow_loopback_urls", "True")
            self.assertFalse(engine._base_url_problem())


@tagged("post_install", "-at_install")
class TestActionsNeedTheRights(EngineRolesCase):
    """Actions a user may not run have no effect: refused in words before any call."""

    def test_billing_user_test_connection_is_refused_before_any_call(self):
        self.engine._forget_tokens()
        with self.assertRaises(AccessError) as caught:
            self.engine.with_user(self.billing_user).action_test_connection()
        self.assertIn("Only accounting administrators", str(caught.exception))
        self.assertEqual(self.sandbox.requests, [], "no token renewed, nothing called")
        self.assertFalse(self.engine._token())

    def test_billing_user_cannot_reload_reference_data(self):
        with self.assertRaises(AccessError) as caught:
            self.engine.with_user(self.billing_user).action_refresh_reference_data()
        self.assertNotIn("not allowed to modify", str(caught.exception), "words, not the raw access error")
        self.assertIn("Only accounting administrators", str(caught.exception))
        self.assertEqual(self.sandbox.requests, [])

    def test_billing_user_cannot_disconnect_nor_connect(self):
        self.engine.action_test_connection()
        self.sandbox.requests.clear()
        engine = self.engine.with_user(self.billing_user)
        for action in (engine.action_disconnect, engine.action_fakturoid_connect):
            with self.subTest(action=action.__name__), self.assertRaises(AccessError):
                action()
        self.assertEqual(self.sandbox.requests, [], "the token was not revoked")
        self.assertTrue(self.engine._token())

    def test_manager_tests_the_connection(self):
        params = self.engine.with_user(self.manager).action_test_connection()["params"]
        self.assertEqual(params["type"], "success", params["message"])

    def test_manager_without_email_gets_the_real_outcome(self):
        self.manager.email = False
        self.engine.fakturoid_client_secret_input = "wrong"
        params = self.engine.with_user(self.manager).action_test_connection()["params"]
        self.assertEqual(params["type"], "danger")
        self.assertIn("Client ID and Client Secret", params["message"])
        self.assertEqual(self.engine.state, "error")


@tagged("post_install", "-at_install")
class TestDocumentGoneFromTheEngine(EngineRolesCase):
    """Refresh from engine on a document deleted in Fakturoid."""

    def delete_in_fakturoid(self, move):
        token = self.engine._token().access_token
        response = requests.delete(
            f"{self.sandbox.api_url}/accounts/{SLUG}/invoices/{move.engine_remote_id}.json",
            headers={"Authorization": f"Bearer {token}", "User-Agent": "Browser (ucetni@firma.cz)"}, timeout=10,
        )
        self.assertEqual(response.status_code, 204)

    def test_refresh_says_the_document_is_missing_and_keeps_the_call(self):
        move = self.create_invoice()
        self.run_queue()
        number = move.engine_number
        self.delete_in_fakturoid(move)
        move.with_user(self.billing_user).action_engine_refresh()
        self.assertEqual(move.engine_state, "missing")
        self.assertIn(number, move.engine_error)
        self.assertIn("Send again", move.engine_error)
        self.assertIn(number, move.message_ids[0].body)
        logged = self.env["invoice.engine.log"].search([("move_id", "=", move.id), ("status_code", "=", 404)])
        self.assertEqual(len(logged), 1)
        self.assertEqual(self.engine.error_count, 1)

    def test_send_again_issues_a_new_document_and_records_payments_there(self):
        move = self.create_invoice()
        self.run_queue()
        self.delete_in_fakturoid(move)
        move.action_engine_refresh()
        move.with_user(self.billing_user).action_engine_send()
        self.assertEqual(move.engine_state, "queued")
        self.assertFalse(move.engine_remote_id)
        self.run_queue()
        self.assertEqual(move.engine_state, "sent")
        self.assertEqual(len(self.remote()), 1)
        self.assertEqual(str(self.remote()[0]["id"]), move.engine_remote_id)
        self.assertTrue(move.engine_pdf_id, "the new document's PDF is fetched")

    def test_link_existing_after_missing(self):
        move = self.create_invoice()
        self.run_queue()
        other = self.create_invoice()
        self.run_queue()
        replacement_id = other.engine_remote_id
        self.delete_in_fakturoid(move)
        move.action_engine_refresh()
        wizard = self.env["invoice.engine.link.wizard"].create({"move_id": move.id, "remote_id": replacement_id})
        wizard.action_link()
        self.assertEqual(move.engine_state, "sent")
        self.assertEqual(move.engine_remote_id, replacement_id)

    def test_other_refresh_failures_are_explained(self):
        move = self.create_invoice()
        self.run_queue()
        self.sandbox.inject("status", method="GET", path=r"/invoices/\d+\.json$", status=503)
        with self.assertRaises(UserError) as caught:
            move.action_engine_refresh()
        self.assertIn("temporary problem", str(caught.exception))
        self.assertEqual(move.engine_state, "sent")
