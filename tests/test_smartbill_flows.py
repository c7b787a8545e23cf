"""What only SmartBill does, through Odoo: the connection test in words, VAT rates and series,
ANAF's customer rules, exactly-once by the series' next number, stornos, cancelling, payments by
journal, the payment status read back, the 403 block and SmartBill's error answers.

The engine-neutral parts of the same flows run for SmartBill from ``test_send_flow.py``,
``test_faults.py``, ``test_payments.py``, ``test_bad_input.py``, ``test_readback.py``,
``test_concurrency.py`` and ``test_golden_payloads.py``.
"""
import json
import re
import unittest
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

import requests

from odoo import SUPERUSER_ID, api, fields
from odoo.exceptions import AccessError, UserError
from odoo.modules.neutralize import get_neutralization_queries
from odoo.tests import new_test_user, tagged

from ..sandbox.smartbill import schema_refusal
from .harness_smartbill import (
    CREDIT_SERIES,
    EMAIL,
    INVOICE_SERIES,
    JOURNAL_SERIES,
    RECEIPT_SERIES,
    TAXES,
    TOKEN,
    SmartBillCase,
)

GOLDEN = Path(__file__).parent / "golden" / "smartbill"


class SmartBillFlowCase(SmartBillCase):

    def numbering(self, name):
        return self.engine.numbering_ids.filtered(lambda numbering: numbering.remote_id == name)

    def sent_json(self, operation):
        return [request["json"] for request in self.harness.requests(operation)]

    def connection_test(self):
        """Test connection as a person clicks it: ``(kind, message)`` of the notification."""
        params = self.engine.action_test_connection()["params"]
        return params["type"], params["message"]

    def assert_stopped_before_any_call(self, move, fragment):
        self.run_queue()
        self.assertEqual(move.engine_state, "error")
        self.assertIn(fragment, move.engine_error)
        self.assertEqual(self.sandbox.requests, [], "SmartBill is not called at all")

    def exhaust_the_rate_limit(self):
        """Another program on the same SmartBill login makes 31 calls in a row: the login is blocked."""
        for _call in range(31):
            response = requests.get(f"{self.sandbox.api_url}/tax", params={"cif": self.harness.cif},
                                    auth=(EMAIL, TOKEN), timeout=10)
        self.assertEqual(response.status_code, 403)

    def pay(self, move, journal, amount=None):
        wizard = self.env["account.payment.register"].with_context(
            active_model="account.move", active_ids=move.ids
        ).create({"payment_date": "2026-11-12", "journal_id": journal.id, **({"amount": amount} if amount else {})})
        return wizard._create_payments()

    def run_status_job(self):
        self.env.flush_all()
        with self.registry.cursor() as cr:
            api.Environment(cr, SUPERUSER_ID, {})["invoice.engine"]._cron_refresh_status()
        self.env.invalidate_all()


