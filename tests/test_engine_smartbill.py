"""The SmartBill client and its dialect, against the local SmartBill sandbox.

Real HTTP on loopback, no database: the code that talks to ws.smartbill.ro in production is what
runs here. Every body the client sends is checked against the vendor's own schemas (the spec in
``fixtures/smartbill/``, read as ``smartbill-spec-notes.md`` says: per product, note 2).
"""
import csv
import json
import random
import time
from dataclasses import replace
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

from jsonschema import Draft4Validator

from odoo.tests.common import BaseCase, tagged
from odoo.tools.misc import file_path

from odoo.addons.account_invoice_engine.engines.base import RateLimitState
from odoo.addons.account_invoice_engine.engines.document import (
    CREDIT_NOTE,
    INVOICE,
    NUMBERING_DOCUMENTS,
    NUMBERING_RECEIPTS,
    PAYMENT_BANK,
    PAYMENT_CARD,
    PAYMENT_CASH,
    REMOTE_OPEN,
    REMOTE_PAID,
    REMOTE_PARTIALLY_PAID,
    Document,
    EngineVatRate,
    Line,
    Party,
    PaymentInfo,
    RemoteRef,
    TaxInfo,
)
from odoo.addons.account_invoice_engine.engines.errors import (
    AuthError,
    MaybeCreated,
    NotFound,
    OutcomeUnknown,
    RateLimited,
    Rejected,
    TransientError,
)
from odoo.addons.account_invoice_engine.engines.smartbill import (
    ARITHMETIC,
    COUNTIES,
    SmartBillClient,
    client_payload,
    county_name,
    invoice_products,
    remote_status,
    split_by_known_series,
    valid_cif,
    valid_cnp,
)
from odoo.addons.account_invoice_engine.engines.throttle import MemoryStore, Throttle
from odoo.addons.account_invoice_engine.sandbox.smartbill import SmartBillSandbox

from .loopback import LoopbackHttpMixin

CIF = "RO40123456"
EMAIL = "facturare@demo-odoo.ro"
TOKEN = "7d1f3e5a9b2c4d6e8f0a1b2c3d4e5f60"
USER_AGENT = "Odoo account_invoice_engine tests (tests@example.com)"
TAX_NAMES = {"21": "Normala", "11": "Redusa", "0": "SDD"}
CENT = Decimal("0.01")
DEFINITIONS = json.loads(
    (Path(__file__).resolve().parent / "fixtures" / "smartbill" / "smartbill-openapi.json").read_text(encoding="utf-8")
)["definitions"]


def cents(value):
    return Decimal(value).quantize(CENT, rounding=ROUND_HALF_UP)


def spec_validator(schema):
    return Draft4Validator({**schema, "definitions": DEFINITIONS})


def product_schema(with_code):
    """A product as dateProdusGeneral1|2 says; ``code`` only when the company uses codes (note 3)."""
    variants = []
    for name in ("dateProdusGeneral1", "dateProdusGeneral2"):
        schema = dict(DEFINITIONS[name])
        if not with_code:
            schema["required"] = [field for field in schema["required"] if field != "code"]
        variants.append(schema)
    return {"anyOf": variants}


INVOICE_HEADER = spec_validator(dict(DEFINITIONS["factura1"]["properties"]["invoice"],
                                     properties={**DEFINITIONS["factura1"]["properties"]["invoice"]["properties"],
                                                 "products": {"type": "array"}}))
DISCOUNT = spec_validator({"anyOf": [DEFINITIONS["dateDiscountGeneralValoric"],
                                     DEFINITIONS["dateDiscountGeneralProcentual"]]})
REVERSE = spec_validator(DEFINITIONS["exempluFacturaStorno"])
PAYMENT = spec_validator(DEFINITIONS["exempluEmitereIncasareFaraDateleDinFactura"]["properties"]["payment"])
RECEIPT = spec_validator(DEFINITIONS["exempluEmitereIncasareCuChitanta"]["properties"]["payment"])


def make_party(key="res.partner-7", **values):
    defaults = dict(
        name="Client Test SRL", email="contabilitate@client-test.ro", street="Str. Memorandumului 28",
        street2="et. 2", city="Cluj-Napoca", zip="400114", state_name="Cluj", state_code="CJ", country_code="RO",
        registration_no="J12/3456/2015", vat_no="RO18547290", is_vat_payer=True, language="ro",
    )
    return Party(key=key, **{**defaults, **values})


def make_line(name, quantity, unit_price, *, rate="21", discount="0", subtotal=None, unit_name="buc", code=""):
    quantity, unit_price, discount = Decimal(quantity), Decimal(unit_price), Decimal(discount)
    if subtotal is None:
        subtotal = cents(unit_price * (1 - discount / 100) * quantity)
    subtotal = Decimal(subtotal)
    return Line(
        name=name, quantity=quantity, unit_price=unit_price, unit_name=unit_name, discount_percent=discount,
        tax=TaxInfo(rate=Decimal(rate), label=f"TVA {rate}%", engine_code=TAX_NAMES[rate]),
        subtotal=subtotal, total=cents(subtotal * (1 + Decimal(rate) / 100)), product_code=code,
    )


def make_document(key, lines, *, kind=INVOICE, numbering="OD", **values):
    """A document as Odoo sends it once its VAT is aligned with SmartBill's arithmetic."""
    untaxed = sum((line.subtotal for line in lines), Decimal(0))
    total = ARITHMETIC.totals(lines).total
    issue_date = date(2026, 3, 2)
    defaults = dict(
        reference=f"INV/2026/{key[-5:]}", customer=make_party(), issue_date=issue_date,
        taxable_supply_date=issue_date, due_date=issue_date + timedelta(days=14), currency="RON",
        company_currency="RON", amount_untaxed=untaxed, amount_tax=total - untaxed, amount_total=total,
        language="ro",
    )
    return Document(key=key, kind=kind, lines=tuple(lines), numbering=numbering, **{**defaults, **values})


