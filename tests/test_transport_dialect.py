"""The transport's dialect: what an engine's answers mean, without naming any engine.

A tiny dialect in the manner of SmartBill (``errorText``, even under HTTP 200) and of
Fakturownia (``"status": "error"`` under 200) plugs into the one transport; the sandbox's
faults serve the answers over real HTTP.
"""
import inspect
import logging
import re

from odoo.tests.common import tagged

from odoo.addons.account_invoice_engine.engines import transport
from odoo.addons.account_invoice_engine.engines.dialect import Dialect
from odoo.addons.account_invoice_engine.engines.errors import (
    AuthError,
    CustomerGone,
    MaybeCreated,
    NotFound,
    RateLimited,
    Rejected,
)
from odoo.addons.account_invoice_engine.engines.fakturoid import FakturoidDialect
from odoo.addons.account_invoice_engine.engines.throttle import Throttle
from odoo.addons.account_invoice_engine.engines.transport import HttpTransport

from .test_engine_fakturoid import (
    ENGINE_LOGGER,
    SLUG,
    USER_AGENT,
    FakturoidSandboxCase,
    make_document,
    make_line,
    make_party,
)

PATH = "/engine/invoice"


class ErrorTextDialect(Dialect):
    """Errors in ``errorText``, whatever the status; 403 means the account is blocked for 10 minutes."""

    label = "Lei Facturi"
    default_retry_after = 600.0
    summary_keys = ("errorText", "message")

    def error_under_success(self, status, data):
        if isinstance(data, dict) and data.get("errorText"):
            return self.rejected(status, data, data["errorText"])
        if isinstance(data, dict) and data.get("status") == "error":
            return self.rejected(status, data, str(data.get("message") or ""))
        return None

    def client_error(self, status, body, detail):
        if status == 403:
            return self.rate_limited({}, status=status)
        return None

    def decode_other(self, content, content_type):
        """Its errors also come as ``<Fault><errorText>…</errorText></Fault>``."""
        found = re.search(rb"<Fault>\s*<errorText>(.*?)</errorText>", content, re.DOTALL)
        return {"errorText": found.group(1).decode()} if found else None


class FakeThrottle:
    def __init__(self):
        self.acquired, self.held = 0, []

    def acquire(self):
        self.acquired += 1

    def hold(self, seconds):
        self.held.append(seconds)

    def observe(self, rate_limit):
        pass