@tagged("post_install", "-at_install")
class TestSmartBillConnectionTest(SmartBillFlowCase):
    """Test connection reads /tax and /series and says in words what is wrong."""

    def test_a_working_connection_loads_vat_rates_and_series_in_two_calls(self):
        kind, message = self.connection_test()
        self.assertEqual(kind, "success", message)
        self.assertEqual([request["path"].rsplit("/", 1)[-1] for request in self.sandbox.requests], ["tax", "series"])
        self.assertEqual({(rate.name, rate.rate) for rate in self.engine.vat_rate_ids},
                         {(name, float(percentage)) for name, percentage in TAXES})
        self.assertEqual(sorted((numbering.remote_id, numbering.usage) for numbering in self.engine.numbering_ids), [
            (RECEIPT_SERIES, "receipts"), (JOURNAL_SERIES, "documents"), (INVOICE_SERIES, "documents"),
            (CREDIT_SERIES, "documents"),
        ])
        self.assertEqual(self.numbering(INVOICE_SERIES).next_number, "0001", "zero-padded, as SmartBill writes it")
        self.assertEqual(self.engine.state, "connected")

    def test_a_wrong_token(self):
        self.engine.smartbill_token_input = "not-the-token"
        kind, message = self.connection_test()
        self.assertEqual(kind, "danger")
        self.assertIn("the e-mail or the API token is wrong", message)
        self.assertIn("Contul meu › Integrări › API", message)
        self.assertIn(f"Odoo signed in as “{EMAIL}”", message)
        self.assertEqual(self.engine.state, "error")

    def test_a_cif_of_another_login(self):
        self.sandbox.add_account("RO16341004", "alta@firma.ro", "another-token", name="Alta Firma SRL")
        self.engine.smartbill_cif = "16341004"
        kind, message = self.connection_test()
        self.assertEqual(kind, "danger")
        self.assertIn("SmartBill does not open this company for this login", message)
        self.assertIn("nu este disponibila pentru acest utilizator", message, "SmartBill's own words are kept")
        self.assertIn("for the CIF “16341004”", message)

    def test_a_plan_without_api_access(self):
        self.harness.reset(api_access=False)
        kind, message = self.connection_test()
        self.assertEqual(kind, "danger")
        self.assertIn("the SmartBill subscription does not include API access", message)

    def test_a_login_blocked_for_the_rate_limit_says_when_the_block_ends(self):
        self.exhaust_the_rate_limit()
        kind, message = self.connection_test()
        self.assertEqual(kind, "warning")
        self.assertNotEqual(self.engine.state, "error", "the login is fine: the engine waits, nobody is alarmed")
        self.assertTrue(self.engine.paused_until)
        self.assertIn("more than 30 calls in 10 seconds", message)
        shown = re.search(r"The block ends at (\d\d:\d\d:\d\d)", message)
        self.assertTrue(shown, message)
        expected = fields.Datetime.context_timestamp(self.engine, fields.Datetime.now() + timedelta(minutes=10))
        ends = datetime.combine(expected.date(), datetime.strptime(shown.group(1), "%H:%M:%S").time(), expected.tzinfo)
        self.assertLess(abs((ends - expected).total_seconds()), 5)

    def test_an_html_answer(self):
        self.harness.inject("html", "reference_data", status=200, title="SmartBill - Mentenanta")
        kind, message = self.connection_test()
        self.assertEqual(kind, "danger")
        self.assertIn("SmartBill answered with an HTML page instead of JSON", message)
        self.assertIn("SmartBill - Mentenanta", message)

    def test_an_xml_answer(self):
        self.sandbox.inject_xml_fault("Firma la care incercati sa va conectati nu este disponibila pentru acest "
                                      "utilizator.", method="GET", path=r"/tax$")
        kind, message = self.connection_test()
        self.assertEqual(kind, "danger")
        self.assertIn("SmartBill does not open this company for this login", message)