def credit_note(key, original_document, original_ref, lines=None, *, numbering="ODC", **values):
    return make_document(
        key, lines or original_document.lines, kind=CREDIT_NOTE, numbering=numbering, original=original_ref,
        original_reference=original_document.reference, reference=f"RINV/2026/{key[-5:]}",
        reverses_whole_original=lines is None, **values,
    )


def payment(amount, method=PAYMENT_BANK, *, customer=None, paid_on=date(2026, 3, 5), **values):
    return PaymentInfo(key=f"payment-{amount}-{method}", amount=Decimal(amount), currency="RON", paid_on=paid_on,
                       method=method, customer=customer or make_party(), reference="BNK1/2026/00003", **values)


class SmartBillSandboxCase(LoopbackHttpMixin, BaseCase):
    """One sandbox per class, reset before each test: a VAT payer with an invoice, a credit and a receipt series.

    The windows are scaled so far down (10 ms) that no ordinary test meets the rate limit.
    """

    time_scale = 0.001

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.sandbox = SmartBillSandbox(time_scale=cls.time_scale).start()
        cls.addClassCleanup(cls.sandbox.stop)

    def setUp(self):
        super().setUp()
        self.sandbox.reset()
        self.add_account()
        self.exchanges = []
        self.client = self.make_client()

    def add_account(self, cif=CIF, email=EMAIL, token=TOKEN, **values):
        defaults = dict(
            name="Demo Odoo SRL", taxes=(("Normala", 21), ("Redusa", 11), ("SDD", 0), ("Taxare inversa", 0)),
            series=(("OD", "f", 25), ("ODC", "f", 1), ("CHT", "c", 13), ("PF", "p", 1)),
        )
        self.sandbox.add_account(cif, email, token, **{**defaults, **values})

    def make_client(self, *, cif=CIF, email=EMAIL, token=TOKEN, **values):
        return SmartBillClient(self.sandbox.api_url, email, token, cif, user_agent=USER_AGENT,
                               on_exchange=self.exchanges.append, timeout=(2, 5),
                               **{"receipt_series": "CHT", **values})

    def state(self, cif=CIF):
        return self.sandbox.state(cif)

    def stored(self, ref):
        return next(invoice for invoice in self.state()["invoices"]
                    if (invoice["series"], invoice["number"]) == (ref.series, ref.number))

    def api_requests(self, method, path_end):
        return [request for request in self.sandbox.requests
                if request["method"] == method and request["path"].endswith(path_end)]

    def create(self, key="move-00001", lines=None, **values):
        lines = lines or [make_line("Consultanta IT", "3", "100")]
        document = make_document(key, lines, **values)
        self.client.prepare_create(document)
        return document, self.client.create_document(document, None)

    def assert_bodies_follow_the_spec(self, with_codes=False):
        """Every body the client sent validates against the spec's own definitions."""
        sent = [request for request in self.sandbox.requests if request["json"] is not None]
        self.assertTrue(sent)
        for request in sent:
            body, path = request["json"], request["path"]
            with self.subTest(path=path):
                if path.endswith("/invoice"):
                    self.assertEqual(list(INVOICE_HEADER.iter_errors(body)), [])
                    products = spec_validator(product_schema(with_codes))
                    for product in body["products"]:
                        validator = DISCOUNT if product.get("isDiscount") else products
                        self.assertEqual(list(validator.iter_errors(product)), [], product)
                elif path.endswith("/invoice/reverse"):
                    self.assertEqual(list(REVERSE.iter_errors(body)), [])
                elif path.endswith("/payment"):
                    validator = RECEIPT if body["type"] == "Chitanta" else PAYMENT
                    self.assertEqual(list(validator.iter_errors(body)), [])
                    self.assertIsInstance(body["invoicesList"], list, "an array, as the schemas say (note 8)")


