"""The Fakturownia client against the local Fakturownia sandbox.

Real HTTP on loopback, no database: what runs here is the very code that talks to
``https://{account}.fakturownia.pl`` in production; the sandbox plays Fakturownia and
its faults stand in for broken networks and lost answers.
"""
import time
from dataclasses import replace
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

import requests

from odoo.tests.common import BaseCase, tagged

from odoo.addons.account_invoice_engine.engines import CLIENT_CLASSES
from odoo.addons.account_invoice_engine.engines.document import (
    AUTHORITY_ACCEPTED,
    AUTHORITY_FAILED,
    AUTHORITY_NOT_APPLICABLE,
    AUTHORITY_PENDING,
    AUTHORITY_REJECTED,
    CREDIT_NOTE,
    INVOICE,
    REMOTE_CANCELLED,
    REMOTE_OPEN,
    REMOTE_PAID,
    REMOTE_PARTIALLY_PAID,
    REMOTE_SENT,
    TAX_EXEMPT,
    TAX_NOT_SUBJECT,
    TAX_REVERSE_CHARGE,
    Document,
    Line,
    Party,
    PaymentInfo,
    RemoteRef,
    TaxInfo,
)
from odoo.addons.account_invoice_engine.engines.errors import (
    AmbiguousCustomer,
    AuthError,
    CustomerGone,
    MaybeCreated,
    NotFound,
    OutcomeUnknown,
    RateLimited,
    Rejected,
    TransientError,
)
from odoo.addons.account_invoice_engine.engines.fakturownia import (
    ARITHMETIC,
    KSEF_PHONE_MAX_LENGTH,
    KSEF_POSITION_NAME_MAX_LENGTH,
    FakturowniaClient,
    FakturowniaDialect,
    account_link,
    client_payload,
    tax_identity,
)
from odoo.addons.account_invoice_engine.engines.transport import HttpTransport
from odoo.addons.account_invoice_engine.sandbox.fakturownia import FakturowniaSandbox

from .loopback import LoopbackHttpMixin

NAME, TOKEN = "piekarnia", "Vb3Nq8Rt2Wx6Zc0Ym4Kd"
SELLER_NIP = "5252445767"
USER_AGENT = "Odoo account_invoice_engine tests (tests@example.com)"
CENT = Decimal("0.01")


def cents(value):
    return Decimal(value).quantize(CENT, rounding=ROUND_HALF_UP)


def make_party(key="res.partner-7", **values):
    defaults = dict(
        name="Hurtownia Kowalski Sp. z o.o.", email="faktury@kowalski.example", phone="+48 12 345 67 89",
        street="ul. Długa 12", street2="lok. 3", city="Kraków", zip="31-147", country_code="pl",
        registration_no="123456785", vat_no="PL 987-654-32-10",
    )
    return Party(key=key, **{**defaults, **values})


def make_line(name, quantity, unit_price, *, rate="23", discount="0", kind="standard", code="", subtotal=None):
    quantity, unit_price, discount = Decimal(quantity), Decimal(unit_price), Decimal(discount)
    booked = cents(unit_price * (1 - discount / 100) * quantity) if subtotal is None else Decimal(subtotal)
    return Line(
        name=name, quantity=quantity, unit_price=unit_price, unit_name="szt",
        tax=TaxInfo(rate=Decimal(rate), kind=kind, label=f"VAT {rate}%", engine_code=code),
        discount_percent=discount, subtotal=booked, total=cents(booked * (1 + Decimal(rate) / 100)),
    )


def make_document(key, lines, *, kind=INVOICE, **values):
    untaxed = sum((line.subtotal for line in lines), Decimal(0))
    total = sum((line.total for line in lines), Decimal(0))
    issue_date = date(2026, 3, 2)
    defaults = dict(
        reference=f"FV/2026/{key[-5:]}", customer=make_party(), issue_date=issue_date,
        taxable_supply_date=issue_date - timedelta(days=1), due_date=issue_date + timedelta(days=14),
        currency="PLN", company_currency="PLN", amount_untaxed=untaxed, amount_tax=total - untaxed,
        amount_total=total, language="pl_PL",
    )
    return Document(key=key, kind=kind, lines=tuple(lines), **{**defaults, **values})


class FakturowniaSandboxCase(LoopbackHttpMixin, BaseCase):
    """One sandbox per class (KSeF waits scaled down), reset before each test; one account."""

    ksef = False
    demo = False

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.sandbox = FakturowniaSandbox(time_scale=0.01).start()
        cls.addClassCleanup(cls.sandbox.stop)

    def setUp(self):
        super().setUp()
        self.sandbox.reset()
        self.sandbox.ksef_delay = 20  # 0.2 s at this time scale: long enough to be seen processing
        self.sandbox.add_account(NAME, TOKEN, ksef=self.ksef, demo=self.demo, departments=[
            {"name": "Piekarnia Nowak Sp. z o.o.", "shortcut": "Centrala", "tax_no": SELLER_NIP},
            {"name": "Piekarnia Nowak Sp. z o.o.", "shortcut": "Oddział Gdańsk", "tax_no": SELLER_NIP},
        ])
        self.exchanges = []
        self.client = self.make_client()

    def make_client(self, account_url=None, api_token=TOKEN, **kwargs):
        return FakturowniaClient(
            account_url or self.sandbox.account_url(NAME), api_token, user_agent=USER_AGENT,
            on_exchange=self.exchanges.append, timeout=(2, 5), **kwargs,
        )

    def state(self):
        return self.sandbox.state(NAME)

    def api_requests(self, method, path_end):
        return [r for r in self.sandbox.requests if r["method"] == method and r["path"].endswith(path_end)]

    def sent_invoices(self):
        return [r["json"] for r in self.api_requests("POST", "/invoices.json")]

    def create_invoice(self, key="move-00001", lines=None, client=None, **values):
        client = client or self.client
        lines = lines or [make_line("Chleb żytni", "10", "4.50")]
        document = make_document(key, lines, **values)
        return document, client.create_document(document, client.upsert_customer(document.customer))

    def wait_for_ksef(self):
        time.sleep(self.sandbox.scaled(self.sandbox.ksef_delay) + 0.02)

    def stored(self, ref):
        return next(invoice for invoice in self.state()["invoices"] if str(invoice["id"]) == ref.id)