@tagged("post_install", "-at_install")
class TestSmartBillCredentials(SmartBillFlowCase):
    """The API token is write-only, like every secret: administrators alone read it, never the browser."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.manager = new_test_user(
            cls.env, login="smartbill_manager", company_id=cls.company.id, company_ids=[cls.company.id],
            groups="account.group_account_manager,base.group_user",
        )

    def test_the_form_never_sends_the_token_to_the_browser(self):
        engine = self.engine.with_user(self.manager)
        views = engine.get_views([(False, "form")])
        spec = {name: {} for name in views["models"]["invoice.engine"]["fields"]}
        self.assertIn("smartbill_token_input", spec)
        payload = json.dumps(engine.web_read(spec), default=str)
        self.assertNotIn(TOKEN, payload)
        self.assertIn('"has_smartbill_token": true', payload)
        with self.assertRaises(AccessError):
            engine.read(["smartbill_token"])

    def test_only_administrators_change_the_login_the_token_and_the_cif(self):
        engine = self.engine.with_user(self.manager)
        for values in ({"smartbill_email": "alt@firma.ro"}, {"smartbill_token_input": "other"},
                       {"smartbill_cif": "16341004"}):
            with self.subTest(values=values), self.assertRaises(AccessError):
                engine.write(values)
        engine.write({"smartbill_use_product_codes": True})  # the options stay the managers'

    def test_a_new_api_url_and_neutralizing_clear_the_token(self):
        self.engine.write({"base_url": "https://ws.smartbill.ro/SBORO/api"})
        self.assertFalse(self.engine.sudo().smartbill_token)
        self.assertIn("credentials and tokens were cleared", self.engine.message_ids[0].body)
        self.engine.write({"base_url": self.sandbox.api_url, "smartbill_token_input": f"  {TOKEN}  "})
        self.assertEqual(self.engine.sudo().smartbill_token, TOKEN)
        self.env.flush_all()
        for query in get_neutralization_queries(["account_invoice_engine"]):
            self.env.cr.execute(query)
        self.env.invalidate_all()
        self.assertFalse(self.engine.sudo().smartbill_token)

    def test_the_cif_defaults_to_the_companys_vat_number_without_ro(self):
        self.company.vat = "RO14399840"
        engine = self.env["invoice.engine"].with_company(self.company).new({"name": "SmartBill 2",
                                                                             "engine_type": "smartbill"})
        self.assertEqual(engine.smartbill_cif, "14399840")

    def test_a_missing_credential_is_named_before_any_call(self):
        self.engine.smartbill_email = False
        kind, message = self.connection_test()
        self.assertEqual(kind, "danger")
        self.assertIn("Enter the SmartBill login on the engine", message)
        self.assertEqual(self.sandbox.requests, [])


@tagged("post_install", "-at_install")
class TestSmartBillVatRates(SmartBillFlowCase):
    """Lines carry SmartBill's own rates (``taxName``/``taxPercentage``), mapped from the Odoo taxes."""

    def mapping(self, tax):
        return self.engine.tax_mapping_ids.filtered(lambda mapping: mapping.tax_id == tax)

    def reload(self, taxes):
        self.harness.reset(taxes=taxes)
        self.engine.action_refresh_reference_data()

    def test_taxes_are_matched_by_percentage_and_sent_as_smartbill_names_them(self):
        self.assertEqual(self.mapping(self.vat_21).engine_vat_rate_id.name, "Normala")
        self.assertEqual(self.mapping(self.vat_11).engine_vat_rate_id.name, "Redusa")
        self.assertTrue(self.mapping(self.vat_21).matched_automatically)
        move = self.create_invoice(lines=[(self.product_standard, 1, 100.0), (self.product_reduced, 1, 50.0)])
        self.run_queue()
        self.assertEqual(move.engine_state, "sent", move.engine_error)
        [payload] = self.sent_json("create_document")
        self.assertEqual([(product["taxName"], product["taxPercentage"]) for product in payload["products"]],
                         [("Normala", 21), ("Redusa", 11)])

    def test_a_managers_choice_is_kept_when_the_rates_are_loaded_again(self):
        with_services = (*TAXES, ("Normala servicii", 21))
        self.reload(with_services)
        self.mapping(self.vat_21).engine_vat_rate_id = self.engine.vat_rate_ids.filtered(
            lambda rate: rate.name == "Normala servicii")
        self.reload(with_services)
        self.assertEqual(self.mapping(self.vat_21).engine_vat_rate_id.name, "Normala servicii")
        self.assertFalse(self.mapping(self.vat_21).matched_automatically)
        move = self.create_invoice(lines=[(self.product_standard, 1, 100.0)])
        self.run_queue()
        self.assertEqual(move.engine_state, "sent", move.engine_error)
        self.assertEqual(self.sent_json("create_document")[0]["products"][0]["taxName"], "Normala servicii")

    def test_a_rate_smartbill_dropped_is_flagged_and_stops_its_invoices_before_any_call(self):
        self.reload([tax for tax in TAXES if tax[0] != "Redusa"])
        self.assertTrue(self.mapping(self.vat_11).engine_vat_rate_missing)
        self.assertIn("no longer offers the VAT rates Redusa", self.engine.message_ids[0].body)
        self.harness.reset()
        move = self.create_invoice(lines=[(self.product_reduced, 1, 50.0)])
        self.assert_stopped_before_any_call(move, "mapped to the VAT rate “Redusa (11 %)”, which SmartBill no longer "
                                                  "offers")
        self.assertIn(self.vat_11.name, move.engine_error)


