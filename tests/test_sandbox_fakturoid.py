"""The Fakturoid sandbox, over real HTTP, checked against the vendor's own response samples.

The fixtures in ``fixtures/fakturoid/`` are copies of the sample responses shipped with the
official fakturoid-ruby client; the sandbox must answer in exactly their shapes.
"""
import json
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import requests
from urllib3.util import SKIP_HEADER

from odoo.tests.common import BaseCase, tagged

from ..sandbox.fakturoid import FakturoidSandbox

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "fakturoid"
REPO_ROOT = Path(__file__).resolve().parents[1]
USER_AGENT = "AIE tests (tests@example.com)"
NO_USER_AGENT = SKIP_HEADER  # None would let urllib3 send its own "python-urllib3/x.y"
SLUG = "acme"
CLIENT_ID = "client-acme"
CLIENT_SECRET = "secret-acme"
REDIRECT_URI = "https://erp.example.com/fakturoid/callback"


def load_fixture(name):
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def json_type(value):
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


FULL_SUBJECT = {
    "name": "Microsoft a. s.", "custom_id": 42, "type": "customer", "street": "Trojanova 1216/46",
    "city": "Praha", "zip": "11000", "country": "CZ", "registration_no": "28444501", "vat_no": "CZ28444501",
    "bank_account": "1234/0100", "iban": "CZ6508000000192000145399", "variable_symbol": "1234567890",
    "full_name": "Jan Novák", "email": "jan@example.cz", "email_copy": "kopie@example.cz",
    "phone": "+420 123 456 789", "web": "https://www.example.cz",
}


def two_lines(rate=21):
    return [{"name": "PC", "quantity": 1, "unit_price": "20000", "vat_rate": rate},
            {"name": "Notebook", "quantity": "1", "unit_price": 20000, "vat_rate": rate}]


