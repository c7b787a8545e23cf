"""What only Fakturownia does in Odoo: the account link and token, departments per journal,
clients, its wire fields, KSeF's rules and statuses, corrections, cancelling and payments.

The engine-neutral parts of the same flows run for Fakturownia from ``test_send_flow.py``,
``test_faults.py``, ``test_payments.py``, ``test_bad_input.py``, ``test_readback.py``,
``test_concurrency.py`` and ``test_golden_payloads.py``.
"""
import json
from datetime import timedelta
from decimal import Decimal

from freezegun import freeze_time

from odoo import SUPERUSER_ID, Command, api, fields
from odoo.exceptions import AccessError, UserError, ValidationError
from odoo.modules.neutralize import get_neutralization_queries
from odoo.tests import new_test_user, tagged

from ..engines.document import TAX_EXEMPT, TAX_NOT_SUBJECT, TAX_REVERSE_CHARGE
from .harness_fakturownia import ACCOUNT, TOKEN, FakturowniaCase

EXEMPTION_BASIS = "art. 43 ust. 1 pkt 37 ustawy o VAT"


class FakturowniaFlowCase(FakturowniaCase):

    def sent_invoice_payload(self, index=-1):
        return self.harness.requests("create_document")[index]["json"]

    def connection_test(self):
        """``(kind, message)`` of the notification "Test connection" shows."""
        params = self.engine.action_test_connection()["params"]
        return params["type"], params["message"]

    def set_credentials(self, base_url=None, token=TOKEN):
        self.engine.write({"base_url": base_url or self.harness.account_url, "fakturownia_api_token_input": token})

    def run_status_job(self, **delta):
        """The status read-back job, ``delta`` (as for ``timedelta``) from now."""
        self.env.flush_all()
        with freeze_time(fields.Datetime.now() + timedelta(**delta)), self.registry.cursor() as cr:
            api.Environment(cr, SUPERUSER_ID, {})["invoice.engine"]._cron_refresh_status()
        self.env.invalidate_all()

    def map_tax(self, name, kind, code="", amount=0.0):
        tax = self._create_sale_tax(name, amount)
        self.env["invoice.engine.tax"].create({
            "engine_id": self.engine.id, "tax_id": tax.id, "kind": kind, "vat_rate": 0.0, "engine_code": code,
        })
        return tax

    def assert_refused_before_any_call(self, move, *fragments):
        self.assertEqual(move.engine_state, "error")
        for fragment in fragments:
            self.assertIn(fragment, move.engine_error)
        self.assertFalse(self.sandbox.requests, "not a single call to Fakturownia")


