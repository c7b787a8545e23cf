"""The Fakturoid client and its HTTP transport, against the local Fakturoid sandbox.

Real HTTP on loopback, no database: what runs here is the very code that talks
to app.fakturoid.cz in production. The sandbox plays Fakturoid (its faults
stand in for broken networks, maintenance pages and lost answers).
"""
import json
import logging
import socket
import time
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from urllib.parse import parse_qs, urlsplit

import requests

from odoo.tests.common import BaseCase, tagged

from odoo.addons.account_invoice_engine.engines.base import RateLimitState
from odoo.addons.account_invoice_engine.engines.document import (
    CREDIT_NOTE,
    INVOICE,
    TAX_REVERSE_CHARGE,
    Document,
    Line,
    Party,
    PaymentInfo,
    RemotePayment,
    RemoteRef,
    TaxInfo,
)
from odoo.addons.account_invoice_engine.engines import matching
from odoo.addons.account_invoice_engine.engines.errors import (
    AmbiguousCustomer,
    AuthError,
    MaybeCreated,
    NotFound,
    OutcomeUnknown,
    RateLimited,
    Rejected,
    TransientError,
)
from odoo.addons.account_invoice_engine.engines.fakturoid import (
    FakturoidClient,
    FakturoidDialect,
    FakturoidOAuth,
    TokenSet,
)
from odoo.addons.account_invoice_engine.engines.redact import Redactor
from odoo.addons.account_invoice_engine.engines.dialect import Dialect, parse_retry_after
from odoo.addons.account_invoice_engine.engines.transport import HttpTransport
from odoo.addons.account_invoice_engine.sandbox.fakturoid import FakturoidSandbox

from .loopback import LoopbackHttpMixin

SLUG = "pekarna-novak"
CLIENT_ID = "f0e1d2c3b4a5968778695a4b3c2d1e0f9a8b7c6d"
CLIENT_SECRET = "client-secret-9f8e7d6c5b4a39281706"
REDIRECT_URI = "https://odoo.example.com/invoice_engine/fakturoid/oauth"
USER_AGENT = "Odoo account_invoice_engine tests (tests@example.com)"
ENGINE_LOGGER = "odoo.addons.account_invoice_engine.engines"
CENT = Decimal("0.01")


def cents(value):
    return Decimal(value).quantize(CENT, rounding=ROUND_HALF_UP)


def odoo_subtotal(quantity, unit_price, discount_percent=Decimal(0)):
    """``price_subtotal`` the way Odoo computes it: discounted unit price × quantity, rounded half up."""
    return cents(unit_price * (1 - discount_percent / 100) * quantity)


def make_party(key="res.partner-7", **values):
    defaults = dict(
        name="Pekárna Novák s.r.o.",
        email="fakturace@pekarna.example",
        street="Dlouhá 12",
        street2="2. patro",
        city="Brno",
        zip="60200",
        country_code="cz",
        registration_no="27082440",
        vat_no="CZ27082440",
    )
    return Party(key=key, **{**defaults, **values})


def make_line(name, quantity, unit_price, *, rate="21", discount="0", kind="standard", unit_name="ks"):
    quantity, unit_price, discount = Decimal(quantity), Decimal(unit_price), Decimal(discount)
    subtotal = odoo_subtotal(quantity, unit_price, discount)
    return Line(
        name=name,
        quantity=quantity,
        unit_price=unit_price,
        tax=TaxInfo(rate=Decimal(rate), kind=kind),
        unit_name=unit_name,
        discount_percent=discount,
        subtotal=subtotal,
        total=cents(subtotal * (1 + Decimal(rate) / 100)),
    )


def make_document(key, lines, *, kind=INVOICE, **values):
    untaxed = sum((line.subtotal for line in lines), Decimal(0))
    total = sum((line.total for line in lines), Decimal(0))
    issue_date = date(2026, 3, 2)
    defaults = dict(
        reference=f"INV/2026/{key[-5:]}",
        customer=make_party(),
        issue_date=issue_date,
        taxable_supply_date=issue_date,
        due_date=issue_date + timedelta(days=14),
        currency="CZK",
        company_currency="CZK",
        amount_untaxed=untaxed,
        amount_tax=total - untaxed,
        amount_total=total,
        language="cs",
    )
    return Document(key=key, kind=kind, lines=tuple(lines), **{**defaults, **values})


def closed_port():
    """A loopback port nobody listens on: connecting to it is refused."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class FakturoidSandboxCase(LoopbackHttpMixin, BaseCase):
    """One sandbox per class, reset before each test; one account, one API client."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.sandbox = FakturoidSandbox(port=0, time_scale=1.0).start()
        cls.addClassCleanup(cls.sandbox.stop)

    def setUp(self):
        super().setUp()
        self.sandbox.reset()
        self.sandbox.add_account(SLUG, currency="CZK", country="CZ")
        self.sandbox.add_client(CLIENT_ID, CLIENT_SECRET, accounts=(SLUG,), redirect_uri=REDIRECT_URI)
        self.exchanges = []
        self.token_requests = []
        self.access_token = None
        self.client = self.make_client()

    def make_client(self, *, base_url=None, user_agent=USER_AGENT, timeout=(2, 5), token_provider=None):
        return FakturoidClient(
            base_url or self.sandbox.api_url,
            SLUG,
            user_agent=user_agent,
            token_provider=token_provider or self.provide_token,
            on_exchange=self.exchanges.append,
            timeout=timeout,
        )

    def provide_token(self, force_refresh):
        """What the Odoo side does: hand out the stored token, renew it when asked."""
        self.token_requests.append(force_refresh)
        if force_refresh or not self.access_token:
            self.access_token = self.sandbox.issue_token(CLIENT_ID)
        return self.access_token

    def state(self):
        return self.sandbox.state(SLUG)

    def api_requests(self, method, path_end):
        return [
            request
            for request in self.sandbox.requests
            if request["method"] == method and request["path"].endswith(path_end)
        ]

    def create_invoice(self, key="move-00001", lines=None, **values):
        lines = lines or [make_line("Chléb kvasový", "10", "45.50")]
        customer_id = self.client.upsert_customer(make_party())
        document = make_document(key, lines, **values)
        return document, self.client.create_document(document, customer_id)