@tagged("post_install", "-at_install")
class TestSmartBillConnection(SmartBillSandboxCase):

    def test_check_then_reference_data_costs_two_calls(self):
        account = self.client.check()
        reference = self.client.reference_data()
        self.assertEqual([(request["method"], request["path"].rsplit("/", 1)[-1]) for request in self.sandbox.requests],
                         [("GET", "tax"), ("GET", "series")])
        self.assertEqual((account.name, account.currency, account.country), (CIF, "RON", "RO"))
        self.assertEqual([(option.id, option.usage, option.next_number) for option in reference.numberings], [
            ("OD", NUMBERING_DOCUMENTS, "0025"), ("ODC", NUMBERING_DOCUMENTS, "0001"), ("CHT", NUMBERING_RECEIPTS, "13"),
        ], "proforma series left out; nextNumber verbatim")
        self.assertEqual(reference.vat_rates, (
            EngineVatRate("Normala", Decimal(21)), EngineVatRate("Redusa", Decimal(11)), EngineVatRate("SDD", Decimal(0)),
            EngineVatRate("Taxare inversa", Decimal(0)),
        ))
        self.assertTrue(all(request["query"]["cif"] == CIF for request in self.sandbox.requests))

    def test_reference_data_alone_reads_the_taxes_too(self):
        self.assertEqual(len(self.client.reference_data().vat_rates), 4)
        self.assertEqual(len(self.sandbox.requests), 2)

    def test_customers_travel_inside_each_document(self):
        self.assertIsNone(self.client.upsert_customer(make_party()))
        self.assertEqual(self.sandbox.requests, [])

    def test_a_wrong_email_or_token_is_an_auth_error_that_names_every_cause(self):
        with self.assertRaises(AuthError) as caught:
            self.make_client(token="not-the-token").check()
        error = caught.exception
        self.assertEqual((error.status, error.reason), (401, "invalid_credentials"))
        for words in ("e-mail", "API token", "CIF does not belong", "does not include API access"):
            self.assertIn(words, error.message)

    def test_a_plan_without_api_access_is_answered_like_a_wrong_token(self):
        self.add_account("RO30000009", "fara-api@firma.ro", "basic-token", api_access=False)
        with self.assertRaises(AuthError) as caught:
            self.make_client(cif="RO30000009", email="fara-api@firma.ro", token="basic-token").check()
        self.assertIn("Facturare Platinum", caught.exception.message)

    def test_a_cif_of_another_login_or_of_no_company_is_an_auth_error(self):
        self.add_account("RO30000009", "altcineva@firma.ro", "other-token")
        for cif, text in (("RO30000009", "nu este disponibila pentru acest utilizator"),
                          ("RO99999999", "nu mai este disponibila in Cloud"),
                          ("", "Ciful firmei trebuie specificat")):
            with self.subTest(cif=cif):
                with self.assertRaises(AuthError) as caught:
                    self.make_client(cif=cif).check()
                self.assertEqual((caught.exception.status, caught.exception.reason), (400, "invalid_credentials"))
                self.assertIn(text, caught.exception.message)
                self.assertIn("CIF", caught.exception.message)

    def test_a_user_without_rights_is_an_auth_error(self):
        self.sandbox.inject("status", method="POST", path="/invoice$", status=400,
                            body={"errorText": "Nu aveti dreptul de a adauga facturi pe seria selectata"})
        with self.assertRaises(AuthError) as caught:
            self.create()
        self.assertEqual(caught.exception.reason, "forbidden")
        self.assertIn("administrator", caught.exception.message)

    def test_a_plan_out_of_documents_stops_sending(self):
        self.sandbox.reset()
        self.add_account(document_quota=0)
        with self.assertRaises(AuthError) as caught:
            self.create()
        self.assertEqual(caught.exception.reason, "account_blocked")
        self.assertIn("Extend the subscription", caught.exception.message)

    def test_the_403_block_waits_until_x_ratelimit_reset(self):
        self.sandbox.inject("rate_limit", path="/tax$", reset=120)
        with self.assertRaises(RateLimited) as caught:
            self.client.check()
        self.assertEqual(caught.exception.status, 403)
        self.assertAlmostEqual(caught.exception.retry_after, 120, delta=2)
        self.assertIn("more than 30 calls in 10 seconds", caught.exception.message)

    def test_a_403_without_reset_waits_ten_minutes(self):
        self.sandbox.inject("status", path="/tax$", status=403, body={"errorText": "Acces blocat."})
        with self.assertRaises(RateLimited) as caught:
            self.client.check()
        self.assertEqual(caught.exception.retry_after, 600)

    def test_rate_limit_headers_become_the_rate_limit_state(self):
        self.client.check()
        state = self.client.rate_limit
        self.assertIsInstance(state, RateLimitState)
        self.assertEqual((state.limit, state.remaining), (30, 29))
        self.assertLess(state.reset_after, 1)

    def test_a_maintenance_page_is_the_transports_business(self):
        self.sandbox.inject("html", path="/tax$", title="Mentenanta programata")
        with self.assertRaises(TransientError) as caught:
            self.client.check()
        self.assertIn("Mentenanta programata", caught.exception.message)

    def test_every_call_is_recorded_without_the_token(self):
        self.client.check()
        self.assertEqual([(exchange.operation, exchange.status) for exchange in self.exchanges], [("check", 200)])
        self.assertNotIn(TOKEN, json.dumps([exchange.__dict__ for exchange in self.exchanges]))


@tagged("post_install", "-at_install")
class TestSmartBillRefusals(SmartBillSandboxCase):

    def test_a_romanian_error_text_is_rejected_in_its_own_words_with_advice(self):
        document = make_document("move-00001", [make_line("Consultanta IT", "1", "100")], numbering="NUEXISTA")
        with self.assertRaises(Rejected) as caught:
            self.client.create_document(document, None)
        self.assertEqual(caught.exception.status, 400)
        self.assertIn("“Seria nu a fost gasita! Folositi o serie creata in contul de cloud.”", caught.exception.message)
        self.assertIn("choose an existing series in the engine settings", caught.exception.message)

    def test_an_error_text_under_200_is_a_refusal(self):
        wrong_rate = replace(make_line("Consultanta IT", "1", "100"), tax=TaxInfo(rate=Decimal(19), engine_code="Normala"))
        with self.assertRaises(Rejected) as caught:
            self.create(lines=[wrong_rate])
        self.assertEqual(caught.exception.status, 200)
        self.assertIn("Cota tva a produsului Consultanta IT nu a fost gasita pe server!", caught.exception.message)
        self.assertIn("VAT rates SmartBill lists", caught.exception.message)
        self.assertEqual(self.state()["invoices"], [])

    def test_an_xml_fault_under_200_or_400_is_read(self):
        for status in (200, 400):
            with self.subTest(status=status):
                self.sandbox.inject_xml_fault("Nu puteti adauga documentul intr-o perioada inchisa", status=status,
                                              path="/invoice$")
                with self.assertRaises(Rejected) as caught:
                    self.create()
                self.assertEqual(caught.exception.status, status)
                self.assertIn("“Nu puteti adauga documentul intr-o perioada inchisa”", caught.exception.message)
                self.assertIn("period closed in SmartBill", caught.exception.message)

    def test_404_and_410_break_a_rule_they_do_not_mean_missing(self):
        self.sandbox.inject("status", path="/tax$", status=410, body={"errorText": "Operatie nepermisa."})
        with self.assertRaises(Rejected) as caught:
            self.client.check()
        self.assertIn("Operatie nepermisa.", caught.exception.message)

    def test_a_missing_invoice_is_not_found(self):
        for call in (self.client.document_status, self.client.fetch_pdf):
            with self.subTest(call.__name__):
                with self.assertRaises(NotFound) as caught:
                    call(RemoteRef(id="OD0099", series="OD", number="0099"))
                self.assertIn("deleted in SmartBill", caught.exception.message)