@tagged("post_install", "-at_install")
class TestSmartBillSeries(SmartBillFlowCase):
    """The series is chosen per journal, with the engine's defaults; credit notes have their own."""

    def test_a_journal_issues_in_its_own_series_others_in_the_engine_default(self):
        export = self.sale_journal.copy({"name": "Export", "code": "EXPJ"})
        export.invoice_engine_numbering_id = self.numbering(JOURNAL_SERIES)
        in_export = self.create_invoice(journal_id=export.id)
        in_default = self.create_invoice()
        self.run_queue()
        self.assertEqual((in_export.engine_remote_series, in_export.engine_number), (JOURNAL_SERIES, "0001"))
        self.assertEqual((in_default.engine_remote_series, in_default.engine_number), (INVOICE_SERIES, "0001"))
        self.assertEqual(in_export.engine_remote_id, f"{JOURNAL_SERIES}0001")

    def test_partial_credit_notes_take_the_credit_series_of_the_journal_then_of_the_engine(self):
        invoice = self.create_invoice()
        self.run_queue()
        credit_note = self.refund(invoice, quantity=1)
        self.run_queue()
        self.assertEqual((credit_note.engine_remote_series, credit_note.engine_number), (CREDIT_SERIES, "0001"))
        self.sale_journal.invoice_engine_refund_numbering_id = self.numbering(JOURNAL_SERIES)
        second = self.refund(invoice, quantity=1)
        self.run_queue()
        self.assertEqual(second.engine_remote_series, JOURNAL_SERIES)

    def test_without_a_series_nothing_is_sent(self):
        self.engine.write({"numbering_id": False, "refund_numbering_id": False})
        move = self.create_invoice()
        self.assert_stopped_before_any_call(move, "No SmartBill series is chosen")
        self.assertIn("Number series", move.engine_error)
        self.assertIn(self.sale_journal.display_name, move.engine_error)


@tagged("post_install", "-at_install")
class TestSmartBillAnafRules(SmartBillFlowCase):
    """ANAF's conditions on the customer stop the invoice before any call, naming the field to fix."""

    def invoice_for(self, **partner_values):
        self.customer.write(partner_values)
        return self.create_invoice()

    def sent_client(self, move):
        self.run_queue()
        self.assertEqual(move.engine_state, "sent", move.engine_error)
        return self.remote_invoice(move)["client"]

    def test_a_romanian_company_needs_a_cif(self):
        move = self.invoice_for(vat=False)
        self.assert_stopped_before_any_call(move, "The Romanian company “Client Test SRL” has no CIF")

    def test_a_cif_whose_check_digit_is_wrong(self):
        # base_vat refuses it on entry; a partner imported without that check is stopped here
        self.customer.with_context(no_vat_validation=True).vat = "RO13548147"
        move = self.create_invoice()
        self.assert_stopped_before_any_call(move, "The CIF “RO13548147” in the Tax ID of the customer")

    def test_a_cif_in_the_company_registry_whose_check_digit_is_wrong(self):
        move = self.invoice_for(vat=False, company_registry="16341005")
        self.assert_stopped_before_any_call(move, "The CIF “16341005” in the Company ID of the customer")

    def test_the_ro_prefix_only_for_vat_payers(self):
        payer = self.sent_client(self.create_invoice())
        self.assertEqual((payer["vatCode"], payer["isTaxPayer"], payer["regCom"]), ("RO13548146", True, "J40/1234/2015"))
        not_a_payer = self.sent_client(self.invoice_for(vat="13548146"))
        self.assertEqual((not_a_payer["vatCode"], not_a_payer["isTaxPayer"]), ("13548146", False))
        cif_in_registry = self.sent_client(self.invoice_for(vat=False, company_registry="16341004"))
        self.assertEqual((cif_in_registry["vatCode"], cif_in_registry["isTaxPayer"], cif_in_registry["regCom"]),
                         ("16341004", False, ""))

    def test_a_person_with_a_wrong_cnp(self):
        self.customer_person.vat = "1800101221145"
        move = self.create_invoice(partner=self.customer_person)
        self.assert_stopped_before_any_call(move, "“1800101221145” in the Tax ID of the customer “Ion Popescu” is not "
                                                  "a valid CNP")

    def test_a_person_without_cnp_is_sent_with_a_dash(self):
        self.customer_person.vat = False
        client = self.sent_client(self.create_invoice(partner=self.customer_person))
        self.assertEqual((client["vatCode"], client["isTaxPayer"], client["county"]), ("-", False, "Cluj"))

    def test_the_street_is_required(self):
        move = self.invoice_for(street=False)
        self.assert_stopped_before_any_call(move, "has no street")

    def test_the_city_is_required(self):
        self.customer_person.city = False
        move = self.create_invoice(partner=self.customer_person)
        self.assert_stopped_before_any_call(move, "has no city")

    def test_a_romanian_address_needs_its_county(self):
        move = self.invoice_for(state_id=False)
        self.assert_stopped_before_any_call(move, "has no Romanian county")

    def test_bucharest_needs_a_sector(self):
        move = self.invoice_for(city="București", zip=False)
        self.assert_stopped_before_any_call(move, "where ANAF wants the sector as the city")

    def test_the_bucharest_postal_code_tells_the_sector(self):
        client = self.sent_client(self.invoice_for(city="București", zip="030033"))
        self.assertEqual((client["city"], client["county"]), ("Sector 3", "Bucuresti"))

    def test_a_foreign_company_is_sent_as_it_is(self):
        german = self.env["res.partner"].create({
            "name": "Muster GmbH", "is_company": True, "street": "Hauptstraße 1", "city": "München", "zip": "80331",
            "country_id": self.env.ref("base.de").id, "vat": "DE811569869",
        })
        client = self.sent_client(self.create_invoice(partner=german))
        self.assertEqual((client["vatCode"], client["country"], client["city"]), ("DE811569869", "DE", "München"))