@tagged("post_install", "-at_install")
class TestFakturoidTransportErrors(FakturoidSandboxCase):
    """Every way a call can fail maps to exactly one error of ``engines.errors``."""

    def test_refused_connection_is_transient_even_for_a_create(self):
        client = self.make_client(base_url=f"http://127.0.0.1:{closed_port()}/api/v3")
        document = make_document("move-00001", [make_line("Rohlík", "100", "3.90")])
        with self.assertRaises(TransientError) as caught:
            client.create_document(document, "16000001")
        self.assertIn("nothing was sent", caught.exception.message)
        self.assertIn("Fakturoid", caught.exception.message)
        self.assertEqual(self.exchanges[-1].status, None)
        self.assertEqual(self.exchanges[-1].error, "TransientError")

    def test_connect_timeout_is_transient_even_for_a_create(self):
        # A listening socket whose accept queue is full drops new SYNs: the
        # connection times out before any byte of the request leaves.
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        fillers = []
        self.addCleanup(lambda: [sock.close() for sock in [listener, *fillers]])
        for _index in range(4):
            filler = socket.socket()
            filler.setblocking(False)
            filler.connect_ex(listener.getsockname())
            fillers.append(filler)
        client = self.make_client(
            base_url=f"http://127.0.0.1:{listener.getsockname()[1]}/api/v3", timeout=(0.3, 1)
        )
        document = make_document("move-00001", [make_line("Rohlík", "100", "3.90")])
        with self.assertRaises(TransientError) as caught:
            client.create_document(document, "16000001")
        self.assertIn("connection timed out", caught.exception.message)

    def test_read_timeout_is_transient_for_a_read(self):
        client = self.make_client(timeout=(2, 0.3))
        self.sandbox.inject("delay", path=r"/account\.json$", seconds=1)
        with self.assertRaises(TransientError) as caught:
            client.check()
        self.assertIn("no answer in time", caught.exception.message)

    def test_read_timeout_on_a_create_may_have_created_it(self):
        client = self.make_client(timeout=(2, 0.3))
        customer_id = client.upsert_customer(make_party())
        document = make_document("move-00001", [make_line("Rohlík", "100", "3.90")])
        self.sandbox.inject("delay", method="POST", path=r"/invoices\.json$", seconds=1)
        with self.assertRaises(MaybeCreated):
            client.create_document(document, customer_id)
        time.sleep(1.2)  # Fakturoid went on and stored it
        found = client.find_document(document, {})
        self.assertEqual(len(self.state()["invoices"]), 1)
        self.assertEqual(found.id, str(self.state()["invoices"][0]["id"]))

    def test_connection_reset_on_a_read_is_transient(self):
        self.sandbox.inject("reset_before", path=r"/account\.json$")
        with self.assertRaises(TransientError) as caught:
            self.client.check()
        self.assertIn("connection reset", caught.exception.message)

    def test_server_error_on_a_read_is_transient(self):
        self.sandbox.inject("status", path=r"/account\.json$", status=500)
        with self.assertRaises(TransientError) as caught:
            self.client.check()
        self.assertEqual(caught.exception.status, 500)
        self.assertIn("retried automatically", caught.exception.message)

    def test_read_only_state_on_a_create_may_have_created_it(self):
        customer_id = self.client.upsert_customer(make_party())
        document = make_document("move-00001", [make_line("Rohlík", "100", "3.90")])
        self.sandbox.inject(
            "status",
            method="POST",
            path=r"/invoices\.json$",
            status=503,
            body={"error": "service_unavailable", "error_description": "Fakturoid is in read only state"},
        )
        with self.assertRaises(MaybeCreated) as caught:
            self.client.create_document(document, customer_id)
        self.assertIn("read only state", caught.exception.message)
        self.assertIn("looked up", caught.exception.message)

    def test_rate_limited_waits_what_x_ratelimit_says(self):
        self.sandbox.inject("rate_limit", path=r"/account\.json$", reset=7)
        with self.assertRaises(RateLimited) as caught:
            self.client.check()
        self.assertEqual(caught.exception.retry_after, 7)
        self.assertIn("7 seconds", caught.exception.message)

    def test_rate_limited_without_headers_waits_a_minute(self):
        self.sandbox.inject("status", path=r"/account\.json$", status=429)
        with self.assertRaises(RateLimited) as caught:
            self.client.check()
        self.assertEqual(caught.exception.retry_after, 60)

    def test_retry_after_header_is_the_fallback(self):
        self.assertEqual(parse_retry_after("12"), 12)
        in_a_while = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(time.time() + 30))
        self.assertAlmostEqual(parse_retry_after(in_a_while), 30, delta=2)
        self.assertIsNone(parse_retry_after("soon"))

    def test_invalid_token_is_token_revoked(self):
        client = self.make_client(token_provider=lambda force_refresh: "not-a-token")
        with self.assertRaises(AuthError) as caught:
            client.check()
        self.assertEqual(caught.exception.reason, "token_revoked")

    def test_blocked_account_lists_the_overdue_fakturoid_invoices(self):
        self.sandbox.block_account(SLUG)
        with self.assertRaises(AuthError) as caught:
            self.client.check()
        self.assertEqual(caught.exception.reason, "account_blocked")
        self.assertEqual(caught.exception.status, 402)
        self.assertIn(f"{self.sandbox.url}/robot/p/", caught.exception.message)

    def test_user_agent_without_email_is_forbidden(self):
        client = self.make_client(user_agent="Odoo")
        with self.assertRaises(AuthError) as caught:
            client.check()
        self.assertEqual(caught.exception.reason, "forbidden")
        self.assertIn("User-Agent without a contact e-mail", caught.exception.message)

    def test_missing_user_agent_is_a_user_agent_error(self):
        client = self.make_client(user_agent="")
        with self.assertRaises(AuthError) as caught:
            client.check()
        self.assertEqual(caught.exception.reason, "user_agent")
        self.assertIn("contact e-mail", caught.exception.message)

    def test_unknown_document_is_not_found(self):
        with self.assertRaises(NotFound):
            self.client.document_status(RemoteRef(id="27999999"))

    def test_validation_errors_are_listed_verbatim(self):
        with self.assertRaises(Rejected) as caught:
            self.client.upsert_customer(make_party(name=""))
        self.assertEqual(caught.exception.field_errors, {"name": ["je povinná položka"]})
        self.assertIn("name: je povinná položka", caught.exception.message)
        self.assertEqual(caught.exception.status, 422)

    def test_error_and_description_answers_are_parsed(self):
        self.sandbox.inject(
            "status",
            path=r"/account\.json$",
            status=400,
            body={"error": "invalid_request", "error_description": "Page does not exist."},
        )
        with self.assertRaises(Rejected) as caught:
            self.client.check()
        self.assertEqual(caught.exception.field_errors, {"invalid_request": ["Page does not exist."]})
        self.assertIn("invalid_request: Page does not exist.", caught.exception.message)

    def test_html_page_under_200_on_a_read_is_transient(self):
        self.sandbox.inject("html", path=r"/account\.json$", title="Probíhá údržba")
        with self.assertRaises(TransientError) as caught:
            self.client.check()
        self.assertIn(
            "Fakturoid answered with an HTML page instead of JSON (HTTP 200): Probíhá údržba",
            caught.exception.message,
        )

    def test_html_page_on_a_create_may_have_created_it(self):
        customer_id = self.client.upsert_customer(make_party())
        document = make_document("move-00001", [make_line("Rohlík", "100", "3.90")])
        self.sandbox.inject("html", method="POST", path=r"/invoices\.json$")
        with self.assertRaises(MaybeCreated) as caught:
            self.client.create_document(document, customer_id)
        self.assertIn("HTML page instead of JSON", caught.exception.message)
        self.assertIsNone(self.client.find_document(document, {}))

    def test_every_call_is_recorded_success_or_not(self):
        self.sandbox.inject("status", path=r"/number_formats/invoices\.json$", status=502)
        self.client.check()
        with self.assertRaises(TransientError):
            self.client.reference_data()
        self.assertEqual(
            [(exchange.operation, exchange.status, exchange.error) for exchange in self.exchanges],
            [("check", 200, ""), ("reference_data", 502, "TransientError")],
        )
        self.assertTrue(self.exchanges[0].url.endswith(f"/accounts/{SLUG}/account.json"))
        self.assertIn('"currency": "CZK"', self.exchanges[0].response_excerpt)

    def test_a_failing_exchange_recorder_never_fails_the_call(self):
        def broken_recorder(exchange):
            raise RuntimeError("log table locked")

        client = FakturoidClient(
            self.sandbox.api_url, SLUG, user_agent=USER_AGENT, token_provider=self.provide_token,
            on_exchange=broken_recorder,
        )
        with self.assertLogs(ENGINE_LOGGER, logging.ERROR):
            self.assertEqual(client.check().currency, "CZK")