@tagged("post_install", "-at_install")
class TestFakturowniaAccountLink(FakturowniaSandboxCase):
    """The account link and both token kinds."""

    def test_a_link_or_a_name_gives_the_accounts_root(self):
        for typed in ("firma", "Firma", "firma.fakturownia.pl", "https://firma.fakturownia.pl",
                      "https://firma.fakturownia.pl/", "http://firma.fakturownia.pl/invoices.json?page=2"):
            self.assertEqual(account_link(typed), "https://firma.fakturownia.pl", typed)
        self.assertEqual(account_link("https://firma.invoiceocean.com/x"), "https://firma.invoiceocean.com")

    def test_a_prefixed_token_names_the_account(self):
        for typed in ("", "https://app.fakturownia.pl", "app.fakturownia.pl", "firma", "https://www.fakturownia.pl"):
            self.assertEqual(account_link(typed, "Ab3Cd/firma"), "https://firma.fakturownia.pl", typed)
        with self.assertRaises(AuthError) as caught:
            account_link("https://inna.fakturownia.pl", "Ab3Cd/firma")
        self.assertIn("belongs to the Fakturownia account “firma” but the account link names “inna”",
                      caught.exception.message)
        with self.assertRaises(AuthError) as caught:
            account_link("https://app.fakturownia.pl", "Ab3Cd")
        self.assertIn("give the account link", caught.exception.message)
        with self.assertRaises(AuthError):
            account_link("moja firma")

    def test_an_address_off_the_vendor_domains_is_the_root_as_given(self):
        self.assertEqual(account_link("http://127.0.0.1:8765/a/firma/"), "http://127.0.0.1:8765/a/firma")

    def test_both_token_kinds_reach_the_account(self):
        for client in (self.client, self.make_client(api_token=f"{TOKEN}/{NAME}"),
                       self.make_client(self.sandbox.api_url, f"{TOKEN}/{NAME}")):
            self.assertEqual(client.check().details, {"account": NAME, "departments": 2})

    def test_a_link_the_token_contradicts_fails_on_the_first_call_without_calling(self):
        client = self.make_client("https://inna.fakturownia.pl", f"{TOKEN}/{NAME}")
        with self.assertRaises(AuthError):
            client.check()
        self.assertEqual(self.sandbox.requests, [])

    def test_check_and_reference_data_cost_one_call(self):
        info = self.client.check()
        reference = self.client.reference_data()
        self.assertEqual(info.name, "Piekarnia Nowak Sp. z o.o.")
        self.assertEqual(
            [(n.name, n.is_default) for n in reference.numberings],
            [("Piekarnia Nowak Sp. z o.o. (Centrala)", True), ("Piekarnia Nowak Sp. z o.o. (Oddział Gdańsk)", False)],
        )
        self.assertEqual(len(self.api_requests("GET", "/departments.json")), 1)
        self.client.reference_data()
        self.assertEqual(len(self.api_requests("GET", "/departments.json")), 2, "a later refresh reads them anew")

    def test_the_token_is_never_a_header_and_never_logged(self):
        self.create_invoice()
        self.client.document_status(RemoteRef(id=str(self.state()["invoices"][0]["id"])))
        for request in self.sandbox.requests:
            self.assertNotIn(TOKEN, " ".join(f"{k}: {v}" for k, v in request["headers"].items()))
            if request["method"] in ("GET", "DELETE"):
                self.assertEqual(request["query"]["api_token"], TOKEN)
            else:
                self.assertEqual((request["json"]["api_token"], "api_token" in request["query"]), (TOKEN, False))
        for exchange in self.exchanges:
            self.assertNotIn(TOKEN, repr(exchange))


@tagged("post_install", "-at_install")
class TestFakturowniaErrors(FakturowniaSandboxCase):
    """Every refusal in words an accountant can act on."""

    def test_wrong_token(self):
        with self.assertRaises(AuthError) as caught:
            self.make_client(api_token="wrong").check()
        self.assertIn("the API token is wrong", caught.exception.message)
        self.assertEqual(caught.exception.reason, "invalid_credentials")

    def test_wrong_account_name(self):
        for client in (self.make_client(self.sandbox.account_url("nieznana")),
                       self.make_client(self.sandbox.api_url, f"{TOKEN}/nieznana")):
            with self.assertRaises(AuthError) as caught:
                client.check()
            self.assertIn("the account name is wrong", caught.exception.message)

    def test_polish_validation_errors_are_listed_field_by_field(self):
        client = self.client.upsert_customer(make_party())
        document = make_document("move-00001", [make_line("Chleb", "1", "4.50")], numbering="999")
        with self.assertRaises(Rejected) as caught:
            self.client.create_document(document, client)
        self.assertEqual(caught.exception.field_errors, {"department_id": ["nie istnieje"]})
        self.assertIn("Fakturownia refused the data (HTTP 422): department_id: nie istnieje",
                      caught.exception.message)

    def test_rate_limited_waits_what_retry_after_says(self):
        self.sandbox.inject("rate_limit", path=r"/departments\.json$", reset=7)
        with self.assertRaises(RateLimited) as caught:
            self.client.check()
        self.assertEqual(caught.exception.retry_after, 7.0)

    def test_a_server_error_on_a_create_may_have_created_it(self):
        self.sandbox.inject("status", method="POST", path=r"/invoices\.json$", status=502)
        with self.assertRaises(MaybeCreated):
            self.create_invoice()
        self.sandbox.inject("html", method="GET", path=r"/invoices/\d+\.json$", title="Przerwa techniczna")
        with self.assertRaises(TransientError):
            self.client.get_document("300001")

    def test_unknown_document_is_not_found(self):
        with self.assertRaises(NotFound):
            self.client.get_document("999999")