@tagged("post_install", "-at_install")
class TestFakturoidSandbox(BaseCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.sb = FakturoidSandbox().start()
        cls.addClassCleanup(cls.sb.stop)

    def setUp(self):
        super().setUp()
        self.sb.reset()
        original_clock = self.sb.clock
        self.addCleanup(setattr, self.sb, "clock", original_clock)
        self.sb.add_account(SLUG)
        self.sb.add_client(CLIENT_ID, CLIENT_SECRET, accounts=(SLUG,), redirect_uri=REDIRECT_URI)
        self.token = self.sb.issue_token(CLIENT_ID)

    # ------------------------------------------------------------------ helpers

    def call(self, method, path, token=None, user_agent=USER_AGENT, **kwargs):
        headers = dict(kwargs.pop("headers", {}))
        headers["User-Agent"] = user_agent
        if token is not False:
            headers["Authorization"] = f"Bearer {token or self.token}"
        url = path if path.startswith("http") else self.sb.api_url + path
        return requests.request(method, url, headers=headers, timeout=10, **kwargs)

    def api(self, method, path, **kwargs):
        return self.call(method, f"/accounts/{SLUG}{path}", **kwargs)

    def token_request(self, payload, auth=(CLIENT_ID, CLIENT_SECRET), user_agent=USER_AGENT):
        return requests.post(self.sb.api_url + "/oauth/token", json=payload, auth=auth,
                             headers={"User-Agent": user_agent}, timeout=10)

    def create_subject(self, **values):
        response = self.api("POST", "/subjects.json", json={"name": "Zákazník s.r.o.", **values})
        self.assertEqual(response.status_code, 201, response.text)
        return response.json()

    def create_invoice(self, subject_id=None, **values):
        subject_id = subject_id or self.create_subject()["id"]
        response = self.api("POST", "/invoices.json", json={"subject_id": subject_id, "lines": two_lines(), **values})
        self.assertEqual(response.status_code, 201, response.text)
        return response.json()

    def assert_same_shape(self, fixture, actual, where="", nullable=()):
        """Every fixture key present with the fixture's JSON type (anything where the fixture has null)."""
        for key, expected in fixture.items():
            self.assertIn(key, actual, f"{where}{key} missing")
            if expected is None or (key in nullable and actual[key] is None):
                continue
            self.assertEqual(json_type(actual[key]), json_type(expected), f"{where}{key}: {actual[key]!r}")
            if isinstance(expected, dict):
                self.assert_same_shape(expected, actual[key], f"{where}{key}.")
            elif isinstance(expected, list) and expected and isinstance(expected[0], dict):
                for index, element in enumerate(actual[key]):
                    self.assert_same_shape(expected[0], element, f"{where}{key}[{index}].")

    def authorize(self, state="xyz", redirect_uri=REDIRECT_URI, client_id=CLIENT_ID):
        query = {"client_id": client_id, "redirect_uri": redirect_uri, "response_type": "code", "state": state}
        return requests.get(self.sb.api_url + "/oauth", params=query, allow_redirects=False,
                            headers={"User-Agent": "Mozilla/5.0"}, timeout=10)

    def code_from(self, response):
        return parse_qs(urlsplit(response.headers["Location"]).query)

    def later(self, seconds):
        start = time.time()
        self.sb.clock = lambda: start + seconds

    # ------------------------------------------------------------------ vendor shapes

    def test_invoice_has_every_key_of_the_vendor_sample_with_its_json_type(self):
        subject = self.create_subject(**FULL_SUBJECT)
        invoice = self.create_invoice(subject["id"], custom_id="odoo-move-7", note="Děkujeme",
                                      footer_note="Zápis v OR", order_number="PO-1")
        self.assertLessEqual(set(load_fixture("invoice.json")), set(invoice))  # unpaid: every key too
        self.assertEqual(self.api("POST", f"/invoices/{invoice['id']}/payments.json", json={}).status_code, 201)
        invoice = self.api("GET", f"/invoices/{invoice['id']}.json").json()
        # The vendor sample came from a recurring generator; a plain invoice has none (nullable in v3).
        self.assert_same_shape(load_fixture("invoice.json"), invoice, nullable=("generator_id",))
        for key in ("document_type", "custom_id", "correction_id", "remaining_amount", "paid_on", "payments",
                    "vat_rates_summary", "pdf_url", "html_url", "public_html_url", "url", "subject_custom_id"):
            self.assertIn(key, invoice)
        self.assertIn("/api/v3/accounts/acme/invoices/", invoice["url"])
        self.assertEqual((invoice["total"], invoice["subtotal"], invoice["lines"][0]["vat_rate"]),
                         ("48400.0", "40000.0", 21))
        self.assertEqual(invoice["custom_id"], "odoo-move-7")

    def test_subject_has_every_key_of_each_vendor_sample(self):
        subject = self.create_subject(**FULL_SUBJECT)
        for index, sample in enumerate(load_fixture("subjects.json")):
            self.assert_same_shape(sample, subject, f"subjects[{index}].")
        for key in ("local_vat_no", "type", "due", "currency", "language", "setting_update_from_ares", "created_at"):
            self.assertIn(key, subject)
        self.assertEqual(subject["custom_id"], "42")  # always a string

    def test_validation_error_has_exactly_the_vendor_error_shape(self):
        sample = load_fixture("invoice_error.json")
        response = self.api("POST", "/invoices.json", json={"lines": two_lines()})
        self.assertEqual(response.status_code, 422)
        body = response.json()
        self.assertEqual(set(body), set(sample))
        for field_name, messages in body["errors"].items():
            self.assertIsInstance(field_name, str)
            self.assertTrue(messages and all(isinstance(message, str) for message in messages))
        self.assertEqual(body, {"errors": {"subject_id": sample["errors"]["number"]}})  # "je povinná položka"

    def test_blocked_account_answers_402_in_the_vendor_shape_on_every_account_call(self):
        sample = load_fixture("blocked_account.json")
        self.sb.block_account(SLUG)
        for method, path in (("GET", "/account.json"), ("GET", "/invoices.json"), ("POST", "/subjects.json")):
            response = self.api(method, path, json={"name": "X"} if method == "POST" else None)
            self.assertEqual(response.status_code, 402, path)
            self.assert_same_shape(sample, response.json())
            self.assertEqual(set(response.json()), set(sample))
            self.assertEqual(response.json()["status"], "Account blocked")
        self.assertEqual(self.call("GET", "/user.json").status_code, 200)  # not account-scoped
        self.assertEqual(self.sb.state(SLUG)["subjects"], [])
        self.sb.block_account(SLUG, blocked=False)
        self.assertEqual(self.api("GET", "/account.json").status_code, 200)

    # ------------------------------------------------------------------ headers

    def test_user_agent_is_mandatory_and_must_carry_a_contact_email(self):
        missing = self.api("GET", "/account.json", user_agent=NO_USER_AGENT)
        self.assertEqual(missing.status_code, 400)
        self.assertIn("User-Agent", missing.json()["error_description"])
        self.assertEqual(set(missing.json()), {"error", "error_description"})
        self.assertEqual(self.api("GET", "/account.json", user_agent="python-requests/2.31").status_code, 403)
        self.assertEqual(self.token_request({"grant_type": "client_credentials"}, user_agent="MyApp").status_code, 403)
        no_agent = self.token_request({"grant_type": "client_credentials"}, user_agent=NO_USER_AGENT)
        self.assertEqual(no_agent.status_code, 400)
        self.assertEqual(self.api("GET", "/account.json").status_code, 200)

    def test_bodies_must_be_json(self):
        response = self.api("POST", "/subjects.json", data="name=ACME",
                            headers={"Content-Type": "application/x-www-form-urlencoded"})
        self.assertEqual(response.status_code, 415)
        self.assertEqual(self.sb.state(SLUG)["subjects"], [])
        self.assertEqual(self.api("POST", "/subjects.json", data=b"{bad", headers={"Content-Type": "application/json"}
                                  ).status_code, 400)

    def test_unknown_account_and_unknown_ids_answer_404(self):
        self.sb.add_account("other")
        self.assertEqual(self.call("GET", "/accounts/other/account.json").status_code, 404)  # not this user's
        self.assertEqual(self.call("GET", "/accounts/nope/account.json").json()["error"], "not_found")
        self.assertEqual(self.api("GET", "/invoices/1.json").status_code, 404)
        self.assertEqual(self.api("GET", "/subjects/1.json").status_code, 404)

    # ------------------------------------------------------------------ OAuth

    def test_token_endpoint_takes_client_credentials_in_http_basic_only(self):
        in_body = self.token_request({"grant_type": "client_credentials", "client_id": CLIENT_ID,
                                      "client_secret": CLIENT_SECRET}, auth=None)
        self.assertEqual(in_body.status_code, 400)
        self.assertEqual(in_body.json(), {
            "error": "invalid_request",
            "error_description": "Client ID and Client Secret have to be sent via HTTP Basic Authorization"})
        wrong = self.token_request({"grant_type": "client_credentials"}, auth=(CLIENT_ID, "wrong"))
        self.assertEqual((wrong.status_code, wrong.json()["error"]), (401, "invalid_client"))

    def test_client_credentials_gives_an_access_token_without_refresh_token(self):
        response = self.token_request({"grant_type": "client_credentials"})
        self.assertEqual(response.status_code, 200)
        body = response.json()
        self.assertEqual((body["token_type"], body["expires_in"]), ("Bearer", 7200))
        self.assertNotIn("refresh_token", body)
        self.assertEqual(self.call("GET", "/user.json", token=body["access_token"]).status_code, 200)

    def test_authorization_code_flow_echoes_state_and_uses_each_code_once(self):
        state = "a b&c=č/?"
        consent = self.authorize(state=state)
        self.assertEqual(consent.status_code, 302)
        self.assertTrue(consent.headers["Location"].startswith(REDIRECT_URI + "?"))
        answer = self.code_from(consent)
        self.assertEqual(answer["state"], [state])
        exchange = {"grant_type": "authorization_code", "code": answer["code"][0], "redirect_uri": REDIRECT_URI}
        first = self.token_request(exchange)
        self.assertEqual(first.status_code, 200, first.text)
        self.assertEqual(set(first.json()), {"access_token", "token_type", "expires_in", "refresh_token"})
        second = self.token_request(exchange)
        self.assertEqual((second.status_code, second.json()["error"]), (400, "invalid_grant"))

    def test_authorization_code_expires_and_is_bound_to_its_redirect_uri(self):
        code = self.code_from(self.authorize())["code"][0]
        other_uri = self.token_request({"grant_type": "authorization_code", "code": code,
                                        "redirect_uri": "https://evil.example.com/cb"})
        self.assertEqual(other_uri.json()["error"], "invalid_grant")
        self.later(601)
        expired = self.token_request({"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI})
        self.assertEqual((expired.status_code, expired.json()["error"]), (400, "invalid_grant"))

    def test_consent_page_refuses_localhost_unknown_clients_and_foreign_redirects(self):
        self.sb.add_client("free", "s", accounts=(SLUG,))  # no registered redirect_uri: any but localhost
        for response in (self.authorize(client_id="free", redirect_uri="http://localhost:8069/fakturoid/callback"),
                         self.authorize(client_id="nobody"),
                         self.authorize(redirect_uri="https://erp.example.com/other")):
            self.assertEqual(response.status_code, 400)
            self.assertIn("text/html", response.headers["Content-Type"])
        allowed = self.authorize(client_id="free", redirect_uri="http://127.0.0.1:8069/fakturoid/callback")
        self.assertEqual(allowed.status_code, 302)

    def test_each_new_access_token_invalidates_the_previous_one(self):
        old = self.token
        new = self.token_request({"grant_type": "client_credentials"}).json()["access_token"]
        stale = self.call("GET", "/user.json", token=old)
        self.assertEqual((stale.status_code, stale.json()["error"]), (401, "invalid_token"))
        self.assertEqual(self.call("GET", "/user.json", token=new).status_code, 200)

    def test_refresh_answers_without_refresh_token_and_the_old_refresh_token_keeps_working(self):
        code = self.code_from(self.authorize())["code"][0]
        tokens = self.token_request({"grant_type": "authorization_code", "code": code,
                                     "redirect_uri": REDIRECT_URI}).json()
        refreshed = self.token_request({"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]})
        self.assertEqual(refreshed.status_code, 200)
        self.assertNotIn("refresh_token", refreshed.json())
        self.assertEqual(self.call("GET", "/user.json", token=tokens["access_token"]).status_code, 401)
        again = self.token_request({"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]})
        self.assertEqual(again.status_code, 200)
        unknown = self.token_request({"grant_type": "refresh_token", "refresh_token": "nope"})
        self.assertEqual((unknown.status_code, unknown.json()["error"]), (400, "invalid_grant"))

    def test_revoked_tokens_get_401(self):
        code = self.code_from(self.authorize())["code"][0]
        tokens = self.token_request({"grant_type": "authorization_code", "code": code,
                                     "redirect_uri": REDIRECT_URI}).json()
        revoke = requests.post(self.sb.api_url + "/oauth/revoke", json={"token": tokens["refresh_token"]},
                               auth=(CLIENT_ID, CLIENT_SECRET), headers={"User-Agent": USER_AGENT}, timeout=10)
        self.assertEqual(revoke.status_code, 200)
        self.assertEqual(self.call("GET", "/user.json", token=tokens["access_token"]).status_code, 401)
        refresh = self.token_request({"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]})
        self.assertEqual(refresh.json()["error"], "invalid_grant")
        token = self.sb.issue_token(CLIENT_ID)
        self.sb.revoke_tokens(CLIENT_ID)
        self.assertEqual(self.call("GET", "/user.json", token=token).status_code, 401)

    def test_access_tokens_expire_after_two_hours_of_sandbox_clock(self):
        self.later(7199)
        self.assertEqual(self.call("GET", "/user.json").status_code, 200)
        self.later(7201)
        expired = self.call("GET", "/user.json")
        self.assertEqual(expired.status_code, 401)
        self.assertIn("expired", expired.json()["error_description"])

    def test_user_json_lists_the_accounts_of_the_user(self):
        user = self.call("GET", "/user.json").json()
        self.assertEqual(set(user), {"id", "full_name", "email", "avatar_url", "default_account", "permission",
                                     "allowed_scope", "accounts"})
        self.assertEqual(user["default_account"], SLUG)
        self.assertEqual(set(user["accounts"][0]), {"slug", "logo", "name", "registration_no", "permission",
                                                    "allowed_scope"})

    # ------------------------------------------------------------------ reference data

    def test_account_and_number_formats(self):
        account = self.api("GET", "/account.json").json()
        self.assertEqual((account["subdomain"], account["currency"], account["vat_mode"], account["country"]),
                         (SLUG, "CZK", "vat_payer", "CZ"))
        self.assertIn("vat_price_mode", account)
        formats = self.api("GET", "/number_formats/invoices.json").json()
        self.assertEqual([f["format"] for f in formats], ["{YYYY}-{NNNN}", "OD{YYYY}{NNNN}"])
        self.assertEqual([f["default"] for f in formats], [True, False])
        self.assertEqual(set(formats[0]), {"id", "format", "preview", "default", "created_at", "updated_at"})
        self.assertRegex(formats[0]["preview"], r"^\d{4}-0001$")

    # ------------------------------------------------------------------ rate limit

    def test_rate_limit_headers_on_every_account_call_and_429_past_the_quota(self):
        self.sb.set_rate_limit(quota=3, window=60)
        remaining = []
        for _ in range(3):
            response = self.api("GET", "/account.json")
            self.assertEqual(response.headers["X-RateLimit-Policy"], "default;q=3;w=60")
            remaining.append(response.headers["X-RateLimit"].split(";")[1])
        self.assertEqual(remaining, ["r=2", "r=1", "r=0"])
        over = self.api("GET", "/invoices.json")
        self.assertEqual(over.status_code, 429)
        self.assertRegex(over.headers["X-RateLimit"], r"^default;r=0;t=\d+$")
        self.assertNotIn("X-RateLimit", self.call("GET", "/user.json").headers)
        self.later(61)
        self.assertEqual(self.api("GET", "/account.json").status_code, 200)

    def test_rate_limit_window_follows_time_scale(self):
        fast = FakturoidSandbox(time_scale=0.01).start()
        self.addCleanup(fast.stop)
        fast.add_account(SLUG)
        fast.add_client(CLIENT_ID, CLIENT_SECRET)
        fast.set_rate_limit(quota=1, window=30)
        url = f"{fast.api_url}/accounts/{SLUG}/account.json"
        headers = {"User-Agent": USER_AGENT, "Authorization": f"Bearer {fast.issue_token(CLIENT_ID)}"}
        first = requests.get(url, headers=headers, timeout=10)
        self.assertEqual(first.headers["X-RateLimit-Policy"], "default;q=1;w=0.3")
        self.assertEqual(requests.get(url, headers=headers, timeout=10).status_code, 429)
        time.sleep(0.35)
        self.assertEqual(requests.get(url, headers=headers, timeout=10).status_code, 200)

    # ------------------------------------------------------------------ subjects

    def test_pagination_is_40_per_page(self):
        for index in range(41):
            self.create_subject(name=f"Zákazník {index}")
        pages = [self.api("GET", "/subjects.json", params={"page": page}).json() for page in (1, 2, 3)]
        self.assertEqual([len(page) for page in pages], [40, 1, 0])
        self.assertEqual(self.api("GET", "/subjects.json").json(), pages[0])

    def test_subject_search_covers_the_documented_fields_only(self):
        found = self.create_subject(**FULL_SUBJECT, private_note="Odběratel z veletrhu")
        self.create_subject(name="Jiná firma s.r.o.")
        for query in ("microsoft", "Jan Novák", "JAN@example.cz", "kopie@example", "28444501", "CZ28444501",
                      "veletrhu"):
            hits = self.api("GET", "/subjects/search.json", params={"query": query}).json()
            self.assertEqual([hit["id"] for hit in hits], [found["id"]], query)
        for query in ("Trojanova", "Praha", "+420 123", "1234567890", "42"):  # not searched fields
            self.assertEqual(self.api("GET", "/subjects/search.json", params={"query": query}).json(), [], query)

    def test_subject_search_answers_in_the_subject_list_shape_40_a_page(self):
        for index in range(41):
            self.create_subject(**{**FULL_SUBJECT, "custom_id": index, "name": f"Zákazník {index}"})
        pages = [self.api("GET", "/subjects/search.json", params={"query": "28444501", "page": page})
                 for page in (1, 2, 3)]
        self.assertEqual([page.status_code for page in pages], [200, 200, 200])
        self.assertEqual([len(page.json()) for page in pages], [40, 1, 0])
        self.assertIn("X-RateLimit", pages[0].headers)
        for index, sample in enumerate(load_fixture("subjects.json")):
            self.assert_same_shape(sample, pages[1].json()[0], f"subjects[{index}].")
        listed = self.api("GET", "/subjects.json", params={"page": 2}).json()
        self.assertEqual(pages[1].json(), listed)

    def test_subject_custom_id_is_unique_and_filterable(self):
        first = self.create_subject(custom_id=7)
        duplicate = self.api("POST", "/subjects.json", json={"name": "B", "custom_id": "7"})
        self.assertEqual(duplicate.status_code, 422)
        self.assertEqual(list(duplicate.json()["errors"]), ["custom_id"])
        self.assertEqual(len(self.sb.state(SLUG)["subjects"]), 1)
        found = self.api("GET", "/subjects.json", params={"custom_id": "7"}).json()
        self.assertEqual([s["id"] for s in found], [first["id"]])
        nameless = self.api("POST", "/subjects.json", json={"name": ""})
        self.assertEqual(nameless.json(), {"errors": {"name": ["je povinná položka"]}})

    def test_subject_update_and_delete(self):
        subject = self.create_subject()
        updated = self.api("PATCH", f"/subjects/{subject['id']}.json", json={"email": "a@b.cz"})
        self.assertEqual((updated.status_code, updated.json()["email"]), (200, "a@b.cz"))
        self.create_invoice(subject["id"])
        self.assertEqual(self.api("DELETE", f"/subjects/{subject['id']}.json").status_code, 403)
        lonely = self.create_subject(name="Bez dokladů")
        self.assertEqual(self.api("DELETE", f"/subjects/{lonely['id']}.json").status_code, 204)
        self.assertEqual(self.api("GET", f"/subjects/{lonely['id']}.json").status_code, 404)

    # ------------------------------------------------------------------ invoices

    def test_invoice_custom_id_is_not_unique(self):
        subject = self.create_subject()
        first = self.create_invoice(subject["id"], custom_id="move-1")
        second = self.create_invoice(subject["id"], custom_id="move-1")
        self.assertNotEqual(first["id"], second["id"])
        found = self.api("GET", "/invoices.json", params={"custom_id": "move-1"}).json()
        self.assertEqual(sorted(i["id"] for i in found), sorted([first["id"], second["id"]]))
        self.assertEqual(self.api("GET", "/invoices.json", params={"custom_id": "move-2"}).json(), [])

    def test_invoice_list_filters(self):
        subject, other = self.create_subject(), self.create_subject(name="Jiný")
        first = self.create_invoice(subject["id"])
        second = self.create_invoice(other["id"])
        self.api("POST", f"/invoices/{second['id']}/fire.json", params={"event": "mark_as_sent"})

        def ids(**params):
            return [i["id"] for i in self.api("GET", "/invoices.json", params=params).json()]

        self.assertEqual(ids(number=first["number"]), [first["id"]])
        self.assertEqual(ids(status="sent"), [second["id"]])
        self.assertEqual(ids(subject_id=subject["id"]), [first["id"]])
        self.assertEqual(ids(document_type="correction"), [])

    def test_numbering_per_format_and_year_with_variable_symbol_from_the_number(self):
        subject = self.create_subject()
        first = self.create_invoice(subject["id"], issued_on="2026-03-01")
        second = self.create_invoice(subject["id"], issued_on="2026-03-02")
        older = self.create_invoice(subject["id"], issued_on="2025-12-31")
        other_format = self.api("GET", "/number_formats/invoices.json").json()[1]["id"]
        special = self.create_invoice(subject["id"], issued_on="2026-03-03", number_format_id=other_format)
        given = self.create_invoice(subject["id"], number="X-77", variable_symbol="555")
        self.assertEqual([i["number"] for i in (first, second, older, special, given)],
                         ["2026-0001", "2026-0002", "2025-0001", "OD20260001", "X-77"])
        self.assertEqual((first["variable_symbol"], given["variable_symbol"]), ("20260001", "555"))
        self.assertEqual((first["status"], first["due_on"]), ("open", "2026-03-15"))

    def test_invoice_validation_messages(self):
        subject_id = self.create_subject()["id"]

        def errors(**values):
            body = {"subject_id": subject_id, "lines": two_lines(), **values}
            response = self.api("POST", "/invoices.json", json=body)
            self.assertEqual(response.status_code, 422, response.text)
            return response.json()["errors"]

        self.assertEqual(errors(number=""), {"number": ["Číslo neodpovídá formátu čísla v nastavení."]})
        self.assertIn("lines.vat_rate", errors(lines=two_lines(rate=15)))
        self.assertIn("lines.name", errors(lines=[{"quantity": 1, "unit_price": 10}]))
        self.assertIn("lines", errors(lines=[]))
        self.assertIn("subject_id", errors(subject_id=999))
        self.assertIn("currency", errors(currency="XYZ", exchange_rate="1"))
        self.assertEqual(errors(currency="EUR"), {"exchange_rate": ["je povinná položka"]})
        self.assertEqual(errors(issued_on="13.10.2011"), {"issued_on": ["není platné datum"]})
        self.assertEqual(errors(document_type="correction"), {"correction_id": ["je povinná položka"]})
        self.assertEqual(errors(document_type="correction", correction_id=1), {"correction_id": ["neexistuje"]})
        self.assertEqual(self.sb.state(SLUG)["invoices"], [])
        self.sb.add_account("slovak", country="SK", currency="EUR")
        self.sb.add_client("sk-client", "s", accounts=("slovak",))
        sk_token = self.sb.issue_token("sk-client")
        sk_subject = self.call("POST", "/accounts/slovak/subjects.json", token=sk_token, json={"name": "SK"}).json()
        sk = self.call("POST", "/accounts/slovak/invoices.json", token=sk_token,
                       json={"subject_id": sk_subject["id"], "lines": two_lines(rate=23)})
        self.assertEqual(sk.status_code, 201, sk.text)
        sk_wrong = self.call("POST", "/accounts/slovak/invoices.json", token=sk_token,
                             json={"subject_id": sk_subject["id"], "lines": two_lines(rate=21)})
        self.assertIn("lines.vat_rate", sk_wrong.json()["errors"])

    def test_vat_is_recapitulated_per_rate_and_converted_with_the_exchange_rate(self):
        tiny_lines = [{"name": f"Položka {n}", "quantity": 1, "unit_price": "0.02", "vat_rate": 21} for n in range(5)]
        invoice = self.create_invoice(lines=tiny_lines + [{"name": "Kniha", "quantity": 3, "unit_price": "99.99",
                                                            "vat_rate": 12}],
                                      currency="EUR", exchange_rate="25.5")
        summary = {entry["vat_rate"]: entry for entry in invoice["vat_rates_summary"]}
        self.assertEqual((summary[21]["base"], summary[21]["vat"]), ("0.1", "0.02"))  # not 5 x 0.00
        self.assertEqual((summary[12]["base"], summary[12]["vat"]), ("299.97", "36.0"))
        self.assertEqual((invoice["subtotal"], invoice["total"]), ("300.07", "336.09"))
        self.assertEqual((invoice["native_total"], invoice["exchange_rate"]), ("8570.3", "25.5"))
        rounded = self.create_invoice(lines=[{"name": "A", "quantity": 1, "unit_price": "1.24", "vat_rate": 21}],
                                      round_total=True)
        self.assertEqual(rounded["total"], "2.0")

    def test_correction_links_back_to_the_original(self):
        original = self.create_invoice()
        correction = self.create_invoice(original["subject_id"], document_type="correction",
                                         correction_id=original["id"],
                                         lines=[{"name": "PC", "quantity": -1, "unit_price": "20000", "vat_rate": 21}])
        self.assertEqual((correction["correction_id"], correction["correction"]), (original["id"], True))
        self.assertEqual(correction["total"], "-24200.0")
        refreshed = self.api("GET", f"/invoices/{original['id']}.json").json()
        self.assertEqual(refreshed["correction_id"], correction["id"])

    def test_update_lines_and_delete_invoice(self):
        invoice = self.create_invoice()
        first, second = invoice["lines"]
        changes = [{"id": first["id"], "unit_price": "100"}, {"id": second["id"], "_destroy": True},
                   {"name": "Myš", "unit_price": "50", "vat_rate": 21}]
        updated = self.api("PATCH", f"/invoices/{invoice['id']}.json", json={"lines": changes})
        self.assertEqual(updated.status_code, 200, updated.text)
        self.assertEqual([line["name"] for line in updated.json()["lines"]], ["PC", "Myš"])
        self.assertEqual(updated.json()["subtotal"], "150.0")
        forbidden = self.api("PATCH", f"/invoices/{invoice['id']}.json", json={"number_format_id": 1})
        self.assertEqual(forbidden.status_code, 422)
        self.assertEqual(self.api("DELETE", f"/invoices/{invoice['id']}.json").status_code, 204)
        self.assertEqual(self.api("GET", f"/invoices/{invoice['id']}.json").status_code, 404)

    def test_fire_events_change_the_status(self):
        invoice = self.create_invoice()
        path = f"/invoices/{invoice['id']}"

        def fire(event):
            return self.api("POST", f"{path}/fire.json", params={"event": event}).status_code

        def status():
            return self.api("GET", f"{path}.json").json()["status"]

        self.assertEqual((fire("mark_as_sent"), status()), (204, "sent"))
        self.assertEqual((fire("cancel"), status()), (204, "cancelled"))
        self.assertEqual((fire("undo_cancel"), status()), (204, "sent"))
        self.assertEqual((fire("mark_as_uncollectible"), status()), (204, "uncollectible"))
        self.assertEqual((fire("undo_uncollectible"), status()), (204, "sent"))
        self.assertEqual(fire("lock"), 204)
        self.assertEqual(self.api("PATCH", f"{path}.json", json={"note": "x"}).status_code, 403)
        self.assertEqual(fire("unlock"), 204)
        self.assertEqual(self.api("PATCH", f"{path}.json", json={"note": "x"}).status_code, 200)
        self.assertEqual(fire("pay"), 422)  # not an event in v3

    def test_pdf_answers_204_until_rendered_then_a_pdf_with_the_number(self):
        self.sb.pdf_render_polls = 2
        invoice = self.create_invoice()
        answers = [self.call("GET", invoice["pdf_url"]) for _ in range(3)]
        self.assertEqual([a.status_code for a in answers], [204, 204, 200])
        self.assertEqual(answers[0].content, b"")
        self.assertEqual(answers[2].headers["Content-Type"], "application/pdf")
        self.assertTrue(answers[2].content.startswith(b"%PDF-"))
        self.assertIn(invoice["number"].encode(), answers[2].content)
        self.api("PATCH", f"/invoices/{invoice['id']}.json", json={"note": "změna"})
        self.assertEqual(self.call("GET", invoice["pdf_url"]).status_code, 204)

    # ------------------------------------------------------------------ payments

    def test_payments_make_the_invoice_paid_and_deleting_reopens_it(self):
        invoice = self.create_invoice()
        path = f"/invoices/{invoice['id']}/payments.json"
        partial = self.api("POST", path, json={"amount": "400", "paid_on": "2026-04-01"})
        self.assertEqual(partial.status_code, 201)
        self.assertEqual(partial.json()["mark_document_as_paid"], False)
        thanks = self.api("POST", path, json={"amount": "100", "send_thank_you_email": True})
        self.assertEqual((thanks.status_code, list(thanks.json()["errors"])), (422, ["send_thank_you_email"]))
        state = self.api("GET", f"/invoices/{invoice['id']}.json").json()
        self.assertEqual((state["status"], state["remaining_amount"]), ("open", "48000.0"))
        rest = self.api("POST", path, json={"send_thank_you_email": True})
        self.assertEqual(rest.status_code, 201, rest.text)
        payment = rest.json()
        self.assertEqual((payment["amount"], payment["mark_document_as_paid"], payment["currency"]),
                         ("48000.0", True, "CZK"))
        for key in ("id", "paid_on", "native_amount", "send_thank_you_email", "variable_symbol", "bank_account_id",
                    "tax_document_id", "created_at", "updated_at"):
            self.assertIn(key, payment)
        paid = self.api("GET", f"/invoices/{invoice['id']}.json").json()
        self.assertEqual((paid["status"], len(paid["payments"])), ("paid", 2))
        self.assertIsNotNone(paid["paid_on"])
        deleted = self.api("DELETE", f"/invoices/{invoice['id']}/payments/{payment['id']}.json")
        self.assertEqual(deleted.status_code, 204)
        reopened = self.api("GET", f"/invoices/{invoice['id']}.json").json()
        self.assertEqual((reopened["status"], reopened["paid_on"]), ("open", None))
        self.assertEqual(len(self.sb.state(SLUG)["payments"]), 1)

    # ------------------------------------------------------------------ faults

    def test_status_fault_answers_without_storing(self):
        subject_id = self.create_subject()["id"]
        self.sb.inject("status", method="POST", path=r"/invoices\.json$", status=503,
                       body={"error": "read_only", "error_description": "Fakturoid is in read only state"})
        failed = self.api("POST", "/invoices.json", json={"subject_id": subject_id, "lines": two_lines()})
        self.assertEqual((failed.status_code, failed.json()["error"]), (503, "read_only"))
        self.assertEqual(self.sb.state(SLUG)["invoices"], [])
        self.create_invoice(subject_id)  # the fault was used up
        self.assertEqual(len(self.sb.state(SLUG)["invoices"]), 1)

    def test_html_and_rate_limit_faults(self):
        self.sb.inject("html", path="account", status=502)
        page = self.api("GET", "/account.json")
        self.assertEqual(page.status_code, 502)
        self.assertIn("text/html", page.headers["Content-Type"])
        self.sb.inject("rate_limit", path="account", reset=12)
        limited = self.api("GET", "/account.json")
        self.assertEqual(limited.status_code, 429)
        self.assertEqual(limited.headers["X-RateLimit"], "default;r=0;t=12")
        self.assertEqual(self.api("GET", "/account.json").status_code, 200)

    def test_fault_matches_method_and_path(self):
        self.sb.inject("status", method="POST", path="subjects", status=500, times=2)
        self.assertEqual(self.api("GET", "/subjects.json").status_code, 200)
        self.assertEqual(self.api("POST", "/subjects.json", json={"name": "A"}).status_code, 500)
        self.assertEqual(self.api("POST", "/subjects.json", json={"name": "A"}).status_code, 500)
        self.assertEqual(self.api("POST", "/subjects.json", json={"name": "A"}).status_code, 201)

    def test_reset_after_store_stores_one_invoice_and_the_client_sees_a_connection_error(self):
        subject_id = self.create_subject()["id"]
        self.sb.inject("reset_after_store", method="POST", path=r"/invoices\.json$")
        with self.assertRaises(requests.exceptions.ConnectionError):
            self.api("POST", "/invoices.json", json={"subject_id": subject_id, "lines": two_lines(),
                                                     "custom_id": "move-9"})
        stored = self.sb.state(SLUG)["invoices"]
        self.assertEqual([i["custom_id"] for i in stored], ["move-9"])
        found = self.api("GET", "/invoices.json", params={"custom_id": "move-9"}).json()
        self.assertEqual(len(found), 1)

    def test_reset_before_stores_nothing(self):
        subject_id = self.create_subject()["id"]
        self.sb.inject("reset_before", method="POST", path="invoices")
        with self.assertRaises(requests.exceptions.ConnectionError):
            self.api("POST", "/invoices.json", json={"subject_id": subject_id, "lines": two_lines()})
        self.assertEqual(self.sb.state(SLUG)["invoices"], [])
        self.assertIsNone(self.sb.requests[-1]["status"])

    def test_a_reset_is_a_tcp_reset_not_a_polite_close(self):
        self.sb.inject("reset_before", path="account")
        with socket.create_connection((self.sb.host, self.sb.port), timeout=5) as raw:
            raw.sendall(f"GET /api/v3/accounts/{SLUG}/account.json HTTP/1.1\r\nHost: x\r\n"
                        f"User-Agent: {USER_AGENT}\r\n\r\n".encode())
            with self.assertRaises(ConnectionResetError):
                raw.recv(1024)

    def test_delay_and_hook_faults(self):
        subject_id = self.create_subject()["id"]
        self.sb.inject("delay", path="account", seconds=0.3)
        started = time.monotonic()
        self.assertEqual(self.api("GET", "/account.json").status_code, 200)
        self.assertGreaterEqual(time.monotonic() - started, 0.3)
        seen = []
        self.sb.inject("hook", method="POST", path="invoices",
                       callback=lambda info: seen.append((info, len(self.sb.state(SLUG)["invoices"]))))
        self.create_invoice(subject_id, custom_id="move-3")
        info, invoices_at_arrival = seen[0]
        self.assertEqual((info["method"], info["json"]["custom_id"], invoices_at_arrival), ("POST", "move-3", 0))
        self.assertEqual(len(self.sb.state(SLUG)["invoices"]), 1)

    def test_request_log_never_keeps_the_authorization_header(self):
        self.api("POST", "/subjects.json", json={"name": "Logged"})
        entry = self.sb.requests[-1]
        self.assertEqual((entry["method"], entry["path"], entry["json"]),
                         ("POST", f"/api/v3/accounts/{SLUG}/subjects.json", {"name": "Logged"}))
        self.assertNotIn("authorization", {name.lower() for name in entry["headers"]})
        self.assertEqual(entry["headers"]["User-Agent"], USER_AGENT)

    # ------------------------------------------------------------------ out-of-process use

    def test_http_control_endpoints(self):
        control = self.sb.url + "/_sandbox"
        self.assertEqual(requests.post(control + "/reset", timeout=10).status_code, 200)
        self.assertEqual(requests.get(control + "/state", params={"slug": SLUG}, timeout=10).status_code, 404)
        created = requests.post(control + "/accounts", json={"slug": "remote", "name": "Remote s.r.o."}, timeout=10)
        self.assertEqual(created.status_code, 201)
        client = requests.post(control + "/clients", json={"client_id": "rc", "client_secret": "rs",
                                                           "accounts": ["remote"]}, timeout=10)
        self.assertEqual(client.status_code, 201)
        token = self.token_request({"grant_type": "client_credentials"}, auth=("rc", "rs")).json()["access_token"]
        fault = requests.post(control + "/faults", json={"kind": "status", "status": 500, "path": "subjects"},
                              timeout=10)
        self.assertEqual(fault.status_code, 201)
        self.assertEqual(requests.post(control + "/faults", json={"kind": "hook"}, timeout=10).status_code, 400)
        subjects = self.call("POST", "/accounts/remote/subjects.json", token=token, json={"name": "X"})
        self.assertEqual(subjects.status_code, 500)
        self.call("POST", "/accounts/remote/subjects.json", token=token, json={"name": "Y"})
        state = requests.get(control + "/state", params={"slug": "remote"}, timeout=10).json()
        self.assertEqual(set(state), {"subjects", "invoices", "payments"})
        self.assertEqual([s["name"] for s in state["subjects"]], ["Y"])
        self.assertNotIn("/_sandbox/", [entry["path"][:10] for entry in self.sb.requests])

    def test_cli_seed_demo_prints_one_json_line_and_serves_until_sigterm(self):
        process = subprocess.Popen([sys.executable, "-m", "sandbox", "fakturoid", "--port", "0", "--seed-demo"],
                                   cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.addCleanup(lambda: process.poll() is None and process.kill())
        info = json.loads(process.stdout.readline())
        self.assertEqual((info["slug"], info["client_id"]), ("demo-sro", "demo-client-id"))
        self.assertEqual(info["api_url"], info["url"] + "/api/v3")
        token = requests.post(info["api_url"] + "/oauth/token", json={"grant_type": "client_credentials"},
                              auth=("demo-client-id", "demo-client-secret"), headers={"User-Agent": USER_AGENT},
                              timeout=10).json()["access_token"]
        account = requests.get(info["api_url"] + "/accounts/demo-sro/account.json", timeout=10,
                               headers={"User-Agent": USER_AGENT, "Authorization": f"Bearer {token}"}).json()
        self.assertEqual((account["name"], account["currency"], account["country"], account["vat_mode"]),
                         ("Demo s.r.o.", "CZK", "CZ", "vat_payer"))
        process.send_signal(signal.SIGTERM)
        self.assertEqual(process.wait(timeout=10), 0)
        process.stdout.close()
        process.stderr.close()