@tagged("post_install", "-at_install")
class TestFakturoidTokenRenewal(FakturoidSandboxCase):
    """A 401 gets one fresh token and one repeat of the same call."""

    def test_401_renews_the_token_once_and_repeats_the_call(self):
        self.access_token = self.sandbox.issue_token(CLIENT_ID)
        self.sandbox.issue_token(CLIENT_ID)  # someone renewed it: ours is dead now
        info = self.client.check()
        self.assertEqual(info.currency, "CZK")
        self.assertEqual(self.token_requests, [False, True])
        self.assertEqual([r["status"] for r in self.api_requests("GET", "/account.json")], [401, 200])

    def test_401_on_a_create_repeats_it_without_duplicate(self):
        customer_id = self.client.upsert_customer(make_party())
        self.sandbox.issue_token(CLIENT_ID)
        document = make_document("move-00001", [make_line("Rohlík", "100", "3.90")])
        ref = self.client.create_document(document, customer_id)
        self.assertEqual([invoice["id"] for invoice in self.state()["invoices"]], [int(ref.id)])
        self.assertEqual(self.token_requests[-2:], [False, True])

    def test_second_401_asks_to_reconnect(self):
        def revoked_token(force_refresh):
            self.token_requests.append(force_refresh)
            self.sandbox.revoke_tokens(CLIENT_ID)
            return "revoked-token"

        client = self.make_client(token_provider=revoked_token)
        with self.assertRaises(AuthError) as caught:
            client.check()
        self.assertEqual(caught.exception.reason, "token_revoked")
        self.assertIn("Reconnect the Fakturoid engine", caught.exception.message)
        self.assertEqual(self.token_requests, [False, True])
        self.assertEqual(len(self.api_requests("GET", "/account.json")), 2)

    def test_failing_renewal_stops_at_once(self):
        def failing_provider(force_refresh):
            self.token_requests.append(force_refresh)
            if force_refresh:
                raise AuthError("Reconnect Fakturoid.", reason="token_revoked")
            return "stale-token"

        client = self.make_client(token_provider=failing_provider)
        with self.assertRaises(AuthError):
            client.check()
        self.assertEqual(self.token_requests, [False, True])
        self.assertEqual(len(self.api_requests("GET", "/account.json")), 1)