@tagged("post_install", "-at_install")
class TestFakturowniaCustomers(FakturowniaSandboxCase):

    def test_created_once_with_our_key_then_found_by_it(self):
        party = make_party()
        first = self.client.upsert_customer(party)
        again = self.client.upsert_customer(replace(party, city="Warszawa"))
        self.assertEqual(first, again)
        clients = self.state()["clients"]
        self.assertEqual([(c["external_id"], c["city"]) for c in clients], [("res.partner-7", "Warszawa")])
        sent = self.api_requests("POST", "/clients.json")[0]["json"]["client"]
        self.assertEqual(
            {k: sent[k] for k in ("tax_no", "tax_no_kind", "register_number", "company", "street", "post_code",
                                  "country")},
            {"tax_no": "9876543210", "tax_no_kind": "", "register_number": "123456785", "company": True,
             "street": "ul. Długa 12, lok. 3", "post_code": "31-147", "country": "PL"},
        )
        self.assertEqual(len(self.api_requests("GET", "/clients.json")), 4, "key, VAT number, e-mail; then the key")

    def test_a_client_made_in_fakturownia_is_adopted_by_tax_number(self):
        made = self.sandbox.add_client(NAME, name="Hurtownia Kowalski", tax_no="987-654-32-10")
        self.assertEqual(self.client.upsert_customer(make_party()), str(made["id"]))
        self.assertEqual(len(self.state()["clients"]), 1)
        self.assertEqual(self.state()["clients"][0]["external_id"], "res.partner-7")

    def test_found_by_email_whatever_its_case(self):
        made = self.sandbox.add_client(NAME, name="Kowalski", email="FAKTURY@kowalski.example")
        found = self.client.find_customer(make_party(vat_no=""))
        self.assertEqual((found.id, found.matched_on), (str(made["id"]), "email"))

    def test_no_registration_number_search_exists(self):
        self.assertEqual(self.client.search_customers("registration_no", "123456785"), [])
        self.assertEqual(self.sandbox.requests, [])

    def test_two_matches_are_left_to_a_person(self):
        for name in ("Kowalski A", "Kowalski B"):
            self.sandbox.add_client(NAME, name=name, tax_no="9876543210")
        with self.assertRaises(AmbiguousCustomer) as caught:
            self.client.upsert_customer(make_party())
        self.assertEqual(len(caught.exception.candidates), 2)
        self.assertEqual(len(self.state()["clients"]), 2, "nothing created")

    def test_a_client_deleted_in_fakturownia_is_created_again(self):
        first = self.client.upsert_customer(make_party())
        self.sandbox.reset()
        self.sandbox.add_account(NAME, TOKEN)
        again = self.client.upsert_customer(make_party(), remote_id=first)
        self.assertEqual([c["id"] for c in self.state()["clients"]], [int(again)])

    def test_without_matching_only_our_key_is_adopted(self):
        self.sandbox.add_client(NAME, name="Kowalski", tax_no="9876543210")
        created = self.client.upsert_customer(make_party(), match=False)
        self.assertEqual(len(self.state()["clients"]), 2)
        self.assertEqual(self.client.upsert_customer(make_party(), match=False), created)

    def test_a_private_person(self):
        payload = client_payload(make_party(name="Jan Maria Kowalski", is_company=False, vat_no=""))
        self.assertEqual(
            {k: payload[k] for k in ("company", "first_name", "last_name", "tax_no", "tax_no_kind")},
            {"company": False, "first_name": "Jan Maria", "last_name": "Kowalski", "tax_no": "", "tax_no_kind": "empty"},
        )

    def test_tax_number_kinds_for_ksef(self):
        self.assertEqual(tax_identity(make_party(vat_no="PL5252445767")), ("5252445767", ""))
        self.assertEqual(tax_identity(make_party(vat_no="5252445767")), ("5252445767", ""))
        self.assertEqual(tax_identity(make_party(vat_no="DE123456789", country_code="DE")), ("DE123456789", "nip_ue"))
        self.assertEqual(tax_identity(make_party(vat_no="123456789", country_code="AT")), ("AT123456789", "nip_ue"))
        self.assertEqual(tax_identity(make_party(vat_no="CHE-123.456.789", country_code="CH")),
                         ("CHE123456789", "other"))
        self.assertEqual(tax_identity(make_party(vat_no="")), ("", "empty"))

    def test_a_phone_over_the_ksef_limit_never_reaches_the_wire(self):
        with self.assertRaises(Rejected) as caught:
            self.client.upsert_customer(make_party(phone="+48 12 345 67 89 01"))
        self.assertIn(f"KSeF accepts at most {KSEF_PHONE_MAX_LENGTH}", caught.exception.message)
        self.assertEqual(self.sandbox.requests, [])