@tagged("post_install", "-at_install")
class TestSmartBillInvoices(SmartBillSandboxCase):

    def test_an_invoice_is_issued_in_its_series_with_the_number_verbatim(self):
        document, ref = self.create()
        self.assertEqual((ref.id, ref.series, ref.number, ref.status), ("OD0025", "OD", "0025", REMOTE_OPEN))
        self.assertEqual(ref.total, Decimal("363.00"))
        body = self.api_requests("POST", "/invoice")[0]["json"]
        self.assertEqual({key: body[key] for key in ("companyVatCode", "seriesName", "issueDate", "dueDate",
                                                     "deliveryDate", "currency", "language", "precision", "isDraft")},
                         {"companyVatCode": CIF, "seriesName": "OD", "issueDate": "2026-03-02",
                          "dueDate": "2026-03-16", "deliveryDate": "2026-03-02", "currency": "RON", "language": "RO",
                          "precision": 2, "isDraft": False})
        self.assertIn("Referinta Odoo: INV/2026/00001", body["mentions"])
        self.assertNotIn("exchangeRate", body)
        self.assertEqual(body["products"][0], {
            "name": "Consultanta IT", "measuringUnitName": "buc", "currency": "RON", "quantity": 3, "price": 100,
            "isTaxIncluded": False, "taxPercentage": 21, "taxName": "Normala", "isDiscount": False,
            "isService": False, "saveToDb": False,
        })
        self.assert_bodies_follow_the_spec()

    def test_a_discount_is_a_negative_value_discount_right_after_its_line(self):
        lines = [make_line("Laptop", "2", "1999.99", discount="7.5"), make_line("Carte", "3", "45.90", rate="11")]
        document, ref = self.create(lines=lines)
        products = self.api_requests("POST", "/invoice")[0]["json"]["products"]
        self.assertEqual([product["name"] for product in products], ["Laptop", "Discount 7.5% - Laptop", "Carte"])
        discount = products[1]
        self.assertEqual((discount["isDiscount"], discount["numberOfItems"], discount["discountType"],
                          discount["discountValue"], discount["taxPercentage"]), (True, 1, 1, -300, 21))
        stored = self.stored(ref)
        self.assertEqual(Decimal(stored["untaxed"]), document.amount_untaxed)
        self.assertEqual(Decimal(stored["total"]), document.amount_total)
        self.assert_bodies_follow_the_spec()

    def test_a_cent_of_odoos_global_rounding_travels_on_its_own_line(self):
        up = make_line("Abonament", "3", "3.33", subtotal="10.00")  # round(9.99) + 0.01
        down = make_line("Suport", "7", "1.43", subtotal="10.00")  # round(10.01) - 0.01
        document, ref = self.create(lines=[up, down])
        products = self.api_requests("POST", "/invoice")[0]["json"]["products"]
        self.assertEqual([(product["name"], product.get("quantity"), product.get("price"),
                           product.get("discountValue")) for product in products], [
            ("Abonament", 3, 3.33, None), ("Rotunjire - Abonament", 1, 0.01, None),
            ("Suport", 7, 1.43, None), ("Rotunjire - Suport", None, None, -0.01),
        ])
        self.assertEqual(Decimal(self.stored(ref)["untaxed"]), Decimal("20.00"))
        self.assert_bodies_follow_the_spec()

    def test_prices_with_more_decimals_than_smartbill_keeps(self):
        line = make_line("Combustibil", "37.5", "6.456789")
        document, ref = self.create(lines=[line])
        body = self.api_requests("POST", "/invoice")[0]["json"]
        self.assertEqual((body["precision"], body["products"][0]["price"]), (4, 6.4568))
        self.assertEqual(Decimal(self.stored(ref)["untaxed"]), line.subtotal)
        self.assertEqual(ref.total, Decimal(self.stored(ref)["total"]))

    def test_totals_agree_to_the_cent_in_both_odoo_rounding_modes(self):
        """Odoo, the stated arithmetic and SmartBill (the sandbox) compute the same amounts."""
        randomness = random.Random(20260302)
        for index in range(40):
            lines = []
            for _line in range(randomness.randint(1, 5)):
                line = make_line(
                    f"Articol {_line}", str(randomness.choice(["1", "2", "3", "0.5", "12", "7.25"])),
                    str(Decimal(randomness.randint(1, 99999)) / randomness.choice([1, 100, 1000])),
                    rate=randomness.choice(["21", "11", "0"]), discount=randomness.choice(["0", "0", "10", "33.3"]),
                )
                if index % 2:  # round globally: Odoo may move a line's booked net by a cent
                    line = replace(line, subtotal=line.subtotal + randomness.choice([-CENT, 0, CENT]))
                lines.append(line)
            document, ref = self.create(f"move-{index:05d}", lines)
            stored = self.stored(ref)
            with self.subTest(index=index):
                self.assertEqual(Decimal(stored["untaxed"]), sum(line.subtotal for line in lines))
                self.assertEqual(Decimal(stored["total"]), ARITHMETIC.totals(lines).total)
                self.assertEqual(ref.total, Decimal(stored["total"]))
        self.assert_bodies_follow_the_spec()

    def test_the_wire_lines_are_the_arithmetics_parts(self):
        lines = [make_line("Laptop", "2", "1999.99", discount="7.5"), make_line("Mouse", "3", "3.33", subtotal="10.00")]
        document = make_document("move-00001", lines)
        products = invoice_products(document)
        parts = ARITHMETIC.parts(lines)
        self.assertEqual(len(products), len(parts))
        for product, part in zip(products, parts):
            value = product.get("discountValue")
            if value is None:
                value = Decimal(str(product["quantity"])) * Decimal(str(product["price"]))
            self.assertEqual(cents(Decimal(str(value))), part.net)

    def test_foreign_currency_sends_the_rate_in_ron(self):
        document, ref = self.create(currency="EUR", exchange_rate=Decimal("4.9765"), language="en")
        body = self.api_requests("POST", "/invoice")[0]["json"]
        self.assertEqual((body["currency"], body["exchangeRate"], body["products"][0]["currency"], body["language"]),
                         ("EUR", 4.9765, "EUR", "EN"))
        self.assertIn("Odoo reference: INV/2026/00001", body["mentions"])
        self.assertEqual(self.stored(ref)["exchangeRate"], "4.9765")

    def test_product_codes_only_when_the_company_uses_them(self):
        self.sandbox.reset()
        self.add_account(uses_product_codes=True)
        lines = [make_line("Consultanta IT", "3", "100", code="CONS-01"),
                 make_line("Abonament", "3", "3.33", subtotal="10.00", code="AB-12")]
        with self.assertRaises(Rejected) as caught:
            self.create(lines=lines)
        self.assertIn("nu are codul specificat", caught.exception.message)
        self.sandbox.requests.clear()
        self.client = self.make_client(use_product_codes=True)
        self.create(lines=lines)
        products = self.api_requests("POST", "/invoice")[-1]["json"]["products"]
        self.assertEqual([product.get("code") for product in products], ["CONS-01", "AB-12", "ROTUNJIRE"])
        self.assert_bodies_follow_the_spec(with_codes=True)