@tagged("post_install", "-at_install")
class TestTransportDialect(FakturoidSandboxCase):

    def transport(self, dialect=None, throttle=None):
        return HttpTransport(
            self.sandbox.url, dialect=dialect or ErrorTextDialect(), user_agent=USER_AGENT, throttle=throttle
        )

    def answer(self, status, body=None):
        self.sandbox.inject("status", path=f"^{PATH}$", status=status, body=body)

    def test_error_text_under_200_is_rejected_for_a_read(self):
        self.answer(200, {"errorText": "Cif-ul clientului nu este valid.", "number": None})
        with self.assertRaises(Rejected) as caught:
            self.transport().request("status", "GET", PATH)
        self.assertEqual(caught.exception.status, 200)
        self.assertIn("Lei Facturi refused the data (HTTP 200): Cif-ul clientului nu este valid", str(caught.exception))

    def test_error_text_under_200_on_a_create_is_rejected_not_created(self):
        self.answer(200, {"errorText": "Seria nu exista.", "number": None, "series": ""})
        with self.assertRaises(Rejected) as caught:
            self.transport().request("create_document", "POST", PATH, json={}, is_create=True)
        self.assertIn("Seria nu exista", caught.exception.message)

    def test_status_error_under_200_is_rejected(self):
        self.answer(200, {"status": "error", "message": "Faktura nie ma numeru KSeF."})
        with self.assertRaises(Rejected) as caught:
            self.transport().request("send_email", "POST", PATH, json={})
        self.assertIn("Faktura nie ma numeru KSeF", caught.exception.message)

    def test_a_clean_answer_under_200_is_data(self):
        self.answer(200, {"errorText": "", "number": "0042", "series": "ODOO"})
        response = self.transport().request("create_document", "POST", PATH, json={}, is_create=True)
        self.assertEqual(response.data["number"], "0042")

    def test_a_body_the_dialect_reads_instead_of_json_is_interpreted_like_json(self):
        fault = "<?xml version='1.0'?><Fault><errorText>Seria nu exista.</errorText></Fault>"
        for status in (200, 400):
            with self.subTest(status=status):
                self.answer(status, fault)
                with self.assertRaises(Rejected) as caught:
                    self.transport().request("create_document", "POST", PATH, json={}, is_create=True)
                self.assertIn(f"(HTTP {status}): Seria nu exista", caught.exception.message)

    def test_a_body_no_dialect_reads_stays_an_unexpected_page(self):
        self.answer(200, "<html><head><title>Mentenanta</title></head></html>")
        with self.assertRaises(MaybeCreated) as caught:
            self.transport().request("create_document", "POST", PATH, json={}, is_create=True)
        self.assertIn("Mentenanta", caught.exception.message)

    def test_engine_specific_status_and_its_default_delay(self):
        throttle = FakeThrottle()
        self.answer(403, {"errorText": "Ai depasit limita de apeluri."})
        with self.assertRaises(RateLimited) as caught:
            self.transport(throttle=throttle).request("status", "GET", PATH)
        self.assertEqual((caught.exception.status, caught.exception.retry_after), (403, 600))
        self.assertEqual(throttle.held, [600], "every worker of the account waits as asked")
        self.assertEqual(throttle.acquired, 1)

    def test_neutral_statuses(self):
        dialect = Dialect("Lei Facturi")
        cases = [
            (401, AuthError, "token_revoked"),
            (403, AuthError, "forbidden"),
            (404, NotFound, None),
            (422, Rejected, None),
        ]
        for status, error_class, reason in cases:
            with self.subTest(status=status):
                self.answer(status, {"message": "Nu."})
                with self.assertRaises(error_class) as caught:
                    self.transport(dialect).request("status", "GET", PATH)
                if reason:
                    self.assertEqual(caught.exception.reason, reason)
                self.assertIn("Lei Facturi", caught.exception.message)
                self.assertNotIn("User-Agent", caught.exception.message)

    def test_neutral_429_waits_what_retry_after_says_or_the_default(self):
        self.assertEqual(Dialect("Lei Facturi").retry_after({"Retry-After": "5"}), 5)
        # Fakturoid's X-RateLimit headers mean nothing to another engine's dialect.
        self.sandbox.inject("rate_limit", path=f"^{PATH}$", reset=7)
        with self.assertRaises(RateLimited) as caught:
            self.transport().request("status", "GET", PATH)
        self.assertEqual(caught.exception.retry_after, 600)

    def test_a_call_the_throttle_refuses_is_never_sent(self):
        throttle = Throttle(30, 10, label="Lei Facturi")
        throttle.hold(600)
        before = len(self.sandbox.requests)
        with self.assertRaises(RateLimited) as caught:
            self.transport(throttle=throttle).request("create_document", "POST", PATH, json={}, is_create=True)
        self.assertAlmostEqual(caught.exception.retry_after, 600, delta=1)
        self.assertEqual(len(self.sandbox.requests), before)

    def test_a_failing_throttle_never_fails_an_answered_call(self):
        class BrokenThrottle(FakeThrottle):
            def observe(self, rate_limit):
                raise RuntimeError("throttle table locked")

        transport = HttpTransport(
            self.sandbox.api_url, dialect=FakturoidDialect(), user_agent=USER_AGENT, throttle=BrokenThrottle()
        )
        with self.assertLogs(ENGINE_LOGGER, logging.ERROR):
            response = transport.request(
                "check", "GET", f"accounts/{SLUG}/account.json",
                headers={"Authorization": f"Bearer {self.provide_token(False)}"},
            )
        self.assertEqual(response.data["currency"], "CZK")

    def test_a_dialect_needs_a_label(self):
        with self.assertRaises(ValueError):
            Dialect()

    def test_the_transport_names_no_engine(self):
        source = inspect.getsource(transport).lower()
        for word in ("fakturoid", "smartbill", "fakturownia", "x-ratelimit", "overdue", "e-mail", "402"):
            self.assertNotIn(word, source)


@tagged("post_install", "-at_install")
class TestCustomerGone(FakturoidSandboxCase):

    def test_a_subject_deleted_in_fakturoid_is_customer_gone(self):
        document = make_document("move-00001", [make_line("Rohlík", "100", "3.90")])
        with self.assertRaises(CustomerGone) as caught:
            self.client.create_document(document, "16999999")
        self.assertIsInstance(caught.exception, Rejected)
        self.assertIn("subject_id", caught.exception.field_errors)

    def test_other_refusals_stay_plain_rejections(self):
        customer_id = self.client.upsert_customer(make_party())
        document = make_document("move-00001", [make_line("Rohlík", "100", "3.90", rate="7")])
        with self.assertRaises(Rejected) as caught:
            self.client.create_document(document, customer_id)
        self.assertNotIsInstance(caught.exception, CustomerGone)