@tagged("post_install", "-at_install")
class TestFakturowniaDocuments(FakturowniaSandboxCase):

    def test_the_invoice_on_the_wire(self):
        document, ref = self.create_invoice(numbering="102", note="Dziękujemy za zakupy")
        sent = self.sent_invoices()[0]
        invoice = sent["invoice"]
        customer_id = self.state()["clients"][0]["id"]
        self.assertNotIn("gov_save_and_send", sent)
        self.assertEqual(
            {k: invoice[k] for k in ("kind", "issue_date", "sell_date", "payment_to_kind", "payment_to", "payment_type",
                                     "currency", "lang", "department_id", "client_id", "oid", "oid_unique",
                                     "description", "buyer_company", "buyer_tax_no", "buyer_tax_no_kind",
                                     "buyer_country", "calculating_strategy")},
            {"kind": "vat", "issue_date": "2026-03-02", "sell_date": "2026-03-01", "payment_to_kind": "other_date",
             "payment_to": "2026-03-16", "payment_type": "transfer", "currency": "PLN", "lang": "pl",
             "department_id": 102, "client_id": customer_id, "oid": "move-00001", "oid_unique": "yes",
             "description": "Dziękujemy za zakupy", "buyer_company": True, "buyer_tax_no": "9876543210",
             "buyer_tax_no_kind": "", "buyer_country": "PL",
             "calculating_strategy": {"position": "default", "sum": "sum", "invoice_form_price_kind": "net"}},
        )
        self.assertEqual(invoice["positions"], [
            {"name": "Chleb żytni", "quantity": "10", "price_net": "4.5", "tax": 23, "quantity_unit": "szt"}])
        stored = self.stored(ref)
        self.assertEqual((ref.number, ref.total, ref.status), ("FV/Oddział Gdańsk/1/2026", Decimal("55.35"), REMOTE_OPEN))
        self.assertEqual((stored["payment_to"], stored["sell_date"]), ("2026-03-16", "2026-03-01"))
        self.assertEqual(ref.url, f"{self.sandbox.account_url(NAME)}/invoices/{ref.id}")

    def test_discounted_lines_total_to_the_cent_as_the_arithmetic_says(self):
        lines = [
            make_line("Tort", "3", "33.33", discount="10"),
            make_line("Kołacz", "5", "2.025", discount="15", rate="8"),
            make_line("Kawa", "7", "12.3456", discount="12.5", rate="5"),
            make_line("Woda", "4", "19.90"),
            # Odoo's global rounding booked this line a cent above its own rounding:
            make_line("Ciasto", "3", "3.33", subtotal="10.00"),
        ]
        document, ref = self.create_invoice(lines=lines)
        invoice = self.sent_invoices()[0]["invoice"]
        self.assertEqual((invoice["show_discount"], invoice["discount_kind"]), (True, "percent_total"))
        stored = self.stored(ref)
        engine = ARITHMETIC.totals(lines)
        self.assertEqual(Decimal(stored["price_net"]), document.amount_untaxed)
        self.assertEqual(engine.untaxed, document.amount_untaxed)
        self.assertEqual(Decimal(stored["price_tax"]), engine.vat)
        self.assertEqual(Decimal(stored["price_gross"]), engine.total)
        parts = ARITHMETIC.parts(lines)
        self.assertEqual([Decimal(p["total_price_net"]) for p in stored["positions"]], [part.net for part in parts])
        vat_by_rate = {}
        for position in stored["positions"]:
            rate = Decimal(position["tax"])
            vat_by_rate[rate] = vat_by_rate.get(rate, 0) + Decimal(position["tax_amount"])
        self.assertEqual(vat_by_rate, engine.vat_by_rate)
        self.assertEqual([p["name"] for p in invoice["positions"]][-2:], ["Ciasto", "Zaokrąglenie – Ciasto"])
        self.assertEqual(invoice["positions"][-1]["price_net"], "0.01")

    def test_exempt_not_subject_and_reverse_charge(self):
        basis = "Zwolnienie ze względu na rodzaj prowadzonej działalności (art. 43 ust 1 ustawy o VAT)"
        lines = [
            make_line("Szkolenie", "1", "500", rate="0", kind=TAX_EXEMPT, code=basis),
            make_line("Usługa IT", "1", "300", rate="0", kind=TAX_NOT_SUBJECT, code="export_service"),
            make_line("Stal", "1", "1000", rate="0", kind=TAX_REVERSE_CHARGE),
        ]
        _document, ref = self.create_invoice(lines=lines)
        invoice = self.sent_invoices()[0]["invoice"]
        self.assertEqual([p["tax"] for p in invoice["positions"]], ["zw", "np", "oo"])
        self.assertEqual((invoice["exempt_tax_kind"], invoice["np_tax_kind"], invoice["reverse_charge"]),
                         (basis, "export_service", True))
        self.assertEqual(self.stored(ref)["price_tax"], "0.0")

    def test_an_exemption_without_its_legal_basis_is_refused_before_any_call(self):
        lines = [make_line("Szkolenie", "1", "500", rate="0", kind=TAX_EXEMPT)]
        customer_id = self.client.upsert_customer(make_party())
        calls = len(self.sandbox.requests)
        with self.assertRaises(Rejected) as caught:
            self.client.create_document(make_document("move-00001", lines), customer_id)
        self.assertIn("KSeF needs the legal basis of the exemption for the tax “VAT 0%”", caught.exception.message)
        self.assertEqual(len(self.sandbox.requests), calls)

    def test_values_over_the_ksef_limits_never_reach_the_wire(self):
        customer_id = self.client.upsert_customer(make_party())
        calls = len(self.sandbox.requests)
        long_name = make_line("x" * (KSEF_POSITION_NAME_MAX_LENGTH + 1), "1", "1")
        for document in (make_document("move-00001", [long_name]),
                         make_document("move-00002", [make_line("Chleb", "1", "1")], note="y" * 257)):
            with self.assertRaises(Rejected) as caught:
                self.client.create_document(document, customer_id)
            self.assertIn("KSeF accepts at most 256", caught.exception.message)
        self.assertEqual(len(self.sandbox.requests), calls)

    def test_foreign_currency_converts_at_odoos_rate(self):
        self.create_invoice(currency="EUR", exchange_rate=Decimal("4.2715"), language="en_GB",
                            customer=make_party(vat_no="DE123456789", country_code="de"))
        invoice = self.sent_invoices()[0]["invoice"]
        self.assertEqual(
            {k: invoice[k] for k in ("currency", "exchange_currency", "exchange_kind", "exchange_currency_rate", "lang",
                                     "buyer_tax_no", "buyer_tax_no_kind")},
            {"currency": "EUR", "exchange_currency": "PLN", "exchange_kind": "own", "exchange_currency_rate": "4.2715",
             "lang": "en-GB", "buyer_tax_no": "DE123456789", "buyer_tax_no_kind": "nip_ue"},
        )

    def test_a_private_buyer_is_sent_as_such(self):
        self.create_invoice(customer=make_party(name="Anna Nowak", is_company=False, vat_no="", phone=""))
        invoice = self.sent_invoices()[0]["invoice"]
        self.assertEqual(
            {k: invoice[k] for k in ("buyer_company", "buyer_first_name", "buyer_last_name", "buyer_tax_no_kind")},
            {"buyer_company": False, "buyer_first_name": "Anna", "buyer_last_name": "Nowak", "buyer_tax_no_kind": "empty"},
        )

    def test_pdf(self):
        _document, ref = self.create_invoice()
        pdf = self.client.fetch_pdf(ref)
        self.assertTrue(pdf.startswith(b"%PDF"))
        self.assertEqual(self.exchanges[-1].response_excerpt, f"<pdf {len(pdf)} bytes>")
        self.sandbox.inject("status", path=r"\.pdf$", status=200, body="Trwa generowanie")
        with self.assertRaises(TransientError):
            self.client.fetch_pdf(ref)

    def test_get_document_links_an_invoice_by_id(self):
        _document, ref = self.create_invoice()
        self.assertEqual(self.client.get_document(ref.id), ref)