@tagged("post_install", "-at_install")
class TestSmartBillExactlyOnce(SmartBillFlowCase):
    """No idempotency key, no read-back: the series' nextNumber before and after a lost answer tells."""

    def lose_the_answer(self, fault):
        move = self.create_invoice()
        self.harness.inject(fault, "create_document")
        self.run_queue()
        self.assertEqual(move.engine_state, "sending")
        self.assertEqual(move.engine_marker, {"series": INVOICE_SERIES, "next_number": "0001"})
        return move

    def test_next_number_unchanged_sends_again_once(self):
        move = self.lose_the_answer("reset_before")  # the connection broke before SmartBill stored it
        self.assertEqual(self.harness.documents(), [])
        self.run_queue_later(minutes=2)
        self.assertEqual(move.engine_state, "sent", move.engine_error)
        self.assertEqual(move.engine_number, "0001")
        self.assertEqual(len(self.harness.documents()), 1)
        self.assertEqual(len(self.harness.requests("create_document")), 2, "sent again exactly once")

    def test_a_lost_create_stops_the_run_before_the_next_create(self):
        """Found by the fault soak: a second create in the same run took the lost one's number, and the
        lost one then adopted that document as its own."""
        first = self.create_invoice()
        second = self.create_invoice(lines=[(self.product_reduced, 1, 250.0)])
        self.harness.inject("reset_before", "create_document")
        self.run_queue()
        self.assertEqual((first.engine_state, second.engine_state), ("sending", "queued"))
        self.assertEqual(len(self.harness.requests("create_document")), 1, "nothing created after the lost one")
        self.run_queue_later(minutes=2)  # settles the lost create first, then creates the others
        self.assertEqual(first.engine_state, "sent", first.engine_error)
        self.run_queue_later(minutes=2)
        self.assertEqual(second.engine_state, "sent", second.engine_error)
        self.assertEqual((first.engine_number, second.engine_number), ("0001", "0002"))
        self.assertEqual(len(self.harness.documents()), 2)

    def test_advanced_by_one_with_our_total_is_adopted(self):
        move = self.lose_the_answer("reset_after_store")
        self.run_queue_later(minutes=2)
        self.assertEqual(move.engine_state, "sent", move.engine_error)
        self.assertEqual(move.engine_remote_id, f"{INVOICE_SERIES}0001")
        self.assertEqual(len(self.harness.requests("create_document")), 1, "never created a second time")
        [status_read] = self.harness.requests("document_status")
        self.assertEqual((status_read["query"]["seriesname"], status_read["query"]["number"]), (INVOICE_SERIES, "0001"))
        self.assertTrue(any("linked without sending again" in message.body for message in move.message_ids))

    def test_advanced_by_one_with_another_total_goes_to_review(self):
        move = self.lose_the_answer("reset_before")
        self.harness.issue_in_smartbill()  # someone issued another invoice in the series meanwhile
        self.run_queue_later(minutes=2)
        self.assertEqual(move.engine_state, "needs_review")
        self.assertIn(f"SmartBill issued {INVOICE_SERIES}0001 in series {INVOICE_SERIES}", move.engine_error)
        self.assertIn("Confirm none exists", move.engine_error)
        self.assertEqual(len(self.harness.requests("create_document")), 1)

    def test_advanced_by_two_names_the_candidates_for_a_person(self):
        move = self.lose_the_answer("reset_after_store")
        self.harness.issue_in_smartbill()
        self.run_queue_later(minutes=2)
        self.assertEqual(move.engine_state, "needs_review")
        self.assertIn(f"{INVOICE_SERIES}0001, {INVOICE_SERIES}0002", move.engine_error)
        self.assertIn(f"if the mentions name {move.name}", move.engine_error)
        self.assertEqual(len(self.harness.requests("create_document")), 1, "nothing created on a guess")
        self.assertTrue(move.activity_ids)
        self.env["invoice.engine.link.wizard"].create({"move_id": move.id, "remote_id": f"{INVOICE_SERIES} 1"}).action_link()
        self.assertEqual((move.engine_state, move.engine_remote_id), ("sent", f"{INVOICE_SERIES}0001"))

    def test_a_failed_series_read_before_the_create_sends_nothing_and_retries(self):
        move = self.create_invoice()
        self.harness.inject("status", "find_document", status=503)
        self.run_queue()
        self.assertEqual(move.engine_state, "queued")
        self.assertFalse(self.harness.requests("create_document"))
        self.run_queue_later(minutes=2)
        self.assertEqual(move.engine_state, "sent", move.engine_error)