@tagged("post_install", "-at_install")
class TestSmartBillClientData(BaseCase):
    """``client_payload`` fills the client the way ANAF accepts it; Odoo validates before sending."""

    def test_companies(self):
        self.assertEqual(client_payload(make_party()), {
            "name": "Client Test SRL", "vatCode": "RO18547290", "isTaxPayer": True, "regCom": "J12/3456/2015",
            "address": "Str. Memorandumului 28, et. 2", "city": "Cluj-Napoca", "county": "Cluj", "country": "Romania",
            "email": "contabilitate@client-test.ro", "saveToDb": True,
        })
        not_a_vat_payer = client_payload(make_party(vat_no="RO 18547290", is_vat_payer=False))
        self.assertEqual((not_a_vat_payer["vatCode"], not_a_vat_payer["isTaxPayer"]), ("18547290", False))
        # Odoo marks a VAT payer by the RO prefix; the CIF of one that pays none may sit in the registry.
        without_prefix = client_payload(make_party(vat_no="18547290"))
        self.assertEqual((without_prefix["vatCode"], without_prefix["isTaxPayer"]), ("18547290", False))
        in_the_registry = client_payload(make_party(vat_no="", registration_no="18547290", is_vat_payer=False))
        self.assertEqual((in_the_registry["vatCode"], in_the_registry["isTaxPayer"], in_the_registry["regCom"]),
                         ("18547290", False, ""))
        german = client_payload(make_party(vat_no="DE811569869", country_code="DE", state_code="BY",
                                           state_name="Bayern", city="München"))
        self.assertEqual((german["vatCode"], german["country"], german["county"]), ("DE811569869", "DE", "Bayern"))

    def test_check_digits_of_cif_and_cnp(self):
        self.assertEqual([valid_cif(cif) for cif in ("18547290", "14399840", "18547291", "RO18547290", "1")],
                         [True, True, False, False, False])
        self.assertEqual([valid_cnp(cnp) for cnp in ("1800101221144", "1800101221145", "1801301221142",
                                                     "1800101991147", "180010122114")],
                         [True, False, False, False, False], "check digit, month, county, length")

    def test_individuals_carry_a_cnp_or_a_dash(self):
        person = make_party(is_company=False, is_vat_payer=False, registration_no="", name="Ion Popescu")
        self.assertEqual(client_payload(replace(person, vat_no="1800101221144"))["vatCode"], "1800101221144")
        self.assertEqual(client_payload(replace(person, vat_no=""))["vatCode"], "-")
        self.assertEqual(client_payload(replace(person, vat_no="RO18547290"))["isTaxPayer"], False)

    def test_address_and_city_are_never_empty(self):
        payload = client_payload(make_party(street="", street2="", city=""))
        self.assertEqual((payload["address"], payload["city"]), ("-", "-"))

    def test_bucharest_is_a_sector_of_the_county_bucuresti(self):
        cases = [
            (dict(city="Sector 3"), "Sector 3"),
            (dict(city="București", street2="Sectorul 5"), "Sector 5"),
            (dict(city="Bucuresti", zip="030167"), "Sector 3"),
            (dict(city="Bucuresti", zip=""), "Bucuresti"),
        ]
        for values, city in cases:
            with self.subTest(values):
                payload = client_payload(make_party(state_code="B", state_name="București", **values))
                self.assertEqual((payload["city"], payload["county"]), (city, "Bucuresti"))

    def test_every_romanian_state_of_odoo_maps_to_a_county(self):
        with open(file_path("base/data/res.country.state.csv"), encoding="utf-8") as states:
            romanian = {row["code"]: row["name"] for row in csv.DictReader(states) if row["country_id:id"] == "ro"}
        self.assertEqual(set(romanian), set(COUNTIES))
        for code, name in romanian.items():
            self.assertEqual(county_name(code, name), county_name("", name), name)
        self.assertEqual((county_name("BN", ""), county_name("", "Bistrița-Năsăud"), county_name("", "Bucharest")),
                         ("Bistrita-Nasaud", "Bistrita-Nasaud", "Bucuresti"))


