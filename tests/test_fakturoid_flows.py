"""What only Fakturoid does in the send, fault and payment flows: its wire fields, subjects,
correction documents, OAuth, the blocked account and its validation errors. The
engine-neutral parts of the same flows are in ``test_send_flow.py``, ``test_faults.py``,
``test_payments.py`` and ``test_bad_input.py``.
"""
from decimal import Decimal

import requests

from odoo.tests import tagged

from .common import CLIENT_ID, SLUG, FakturoidCase


@tagged("post_install", "-at_install")
class TestFakturoidDocumentFields(FakturoidCase):

    def test_document_fields(self):
        move = self.create_invoice(
            lines=[(self.product_21, 2, 1000.0)],
            invoice_date_due="2026-11-16",
            ref="PO-4711",
            payment_reference="2026110",
            narration="<p>Děkujeme za objednávku.</p>",
        )
        self.run_queue()
        remote = self.remote_invoice(move)
        self.assertEqual(remote["issued_on"], "2026-11-02")
        self.assertEqual(remote["taxable_fulfillment_due"], "2026-11-02")
        self.assertEqual(remote["due"], 14)
        self.assertEqual(remote["order_number"], "PO-4711")
        self.assertEqual(remote["variable_symbol"], "2026110")
        self.assertEqual(remote["note"], "Děkujeme za objednávku.")
        self.assertEqual(remote["currency"], "CZK")
        line = remote["lines"][0]
        self.assertEqual((line["name"], Decimal(line["quantity"]), Decimal(line["unit_price"]), line["vat_rate"]),
                         ("Konzultace", Decimal(2), Decimal(1000), 21))
        self.assertEqual(line["unit_name"], "Units")

    def test_each_discount_is_a_line_of_its_own(self):
        move = self.create_discounted_invoice()
        self.run_queue()
        remote = self.remote_invoice(move)
        self.assertEqual(len(remote["lines"]), 5, "each discounted line is followed by its discount line")
        self.assertEqual(Decimal(remote["subtotal"]), Decimal(str(move.amount_untaxed)))
        discount_line = remote["lines"][1]
        self.assertTrue(Decimal(discount_line["unit_price"]) < 0)
        self.assertEqual(discount_line["vat_rate"], 21)

    def test_foreign_currency_carries_the_exchange_rate(self):
        eur = self.setup_other_currency("EUR", rates=[("2026-01-01", 0.04)])  # 1 CZK = 0.04 EUR: 25 CZK per EUR
        move = self.create_invoice(currency_id=eur.id, lines=[(self.product_21, 1, 100.0)])
        self.run_queue()
        remote = self.remote_invoice(move)
        self.assertEqual(remote["currency"], "EUR")
        self.assertEqual(Decimal(remote["exchange_rate"]), Decimal(25))
        self.assertEqual(Decimal(remote["native_total"]), Decimal("3025.00"))

    def test_credit_note_becomes_a_correction_of_the_invoice(self):
        invoice = self.create_invoice(lines=[(self.product_21, 2, 1000.0)])
        self.run_queue()
        credit_note = self.refund(invoice, quantity=1)
        self.run_queue()
        remote_credit = self.remote_invoice(credit_note)
        remote_invoice = self.remote_invoice(invoice)
        self.assertEqual(remote_credit["document_type"], "correction")
        self.assertEqual(remote_credit["correction_id"], remote_invoice["id"])
        self.assertEqual(remote_invoice["correction_id"], remote_credit["id"])
        self.assertEqual(Decimal(remote_credit["lines"][0]["quantity"]), Decimal(-1))

    def test_refresh_reads_status_back(self):
        move = self.create_invoice()
        self.run_queue()
        remote = self.remote_invoice(move)
        self._pay_in_fakturoid(remote["id"], remote["total"])
        move.action_engine_refresh()
        self.assertEqual(move.engine_status, "paid")

    def _pay_in_fakturoid(self, invoice_id, amount):
        """An accountant records the payment in Fakturoid itself (another user, another token)."""
        self.sandbox.add_client("accountant-app", "accountant-secret", user_email="jina@firma.cz", accounts=(SLUG,))
        token = self.sandbox.issue_token("accountant-app")
        response = requests.post(
            f"{self.sandbox.api_url}/accounts/{SLUG}/invoices/{invoice_id}/payments.json",
            json={"amount": amount},
            headers={"Authorization": f"Bearer {token}", "User-Agent": "Accountant (ucetni@firma.cz)"},
            timeout=10,
        )
        self.assertEqual(response.status_code, 201)