@tagged("post_install", "-at_install")
class TestFakturowniaConnection(FakturowniaFlowCase):
    """Test connection reads the departments and says in words what is wrong."""

    def test_departments_are_loaded(self):
        self.assertEqual(self.engine.state, "connected")
        self.assertEqual(self.engine.remote_account_name, "Testowa Sp. z o.o.")
        self.assertEqual(
            [(numbering.name, numbering.is_default) for numbering in self.engine.numbering_ids],
            [("Testowa Sp. z o.o. (Centrala)", True), ("Testowa Sp. z o.o. Oddział Kraków (Kraków)", False)],
        )
        self.assertEqual(self.engine.numbering_label, "Department")

    def test_wrong_token(self):
        self.engine.fakturownia_api_token_input = "not-the-token"
        kind, message = self.connection_test()
        self.assertEqual(kind, "danger")
        self.assertIn("the API token is wrong", message)
        self.assertIn("API authorisation code", message)
        self.assertEqual(self.engine.state, "error")

    def test_wrong_account_name(self):
        self.set_credentials(self.sandbox.account_url("nieznana"))
        kind, message = self.connection_test()
        self.assertEqual(kind, "danger")
        self.assertIn("the account name is wrong", message)

    def test_a_web_page_instead_of_data(self):
        self.sandbox.inject("html", method="GET", path=r"/departments\.json$", status=200, title="Fakturownia")
        kind, message = self.connection_test()
        self.assertEqual(kind, "danger")
        self.assertIn("web page instead of data (HTTP 200)", message)
        self.assertIn("Check the Account link", message)
        self.assertNotIn("retried automatically", message, "a connection test is not retried")

    def test_an_error_under_http_200(self):
        self.sandbox.inject("status", method="GET", path=r"/departments\.json$", status=200,
                            body={"status": "error", "message": "Konto zostało zablokowane"})
        kind, message = self.connection_test()
        self.assertEqual(kind, "danger")
        self.assertIn("Fakturownia refused the request: “Konto zostało zablokowane”", message)
        self.assertIn("HTTP 200 with an error", message)

    def test_no_token(self):
        self.engine.sudo().fakturownia_api_token = False
        kind, message = self.connection_test()
        self.assertEqual(kind, "danger")
        self.assertIn("Ustawienia › Ustawienia konta › Integracja › Kod autoryzacyjny API", message)
        self.assertFalse(self.sandbox.requests)

    def test_both_token_kinds_work(self):
        self.set_credentials(token=f"{TOKEN}/{ACCOUNT}")
        self.assertEqual(self.connection_test()[0], "success")
        # The generic host (app.fakturownia.pl; here the sandbox's root) learns the account from the prefix.
        before = len(self.sandbox.requests)
        self.set_credentials(self.sandbox.api_url, f"{TOKEN}/{ACCOUNT}")
        self.assertEqual(self.connection_test()[0], "success")
        move = self.create_invoice()
        self.run_queue()
        self.assertEqual(move.engine_state, "sent")
        self.assertFalse([request for request in self.sandbox.requests[before:] if request["path"].startswith("/a/")])

    def test_the_generic_host_needs_a_prefixed_token(self):
        self.set_credentials("https://app.fakturownia.pl", TOKEN)
        kind, message = self.connection_test()
        self.assertEqual(kind, "danger")
        self.assertIn("give the account link", message)  # said without calling anyone
        self.set_credentials("https://inna.fakturownia.pl", f"{TOKEN}/{ACCOUNT}")
        self.assertIn("the account link names “inna”", self.connection_test()[1])

    def test_the_account_link_as_a_name_or_an_address(self):
        for typed in ("firma", "FIRMA", "firma.fakturownia.pl", "https://firma.fakturownia.pl/invoices/12"):
            self.engine.base_url = typed
            self.assertEqual(self.engine.base_url, "https://firma.fakturownia.pl", typed)
        self.engine.base_url = "app.fakturownia.pl"
        self.assertEqual(self.engine.base_url, "https://app.fakturownia.pl")
        with self.assertRaisesRegex(ValidationError, "“moja firma” is not a Fakturownia account name"):
            self.engine.base_url = "moja firma"

    def test_the_token_goes_with_the_account_link(self):
        self.engine.base_url = self.harness.account_url + "/"  # the same account: kept
        self.assertTrue(self.engine.has_fakturownia_api_token)
        self.engine.base_url = "firma"
        self.assertFalse(self.engine.sudo().fakturownia_api_token, "another account: the token is cleared")
        self.assertEqual(self.engine.state, "draft")