@tagged("post_install", "-at_install")
class TestSmartBillExactlyOnce(SmartBillSandboxCase):
    """No idempotency key and no read-back: the series' nextNumber before and after tells."""

    def lose_the_answer(self, document, path="/invoice$"):
        marker = self.client.prepare_create(document)
        self.sandbox.inject("reset_after_store", method="POST", path=path)
        with self.assertRaises(MaybeCreated):
            self.client.create_document(document, None)
        return json.loads(json.dumps(marker))  # as the move stores it

    def test_the_marker_is_the_series_and_its_next_number(self):
        document = make_document("move-00001", [make_line("Consultanta IT", "1", "100")])
        self.assertEqual(self.client.prepare_create(document), {"series": "OD", "next_number": "0025"})
        self.assertEqual(self.api_requests("GET", "/series")[0]["query"], {"cif": CIF, "type": "f"})

    def test_a_run_of_creates_reads_the_series_once(self):
        for index in range(3):
            document = make_document(f"move-0000{index}", [make_line("Consultanta IT", "1", "100")])
            self.assertEqual(self.client.prepare_create(document)["next_number"], f"{25 + index:04d}")
            self.client.create_document(document, None)
        self.assertEqual(len(self.api_requests("GET", "/series")), 1, "the next number follows from each answer")

    def test_after_a_lost_answer_the_series_is_read_again(self):
        self.lose_the_answer(make_document("move-00001", [make_line("Consultanta IT", "1", "100")]))
        second = make_document("move-00002", [make_line("Consultanta IT", "1", "100")])
        self.assertEqual(self.client.prepare_create(second)["next_number"], "0026", "the lost one took 0025")
        self.assertEqual(len(self.api_requests("GET", "/series")), 2)

    def test_without_a_series_nothing_is_sent(self):
        document = make_document("move-00001", [make_line("Consultanta IT", "1", "100")], numbering="")
        for call in (self.client.prepare_create, lambda document: self.client.create_document(document, None)):
            with self.assertRaises(Rejected) as caught:
                call(document)
            self.assertIn("Choose the invoice series", caught.exception.message)
        self.assertEqual(self.sandbox.requests, [])

    def test_a_series_smartbill_does_not_have_is_refused_before_the_create(self):
        document = make_document("move-00001", [make_line("Consultanta IT", "1", "100")], numbering="CHT")
        with self.assertRaises(Rejected) as caught:
            self.client.prepare_create(document)
        self.assertIn("no invoice series “CHT”", caught.exception.message)

    def test_next_number_unchanged_nothing_was_created(self):
        wrong_rate = replace(make_line("Consultanta IT", "1", "100"), tax=TaxInfo(rate=Decimal(19), engine_code="Normala"))
        document = make_document("move-00001", [wrong_rate])
        marker = self.lose_the_answer(document)  # SmartBill refused it, and the refusal was lost
        self.assertIsNone(self.client.find_document(document, marker))
        self.assertEqual(self.state()["invoices"], [])

    def test_advanced_by_one_with_the_same_total_it_is_ours(self):
        document = make_document("move-00001", [make_line("Consultanta IT", "3", "100")])
        marker = self.lose_the_answer(document)
        found = self.client.find_document(document, marker)
        self.assertEqual((found.id, found.series, found.number, found.total), ("OD0025", "OD", "0025", Decimal("363")))
        self.assertEqual(len(self.state()["invoices"]), 1, "never sent twice")

    def test_advanced_by_one_with_another_total_a_person_decides(self):
        document = make_document("move-00001", [make_line("Consultanta IT", "3", "100")])
        marker = self.lose_the_answer(document)
        self.sandbox.edit_invoice_total(CIF, "OD", "0025", "350.00")
        with self.assertRaises(OutcomeUnknown) as caught:
            self.client.find_document(document, marker)
        message = caught.exception.message
        for words in ("OD0025", "INV/2026/00001", "363.00 RON", "link it", "confirm that none exists"):
            self.assertIn(words, message)

    def test_advanced_by_two_a_person_decides(self):
        document = make_document("move-00001", [make_line("Consultanta IT", "3", "100")])
        marker = self.lose_the_answer(document)
        self.sandbox.issue_in_smartbill(CIF, "OD")
        with self.assertRaises(OutcomeUnknown) as caught:
            self.client.find_document(document, marker)
        self.assertIn("OD0025, OD0026", caught.exception.message)

    def test_a_lost_storno_answer_is_found_in_the_original_series(self):
        original, original_ref = self.create()
        storno = credit_note("move-00002", original, original_ref)
        marker = self.lose_the_answer(storno, path="/invoice/reverse$")
        self.assertEqual(marker["series"], "OD")
        found = self.client.find_document(storno, marker)
        self.assertEqual((found.id, found.total), ("OD0026", Decimal("-363")))

    def test_without_a_marker_a_person_decides(self):
        document = make_document("move-00001", [make_line("Consultanta IT", "1", "100")])
        with self.assertRaises(OutcomeUnknown):
            self.client.find_document(document, {})


@tagged("post_install", "-at_install")
class TestSmartBillCreditNotes(SmartBillSandboxCase):

    def test_a_whole_reversal_is_a_storno_in_the_original_series(self):
        original, original_ref = self.create()
        storno = credit_note("move-00002", original, original_ref, issue_date=date(2026, 3, 9))
        ref = self.client.create_document(storno, None)
        self.assertEqual(self.api_requests("POST", "/invoice/reverse")[0]["json"],
                         {"companyVatCode": CIF, "seriesName": "OD", "number": "0025", "issueDate": "2026-03-09"})
        self.assertEqual((ref.id, ref.total), ("OD0026", Decimal("-363.00")))
        self.assertEqual(self.stored(ref)["storno_of"], ["OD", "0025"])
        self.assert_bodies_follow_the_spec()

    def test_storno_refusals_in_words(self):
        original, original_ref = self.create()
        storno_ref = self.client.create_document(credit_note("move-00002", original, original_ref), None)
        cases = [
            (original_ref, date(2026, 3, 2), "Factura este deja stornata."),
            (storno_ref, date(2026, 3, 2), "este de tip storno. Nu se poate storna."),
            (self.create("move-00003")[1], date(2026, 3, 1), "nu poate fi anterioara datei emiterii"),
        ]
        for ref, issue_date, text in cases:
            with self.subTest(text):
                with self.assertRaises(Rejected) as caught:
                    self.client.create_document(credit_note("move-00009", original, ref, issue_date=issue_date), None)
                self.assertIn(text, caught.exception.message)
                self.assertIn("storno invoices in SmartBill", caught.exception.message)

    def test_a_partial_credit_note_has_negative_lines_in_the_credit_series(self):
        original, original_ref = self.create(lines=[make_line("Consultanta IT", "3", "100"),
                                                    make_line("Carte", "2", "45.90", rate="11", discount="10")])
        lines = [make_line("Consultanta IT", "1", "100"), make_line("Carte", "1", "45.90", rate="11", discount="10")]
        document = credit_note("move-00002", original, original_ref, lines)
        self.client.prepare_create(document)
        ref = self.client.create_document(document, None)
        body = self.api_requests("POST", "/invoice")[-1]["json"]
        self.assertEqual(body["seriesName"], "ODC")
        self.assertEqual([product["quantity"] for product in body["products"]], [-1, -1, -1])
        self.assertEqual([product["price"] for product in body["products"]], [100, 45.9, -4.59],
                         "the discount of a credit line is a line of its own, not a SmartBill discount")
        self.assertIn("Corectie la factura OD0025", body["mentions"])
        self.assertIn("Referinta Odoo: RINV/2026/00002", body["mentions"])
        self.assertEqual((ref.id, ref.total), ("ODC0001", -ARITHMETIC.totals(lines).total))
        self.assertEqual(Decimal(self.stored(ref)["total"]), ref.total)
        self.assert_bodies_follow_the_spec()

    def test_a_credit_note_without_its_original_is_refused_before_any_call(self):
        original = make_document("move-00001", [make_line("Consultanta IT", "1", "100")])
        for lines in (None, original.lines):
            with self.subTest(whole=lines is None):
                with self.assertRaises(Rejected) as caught:
                    self.client.create_document(credit_note("move-00002", original, None, lines), None)
                self.assertIn("Send the original invoice first", caught.exception.message)
        self.assertEqual(self.sandbox.requests, [])