@tagged("post_install", "-at_install")
class TestFakturowniaExactlyOnce(FakturowniaSandboxCase):
    """``oid`` + ``oid_unique``: a document is never created twice."""

    def test_prepare_create_marks_the_oid(self):
        document = make_document("move-00001", [make_line("Chleb", "1", "1")])
        self.assertEqual(self.client.prepare_create(document), {"oid": "move-00001"})

    def test_a_duplicate_refusal_returns_the_document_created_before(self):
        document, first = self.create_invoice()
        again = self.client.create_document(document, self.client.upsert_customer(document.customer))
        self.assertEqual(again, first)
        self.assertEqual(len(self.state()["invoices"]), 1)
        find = self.api_requests("GET", "/invoices.json")[-1]["query"]
        self.assertEqual({k: find[k] for k in ("period", "date_from", "date_to", "oid")},
                         {"period": "more", "date_from": "2026-03-02", "date_to": "2026-03-02", "oid": "move-00001"})

    def lose_the_create_answer(self, fault):
        """A create whose answer never comes: ``fault`` says whether Fakturownia stored it first."""
        document = make_document("move-00001", [make_line("Chleb", "1", "4.50")])
        customer_id = self.client.upsert_customer(document.customer)
        self.sandbox.inject(fault, method="POST", path=r"/invoices\.json$")
        with self.assertRaises(MaybeCreated):
            self.client.create_document(document, customer_id)
        return document, customer_id

    def test_a_lost_answer_is_resolved_by_the_oid(self):
        document, customer_id = self.lose_the_create_answer("reset_after_store")
        found = self.client.find_document(document, self.client.prepare_create(document))
        stored = self.state()["invoices"]
        self.assertEqual(len(stored), 1)
        self.assertEqual((found.id, found.number), (str(stored[0]["id"]), stored[0]["number"]))
        self.assertEqual(self.client.create_document(document, customer_id), found, "and a retry cannot duplicate it")

    def test_nothing_stored_is_nothing_found(self):
        document, _customer_id = self.lose_the_create_answer("reset_before")
        self.assertIsNone(self.client.find_document(document, {"oid": document.key}))

    def test_other_documents_are_not_ours(self):
        self.create_invoice("move-00001")
        self.create_invoice("move-00010")
        self.assertIsNone(self.client.find_document(make_document("move-0001", []), {"oid": "move-0001"}))

    def test_two_documents_with_our_oid_go_to_a_person(self):
        document, _first = self.create_invoice()
        # Made by hand in Fakturownia, with the same order number and no oid_unique:
        invoice = self.sent_invoices()[0]["invoice"]
        requests.post(f"{self.sandbox.account_url(NAME)}/invoices.json", timeout=10,
                      json={"api_token": TOKEN, "invoice": {**invoice, "oid_unique": None}}).raise_for_status()
        with self.assertRaises(OutcomeUnknown) as caught:
            self.client.find_document(document, {"oid": document.key})
        self.assertIn("several documents for FV/2026/00001 (FV/1/2026, FV/2/2026)", caught.exception.message)