@tagged("post_install", "-at_install")
class TestSmartBillCreditNotes(SmartBillFlowCase):

    def test_a_whole_reversal_is_a_storno_in_the_invoice_series(self):
        invoice = self.create_invoice()
        self.run_queue()
        credit_note = self.refund(invoice)
        self.run_queue()
        self.assertEqual(credit_note.engine_state, "sent", credit_note.engine_error)
        [storno] = self.harness.requests("create_document")[1:]
        self.assertTrue(storno["path"].endswith("/invoice/reverse"))
        self.assertEqual(storno["json"], {"companyVatCode": self.engine.smartbill_cif, "seriesName": INVOICE_SERIES,
                                          "number": "0001", "issueDate": "2026-11-10"})
        self.assertEqual((credit_note.engine_remote_series, credit_note.engine_number), (INVOICE_SERIES, "0002"))
        self.assertEqual(self.remote_document(credit_note)["total"], -self.gross(2000))
        self.assertFalse(credit_note.engine_total_mismatch)

    def test_a_partial_credit_note_is_a_negative_invoice_naming_the_original(self):
        invoice = self.create_invoice()
        self.run_queue()
        credit_note = self.refund(invoice, quantity=1)
        self.run_queue()
        payload = self.sent_json("create_document")[1]
        self.assertEqual(payload["seriesName"], CREDIT_SERIES)
        self.assertEqual(payload["products"][0]["quantity"], -1)
        self.assertIn(f"Corectie la factura {INVOICE_SERIES}0001", payload["mentions"])
        self.assertIn(credit_note.name, payload["mentions"])
        self.assertEqual(self.remote_document(credit_note)["total"], -self.gross(1000))

    def test_a_credit_note_waits_for_its_invoice(self):
        invoice = self.create_invoice()
        self.harness.inject("status", "find_document", status=503)  # the series read before the create fails
        self.run_queue()
        credit_note = self.refund(invoice)
        self.run_queue()
        self.assertEqual(invoice.engine_state, "queued")
        self.assertEqual(credit_note.engine_state, "queued")
        self.assertIn(f"Waiting for {invoice.name}", credit_note.engine_error)
        self.assertEqual(len(self.harness.requests("create_document")), 0, "no storno of an invoice not yet issued")
        self.run_queue_later(minutes=2)
        self.assertEqual((invoice.engine_state, credit_note.engine_state), ("sent", "sent"))
        self.assertEqual(self.remote_document(credit_note)["corrects"], invoice.engine_remote_id)


@tagged("post_install", "-at_install")
class TestSmartBillCancel(SmartBillFlowCase):
    """Odoo's Request Cancel voids the invoice in SmartBill first (PUT /invoice/cancel)."""

    def cancel(self, move):
        action = move.button_request_cancel()
        self.assertEqual(action["res_model"], "invoice.engine.cancel.wizard")
        return self.env["invoice.engine.cancel.wizard"].create({"move_id": move.id}).action_cancel_in_engine()

    def test_cancelled_in_smartbill_then_in_odoo(self):
        move = self.create_invoice()
        self.run_queue()
        self.cancel(move)
        [request] = self.harness.requests("cancel_document")
        self.assertEqual((request["query"]["seriesname"], request["query"]["number"]), (INVOICE_SERIES, "0001"))
        self.assertEqual((move.state, move.engine_status), ("cancel", "cancelled"))
        self.assertEqual(self.remote_document(move)["status"], "cancelled")

    def test_smartbills_refusal_is_shown_and_nothing_changes(self):
        move = self.create_invoice()
        self.run_queue()
        self.refund(move)  # a storno stands: SmartBill cancels the invoice only after it
        self.run_queue()
        with self.assertRaises(UserError) as refusal:
            self.cancel(move)
        self.assertIn(f"SmartBill did not cancel {INVOICE_SERIES}0001", str(refusal.exception))
        self.assertIn("exista deja stornari", str(refusal.exception))
        self.assertEqual((move.state, move.engine_status), ("posted", "open"))
        self.assertEqual(self.remote_document(move)["status"], "open")