@tagged("post_install", "-at_install")
class TestFakturoidRedactionAndRateLimit(FakturoidSandboxCase):
    def test_no_secret_in_any_exchange_or_log_line(self):
        oauth = FakturoidOAuth(
            self.sandbox.api_url, CLIENT_ID, CLIENT_SECRET, user_agent=USER_AGENT,
            on_exchange=self.exchanges.append,
        )
        with self.assertLogs(ENGINE_LOGGER, logging.DEBUG) as logs:
            code = self._authorization_code(oauth)
            tokens = oauth.exchange_code(code, REDIRECT_URI)
            renewed = oauth.refresh(tokens.refresh_token)
            client = self.make_client(token_provider=lambda force_refresh: renewed.access_token)
            document, ref = self._full_document_flow(client)
            oauth.revoke(renewed.refresh_token)
        secrets = {
            "client secret": CLIENT_SECRET,
            "authorization code": code,
            "first access token": tokens.access_token,
            "renewed access token": renewed.access_token,
            "refresh token": tokens.refresh_token,
        }
        operations = {exchange.operation for exchange in self.exchanges}
        self.assertTrue({"oauth_token", "oauth_revoke", "create_document", "fetch_pdf"} <= operations)
        recorded = [repr(exchange) for exchange in self.exchanges] + logs.output
        for label, secret in secrets.items():
            for record in recorded:
                self.assertNotIn(secret, record, f"the {label} leaked")
        token_answers = [e.response_excerpt for e in self.exchanges if e.operation == "oauth_token"]
        self.assertIn('"access_token": "***"', token_answers[0])
        self.assertIn('"refresh_token": "***"', token_answers[0])

    def test_redactor_masks_queries_forms_json_and_known_values(self):
        redactor = Redactor(["Bearer abcdef123456"])
        self.assertEqual(
            redactor.url("https://x.example/cb?code=s3cr3t&state=ok&custom_id=7"),
            "https://x.example/cb?code=***&state=ok&custom_id=7",
        )
        self.assertEqual(
            redactor.text("grant_type=refresh_token&refresh_token=r3fr3sh&client_code=42"),
            "grant_type=refresh_token&refresh_token=***&client_code=42",
        )
        self.assertEqual(
            redactor.body(b'{"data": [{"api_token": "k3y", "password": "pw", "name": "Novak"}]}'),
            '{"data": [{"api_token": "***", "password": "***", "name": "Novak"}]}',
        )
        self.assertEqual(redactor.text('cut {"access_token": "abc'), 'cut {"access_token": "***"')
        self.assertEqual(redactor.text("echo Bearer abcdef123456"), "echo ***")
        self.assertEqual(redactor.body(b"%PDF-1.4" + b"x" * 100), "<pdf 108 bytes>")
        self.assertLessEqual(len(redactor.body(b"a" * 5000)), 2100)

    def test_rate_limit_headers_are_parsed(self):
        self.sandbox.set_rate_limit(quota=3, window=60)
        self.assertIsNone(self.client.rate_limit)
        self.client.check()
        self.client.check()
        state = self.client.rate_limit
        self.assertEqual((state.limit, state.remaining), (3, 1))
        self.assertTrue(0 < state.reset_after <= 60)
        self.client.check()
        with self.assertRaises(RateLimited) as caught:
            self.client.check()
        self.assertEqual(self.client.rate_limit.remaining, 0)
        self.assertTrue(0 < caught.exception.retry_after <= 60)
        self.assertEqual(caught.exception.retry_after, self.client.rate_limit.reset_after)

    def test_rate_limit_state_type(self):
        self.client.check()
        self.assertIsInstance(self.client.rate_limit, RateLimitState)
        self.assertEqual(self.client.rate_limit.limit, 400)

    def _authorization_code(self, oauth):
        url = oauth.authorize_url(REDIRECT_URI, "state-123")
        answer = requests.get(url, allow_redirects=False, timeout=5)
        return parse_qs(urlsplit(answer.headers["Location"]).query)["code"][0]

    def _full_document_flow(self, client):
        customer_id = client.upsert_customer(make_party())
        document = make_document("move-00001", [make_line("Rohlík", "100", "3.90")])
        self.sandbox.pdf_render_polls = 0
        ref = client.create_document(document, customer_id)
        self.assertTrue(client.fetch_pdf(ref).startswith(b"%PDF"))
        payment = PaymentInfo(key="pay-1", amount=ref.total, currency="CZK", paid_on=date(2026, 3, 5))
        client.record_payment(ref, payment)
        return document, ref


@tagged("post_install", "-at_install")
class TestFakturoidCustomers(FakturoidSandboxCase):
    def test_upsert_creates_then_finds_the_same_subject(self):
        first_id = self.client.upsert_customer(make_party())
        second_id = self.client.upsert_customer(make_party(email="nova@pekarna.example"))
        self.assertEqual(first_id, second_id)
        subjects = self.state()["subjects"]
        self.assertEqual(len(subjects), 1)
        subject = subjects[0]
        self.assertEqual(str(subject["id"]), first_id)
        self.assertEqual(subject["custom_id"], "res.partner-7")
        self.assertEqual(subject["email"], "nova@pekarna.example")
        self.assertEqual(subject["street"], "Dlouhá 12, 2. patro")
        self.assertEqual(subject["country"], "CZ")
        self.assertEqual(subject["type"], "customer")
        self.assertEqual(len(self.api_requests("POST", "/subjects.json")), 1)
        self.assertEqual(len(self.api_requests("PATCH", f"/subjects/{first_id}.json")), 1)

    def test_create_sends_no_empty_values(self):
        self.client.upsert_customer(make_party(phone="", street2="", local_vat_no=""))
        sent = self.api_requests("POST", "/subjects.json")[0]["json"]
        self.assertNotIn("", sent.values())
        self.assertNotIn(None, sent.values())
        self.assertNotIn("phone", sent)

    def test_update_clears_fields_removed_in_odoo(self):
        subject_id = self.client.upsert_customer(make_party(phone="+420 777 123 456"))
        self.client.upsert_customer(make_party(phone=""), remote_id=subject_id)
        self.assertEqual(self.state()["subjects"][0]["phone"], "")

    def test_update_never_clears_the_country(self):
        subject_id = self.client.upsert_customer(make_party())
        self.client.upsert_customer(make_party(country_code=""), remote_id=subject_id)
        self.assertNotIn("country", self.api_requests("PATCH", f"/subjects/{subject_id}.json")[0]["json"])
        self.assertEqual(self.state()["subjects"][0]["country"], "CZ")

    def test_known_remote_id_is_patched_without_lookup(self):
        subject_id = self.client.upsert_customer(make_party())
        self.sandbox.requests.clear()
        self.assertEqual(self.client.upsert_customer(make_party(), remote_id=subject_id), subject_id)
        self.assertEqual([r["method"] for r in self.sandbox.requests], ["PATCH"])

    def test_remote_id_deleted_in_fakturoid_falls_back_to_the_lookup(self):
        subject_id = self.client.upsert_customer(make_party(), remote_id="16999999")
        self.assertEqual([str(s["id"]) for s in self.state()["subjects"]], [subject_id])
        # By our reference, then by registration number, VAT number and e-mail, then created.
        self.assertEqual(
            [(r["method"], r["status"]) for r in self.sandbox.requests],
            [("PATCH", 404), ("GET", 200), ("GET", 200), ("GET", 200), ("GET", 200), ("POST", 201)],
        )

    def test_subject_created_meanwhile_is_adopted(self):
        other_client = self.make_client()

        def create_it_first(entry):
            other_client.upsert_customer(make_party(name="Pekárna Novák (jinde)"))

        self.sandbox.inject("hook", method="POST", path=r"/subjects\.json$", callback=create_it_first)
        subject_id = self.client.upsert_customer(make_party())
        subjects = self.state()["subjects"]
        self.assertEqual([str(s["id"]) for s in subjects], [subject_id])
        self.assertEqual(subjects[0]["name"], "Pekárna Novák s.r.o.")