@tagged("post_install", "-at_install")
class TestFakturowniaCorrections(FakturowniaSandboxCase):

    def send_original(self, lines):
        return self.create_invoice("move-00001", lines=lines)

    def credit_note(self, original_doc, original_ref, lines, key="move-00002", **values):
        return make_document(key, lines, kind=CREDIT_NOTE, original=original_ref, original_lines=original_doc.lines,
                             original_reference=original_doc.reference, correction_reason="Zwrot towaru", **values)

    def test_fewer_units_shaped_as_the_readme_example(self):
        original_doc, original = self.send_original([make_line("Tort", "3", "33.33", discount="10"),
                                                     make_line("Woda", "4", "19.90")])
        credit = self.credit_note(original_doc, original, [make_line("Tort", "1", "33.33", discount="10")])
        ref = self.client.create_document(credit, self.client.upsert_customer(credit.customer))
        invoice = self.sent_invoices()[-1]["invoice"]
        self.assertEqual(
            {k: invoice[k] for k in ("kind", "invoice_id", "from_invoice_id", "correction_reason", "client_id")},
            {"kind": "correction", "invoice_id": int(original.id), "from_invoice_id": int(original.id),
             "correction_reason": "Zwrot towaru", "client_id": self.state()["clients"][0]["id"]},
        )
        self.assertEqual(invoice["positions"], [{
            "name": "Tort", "quantity": "-1", "price_net": "33.33", "tax": 23, "discount_percent": "10",
            "quantity_unit": "szt", "kind": "correction",
            "correction_before_attributes": {"name": "Tort", "quantity": "3", "price_net": "33.33", "tax": 23,
                                             "discount_percent": "10", "quantity_unit": "szt",
                                             "kind": "correction_before"},
            "correction_after_attributes": {"name": "Tort", "quantity": "2", "price_net": "33.33", "tax": 23,
                                            "discount_percent": "10", "quantity_unit": "szt",
                                            "kind": "correction_after"},
        }])
        stored = self.stored(ref)
        self.assertEqual(Decimal(stored["price_net"]), -credit.amount_untaxed)
        self.assertEqual(-Decimal(stored["price_gross"]), ARITHMETIC.totals(credit.lines).total)

    def test_a_lower_price_and_a_whole_line(self):
        original_doc, original = self.send_original([make_line("Tort", "3", "33.33"), make_line("Woda", "4", "19.90")])
        credit = self.credit_note(original_doc, original, [make_line("Tort", "3", "3.33"), make_line("Woda", "4", "19.90")])
        self.client.create_document(credit, self.client.upsert_customer(credit.customer))
        tort, woda = self.sent_invoices()[-1]["invoice"]["positions"]
        self.assertEqual((tort["quantity"], tort["price_net"], tort["correction_after_attributes"]["price_net"]),
                         ("3", "-3.33", "30"))
        self.assertEqual((woda["quantity"], woda["correction_after_attributes"]["quantity"]), ("-4", "0"))

    def test_what_a_before_after_correction_cannot_state_is_refused_in_words(self):
        original_doc, original = self.send_original([make_line("Tort", "3", "33.33")])
        cases = [
            ([make_line("Sernik", "1", "10")], "names no line of the invoice"),
            ([make_line("Tort", "1", "30")], "changes both the quantity and the unit price"),
            ([make_line("Tort", "4", "33.33")], "credits more than it"),
            ([make_line("Tort", "1", "33.33", rate="8")], "has another VAT rate"),
        ]
        calls = len(self.sandbox.requests)
        for lines, words in cases:
            with self.assertRaises(Rejected) as caught:
                self.client.create_document(self.credit_note(original_doc, original, lines), "1")
            self.assertIn(words, caught.exception.message)
        with self.assertRaises(Rejected) as caught:
            self.client.create_document(self.credit_note(original_doc, None, [make_line("Tort", "1", "33.33")]), "1")
        self.assertIn("Send the original invoice first", caught.exception.message)
        self.assertEqual(len(self.sandbox.requests), calls)

    def test_a_credited_cent_of_global_rounding_has_its_own_position(self):
        original_doc, original = self.send_original([make_line("Ciasto", "3", "3.33", subtotal="10.00")])
        credit = self.credit_note(original_doc, original, [make_line("Ciasto", "3", "3.33", subtotal="10.00")])
        ref = self.client.create_document(credit, self.client.upsert_customer(credit.customer))
        positions = self.sent_invoices()[-1]["invoice"]["positions"]
        self.assertEqual([(p["name"], p["quantity"], p["price_net"]) for p in positions],
                         [("Ciasto", "-3", "3.33"), ("Zaokrąglenie – Ciasto", "-1", "0.01")])
        self.assertEqual(Decimal(self.stored(ref)["price_net"]), Decimal("-10.00"))

    def test_a_customer_deleted_in_fakturownia_is_told(self):
        customer_id = self.client.upsert_customer(make_party())
        self.sandbox.reset()
        self.sandbox.add_account(NAME, TOKEN)
        with self.assertRaises(CustomerGone):
            self.client.create_document(make_document("move-00001", [make_line("Chleb", "1", "1")]), customer_id)


class KsefCase(FakturowniaSandboxCase):
    ksef = True

    def setUp(self):
        super().setUp()
        self.client = self.make_client(send_to_ksef=True)