@tagged("post_install", "-at_install")
class TestFakturowniaToken(FakturowniaFlowCase):
    """The API token is write-only: never sent to the browser, read by administrators only."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.manager = new_test_user(
            cls.env, login="fakturownia_manager", company_id=cls.company.id, company_ids=[cls.company.id],
            groups="account.group_account_manager,base.group_user",
        )

    def test_never_sent_to_the_browser_nor_read_by_a_manager(self):
        engine = self.engine.with_user(self.manager)
        views = engine.get_views([(False, "form")])
        spec = {name: {} for name in views["models"]["invoice.engine"]["fields"]}
        self.assertIn("fakturownia_api_token_input", spec)
        payload = json.dumps(engine.web_read(spec), default=str)
        self.assertNotIn(TOKEN, payload)
        self.assertIn('"has_fakturownia_api_token": true', payload)
        with self.assertRaises(AccessError):
            engine.read(["fakturownia_api_token"])
        with self.assertRaises(AccessError):
            engine.write({"fakturownia_api_token_input": "mine"})

    def test_not_in_the_call_log_nor_the_chatter(self):
        self.create_invoice()
        self.run_queue()
        logs = self.env["invoice.engine.log"].search([("engine_id", "=", self.engine.id)])
        texts = logs.mapped(lambda log: f"{log.url}{log.request_excerpt}{log.response_excerpt}")
        texts += self.env["mail.message"].search([]).mapped(lambda message: message.body or "")
        self.assertTrue(logs)
        self.assertNotIn(TOKEN, "\n".join(texts))

    def test_neutralized_copy_forgets_it(self):
        for query in get_neutralization_queries(["account_invoice_engine"]):
            self.env.cr.execute(query)
        self.env.invalidate_all()
        self.assertFalse(self.engine.sudo().fakturownia_api_token)
        self.assertFalse(self.engine.auto_send)


@tagged("post_install", "-at_install")
class TestFakturowniaDepartments(FakturowniaFlowCase):
    """A sales journal is a sales channel: its department and whether posting sends."""

    def test_each_channel_its_department_and_its_sending(self):
        shop = self.sale_journal.copy({"name": "Sklep internetowy", "code": "SKL"})
        self.sale_journal.write({"invoice_engine_numbering_id": self.department_main.id,
                                 "invoice_engine_auto_send": "auto"})
        shop.write({"invoice_engine_numbering_id": self.department_branch.id, "invoice_engine_auto_send": "manual"})
        office = self.create_invoice()
        online = self.create_invoice(journal_id=shop.id)
        self.assertEqual((office.engine_state, online.engine_state), ("queued", False))
        online.action_engine_send()
        self.run_queue()
        self.assertEqual(self.remote_invoice(office)["department_id"], int(self.department_main.remote_id))
        self.assertEqual(self.remote_invoice(online)["department_id"], int(self.department_branch.remote_id))
        self.assertEqual(self.remote_invoice(online)["seller_city"], "Kraków")
        self.assertTrue(online.engine_number.startswith("FV/Kraków/"), "numbered in the branch's series")

    def test_the_engine_keeps_the_defaults(self):
        self.engine.write({"numbering_id": self.department_branch.id, "auto_send": False})
        move = self.create_invoice()
        self.assertFalse(move.engine_state)
        move.action_engine_send()
        self.run_queue()
        self.assertEqual(self.remote_invoice(move)["department_id"], int(self.department_branch.remote_id))

    def test_a_correction_keeps_the_department_of_its_invoice(self):
        invoice = self.create_invoice()
        self.run_queue()
        self.engine.refund_numbering_id = self.department_branch
        self.reset_sandbox()
        credit_note = self.refund(invoice)
        self.run_queue()
        self.assert_refused_before_any_call(credit_note, "a correction keeps the seller of its invoice",
                                            "Oddział Kraków")


@tagged("post_install", "-at_install")
class TestFakturowniaClients(FakturowniaFlowCase):

    def test_created_once_with_our_external_id_and_updated_when_the_partner_changes(self):
        first = self.create_invoice()
        self.run_queue()
        [client] = self.remote("clients")
        self.assertEqual(client["external_id"], f"odoo-{first._engine_db_tag()}-partner-{self.customer_pl.id}")
        self.assertEqual((client["tax_no"], client["tax_no_kind"], client["company"]), ("7740001454", "", True))
        self.create_invoice()
        self.run_queue()
        self.assertFalse(self.requests_to("/clients/", "PUT"), "unchanged partner: no update")
        self.customer_pl.street = "ul. Nowa 1"
        self.create_invoice()
        self.run_queue()
        self.assertEqual(len(self.requests_to("/clients/", "PUT")), 1)
        [client] = self.remote("clients")
        self.assertEqual(client["street"], "ul. Nowa 1")
        self.assertEqual(len(self.remote()), 3)

    def test_an_existing_client_is_matched_by_tax_number(self):
        existing = self.sandbox.add_client(ACCOUNT, name="Kowalski (hurt)", tax_no="774-000-14-54")
        move = self.create_invoice()
        self.run_queue()
        [client] = self.remote("clients")
        self.assertEqual(client["id"], existing["id"], "adopted, not duplicated")
        self.assertEqual(client["external_id"], f"odoo-{move._engine_db_tag()}-partner-{self.customer_pl.id}")
        self.assertEqual(self.remote_invoice(move)["client_id"], existing["id"])

    def test_then_by_e_mail(self):
        person = self.env["res.partner"].create({
            "name": "Anna Nowak", "email": "anna@nowak.example", "country_id": self.env.ref("base.pl").id,
        })
        existing = self.sandbox.add_client(ACCOUNT, company=False, first_name="Anna", last_name="Nowak",
                                           email="ANNA@nowak.example")
        self.create_invoice(partner=person)
        self.run_queue()
        self.assertEqual([client["id"] for client in self.remote("clients")], [existing["id"]])

    def test_every_invoice_says_whether_the_buyer_is_a_company_and_its_tax_number_kind(self):
        person = self.env["res.partner"].create({
            "name": "Anna Maria Nowak", "country_id": self.env.ref("base.pl").id, "city": "Gdańsk",
        })
        # base_vat (installed with l10n_ro in the test database) wants "CHE-… MWST"; a number entered
        # before it was installed looks like this
        swiss = self.env["res.partner"].with_context(no_vat_validation=True).create({
            "name": "Uhren AG", "is_company": True, "country_id": self.env.ref("base.ch").id,
            "vat": "CHE-116.281.710",
        })
        for partner in (self.customer_pl, self.customer_de, person, swiss):
            self.create_invoice(partner=partner, lines=[(self.product_23, 1, 100.0)])
        self.run_queue()
        sent = [request["json"]["invoice"] for request in self.harness.requests("create_document")]
        self.assertEqual(
            [(invoice["buyer_company"], invoice["buyer_tax_no"], invoice["buyer_tax_no_kind"]) for invoice in sent],
            [(True, "7740001454", ""), (True, "DE143454214", "nip_ue"), (False, "", "empty"),
             (True, "CHE116281710", "other")],
        )
        self.assertEqual((sent[2]["buyer_first_name"], sent[2]["buyer_last_name"]), ("Anna Maria", "Nowak"))
        self.assertFalse(self.remote("clients")[2]["company"])


@tagged("post_install", "-at_install")
class TestFakturowniaInvoices(FakturowniaFlowCase):

    def test_invoice_fields(self):
        eur = self.setup_other_currency("EUR", rates=[("2026-01-01", 0.25)])  # 4 PLN per EUR
        move = self.create_invoice(
            currency_id=eur.id, lines=[(self.product_23, 2, 100.0)], invoice_date_due="2026-11-16",
            delivery_date="2026-10-31", narration="<p>Dziękujemy za zamówienie.</p>",
        )
        self.run_queue()
        invoice = self.sent_invoice_payload()["invoice"]
        self.assertEqual(
            {key: invoice[key] for key in ("kind", "issue_date", "sell_date", "payment_to", "payment_to_kind",
                                           "payment_type", "currency", "exchange_currency", "exchange_kind",
                                           "exchange_currency_rate", "lang", "oid", "oid_unique", "description")},
            {"kind": "vat", "issue_date": "2026-11-02", "sell_date": "2026-10-31", "payment_to": "2026-11-16",
             "payment_to_kind": "other_date", "payment_type": "transfer", "currency": "EUR",
             "exchange_currency": "PLN", "exchange_kind": "own", "exchange_currency_rate": "4", "lang": "en",
             "oid": move._engine_key(), "oid_unique": "yes", "description": "Dziękujemy za zamówienie."},
        )
        self.assertEqual(invoice["client_id"], self.remote_invoice(move)["client_id"])
        self.assertEqual(invoice["positions"], [
            {"name": "Konzultace", "quantity": "2", "price_net": "100", "tax": 23, "quantity_unit": "Units"},
        ])
        self.assertEqual(Decimal(self.remote_invoice(move)["price_gross"]), Decimal("246.00"))

    def test_positions_carry_the_rate_or_zw_np_oo(self):
        exempt = self.map_tax("VAT zw", TAX_EXEMPT, EXEMPTION_BASIS)
        not_subject = self.map_tax("VAT np", TAX_NOT_SUBJECT, "export_service")
        reverse = self.map_tax("VAT oo", TAX_REVERSE_CHARGE)
        move = self.create_invoice(lines=[
            (self.product_23, 1, 100.0), (self.product_8, 1, 100.0), (self.product_23, 1, 50.0, 0.0, exempt),
            (self.product_23, 1, 40.0, 0.0, not_subject), (self.product_23, 1, 30.0, 0.0, reverse),
        ])
        self.run_queue()
        self.assertEqual(move.engine_state, "sent", move.engine_error)
        invoice = self.sent_invoice_payload()["invoice"]
        self.assertEqual([position["tax"] for position in invoice["positions"]], [23, 8, "zw", "np", "oo"])
        self.assertEqual((invoice["exempt_tax_kind"], invoice["np_tax_kind"], invoice["reverse_charge"]),
                         (EXEMPTION_BASIS, "export_service", True))
        self.assertEqual(Decimal(self.remote_invoice(move)["price_gross"]), Decimal(str(move.amount_total)))

    def test_discounts_are_honoured_to_the_cent(self):
        for rounding in ("round_globally", "round_per_line"):
            self.company.tax_calculation_rounding_method = rounding
            move = self.create_discounted_invoice()
            self.run_queue()
            invoice = self.sent_invoice_payload()["invoice"]
            self.assertEqual((invoice["show_discount"], invoice["discount_kind"]), (True, "percent_total"))
            self.assertEqual([position.get("discount_percent") for position in invoice["positions"][:2]],
                             ["7.5", "12.5"])
            remote = self.remote_invoice(move)
            self.assertEqual(
                (Decimal(remote["price_net"]), Decimal(remote["price_tax"]), Decimal(remote["price_gross"])),
                (Decimal(str(move.amount_untaxed)), Decimal(str(move.amount_tax)), Decimal(str(move.amount_total))),
                rounding,
            )
            self.assertFalse(move.engine_total_mismatch)

    def test_pdf_is_attached(self):
        move = self.create_invoice()
        self.run_queue()
        [download] = self.harness.requests("fetch_pdf")
        self.assertTrue(download["path"].endswith(f"/invoices/{move.engine_remote_id}.pdf"))
        self.assertEqual(move.engine_pdf_id.name, f"{move.engine_number.replace('/', '-')}.pdf")
        self.assertIn(move.engine_number.encode(), move.engine_pdf_id.raw)


@tagged("post_install", "-at_install")
class TestFakturowniaRulesBeforeAnyCall(FakturowniaFlowCase):
    """What KSeF and Fakturownia would refuse stops the invoice before any call, in words."""

    def test_ksef_field_limits(self):
        self.customer_pl.phone = "+48 12 345 67 89 wew. 120"
        move = self.create_invoice(lines=[(self.product_23, 1, 100.0)], narration="Uwaga " * 50, post=False)
        move.invoice_line_ids.name = "Usługa " * 40
        move.action_post()
        self.run_queue()
        self.assert_refused_before_any_call(
            move, "The phone number of Hurtownia Kowalski Sp. z o.o. has 25 characters; KSeF accepts at most 16",
            "has a description of 279 characters; KSeF accepts at most 256", "note on the invoice has 299 characters",
        )

    def test_exempt_and_not_subject_taxes_need_their_basis(self):
        exempt = self.map_tax("VAT zw", TAX_EXEMPT)
        not_subject = self.map_tax("VAT np", TAX_NOT_SUBJECT)
        move = self.create_invoice(lines=[(self.product_23, 1, 100.0, 0.0, exempt),
                                          (self.product_23, 1, 100.0, 0.0, not_subject)])
        self.run_queue()
        self.assert_refused_before_any_call(
            move, "The tax “VAT zw” is mapped as exempt (zw): KSeF requires its legal basis. Fill in its Exemption basis",
            "The tax “VAT np” is mapped as not subject to VAT (np)", "VAT rates",
        )
        mappings = self.engine.tax_mapping_ids
        mappings.filtered(lambda mapping: mapping.tax_id == exempt).engine_code = EXEMPTION_BASIS
        mappings.filtered(lambda mapping: mapping.tax_id == not_subject).engine_code = "export_service"
        move.action_engine_send()
        self.run_queue()
        self.assertEqual(move.engine_state, "sent", move.engine_error)

    def test_a_line_without_tax_is_not_subject_and_needs_a_reason(self):
        move = self.create_invoice(lines=[(self.product_23, 1, 100.0, 0.0, self.env["account.tax"])])
        self.run_queue()
        self.assert_refused_before_any_call(move, "has no tax: Fakturownia sends it as not subject to VAT (np)")

    def test_a_vat_free_kind_on_a_taxed_odoo_tax(self):
        move = self.create_invoice()  # posted at 23 %, then the tax is mapped as exempt
        self.env["invoice.engine.tax"].create({"engine_id": self.engine.id, "tax_id": self.vat_23.id,
                                               "kind": TAX_EXEMPT, "vat_rate": 0.0, "engine_code": EXEMPTION_BASIS})
        self.run_queue()
        self.assert_refused_before_any_call(
            move, "The tax “VAT 23 %” is mapped as exempt (zw) for Fakturownia, which computes no VAT for such lines, "
            "while Odoo charges it (23)")


@tagged("post_install", "-at_install")
class TestFakturowniaExactlyOnce(FakturowniaFlowCase):
    """``oid`` with ``oid_unique``: a document is found by its oid before anything else is created."""

    def test_a_duplicate_oid_refusal_links_the_document_that_exists(self):
        move = self.create_invoice()
        # An earlier attempt stored it, and Odoo was then told that none exists (Confirm none exists).
        client = self.sandbox.add_client(ACCOUNT, name="Hurtownia Kowalski Sp. z o.o.", tax_no="7740001454")
        earlier = self.harness._as_accountant("POST", "invoices.json", {"invoice": {
            "oid": move._engine_key(), "oid_unique": "yes", "issue_date": "2026-11-02", "client_id": client["id"],
            "positions": [{"name": "Konzultace", "quantity": 2, "price_net": "1000", "tax": 23}],
        }})
        self.run_queue()
        self.assertEqual(move.engine_state, "sent")
        self.assertEqual(move.engine_remote_id, str(earlier["id"]))
        self.assertEqual(len(self.harness.documents()), 1)
        [refused] = self.harness.requests("create_document")[1:]
        self.assertEqual(refused["status"], 422, "Fakturownia refused the second invoice with our oid")
        [lookup] = self.harness.requests("find_document")
        self.assertEqual(lookup["query"]["oid"], move._engine_key())

    def test_a_lost_answer_is_found_by_its_oid(self):
        move = self.create_invoice()
        self.harness.inject("reset_after_store", "create_document")
        self.run_queue()
        self.assertEqual(move.engine_state, "sending")
        self.run_queue_later(minutes=2)
        self.assertEqual(move.engine_state, "sent")
        [lookup] = self.harness.requests("find_document")
        self.assertEqual((lookup["query"]["oid"], lookup["query"]["date_from"]), (move._engine_key(), "2026-11-02"))
        self.assertEqual(len(self.harness.documents()), 1)
        self.assertEqual(len(self.harness.requests("create_document")), 1)


@tagged("post_install", "-at_install")
class TestFakturowniaCorrections(FakturowniaFlowCase):

    def test_a_credit_note_is_a_correction_before_and_after(self):
        invoice = self.create_invoice(lines=[(self.product_23, 3, 1000.0), (self.product_8, 2, 250.0)])
        self.run_queue()
        credit_note = self.refund(invoice, quantity=1)
        credit_note.button_draft()
        credit_note.invoice_line_ids[1].price_unit = 50.0  # the book: the same units, 50 less each
        credit_note.action_post()
        self.run_queue()
        sent = self.sent_invoice_payload()["invoice"]
        original_id = int(invoice.engine_remote_id)
        self.assertEqual((sent["kind"], sent["invoice_id"], sent["from_invoice_id"]), ("correction", original_id, original_id))
        self.assertEqual(sent["correction_reason"], credit_note.ref)
        fewer_units, lower_price = sent["positions"]
        self.assertEqual(
            (fewer_units["kind"], fewer_units["quantity"], fewer_units["price_net"],
             fewer_units["correction_before_attributes"]["quantity"],
             fewer_units["correction_after_attributes"]["quantity"]),
            ("correction", "-1", "1000", "3", "2"),
        )
        self.assertEqual(
            (lower_price["quantity"], lower_price["price_net"], lower_price["correction_before_attributes"]["price_net"],
             lower_price["correction_after_attributes"]["price_net"]),
            ("2", "-50", "250", "200"),
        )
        self.assertEqual(
            (fewer_units["correction_before_attributes"]["kind"], fewer_units["correction_after_attributes"]["kind"]),
            ("correction_before", "correction_after"),
        )
        remote = self.remote_invoice(credit_note)
        self.assertEqual(Decimal(remote["price_gross"]), -Decimal(str(credit_note.amount_total)))
        self.assertEqual(credit_note.engine_number, remote["number"])
        self.assertTrue(remote["number"].startswith("FK/"))

    def test_a_correction_that_states_no_before_and_after_is_refused_in_words(self):
        invoice = self.create_invoice(lines=[(self.product_23, 3, 1000.0)])
        self.run_queue()
        credit_note = self.refund(invoice)
        credit_note.button_draft()
        credit_note.invoice_line_ids.write({"quantity": 1, "price_unit": 500.0})
        credit_note.action_post()
        requests_before = len(self.sandbox.requests)
        self.run_queue()
        self.assertEqual(credit_note.engine_state, "error")
        self.assertIn("credit fewer units at the invoiced price, or the same units at a lower price",
                      credit_note.engine_error)
        self.assertEqual(len(self.sandbox.requests), requests_before, "refused before any call")

    def test_a_credit_note_waits_for_its_invoice(self):
        invoice = self.create_invoice()
        self.harness.inject("status", "find_customer", status=503)
        self.run_queue()
        self.assertEqual(invoice.engine_state, "queued")
        credit_note = self.refund(invoice)
        self.run_queue()
        self.assertEqual(credit_note.engine_state, "queued")
        self.assertIn(f"Waiting for {invoice.name}", credit_note.engine_error)
        self.run_queue_later(minutes=3)
        self.assertEqual((invoice.engine_state, credit_note.engine_state), ("sent", "sent"))
        self.assertEqual(self.remote_invoice(credit_note)["invoice_id"], int(invoice.engine_remote_id))


@tagged("post_install", "-at_install")
class TestFakturowniaRefusals(FakturowniaFlowCase):
    """What Fakturownia refuses reaches the move in words, with its own (Polish) messages."""

    def test_a_422_with_polish_field_messages(self):
        # not a NIP: KSeF's format check refuses it (base_vat, where installed, refuses it sooner; one
        # imported without its check still reaches Fakturownia)
        self.customer_pl.with_context(no_vat_validation=True).vat = "PL123"
        move = self.create_invoice()
        self.run_queue()
        self.assertEqual(move.engine_state, "error")
        self.assertIn("Fakturownia refused the document: the customer's Tax ID (NIP) (buyer_tax_no): "
                      "ma nieprawidłowy format", move.engine_error)
        self.assertEqual(len(move.activity_ids), 1)
        self.assertFalse(self.harness.documents())

    def test_an_error_under_http_200(self):
        self.sandbox.inject("status", method="POST", path=r"/invoices\.json$", status=200,
                            body={"status": "error", "message": "Przekroczono limit faktur w abonamencie"})
        move = self.create_invoice()
        self.run_queue()
        self.assertEqual(move.engine_state, "error")
        self.assertEqual(move.engine_error, "Fakturownia refused the document: Przekroczono limit faktur w "
                                            "abonamencie. Fix the invoice or the customer, then retry.")


@tagged("post_install", "-at_install")
class TestFakturowniaKsef(FakturowniaFlowCase):
    """KSeF through Fakturownia: sent on creation, its status, number, link and files read back."""

    def setUp(self):
        super().setUp()
        self.sandbox.ksef_delay = 60  # KSeF answers a minute after the submission

    def send_to_ksef(self, **invoice_values):
        self.engine.fakturownia_send_to_ksef = True
        move = self.create_invoice(**invoice_values)
        self.run_queue()
        self.assertEqual(move.engine_state, "sent", move.engine_error)
        return move

    def test_sent_on_creation_then_accepted_with_its_number_link_and_files(self):
        move = self.send_to_ksef()
        self.assertIs(self.sent_invoice_payload()["gov_save_and_send"], True)
        self.run_status_job()
        self.assertEqual(move.engine_authority_state, "pending", "processing")
        self.assertFalse(move.engine_authority_number)
        self.run_status_job(minutes=2)
        remote = self.remote_invoice(move)
        self.assertEqual(move.engine_authority_state, "accepted")
        self.assertEqual(move.engine_authority_number, remote["gov_id"])
        self.assertTrue(remote["gov_id"].startswith("5252445767-"))
        self.assertEqual(move.engine_authority_link, remote["gov_verification_link"])
        self.assertFalse(move.engine_authority_demo)
        self.assertEqual(sorted(move.engine_authority_attachment_ids.mapped("name")),
                         [f"KSeF {remote['gov_id']}.xml", f"UPO {remote['gov_id']}.xml"])
        self.assertIn(b"<Faktura", move.engine_authority_attachment_ids.filtered(
            lambda attachment: attachment.name.startswith("KSeF")).raw)
        self.assertTrue(any(remote["gov_id"] in (message.body or "") for message in move.message_ids))

    def test_not_sent_to_ksef_without_the_option(self):
        move = self.create_invoice()
        self.run_queue()
        self.assertNotIn("gov_save_and_send", self.sent_invoice_payload())
        self.run_status_job(minutes=2)
        self.assertEqual(move.engine_authority_state, "not_applicable")
        self.assertIsNone(self.remote_invoice(move)["gov_status"])

    def test_send_error_goes_to_a_person_with_fakturownias_messages(self):
        self.sandbox.force_ksef_outcome(ACCOUNT, "send_error", ["Nieprawidłowy NIP nabywcy"])
        move = self.send_to_ksef()
        self.run_status_job(minutes=2)
        self.assertEqual(move.engine_authority_state, "rejected")
        self.assertIn("Nieprawidłowy NIP nabywcy", move.engine_authority_message)
        activity_type = self.env.ref("account_invoice_engine.mail_activity_engine_problem")
        [activity] = move.activity_ids.filtered(lambda activity: activity.activity_type_id == activity_type)
        self.assertIn("KSeF refused the document: Nieprawidłowy NIP nabywcy", activity.note)

    def test_server_error_is_retried_as_the_vendor_advises_then_goes_to_a_person(self):
        for _attempt in range(4):  # the first submission and three new ones
            self.sandbox.force_ksef_outcome(ACCOUNT, "server_error")
        move = self.send_to_ksef()
        resubmissions = lambda: [r for r in self.sandbox.requests if r["query"].get("send_to_ksef") == "yes"]  # noqa: E731
        self.run_status_job(minutes=2)  # KSeF answered: server_error
        self.assertEqual(move.engine_authority_state, "failed")
        self.run_status_job(minutes=2.5)
        self.assertEqual(resubmissions(), [], "about a minute first")
        for minutes, count in ((3.5, 1), (6, 1), (9, 2), (15, 3)):  # then every five minutes
            self.run_status_job(minutes=minutes)
            self.assertEqual(len(resubmissions()), count, f"after {minutes} minutes")
        self.assertFalse(move.activity_ids)
        self.run_status_job(minutes=21)
        self.run_status_job(minutes=30)
        self.assertEqual(len(resubmissions()), 3, "three new submissions at most")
        self.assertEqual(move.engine_authority_state, "failed")
        self.assertIn("even after 3 new submissions", move.activity_ids.note)

    def test_demo_statuses_are_shown_as_such(self):
        self.harness.reset(demo=True)
        self.sandbox.ksef_delay = 60
        move = self.send_to_ksef()
        self.run_status_job(minutes=2)
        self.assertEqual(self.remote_invoice(move)["gov_status"], "demo_ok")
        self.assertEqual(move.engine_authority_state, "accepted")
        self.assertTrue(move.engine_authority_demo)
        self.assertTrue(any("test environment, no legal effect" in (message.body or "") for message in move.message_ids))


@tagged("post_install", "-at_install")
class TestFakturowniaCancel(FakturowniaFlowCase):
    """Request Cancel: cancelled in Fakturownia, unless KSeF holds the invoice."""

    def cancel_wizard(self, move):
        action = move.button_request_cancel()
        self.assertEqual(action["res_model"], "invoice.engine.cancel.wizard")
        return self.env["invoice.engine.cancel.wizard"].with_context(action["context"]).create({})

    def test_an_invoice_not_in_ksef_is_cancelled_in_fakturownia(self):
        move = self.create_invoice()
        self.run_queue()
        self.assertTrue(move.need_cancel_request)
        wizard = self.cancel_wizard(move)
        self.assertFalse(wizard.blocked_by_authority)
        wizard.action_cancel_in_engine()
        [cancel] = self.requests_to("/invoices/cancel.json", "POST")
        self.assertEqual(cancel["json"]["cancel_invoice_id"], int(move.engine_remote_id))
        self.assertEqual(self.remote_invoice(move)["status"], "cancelled")
        self.assertEqual((move.state, move.engine_status), ("cancel", "cancelled"))

    def test_an_invoice_in_ksef_is_corrected_to_zero(self):
        self.engine.fakturownia_send_to_ksef = True
        move = self.create_invoice()
        self.run_queue()
        self.run_status_job(minutes=2)
        wizard = self.cancel_wizard(move)
        self.assertTrue(wizard.blocked_by_authority)
        self.assertIn("can be neither deleted nor cancelled", wizard.explanation)
        self.assertIn("credit note that corrects it to zero", wizard.explanation)
        self.assertIn(move.engine_authority_number, wizard.explanation)
        with self.assertRaises(UserError):
            wizard.action_cancel_in_engine()
        self.assertEqual(wizard.action_correct_to_zero()["res_model"], "account.move.reversal")
        self.assertFalse(self.requests_to("/invoices/cancel.json"))
        self.assertEqual(move.state, "posted")


@tagged("post_install", "-at_install")
class TestFakturowniaPayments(FakturowniaFlowCase):

    def test_recorded_through_banking_payments_and_deleted_when_unreconciled(self):
        move = self.create_invoice()
        self.run_queue()
        payment = self.register_payment(move, amount=1000)
        self.run_queue()
        [recorded] = self.requests_to("/banking/payments.json", "POST")
        self.assertEqual(
            {key: recorded["json"]["banking_payment"][key] for key in ("invoice_id", "price", "paid_date", "currency",
                                                                          "paid", "kind")},
            {"invoice_id": int(move.engine_remote_id), "price": "1000", "paid_date": "2026-11-12", "currency": "PLN",
             "paid": True, "kind": "api"},
        )
        self.assertEqual(self.remote_invoice(move)["status"], "partial")
        payment.move_id.line_ids.remove_move_reconcile()
        self.run_queue()
        [deleted] = self.requests_to("/banking/payments/", "DELETE")
        self.assertTrue(deleted["path"].endswith(f"/banking/payments/{move.engine_payment_ids.remote_id}.json"))
        self.assertEqual(self.remote("payments"), [])

    def test_payments_made_in_fakturownia_show_on_refresh(self):
        move = self.create_invoice()
        self.run_queue()
        self.harness.pay_in_engine(self.remote_document(move), Decimal("500.00"))
        move.action_engine_refresh()
        self.assertEqual((move.engine_status, move.engine_paid_amount), ("partially_paid", 500.0))
        self.harness.pay_in_engine(self.remote_document(move), self.gross(2000) - 500)
        move.action_engine_refresh()
        self.assertEqual(move.engine_status, "paid")