@tagged("post_install", "-at_install")
class TestFakturoidCustomerMatching(FakturoidSandboxCase):
    """Existing subjects are found by registration number, VAT number, then e-mail; never duplicated."""

    def add_subject(self, **values):
        return self.sandbox.add_subject(SLUG, **{"name": "Pekárna (v Fakturoidu)", **values})

    def searches(self):
        return [r["query"]["query"] for r in self.api_requests("GET", "/subjects/search.json")]

    def test_found_by_registration_number(self):
        subject = self.add_subject(registration_no="27082440")
        found = self.client.find_customer(make_party())
        self.assertEqual((found.id, found.matched_on), (str(subject["id"]), "registration_no"))
        self.assertEqual(self.searches(), ["27082440"])

    def test_found_by_vat_number_when_no_registration_number_matches(self):
        subject = self.add_subject(vat_no="CZ27082440")
        found = self.client.find_customer(make_party())
        self.assertEqual((found.id, found.matched_on), (str(subject["id"]), "vat_no"))
        self.assertEqual(self.searches(), ["27082440", "CZ27082440"])

    def test_found_by_email_last_whatever_its_case(self):
        subject = self.add_subject(email="Fakturace@Pekarna.example")
        found = self.client.find_customer(make_party())
        self.assertEqual((found.id, found.matched_on), (str(subject["id"]), "email"))
        self.assertEqual(self.searches(), ["27082440", "CZ27082440", "fakturace@pekarna.example"])

    def test_registration_number_wins_over_an_email_match_of_another_subject(self):
        self.add_subject(name="Jiná firma", email="fakturace@pekarna.example")
        by_registration = self.add_subject(registration_no="27082440")
        found = self.client.find_customer(make_party())
        self.assertEqual(found.id, str(by_registration["id"]))
        self.assertEqual(self.searches(), ["27082440"])

    def test_full_text_hits_are_compared_exactly(self):
        self.add_subject(registration_no="127082440")  # contains the number, is another company
        self.add_subject(private_note="Sesterská firma 27082440, CZ27082440")
        self.add_subject(email_copy="fakturace@pekarna.example")
        self.assertIsNone(self.client.find_customer(make_party()))
        self.assertEqual(len(self.searches()), 3)

    def test_own_reference_first_without_any_search(self):
        subject = self.add_subject(custom_id="res.partner-7", registration_no="99999999")
        found = self.client.find_customer(make_party())
        self.assertEqual((found.id, found.matched_on), (str(subject["id"]), "key"))
        self.assertEqual(self.searches(), [])

    def test_two_candidates_are_ambiguous(self):
        first = self.add_subject(registration_no="27082440")
        second = self.add_subject(name="Pekárna Novák, pobočka", registration_no="27082440", vat_no="cz27082440")
        with self.assertRaises(AmbiguousCustomer) as caught:
            self.client.upsert_customer(make_party())
        self.assertEqual([c.id for c in caught.exception.candidates], [str(first["id"]), str(second["id"])])
        self.assertIn("registration number 27082440", caught.exception.message)
        self.assertEqual(self.api_requests("POST", "/subjects.json"), [])
        self.assertEqual(self.api_requests("PATCH", ".json"), [])

    def test_a_match_linked_to_another_reference_is_ambiguous(self):
        taken = self.add_subject(registration_no="27082440", custom_id="res.partner-99")
        with self.assertRaises(AmbiguousCustomer) as caught:
            self.client.upsert_customer(make_party())
        self.assertEqual([(c.id, c.key) for c in caught.exception.candidates], [(str(taken["id"]), "res.partner-99")])
        self.assertIn("already linked", caught.exception.message)
        self.assertEqual(len(self.state()["subjects"]), 1)

    def test_an_unambiguous_match_is_adopted_not_duplicated(self):
        subject = self.add_subject(vat_no="CZ27082440")
        self.assertEqual(self.client.upsert_customer(make_party()), str(subject["id"]))
        subjects = self.state()["subjects"]
        self.assertEqual(len(subjects), 1)
        self.assertEqual((subjects[0]["custom_id"], subjects[0]["registration_no"]), ("res.partner-7", "27082440"))
        self.assertEqual(self.api_requests("POST", "/subjects.json"), [])

    def test_without_match_a_new_subject_is_created_at_once(self):
        self.add_subject(registration_no="27082440")
        self.client.upsert_customer(make_party(), match=False)
        self.assertEqual(len(self.state()["subjects"]), 2)
        self.assertEqual([r["method"] for r in self.sandbox.requests], ["POST"])

    def test_every_page_of_hits_is_read(self):
        for index in range(41):
            self.add_subject(name=f"Pobočka {index}", registration_no="27082440")
        with self.assertRaises(AmbiguousCustomer) as caught:
            self.client.find_customer(make_party())
        self.assertEqual(len(caught.exception.candidates), 41)
        self.assertEqual([r["query"].get("page") for r in self.api_requests("GET", "/subjects/search.json")],
                         ["1", "2"])

    def test_search_answering_404_means_no_candidates(self):
        self.sandbox.inject("status", method="GET", path=r"/subjects/search\.json$", status=404, times=3)
        self.assertIsNone(self.client.find_customer(make_party()))

    def test_identifiers_are_normalised_before_comparing(self):
        party = make_party(registration_no="270 82 440", vat_no="cz 27082440", email=" Fakturace@Pekarna.example ")
        self.assertEqual(matching.identifiers(party), [
            ("registration_no", "27082440"), ("vat_no", "CZ27082440"), ("email", "fakturace@pekarna.example"),
        ])
        self.assertEqual(matching.identifiers(make_party(registration_no="", vat_no="", email="")), [])