@tagged("post_install", "-at_install")
class TestFakturowniaKsef(KsefCase):

    def test_accepted_by_ksef(self):
        _document, ref = self.create_invoice()
        self.assertIs(self.sent_invoices()[0]["gov_save_and_send"], True)
        pending = self.client.document_status(ref)
        self.assertEqual((pending.authority_status, pending.authority_number), (AUTHORITY_PENDING, ""))
        self.wait_for_ksef()
        accepted = self.client.document_status(ref)
        self.assertEqual(accepted.authority_status, AUTHORITY_ACCEPTED)
        self.assertRegex(accepted.authority_number, rf"^{SELLER_NIP}-\d{{8}}-[0-9A-F]{{12}}$")
        self.assertTrue(accepted.authority_link.startswith("https://ksef.mf.gov.pl/web/verify/"))
        self.assertFalse(accepted.authority_demo)
        asked = self.api_requests("GET", f"/invoices/{ref.id}.json")[-1]["query"]["additional_fields[invoice]"]
        self.assertTrue({"gov_status", "gov_id", "gov_error_messages", "gov_verification_link",
                         "connected_payments"}.issubset(asked.split(",")), "asked for explicitly (doc note 12)")

    def test_refused_then_failed_then_resubmitted(self):
        self.sandbox.force_ksef_outcome(NAME, "send_error", ["Błąd weryfikacji: NIP nabywcy"])
        self.sandbox.force_ksef_outcome(NAME, "server_error")
        _document, ref = self.create_invoice()
        self.wait_for_ksef()
        rejected = self.client.document_status(ref)
        self.assertEqual((rejected.authority_status, rejected.authority_messages),
                         (AUTHORITY_REJECTED, ("Błąd weryfikacji: NIP nabywcy",)))
        self.client.resubmit_to_authority(ref)
        self.assertEqual(self.api_requests("GET", f"/invoices/{ref.id}.json")[-1]["query"]["send_to_ksef"], "yes")
        self.assertEqual(self.client.document_status(ref).authority_status, AUTHORITY_PENDING)
        self.wait_for_ksef()
        self.assertEqual(self.client.document_status(ref).authority_status, AUTHORITY_FAILED)
        self.client.resubmit_to_authority(ref)
        self.wait_for_ksef()
        self.assertEqual(self.client.document_status(ref).authority_status, AUTHORITY_ACCEPTED)

    def test_an_error_under_http_200_is_an_error(self):
        _document, ref = self.create_invoice()
        transport = HttpTransport(self.sandbox.account_url(NAME), dialect=FakturowniaDialect(), user_agent=USER_AGENT)
        with self.assertRaises(Rejected) as caught:
            transport.request("send_by_email", "POST", f"invoices/{ref.id}/send_by_email.json",
                              json={"api_token": TOKEN})
        self.assertIn("Faktura nie może zostać wysłana - brak numeru KSeF", caught.exception.message)
        self.assertEqual(caught.exception.status, 200)

    def test_ksef_files_once_accepted(self):
        _document, ref = self.create_invoice()
        self.assertEqual(self.client.authority_documents(ref), ())
        self.wait_for_ksef()
        number = self.client.document_status(ref).authority_number
        xml, upo = self.client.authority_documents(ref)
        self.assertEqual((xml.name, upo.name), (f"KSeF {number}.xml", f"UPO {number}.xml"))
        self.assertIn(b"<Faktura", xml.content)
        self.assertIn(number.encode(), upo.content)
        self.sandbox.inject("status", path=r"/attachment$", status=404, body={"code": "error", "message": "Brak pliku"})
        self.assertEqual(self.client.authority_documents(ref), (), "the UPO of a batch may come within the hour")

    def test_cancel_is_refused_once_in_ksef(self):
        _document, ref = self.create_invoice()
        self.wait_for_ksef()
        with self.assertRaises(Rejected) as caught:
            self.client.cancel_document(ref)
        self.assertIn("issue a credit note for the whole invoice (a correction to zero)", caught.exception.message)
        self.assertEqual(self.client.document_status(ref).status, REMOTE_OPEN)

    def test_a_correction_in_ksef_points_at_the_corrected_number(self):
        original_doc, original = self.create_invoice(lines=[make_line("Tort", "2", "50")])
        self.wait_for_ksef()
        credit = make_document("move-00002", [make_line("Tort", "2", "50")], kind=CREDIT_NOTE, original=original,
                               original_lines=original_doc.lines, original_reference=original_doc.reference,
                               reverses_whole_original=True)
        ref = self.client.create_document(credit, self.client.upsert_customer(credit.customer))
        self.assertEqual(self.stored(ref)["gov_corrected_invoice_number"],
                         self.client.document_status(original).authority_number)
        self.assertEqual(self.stored(ref)["correction_reason"], "Korekta FV/2026/00001")

    def test_the_ksef_validation_refusal_names_the_fields(self):
        # A client card made in Fakturownia, whose data override the invoice's buyer fields:
        self.sandbox.add_client(NAME, name="Hurtownia", tax_no="9876543210", phone="+48 12 345 67 89 01",
                                external_id="res.partner-7")
        document = make_document("move-00001", [make_line("Chleb", "1", "1")])
        with self.assertRaises(Rejected) as caught:
            self.client.create_document(document, self.client.customer_by_key("res.partner-7").id)
        self.assertEqual(caught.exception.field_errors,
                         {"buyer_phone": ["pole jest za długie (maksymalna ilość znaków: 16)"]})