@tagged("post_install", "-at_install")
class TestSmartBillPayments(SmartBillFlowCase):
    """The payment journal says how the money came: bank transfer, cash receipt, card."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.bank = cls.company_data["default_journal_bank"]
        cls.cash = cls.company_data["default_journal_cash"]
        cls.card = cls.bank.copy({"name": "Card", "code": "CARD"})
        cls.card.invoice_engine_payment_means = "card"

    def pay_then_unreconcile(self, journal):
        """An invoice paid from ``journal``: the payment SmartBill was sent, then how it was deleted."""
        move = self.create_invoice()
        self.run_queue()
        payment = self.pay(move, journal)
        self.run_queue()
        self.assertEqual(len(self.remote_payments(move)), 1)
        recorded = move.engine_payment_ids.remote_id
        payment.move_id.line_ids.remove_move_reconcile()
        self.run_queue()
        self.assertEqual(self.remote_payments(move), [])
        self.assertEqual(move.engine_payment_ids.state, "deleted")
        [sent] = self.sent_json("record_payment")
        [deletion] = self.harness.requests("delete_payment")
        return sent, recorded, deletion["path"].rsplit("/", 1)[-1]

    def test_a_bank_payment_is_an_ordin_plata_deleted_when_unreconciled(self):
        sent, recorded, deleted_by = self.pay_then_unreconcile(self.bank)
        self.assertEqual((sent["type"], sent["isCash"], sent["value"]), ("Ordin plata", False, 2420))
        self.assertEqual(sent["invoicesList"], [{"seriesName": INVOICE_SERIES, "number": "0001"}])
        self.assertNotIn("seriesName", sent)
        self.assertEqual(recorded, f"Ordin plata|{INVOICE_SERIES}|0001|2026-11-12|2420")
        self.assertEqual(deleted_by, "v2")

    def test_a_cash_payment_is_a_receipt_in_the_receipt_series_deleted_when_unreconciled(self):
        sent, recorded, deleted_by = self.pay_then_unreconcile(self.cash)
        self.assertEqual((sent["type"], sent["isCash"], sent["seriesName"]), ("Chitanta", True, RECEIPT_SERIES))
        self.assertEqual(recorded, f"Chitanta|{RECEIPT_SERIES}|0001")
        self.assertEqual(deleted_by, "chitanta")
        self.assertEqual(self.harness.state()["series"][RECEIPT_SERIES]["nextNumber"], "0001",
                         "the last receipt of the series is gone, its number free again")

    def test_a_card_payment(self):
        move = self.create_invoice()
        self.run_queue()
        self.pay(move, self.card)
        self.run_queue()
        self.assertEqual(self.sent_json("record_payment")[0]["type"], "Card")
        self.assertEqual(self.remote_document(move)["status"], "paid")

    def test_only_the_last_receipt_of_its_series_is_deleted_and_the_refusal_is_shown(self):
        first, second = self.create_invoice(), self.create_invoice()
        self.run_queue()
        first_payment = self.pay(first, self.cash)
        self.pay(second, self.cash)
        self.run_queue()
        first_payment.move_id.line_ids.remove_move_reconcile()
        self.run_queue()
        self.assertEqual(first.engine_payment_ids.state, "delete_error", "still in SmartBill, and said so")
        self.assertIn("still counts there", first.engine_error)
        self.assertIn(f"SmartBill did not delete the cash receipt {RECEIPT_SERIES}0001", first.engine_error)
        self.assertIn("nu este ultimul din serie", first.engine_error)
        self.assertIn("SmartBill deletes only the last document of a series", first.engine_error)
        self.assertEqual(len(self.harness.state()["receipts"]), 2, "nothing deleted")


@tagged("post_install", "-at_install")
class TestSmartBillStatus(SmartBillFlowCase):
    """The status job reads /invoice/paymentstatus: paid, partly paid, and edits made in SmartBill."""

    def test_payment_status_and_an_edit_made_in_smartbill(self):
        move = self.create_invoice()
        self.run_queue()
        self.harness.pay_in_engine(self.remote_document(move), Decimal("420"))
        self.run_status_job()
        [read] = self.harness.requests("document_status")
        self.assertEqual((read["query"]["seriesname"], read["query"]["number"]), (INVOICE_SERIES, "0001"))
        self.assertEqual((move.engine_status, move.engine_paid_amount), ("partially_paid", 420.0))
        self.harness.edit_in_engine(self.remote_document(move))
        self.run_status_job()
        self.assertTrue(move.engine_changed_in_engine)
        self.assertIn("the document was changed in SmartBill", move.engine_error)
        self.harness.pay_in_engine(self.remote_document(move), Decimal("2100"))
        self.run_status_job()
        self.assertEqual(move.engine_status, "paid")


@tagged("post_install", "-at_install")
class TestSmartBillAnswers(SmartBillFlowCase):
    """The 403 block, 401 and SmartBill's error documents, each shown in words."""

    def test_a_403_block_pauses_the_engine_until_it_ends_and_loses_nothing(self):
        moves = self.create_invoice() + self.create_invoice()
        self.exhaust_the_rate_limit()
        self.run_queue()
        self.assertEqual(moves.mapped("engine_state"), ["queued", "queued"])
        self.assertAlmostEqual((self.engine.paused_until - fields.Datetime.now()).total_seconds(), 600, delta=5)
        self.assertEqual(self.engine.state, "connected", "a block is no connection problem")
        self.run_queue_later(minutes=11)
        self.assertEqual(moves.mapped("engine_state"), ["sent", "sent"])
        self.assertEqual(len(self.harness.documents()), 2)

    def test_an_error_text_under_http_200(self):
        self.harness.reset(taxes=[("Standard", 21), *TAXES[1:]])  # renamed in SmartBill, not reloaded in Odoo
        move = self.create_invoice()
        self.run_queue()
        [create] = self.harness.requests("create_document")
        self.assertEqual(create["status"], 200)
        self.assertEqual(move.engine_state, "error")
        self.assertIn("Cota tva a produsului Konzultace nu a fost gasita pe server!", move.engine_error)
        self.assertIn("reload them in the engine settings", move.engine_error)

    def test_a_400_in_romanian_and_product_codes(self):
        self.harness.reset(uses_product_codes=True)
        move = self.create_invoice()
        self.run_queue()
        self.assertEqual(move.engine_state, "error")
        self.assertIn("(HTTP 400): “Produsul Konzultace nu are codul specificat.”", move.engine_error)
        self.assertIn("turn product codes on in the engine settings", move.engine_error)
        self.engine.smartbill_use_product_codes = True
        self.product_standard.default_code = "KONZ-1"
        move.button_draft()
        move.action_post()
        self.run_queue()
        self.assertEqual(move.engine_state, "sent", move.engine_error)
        self.assertEqual(self.sent_json("create_document")[-1]["products"][0]["code"], "KONZ-1")

    def test_an_xml_fault(self):
        self.sandbox.inject_xml_fault("Data documentului trebuie sa fie de forma yyyy-MM-dd.", method="POST",
                                      path=r"/invoice$")
        move = self.create_invoice()
        self.run_queue()
        self.assertEqual(move.engine_state, "error")
        self.assertIn("“Data documentului trebuie sa fie de forma yyyy-MM-dd.”", move.engine_error)

    def test_a_401_puts_the_engine_in_needs_attention(self):
        self.harness.reset(token="a-token-generated-again")
        move = self.create_invoice()
        self.run_queue()
        self.assertEqual(move.engine_state, "queued", "not the invoice's fault")
        self.assertEqual(self.engine.state, "error")
        self.assertIn("the e-mail or the API token is wrong", self.engine.last_error)
        self.assertTrue(self.engine.activity_ids)


@tagged("post_install", "-at_install")
class TestSmartBillGoldenFilesFollowTheSpec(unittest.TestCase):

    def test_every_golden_payload_validates_against_the_vendors_schemas(self):
        paths = sorted(GOLDEN.glob("*.json"))
        self.assertTrue(paths)
        for path in paths:
            payload = json.loads(path.read_text(encoding="utf-8"))
            with self.subTest(path.name):
                self.assertIsNone(schema_refusal("invoice", payload))
                for product in payload["products"]:
                    refusal = schema_refusal("discount" if product.get("isDiscount") else "product", product, "product")
                    self.assertIsNone(refusal, refusal and refusal.text)