@tagged("post_install", "-at_install")
class TestFakturoidSubjects(FakturoidCase):

    def test_customer_is_created_once_and_updated_when_changed(self):
        first = self.create_invoice()
        self.run_queue()
        subjects = self.remote("subjects")
        self.assertEqual(len(subjects), 1)
        subject = subjects[0]
        self.assertEqual(subject["name"], "Zákazník s.r.o.")
        self.assertEqual(subject["registration_no"], "25596641")
        self.assertEqual(subject["vat_no"], "CZ25596641")
        self.assertEqual(subject["country"], "CZ")
        self.assertEqual(subject["email"], "fakturace@zakaznik.cz")
        self.assertEqual(subject["custom_id"], f"odoo-{first._engine_db_tag()}-partner-{self.customer_cz.id}")
        binding = self.env["invoice.engine.partner"].search([("partner_id", "=", self.customer_cz.id)])
        self.assertEqual(binding.remote_id, str(subject["id"]))

        self.create_invoice()
        self.run_queue()
        self.assertFalse(self.requests_to("/subjects", "PATCH"), "unchanged customer: no update")

        self.customer_cz.street = "Národní 1"
        self.create_invoice()
        self.run_queue()
        self.assertEqual(len(self.requests_to("/subjects", "PATCH")), 1)
        self.assertEqual(len(self.remote("subjects")), 1)
        self.assertEqual(self.remote("subjects")[0]["street"], "Národní 1")
        self.assertEqual(len(self.remote()), 3)

    def test_slovak_customer_has_ic_dph_and_dic(self):
        self.create_invoice(partner=self.customer_sk)
        self.run_queue()
        subject = self.remote("subjects")[0]
        self.assertEqual(subject["vat_no"], "SK2020273893")
        self.assertEqual(subject["local_vat_no"], "2020273893")
        self.assertEqual(subject["registration_no"], "35763469")
        self.assertEqual(subject["country"], "SK")


@tagged("post_install", "-at_install")
class TestFakturoidAccountFaults(FakturoidCase):
    """OAuth grants and a blocked account: the batch stops, nothing is lost."""

    def test_revoked_token_is_replaced_once(self):
        first = self.create_invoice()
        self.run_queue()
        self.sandbox.revoke_tokens(CLIENT_ID)
        second = self.create_invoice()
        self.run_queue()
        self.assertEqual((first.engine_state, second.engine_state), ("sent", "sent"))
        grants = self.requests_to("/oauth/token")
        self.assertEqual(len(grants), 2, "one grant at the start, one after the 401")
        self.assertEqual(self.engine.state, "connected")

    def test_refused_credentials_stop_the_batch(self):
        self.sandbox.reset()  # the sandbox no longer knows our client: every grant is refused
        self.sandbox.add_account(SLUG)
        moves = self.create_invoice() + self.create_invoice()
        self.run_queue()
        self.assertEqual(moves.mapped("engine_state"), ["queued", "queued"], "not the invoices' fault")
        self.assertEqual(len(self.requests_to("/oauth/token")), 1, "the batch stops at the first refusal")
        self.assertEqual(self.engine.state, "error")
        self.assertIn("Client ID and Client Secret", self.engine.last_error)
        self.assertTrue(self.engine.activity_ids)

    def test_blocked_account(self):
        self.sandbox.block_account(SLUG)
        move = self.create_invoice()
        self.run_queue()
        self.assertEqual(move.engine_state, "queued")
        self.assertEqual(self.engine.state, "error")
        self.assertIn("Pay the overdue Fakturoid invoices", self.engine.last_error)

        self.sandbox.block_account(SLUG, blocked=False)
        self.run_queue()
        self.assertEqual(move.engine_state, "sent")
        self.assertEqual(self.engine.state, "connected")


@tagged("post_install", "-at_install")
class TestFakturoidRefusals(FakturoidCase):
    """Data Odoo accepts and Fakturoid refuses: its own words reach the person who fixes it."""

    def test_refused_by_fakturoid_with_czech_field_errors(self):
        vat_15 = self._create_sale_tax("DPH 15 % (do 2023)", 15)  # not a Czech rate any more
        move = self.create_invoice(lines=[(self.product_21, 1, 100.0, 0.0, vat_15)])
        self.run_queue()
        self.assertEqual(move.engine_state, "error")
        self.assertIn("Fakturoid refused the document", move.engine_error)
        self.assertIn("vat_rate", move.engine_error)
        self.assertIn("není v seznamu", move.engine_error, "Fakturoid's own (Czech) words are kept")
        self.assertEqual(len(move.activity_ids), 1)
        self.assertEqual(len(self.remote()), 0)

        # Fixing the data and posting again queues it again.
        move.button_draft()
        move.invoice_line_ids.tax_ids = self.vat_21
        move.action_post()
        self.assertEqual(move.engine_state, "queued")
        self.run_queue()
        self.assertEqual(move.engine_state, "sent")


@tagged("post_install", "-at_install")
class TestFakturoidPayments(FakturoidCase):

    def test_thank_you_email_only_with_the_settling_payment(self):
        self.engine.send_thank_you_email = True
        move = self.create_invoice()
        self.run_queue()
        for amount in (1000, 1420):
            self.register_payment(move, amount=amount)
            self.run_queue()
        first, last = [request["json"] for request in self.requests_to("/payments.json", "POST")]
        self.assertNotIn("send_thank_you_email", first, "only the payment that settles the invoice asks for it")
        self.assertTrue(last["send_thank_you_email"])
        self.assertEqual(len(self.remote("payments")), 2)
        self.assertEqual(self.remote_invoice(move)["status"], "paid")