@tagged("post_install", "-at_install")
class TestFakturowniaKsefDemo(KsefCase):
    demo = True

    def test_demo_statuses_are_told_apart(self):
        _document, ref = self.create_invoice()
        self.assertEqual((self.client.document_status(ref).authority_status,
                          self.client.document_status(ref).authority_demo), (AUTHORITY_PENDING, True))
        self.wait_for_ksef()
        status = self.client.document_status(ref)
        self.assertEqual((status.authority_status, status.authority_demo), (AUTHORITY_ACCEPTED, True))
        self.assertTrue(status.authority_link.startswith("https://ksef-demo.mf.gov.pl/"))
        self.client.cancel_document(ref, reason="Test")
        self.assertEqual(self.client.document_status(ref).status, REMOTE_CANCELLED, "DEMO locks nothing")


@tagged("post_install", "-at_install")
class TestFakturowniaStatusAndPayments(FakturowniaSandboxCase):

    def payment(self, amount, key="pay-1", paid_on=date(2026, 3, 10)):
        return PaymentInfo(key=key, amount=Decimal(amount), currency="PLN", paid_on=paid_on, reference="BNK1/2026/0001")

    def test_without_ksef_nothing_goes_to_the_authority(self):
        _document, ref = self.create_invoice()
        status = self.client.document_status(ref)
        self.assertEqual((status.status, status.authority_status, status.total, status.remaining),
                         (REMOTE_OPEN, AUTHORITY_NOT_APPLICABLE, Decimal("55.35"), Decimal("55.35")))
        sending = self.make_client(send_to_ksef=True)
        _document, ref = self.create_invoice("move-00002", client=sending)
        self.assertEqual(sending.document_status(ref).authority_status, AUTHORITY_NOT_APPLICABLE, "not connected")

    def test_payments_settle_and_their_deletion_reopens(self):
        _document, ref = self.create_invoice()
        first = self.client.record_payment(ref, self.payment("20.35"))
        sent = self.api_requests("POST", "/banking/payments.json")[0]
        self.assertEqual((sent["query"], sent["json"]["banking_payment"]), ({}, {
            "name": "BNK1/2026/0001", "price": "20.35", "invoice_id": int(ref.id), "paid": True, "kind": "api",
            "paid_date": "2026-03-10", "currency": "PLN", "description": "Odoo pay-1"}))
        partial = self.client.document_status(ref)
        self.assertEqual((partial.status, partial.paid_amount, partial.remaining),
                         (REMOTE_PARTIALLY_PAID, Decimal("20.35"), Decimal("35.00")))
        second = self.client.record_payment(ref, self.payment("35", key="pay-2", paid_on=date(2026, 3, 12)))
        paid = self.client.document_status(ref)
        self.assertEqual((paid.status, paid.paid, paid.paid_on), (REMOTE_PAID, True, date(2026, 3, 12)))
        self.assertEqual([(p.id, p.amount) for p in paid.payments], [(first, Decimal("20.35")), (second, Decimal("35"))])
        self.client.delete_payment(ref, second)
        self.client.delete_payment(ref, second)  # already gone: fine
        self.assertEqual(self.api_requests("DELETE", f"/banking/payments/{second}.json")[0]["query"]["api_token"], TOKEN)
        self.assertEqual(self.client.document_status(ref).status, REMOTE_PARTIALLY_PAID)

    def test_a_payment_made_in_fakturownia_and_a_sent_invoice(self):
        _document, ref = self.create_invoice()
        requests.post(f"{self.sandbox.account_url(NAME)}/invoices/{ref.id}/send_by_email.json",
                      params={"api_token": TOKEN}, timeout=10).raise_for_status()
        self.assertEqual(self.client.document_status(ref).status, REMOTE_SENT)
        self.sandbox.pay_in_ui(NAME, int(ref.id), "55.35", date(2026, 3, 5))
        status = self.client.document_status(ref)
        self.assertEqual((status.status, status.paid_on, len(status.payments)), (REMOTE_PAID, date(2026, 3, 5), 1))

    def test_a_lost_payment_answer_shows_in_the_status(self):
        _document, ref = self.create_invoice()
        self.sandbox.inject("reset_after_store", method="POST", path=r"/banking/payments\.json$")
        with self.assertRaises(MaybeCreated):
            self.client.record_payment(ref, self.payment("10"))
        self.assertEqual([p.amount for p in self.client.document_status(ref).payments], [Decimal("10")])

    def test_cancel(self):
        _document, ref = self.create_invoice()
        self.client.cancel_document(ref, reason="Błędny nabywca")
        status = self.client.document_status(ref)
        self.assertEqual((status.status, status.cancelled), (REMOTE_CANCELLED, True))
        self.assertEqual(self.api_requests("POST", "/invoices/cancel.json")[0]["json"],
                         {"api_token": TOKEN, "cancel_invoice_id": int(ref.id), "cancel_reason": "Błędny nabywca"})


@tagged("post_install", "-at_install")
class TestFakturowniaRegistration(BaseCase):

    def test_registered_with_its_capabilities(self):
        client = CLIENT_CLASSES["fakturownia"]
        self.assertIs(client, FakturowniaClient)
        capabilities = client.capabilities
        self.assertEqual((capabilities.label, capabilities.tax_authority.system, capabilities.numbering_label,
                          capabilities.call_limit), ("Fakturownia", "KSeF", "Department", (30, 10)))
        self.assertIn("invoiceocean.com", capabilities.api_domains)
        self.assertIs(capabilities.arithmetic, ARITHMETIC)
        self.assertEqual(next(iter(CLIENT_CLASSES)), "fakturoid", "the first engine stays the default")
