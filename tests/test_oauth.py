from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import requests
from freezegun import freeze_time

from odoo import fields
from odoo.exceptions import UserError
from odoo.tests import HttpCase, new_test_user, tagged

from .common import CLIENT_ID, CLIENT_SECRET, SLUG, FakturoidCase


class FakturoidOAuthCase(FakturoidCase, HttpCase):
    """The authorization-code flow, end to end: Odoo ⇄ browser ⇄ Fakturoid sandbox."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.engine.fakturoid_auth_flow = "authorization_code"
        cls.engine.fakturoid_account_slug = False
        cls.manager = cls._create_manager("fakturoid_manager")
        cls.other_manager = cls._create_manager("other_manager")

    @classmethod
    def _create_manager(cls, login):
        return new_test_user(
            cls.env, login=login, password=f"{login}-password", company_id=cls.company.id,
            company_ids=[cls.company.id], groups="account.group_account_manager,base.group_user",
        )

    def setUp(self):
        super().setUp()
        self.sandbox.add_client(
            CLIENT_ID, CLIENT_SECRET, accounts=(SLUG,), redirect_uri=self.engine.oauth_redirect_uri,
        )

    def start_flow(self, user=None):
        """Click "Connect to Fakturoid" and consent; return the callback URL Fakturoid sends back."""
        user = user or self.manager
        self.authenticate(user.login, f"{user.login}-password")
        response = self.url_open(f"/invoice_engine/fakturoid/connect/{self.engine.id}", allow_redirects=False)
        self.assertEqual(response.status_code, 303, response.text[:300])
        authorize_url = response.headers["Location"]
        self.assertTrue(authorize_url.startswith(f"{self.sandbox.api_url}/oauth?"))
        consent = requests.get(authorize_url, allow_redirects=False, timeout=10,
                               headers={"User-Agent": "Browser (tester@example.cz)"})
        self.assertEqual(consent.status_code, 302)
        callback = consent.headers["Location"]
        self.assertTrue(callback.startswith(self.engine.oauth_redirect_uri))
        return callback

    def open_callback(self, callback):
        return self.url_open(callback.replace(self.base_url(), ""), allow_redirects=False)


@tagged("post_install", "-at_install")
class TestFakturoidOAuth(FakturoidOAuthCase):

    def test_connect_stores_tokens_and_picks_the_account(self):
        callback = self.start_flow()
        response = self.open_callback(callback)
        self.assertEqual(response.status_code, 303, response.text[:500])
        self.assertIn(f"/{self.engine.id}", response.headers["Location"])
        self.env.invalidate_all()
        token = self.engine._token()
        self.assertTrue(token.access_token)
        self.assertTrue(token.refresh_token)
        self.assertGreater(token.expires_at, fields.Datetime.now() + timedelta(minutes=100))
        self.assertEqual(self.engine.fakturoid_account_slug, SLUG, "the only account is picked from /user.json")
        self.assertEqual(self.engine.state, "connected")

        # The state is single-use.
        again = self.open_callback(callback)
        self.assertEqual(again.status_code, 400)
        self.assertIn("already used", again.text)

    def test_callback_without_state(self):
        self.authenticate(self.manager.login, f"{self.manager.login}-password")
        response = self.url_open("/invoice_engine/fakturoid/callback?code=abc", allow_redirects=False)
        self.assertEqual(response.status_code, 400)
        self.assertIn("carries no state", response.text)

    def test_callback_with_forged_state(self):
        callback = self.start_flow()
        forged = callback.replace("state=", "state=x")
        response = self.open_callback(forged)
        self.assertEqual(response.status_code, 400)
        self.assertIn("not valid", response.text)
        self.assertFalse(self.engine._token())

    def test_callback_with_expired_state(self):
        callback = self.start_flow()
        with freeze_time(fields.Datetime.now() + timedelta(minutes=11)):
            response = self.open_callback(callback)
        self.assertEqual(response.status_code, 400)
        self.assertIn("expired", response.text)

    def test_callback_by_another_user(self):
        callback = self.start_flow(self.manager)
        self.authenticate(self.other_manager.login, f"{self.other_manager.login}-password")
        response = self.open_callback(callback)
        self.assertEqual(response.status_code, 400)
        self.assertIn("another user", response.text)
        self.env.invalidate_all()
        self.assertFalse(self.engine._token())

    def test_consent_refused_in_fakturoid(self):
        callback = self.start_flow()
        state = parse_qs(urlsplit(callback).query)["state"][0]
        response = self.url_open(
            f"/invoice_engine/fakturoid/callback?error=access_denied&state={state}", allow_redirects=False,
        )
        self.assertEqual(response.status_code, 400)
        self.assertIn("did not grant access", response.text)

    def test_expired_token_is_refreshed_and_the_refresh_token_kept(self):
        self.open_callback(self.start_flow())
        self.env.invalidate_all()
        refresh_token = self.engine._token().refresh_token
        first_access = self.engine._token().access_token
        self.create_invoice()
        with freeze_time(fields.Datetime.now() + timedelta(hours=3)):
            self.run_queue()
        token = self.engine._token()
        self.assertNotEqual(token.access_token, first_access)
        self.assertEqual(token.refresh_token, refresh_token, "Fakturoid's refresh answer has no refresh token")
        grants = [request["json"]["grant_type"] for request in self.requests_to("/oauth/token")]
        self.assertEqual(grants, ["authorization_code", "refresh_token"])
        self.assertEqual(len(self.remote()), 1)

    def test_revoked_connection_asks_to_reconnect(self):
        self.open_callback(self.start_flow())
        self.env.invalidate_all()
        self.sandbox.revoke_tokens(CLIENT_ID)
        move = self.create_invoice()
        with freeze_time(fields.Datetime.now() + timedelta(hours=3)):
            self.run_queue()
        self.assertEqual(move.engine_state, "queued")
        self.assertEqual(self.engine.state, "error")
        self.assertIn("Connect to Fakturoid", self.engine.last_error)


@tagged("post_install", "-at_install")
class TestFakturoidOAuthFailures(FakturoidOAuthCase):
    """A failed callback spends its state, breaks nothing and never depends on the user's e-mail."""

    def bogus(self, callback):
        return callback.replace("code=", "code=bogus")

    def test_state_is_spent_when_the_code_exchange_fails(self):
        callback = self.start_flow()
        failed = self.open_callback(self.bogus(callback))
        self.assertEqual(failed.status_code, 400)
        self.assertIn("Connect to Fakturoid", failed.text)
        replay = self.open_callback(callback)
        self.assertEqual(replay.status_code, 400)
        self.assertIn("already used", replay.text)
        self.env.invalidate_all()
        self.assertFalse(self.engine._token())

    def test_failure_page_without_a_user_email(self):
        self.manager.email = False
        callback = self.start_flow()
        failed = self.open_callback(self.bogus(callback))
        self.assertEqual(failed.status_code, 400)
        self.assertNotIn("Unable to send message", failed.text)
        self.assertIn("Connect to Fakturoid", failed.text)
        self.assertIn("already used", self.open_callback(callback).text)

    def test_success_without_a_user_email(self):
        self.manager.email = False
        response = self.open_callback(self.start_flow())
        self.assertEqual(response.status_code, 303, response.text[:300])
        self.env.invalidate_all()
        self.assertEqual(self.engine.state, "connected")

    def test_bogus_code_leaves_a_working_connection_alone(self):
        self.open_callback(self.start_flow())
        self.env.invalidate_all()
        self.assertEqual(self.engine.state, "connected")
        access_token = self.engine._token().access_token
        failed = self.open_callback(self.bogus(self.start_flow()))
        self.assertEqual(failed.status_code, 400)
        self.env.invalidate_all()
        self.assertEqual(self.engine.state, "connected")
        self.assertFalse(self.engine.last_error)
        self.assertEqual(self.engine._token().access_token, access_token)

    def test_connect_is_refused_for_client_credentials(self):
        self.engine.fakturoid_auth_flow = "client_credentials"
        self.authenticate(self.manager.login, f"{self.manager.login}-password")
        response = self.url_open(f"/invoice_engine/fakturoid/connect/{self.engine.id}", allow_redirects=False)
        self.assertEqual(response.status_code, 400)
        self.assertIn("client credentials", response.text)
        self.assertFalse(self.env["invoice.engine.oauth.state"].sudo().search([("engine_id", "=", self.engine.id)]))
        with self.assertRaises(UserError):
            self.engine.action_fakturoid_connect()