@tagged("post_install", "-at_install")
class TestSmartBillDocumentsAfterward(SmartBillSandboxCase):

    def test_the_pdf_is_asked_for_as_an_octet_stream(self):
        _document, ref = self.create()
        pdf = self.client.fetch_pdf(ref)
        self.assertTrue(pdf.startswith(b"%PDF"))
        self.assertIn(b"OD0025", pdf)
        request = self.api_requests("GET", "/invoice/pdf")[0]
        self.assertIn("application/octet-stream", request["headers"]["Accept"])
        self.assertEqual(request["query"], {"cif": CIF, "seriesname": "OD", "number": "0025"})

    def test_an_error_instead_of_a_pdf_is_an_error_not_a_pdf(self):
        _document, ref = self.create()
        self.sandbox.inject("status", path="/invoice/pdf$", status=200,
                            body={"errorText": "Documentul nu incape pe formatul specificat", "number": ""})
        with self.assertRaises(Rejected) as caught:
            self.client.fetch_pdf(ref)
        self.assertIn("Documentul nu incape pe formatul specificat", caught.exception.message)
        self.sandbox.inject_xml_fault("Nu puteti vizualiza factura!", status=200, path="/invoice/pdf$")
        with self.assertRaises(Rejected):
            self.client.fetch_pdf(ref)
        self.sandbox.inject("status", path="/invoice/pdf$", status=200, body="ceva")
        with self.assertRaises(TransientError):
            self.client.fetch_pdf(ref)

    def test_status_follows_payments_made_in_smartbill(self):
        _document, ref = self.create()
        self.assertEqual(self.client.document_status(ref).status, REMOTE_OPEN)
        self.sandbox.pay_in_smartbill(CIF, "OD", "0025", "163.00")
        status = self.client.document_status(ref)
        self.assertEqual((status.status, status.paid, status.total, status.paid_amount, status.remaining),
                         (REMOTE_PARTIALLY_PAID, False, Decimal("363"), Decimal("163"), Decimal("200")))
        self.sandbox.pay_in_smartbill(CIF, "OD", "0025", "200.00")
        status = self.client.document_status(ref)
        self.assertEqual((status.status, status.paid, status.remaining), (REMOTE_PAID, True, Decimal(0)))

    def test_paid_is_computed_from_the_amounts_when_the_answer_lacks_it(self):
        self.assertTrue(remote_status({"invoiceTotalAmount": 62, "paidAmount": 62, "unpaidAmount": 0}).paid)
        self.assertFalse(remote_status({"invoiceTotalAmount": 62, "paidAmount": 0, "paid": False}).paid)
        self.assertEqual(remote_status({"invoiceTotalAmount": 62, "paidAmount": 2}).remaining, Decimal(60))

    def test_a_person_types_the_number_off_the_pdf(self):
        self.create()
        for typed in ("OD0025", "OD 0025", "od-25", "OD 25", " OD0025 "):
            with self.subTest(typed=typed):
                ref = self.client.get_document(typed)
                self.assertEqual((ref.id, ref.series, ref.number, ref.total), ("OD0025", "OD", "0025", Decimal("363")))
        with self.assertRaises(NotFound):
            self.client.get_document("OD0099")
        with self.assertRaises(Rejected):
            self.client.get_document("factura din martie")

    def test_a_series_ending_in_digits_is_split_by_the_known_series(self):
        series = [{"name": "F2026", "nextNumber": "0007"}, {"name": "F", "nextNumber": "0100"}]
        self.assertEqual(split_by_known_series("F20260003", series), ("F2026", "0003"))
        self.assertEqual(split_by_known_series("f0099", series), ("F", "0099"))
        self.assertIsNone(split_by_known_series("X0001", series))

    def test_cancel_and_its_refusal_in_words(self):
        original, original_ref = self.create()
        _document, other_ref = self.create("move-00002")
        self.client.cancel_document(other_ref)
        self.assertTrue(self.stored(other_ref)["cancelled"])
        self.client.create_document(credit_note("move-00003", original, original_ref), None)
        with self.assertRaises(Rejected) as caught:
            self.client.cancel_document(original_ref)
        message = caught.exception.message
        self.assertTrue(message.startswith("SmartBill did not cancel OD0025: “Pentru factura OD0025 exista deja stornari"))
        self.assertIn("storno invoices in SmartBill", message)