@tagged("post_install", "-at_install")
class TestFakturoidDocuments(FakturoidSandboxCase):
    def test_create_returns_fakturoids_number_url_and_total(self):
        document, ref = self.create_invoice()
        stored = self.state()["invoices"][0]
        self.assertEqual(ref.id, str(stored["id"]))
        self.assertEqual(ref.number, "2026-0001")
        self.assertEqual(ref.url, stored["html_url"])
        self.assertEqual(ref.total, Decimal("550.55"))  # 455.00 + 95.55 VAT
        self.assertEqual(ref.status, "open")
        self.assertEqual(stored["custom_id"], "move-00001")

    def test_invoice_payload_on_the_wire(self):
        lines = [make_line("Chléb", "2.5", "40.10", unit_name="kg")]
        self.create_invoice(lines=lines, variable_symbol="", note="Děkujeme", numbering="")
        sent = self.api_requests("POST", "/invoices.json")[0]["json"]
        self.assertNotIn("number", sent)
        self.assertNotIn("exchange_rate", sent)
        self.assertNotIn("variable_symbol", sent)
        self.assertNotIn("number_format_id", sent)
        self.assertNotIn("transferred_tax_liability", sent)
        self.assertEqual(sent["document_type"], "invoice")
        self.assertEqual(sent["language"], "cz")
        self.assertEqual(sent["issued_on"], "2026-03-02")
        self.assertEqual(sent["taxable_fulfillment_due"], "2026-03-02")
        self.assertEqual(sent["due"], 14)
        self.assertEqual((sent["vat_price_mode"], sent["round_total"]), ("without_vat", False))
        self.assertEqual(sent["note"], "Děkujeme")
        self.assertEqual(
            sent["lines"],
            [{"name": "Chléb", "quantity": "2.5", "unit_price": "40.1", "vat_rate": 21, "unit_name": "kg"}],
        )

    def test_foreign_currency_numbering_and_reverse_charge(self):
        number_format = next(n for n in self.client.reference_data().numberings if not n.is_default)
        lines = [make_line("Consulting", "1", "1000", rate="0", kind=TAX_REVERSE_CHARGE)]
        _document, ref = self.create_invoice(
            lines=lines, currency="EUR", exchange_rate=Decimal("25.1050"), numbering=number_format.id,
            language="de_DE",
        )
        sent = self.api_requests("POST", "/invoices.json")[0]["json"]
        self.assertEqual(sent["exchange_rate"], "25.105")
        self.assertEqual(sent["number_format_id"], int(number_format.id))
        self.assertIs(sent["transferred_tax_liability"], True)
        self.assertEqual(sent["language"], "de")
        self.assertEqual(ref.number, "OD20260001")

    def test_discount_lines_sum_to_odoo_subtotals_to_the_cent(self):
        lines = [
            make_line("Dort", "3", "33.33", discount="10"),
            # 5 × 2.025 = 10.125: half-up 10.13 (Fakturoid, Odoo), half-even 10.12
            make_line("Koláč", "5", "2.025", discount="15"),
            make_line("Káva", "7", "12.3456", rate="12", discount="12.5"),
            make_line("Voda", "4", "19.90"),
        ]
        document, ref = self.create_invoice(lines=lines)
        stored = self.state()["invoices"][0]
        self.assertEqual(Decimal(stored["subtotal"]), document.amount_untaxed)
        sent_lines = self.api_requests("POST", "/invoices.json")[0]["json"]["lines"]
        self.assertEqual(
            [line["name"] for line in sent_lines],
            [
                "Dort", "Sleva 10 % – Dort", "Koláč", "Sleva 15 % – Koláč",
                "Káva", "Sleva 12,5 % – Káva", "Voda",
            ],
        )
        bases = [Decimal(line["total_price_without_vat"]) for line in stored["lines"]]
        self.assertEqual(
            [bases[0] + bases[1], bases[2] + bases[3], bases[4] + bases[5], bases[6]],
            [line.subtotal for line in lines],
        )
        discount = sent_lines[1]
        self.assertEqual(
            (discount["quantity"], discount["unit_price"], discount["vat_rate"]), ("1", "-10", 21)
        )
        self.assertEqual(sent_lines[5]["vat_rate"], 12)

    def test_discount_label_follows_the_document_language(self):
        lines = [make_line("Cake", "1", "100", discount="20")]
        self.create_invoice(lines=lines, language="sk")
        self.create_invoice("move-00002", lines=lines, language="en")
        names = [r["json"]["lines"][1]["name"] for r in self.api_requests("POST", "/invoices.json")]
        self.assertEqual(names, ["Zľava 20 % – Cake", "Discount 20 % – Cake"])

    def test_credit_note_is_a_correction_with_negative_quantities(self):
        _invoice, original = self.create_invoice(lines=[make_line("Dort", "3", "33.33", discount="10")])
        credit_lines = [make_line("Dort", "1", "33.33", discount="10")]
        credit_note = make_document(
            "move-00002", credit_lines, kind=CREDIT_NOTE, original=original,
            original_reference="INV/2026/00001",
        )
        customer_id = self.client.upsert_customer(make_party())
        ref = self.client.create_document(credit_note, customer_id)
        sent = self.api_requests("POST", "/invoices.json")[-1]["json"]
        self.assertEqual((sent["document_type"], sent["correction_id"]), ("correction", int(original.id)))
        self.assertEqual([line["quantity"] for line in sent["lines"]], ["-1", "-1"])
        invoices = {str(invoice["id"]): invoice for invoice in self.state()["invoices"]}
        self.assertEqual(str(invoices[original.id]["correction_id"]), ref.id)
        self.assertEqual(Decimal(invoices[ref.id]["subtotal"]), -credit_lines[0].subtotal)

    def test_credit_note_without_a_sent_original_is_refused_before_any_call(self):
        credit_note = make_document("move-00002", [make_line("Dort", "1", "30")], kind=CREDIT_NOTE)
        with self.assertRaises(Rejected) as caught:
            self.client.create_document(credit_note, "16000001")
        self.assertIn("correction_id", caught.exception.field_errors)
        self.assertEqual(self.sandbox.requests, [])

    def test_answer_lost_after_store_then_find_document_finds_exactly_one(self):
        customer_id = self.client.upsert_customer(make_party())
        document = make_document("move-00001", [make_line("Rohlík", "100", "3.90")])
        self.sandbox.inject("reset_after_store", method="POST", path=r"/invoices\.json$")
        with self.assertRaises(MaybeCreated) as caught:
            self.client.create_document(document, customer_id)
        self.assertIn("may have created it", caught.exception.message)
        found = self.client.find_document(document, self.client.prepare_create(document))
        stored = self.state()["invoices"]
        self.assertEqual(len(stored), 1)
        self.assertEqual((found.id, found.number), (str(stored[0]["id"]), stored[0]["number"]))

    def test_connection_reset_before_processing_then_find_document_finds_none(self):
        customer_id = self.client.upsert_customer(make_party())
        document = make_document("move-00001", [make_line("Rohlík", "100", "3.90")])
        self.sandbox.inject("reset_before", method="POST", path=r"/invoices\.json$")
        with self.assertRaises(MaybeCreated):
            self.client.create_document(document, customer_id)
        self.assertIsNone(self.client.find_document(document, {}))

    def test_find_document_with_duplicates_asks_a_person(self):
        document, _first = self.create_invoice()
        self.client.create_document(document, self.client.upsert_customer(make_party()))
        with self.assertRaises(OutcomeUnknown) as caught:
            self.client.find_document(document, {})
        self.assertIn("2026-0001, 2026-0002", caught.exception.message)

    def test_get_document_links_an_existing_invoice_by_id(self):
        _document, ref = self.create_invoice()
        self.assertEqual(self.client.get_document(ref.id), ref)
        with self.assertRaises(NotFound):
            self.client.get_document("27999999")

    def test_find_document_ignores_other_documents(self):
        self.create_invoice("move-00001")
        other = make_document("move-00002", [make_line("Rohlík", "1", "3.90")])
        self.assertIsNone(self.client.find_document(other, {}))

    def test_pdf_is_none_while_rendering_then_bytes(self):
        self.sandbox.pdf_render_polls = 2
        _document, ref = self.create_invoice()
        self.assertIsNone(self.client.fetch_pdf(ref))
        self.assertIsNone(self.client.fetch_pdf(ref))
        pdf = self.client.fetch_pdf(ref)
        self.assertTrue(pdf.startswith(b"%PDF"))
        self.assertEqual(self.exchanges[-1].response_excerpt, f"<pdf {len(pdf)} bytes>")

    def test_something_else_than_a_pdf_is_transient(self):
        self.sandbox.pdf_render_polls = 0
        _document, ref = self.create_invoice()
        self.sandbox.inject("html", path=r"/download\.pdf$")
        with self.assertRaises(TransientError):
            self.client.fetch_pdf(ref)

    def test_full_payment_marks_paid_and_deleting_it_reopens(self):
        _document, ref = self.create_invoice()
        payment = PaymentInfo(
            key="pay-1", amount=ref.total, currency="CZK", paid_on=date(2026, 3, 10),
            notify_customer=False, completes_document=True,
        )
        payment_id = self.client.record_payment(ref, payment)
        sent = self.api_requests("POST", "/payments.json")[0]["json"]
        self.assertEqual(sent, {"paid_on": "2026-03-10", "amount": "550.55", "send_thank_you_email": False})
        status = self.client.document_status(ref)
        self.assertEqual((status.status, status.paid, status.paid_on), ("paid", True, date(2026, 3, 10)))
        self.assertEqual(status.remaining, Decimal(0))
        self.assertEqual(status.payments, (RemotePayment(payment_id, Decimal("550.55"), date(2026, 3, 10)),))

        self.client.delete_payment(ref, payment_id)
        status = self.client.document_status(ref)
        self.assertEqual((status.status, status.paid, status.remaining), ("open", False, Decimal("550.55")))
        self.assertEqual(status.payments, ())
        self.client.delete_payment(ref, payment_id)  # already gone: fine
        self.assertEqual(self.sandbox.requests[-1]["status"], 404)

    def test_partial_payment_leaves_the_thank_you_email_to_fakturoid(self):
        _document, ref = self.create_invoice()
        payment = PaymentInfo(
            key="pay-1", amount=Decimal("100.5"), currency="CZK", paid_on=date(2026, 3, 10),
            notify_customer=True, completes_document=False,
        )
        self.client.record_payment(ref, payment)
        self.assertEqual(
            self.api_requests("POST", "/payments.json")[0]["json"],
            {"paid_on": "2026-03-10", "amount": "100.5"},
        )
        self.assertEqual(self.client.document_status(ref).remaining, Decimal("450.05"))

    def test_account_check_reference_data_and_accounts(self):
        info = self.client.check()
        self.assertEqual(
            (info.name, info.currency, info.country, info.vat_mode), ("Demo s.r.o.", "CZK", "CZ", "vat_payer")
        )
        numberings = self.client.reference_data().numberings
        self.assertEqual(
            [(n.name, n.is_default) for n in numberings], [("{YYYY}-{NNNN}", True), ("OD{YYYY}{NNNN}", False)]
        )
        self.assertTrue(all(n.id.isdigit() and n.preview for n in numberings))
        self.assertEqual(self.client.list_accounts(), [(SLUG, "Demo s.r.o.")])
        self.assertEqual(self.client.user()["email"], "ucetni@example.cz")


@tagged("post_install", "-at_install")
class TestFakturoidOAuth(FakturoidSandboxCase):
    def setUp(self):
        super().setUp()
        self.now = 1_800_000_000.0
        self.oauth = self.make_oauth()

    def make_oauth(self, client_secret=CLIENT_SECRET):
        return FakturoidOAuth(
            self.sandbox.api_url, CLIENT_ID, client_secret, user_agent=USER_AGENT,
            on_exchange=self.exchanges.append, clock=lambda: self.now,
        )

    def authorization_code(self, state="csrf-state"):
        answer = requests.get(self.oauth.authorize_url(REDIRECT_URI, state), allow_redirects=False, timeout=5)
        self.assertEqual(answer.status_code, 302, answer.text)
        query = parse_qs(urlsplit(answer.headers["Location"]).query)
        self.assertEqual(query["state"], [state])
        return query["code"][0]

    def test_authorize_url(self):
        url = urlsplit(self.oauth.authorize_url(REDIRECT_URI, "xyz"))
        self.assertEqual(f"{url.scheme}://{url.netloc}{url.path}", f"{self.sandbox.api_url}/oauth")
        self.assertEqual(
            parse_qs(url.query),
            {
                "client_id": [CLIENT_ID],
                "redirect_uri": [REDIRECT_URI],
                "response_type": ["code"],
                "state": ["xyz"],
            },
        )

    def test_authorization_code_then_refresh_keeps_the_refresh_token(self):
        tokens = self.oauth.exchange_code(self.authorization_code(), REDIRECT_URI)
        self.assertEqual(tokens.expires_at, self.now + 7200)
        self.assertTrue(tokens.refresh_token)
        self.now += 7000
        self.assertFalse(tokens.is_fresh(self.now, margin=300))
        renewed = self.oauth.refresh(tokens.refresh_token)
        self.assertEqual(renewed.refresh_token, tokens.refresh_token)
        self.assertNotEqual(renewed.access_token, tokens.access_token)
        self.assertTrue(renewed.is_fresh(self.now))
        client = self.make_client(token_provider=lambda force_refresh: renewed.access_token)
        self.assertEqual(client.check().currency, "CZK")

    def test_client_credentials_has_no_refresh_token(self):
        tokens = self.oauth.client_credentials()
        self.assertIsNone(tokens.refresh_token)
        self.assertEqual(tokens.expires_at, self.now + 7200)
        client = self.make_client(token_provider=lambda force_refresh: tokens.access_token)
        self.assertEqual(client.check().name, "Demo s.r.o.")

    def test_client_credentials_travel_only_in_basic_auth(self):
        self.oauth.client_credentials()
        token_request = self.api_requests("POST", "/oauth/token")[0]
        self.assertEqual(token_request["json"], {"grant_type": "client_credentials"})
        self.assertNotIn(CLIENT_SECRET, json.dumps(token_request))
        self.assertEqual(token_request["headers"]["User-Agent"], USER_AGENT)

    def test_wrong_secret_is_invalid_credentials(self):
        with self.assertRaises(AuthError) as caught:
            self.make_oauth(client_secret="wrong-secret").client_credentials()
        self.assertEqual(caught.exception.reason, "invalid_credentials")
        self.assertIn("Client Secret", caught.exception.message)

    def test_used_code_is_token_revoked(self):
        code = self.authorization_code()
        self.oauth.exchange_code(code, REDIRECT_URI)
        with self.assertRaises(AuthError) as caught:
            self.oauth.exchange_code(code, REDIRECT_URI)
        self.assertEqual(caught.exception.reason, "token_revoked")

    def test_revoked_refresh_token_is_token_revoked(self):
        tokens = self.oauth.exchange_code(self.authorization_code(), REDIRECT_URI)
        self.oauth.revoke(tokens.refresh_token)
        with self.assertRaises(AuthError) as caught:
            self.oauth.refresh(tokens.refresh_token)
        self.assertEqual(caught.exception.reason, "token_revoked")
        self.assertIn("Reconnect", caught.exception.message)
        client = self.make_client(token_provider=lambda force_refresh: tokens.access_token)
        with self.assertRaises(AuthError):
            client.check()

    def test_token_set_never_shows_its_tokens(self):
        tokens = TokenSet("access-abcdef", 1_800_000_000.0, "refresh-abcdef")
        self.assertNotIn("abcdef", repr(tokens))
        self.assertNotIn("abcdef", str(tokens))
        self.assertTrue(tokens.is_fresh(1_800_000_000.0 - 61))
        self.assertFalse(tokens.is_fresh(1_800_000_000.0 - 59))