@tagged("post_install", "-at_install")
class TestSmartBillPayments(SmartBillSandboxCase):

    def test_a_bank_transfer_and_its_deletion(self):
        _document, ref = self.create()
        remote_id = self.client.record_payment(ref, payment("100"))
        self.assertEqual(remote_id, "Ordin plata|OD|0025|2026-03-05|100")
        body = self.api_requests("POST", "/payment")[0]["json"]
        self.assertEqual({key: body[key] for key in ("type", "isCash", "value", "issueDate", "currency", "invoicesList",
                                                     "observation")},
                         {"type": "Ordin plata", "isCash": False, "value": 100, "issueDate": "2026-03-05",
                          "currency": "RON", "invoicesList": [{"seriesName": "OD", "number": "0025"}],
                          "observation": "Odoo BNK1/2026/00003"})
        self.assertEqual(body["client"], client_payload(make_party()))
        self.assertEqual(self.client.document_status(ref).paid_amount, Decimal(100))
        self.client.delete_payment(ref, remote_id)
        self.assertEqual(self.api_requests("DELETE", "/payment/v2")[0]["query"], {
            "cif": CIF, "paymentType": "Ordin plata", "invoiceSeries": "OD", "invoiceNumber": "0025",
            "paymentDate": "2026-03-05", "paymentValue": "100"})
        self.assertEqual(self.client.document_status(ref).paid_amount, Decimal(0))
        self.client.delete_payment(ref, remote_id)  # gone already: fine
        self.assert_bodies_follow_the_spec()

    def test_a_card_payment(self):
        _document, ref = self.create()
        remote_id = self.client.record_payment(ref, payment("63.50", PAYMENT_CARD))
        self.assertEqual(remote_id, "Card|OD|0025|2026-03-05|63.5")
        self.client.delete_payment(ref, remote_id)
        self.assertEqual(self.state()["payments"], [])

    def test_cash_is_a_receipt_numbered_in_the_receipt_series(self):
        _document, ref = self.create()
        remote_id = self.client.record_payment(ref, payment("363", PAYMENT_CASH))
        self.assertEqual(remote_id, "Chitanta|CHT|0013")
        body = self.api_requests("POST", "/payment")[0]["json"]
        self.assertEqual((body["type"], body["isCash"], body["seriesName"], body["text"]),
                         ("Chitanta", True, "CHT", "Contravaloare factura OD0025"))
        self.assertTrue(self.client.document_status(ref).paid)
        self.client.delete_payment(ref, remote_id)
        self.assertEqual(self.api_requests("DELETE", "/payment/chitanta")[0]["query"],
                         {"cif": CIF, "seriesname": "CHT", "number": "0013"})
        self.assertEqual(self.state()["series"]["CHT"]["nextNumber"], "0013")
        self.assert_bodies_follow_the_spec()

    def test_only_the_last_receipt_of_its_series_can_be_deleted(self):
        _document, ref = self.create()
        first = self.client.record_payment(ref, payment("100", PAYMENT_CASH))
        self.client.record_payment(ref, payment("50", PAYMENT_CASH))
        with self.assertRaises(Rejected) as caught:
            self.client.delete_payment(ref, first)
        message = caught.exception.message
        self.assertTrue(message.startswith("SmartBill did not delete the cash receipt CHT0013: “Documentul cu seria "
                                           "si numarul CHT 0013 nu este ultimul din serie!”"), message)
        self.assertIn("only the last document of a series", message)

    def test_without_a_receipt_series_smartbill_uses_its_default_one(self):
        _document, ref = self.create()
        client = self.make_client(receipt_series="")
        self.assertEqual(client.record_payment(ref, payment("10", PAYMENT_CASH)), "Chitanta|CHT|0013")
        self.assertNotIn("seriesName", self.api_requests("POST", "/payment")[0]["json"])

    def test_the_payment_speaks_the_invoices_language(self):
        _document, ref = self.create(language="en")
        with self.assertRaises(Rejected) as caught:
            self.client.record_payment(ref, payment("10"))
        self.assertIn("Limba facturii OD0025 nu corespunde cu limba incasarii!", caught.exception.message)
        self.assertIn("those of the invoice", caught.exception.message)
        self.client.record_payment(ref, payment("10", customer=make_party(language="en")))

    def test_a_payment_names_its_customer(self):
        _document, ref = self.create()
        with self.assertRaises(Rejected) as caught:
            self.client.record_payment(ref, replace(payment("10"), customer=None))
        self.assertIn("names no customer", caught.exception.message)
        with self.assertRaises(Rejected):
            self.client.delete_payment(ref, "something odd")
        self.assertEqual(len(self.sandbox.requests), 2, "the create and its series only")


@tagged("post_install", "-at_install")
class TestSmartBillThrottle(SmartBillSandboxCase):
    """The documented limit, 30 calls in 10 s, in windows 0.3 times as long: 30 calls in 3 seconds."""

    time_scale = 0.3

    def test_a_burst_without_the_throttle_is_blocked(self):
        now = time.time()
        self.addCleanup(setattr, self.sandbox, "clock", self.sandbox.clock)
        self.sandbox.clock = lambda: now  # every call of the burst in the same instant
        with self.assertRaises(RateLimited) as caught:
            for _call in range(31):
                self.client.check()
        self.assertEqual(caught.exception.status, 403)
        self.assertAlmostEqual(caught.exception.retry_after, 600 * self.time_scale, delta=2)

    def test_a_throttled_burst_gets_no_403_and_never_more_than_30_calls_in_a_window(self):
        calls, window = SmartBillClient.capabilities.call_limit
        window *= self.time_scale
        waits = []

        def sleep(seconds):
            waits.append(seconds)
            time.sleep(seconds)

        self.client = self.make_client(throttle=Throttle(calls, window, MemoryStore(), label="SmartBill", sleep=sleep))
        for _call in range(60):
            self.client.check()
        self.assertTrue(waits, "the burst went faster than the limit: the throttle made it wait")
        self.assertEqual({request["status"] for request in self.sandbox.requests}, {200})
        arrivals = self.state()["calls"]
        self.assertEqual(len(arrivals), 60)
        busiest = max(sum(1 for other in arrivals if start <= other < start + window) for start in arrivals)
        self.assertLessEqual(busiest, calls)