@tagged("post_install", "-at_install")
class TestHttpTransportContract(FakturoidSandboxCase):
    """The transport on its own, as the other engines will use it."""

    def test_not_json_under_200_for_a_create_and_a_read(self):
        transport = HttpTransport(self.sandbox.url, dialect=Dialect("SmartBill"), user_agent=USER_AGENT)
        self.sandbox.inject("html", path=r"^/maintenance", times=2, title="Service Unavailable")
        with self.assertRaises(MaybeCreated) as caught:
            transport.request("create_document", "POST", "/maintenance", json={}, is_create=True)
        self.assertIn("SmartBill answered with an HTML page", caught.exception.message)
        with self.assertRaises(TransientError):
            transport.request("status", "GET", "/maintenance")

    def test_redirects_are_not_followed(self):
        transport = HttpTransport(self.sandbox.api_url, dialect=FakturoidDialect(), user_agent=USER_AGENT)
        url = f"{self.sandbox.api_url}/oauth?" + "client_id=" + CLIENT_ID + (
            f"&redirect_uri={REDIRECT_URI}&response_type=code&state=s"
        )
        with self.assertRaises(TransientError) as caught:
            transport.request("consent", "GET", url)
        self.assertIn("redirect", caught.exception.message)
        self.assertIn("code=***", caught.exception.message)
