from decimal import Decimal

import requests

from odoo.tests import tagged

from .common import SLUG, InvoiceEngineCase


@tagged("post_install", "-at_install")
class TestPosting(InvoiceEngineCase):

    def test_posting_queues_without_any_http(self):
        move = self.create_invoice(post=False)
        triggers_before = self.env["ir.cron.trigger"].search_count([])
        with self.assert_no_http():
            move.action_post()
        self.assertEqual(move.engine_state, "queued")
        self.assertEqual(move.engine_id, self.engine)
        cron = self.env.ref("account_invoice_engine.ir_cron_invoice_engine_send")
        self.assertEqual(self.env["ir.cron.trigger"].search_count([]), triggers_before + 1)
        self.assertEqual(self.env["ir.cron.trigger"].search([], order="id desc", limit=1).cron_id, cron)

    def test_only_customer_documents_in_covered_journals(self):
        other_journal = self.sale_journal.copy({"name": "Export", "code": "EXP"})
        self.engine.journal_ids = self.sale_journal
        bill = self.init_invoice("in_invoice", partner=self.customer_cz, amounts=[100.0], post=True)
        uncovered = self.create_invoice(journal_id=other_journal.id)
        covered = self.create_invoice()
        self.assertFalse(bill.engine_state)
        self.assertFalse(uncovered.engine_state)
        self.assertEqual(covered.engine_state, "queued")

    def test_auto_send_off_waits_for_the_button(self):
        self.engine.auto_send = False
        move = self.create_invoice()
        self.assertFalse(move.engine_state)
        move.action_engine_send()
        self.assertEqual(move.engine_state, "queued")
        self.run_queue()
        self.assertEqual(move.engine_state, "sent")

    def test_double_click_on_send_creates_one_document(self):
        self.engine.auto_send = False
        move = self.create_invoice()
        move.action_engine_send()
        move.action_engine_send()
        self.run_queue()
        move.action_engine_send()  # already sent: ignored
        self.run_queue()
        self.assertEqual(len(self.remote()), 1)


@tagged("post_install", "-at_install")
class TestSendFlow(InvoiceEngineCase):

    def test_invoice_is_numbered_linked_and_its_pdf_attached(self):
        self.sandbox.pdf_render_polls = 1  # first download answers 204: rendered on the retry
        move = self.create_invoice(lines=[(self.product_21, 2, 1000.0), (self.product_12, 3, 250.0)])
        self.run_queue()
        remote = self.remote_invoice(move)
        self.assertEqual(move.engine_state, "sent")
        self.assertEqual(move.engine_number, remote["number"])
        self.assertEqual(move.engine_remote_id, str(remote["id"]))
        self.assertEqual(move.engine_url, remote["html_url"])
        self.assertEqual(move.engine_status, "open")
        self.assertTrue(move.engine_pdf_id, "the PDF is attached after the 204")
        self.assertTrue(move.engine_pdf_id.raw.startswith(b"%PDF"))
        self.assertIn(remote["number"].encode(), move.engine_pdf_id.raw)
        self.assertEqual(len(self.requests_to("download.pdf")), 2)
        self.assertFalse(move.engine_total_mismatch)
        self.assertEqual(Decimal(remote["total"]), Decimal("3260.00"))
        self.assertTrue(any(remote["number"] in message.body for message in move.message_ids))
        self.assertFalse(any("not updated from the attachment" in message.body for message in move.message_ids))

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

    def test_discounts_match_odoo_totals_to_the_cent(self):
        move = self.create_invoice(lines=[
            (self.product_21, 3, 333.33, 7.5),
            (self.product_12, 7, 19.99, 12.5),
            (self.product_21, 1, 1000.0),
        ])
        self.run_queue()
        remote = self.remote_invoice(move)
        self.assertEqual(len(remote["lines"]), 5, "each discounted line is followed by its discount line")
        self.assertEqual(Decimal(remote["subtotal"]), Decimal(str(move.amount_untaxed)))
        self.assertEqual(Decimal(remote["total"]), Decimal(str(move.amount_total)))
        self.assertFalse(move.engine_total_mismatch)
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

    def test_manager_relinks_a_customer(self):
        self.create_invoice()
        self.run_queue()
        wrong = self.remote("subjects")[0]["id"]
        binding = self.env["invoice.engine.partner"].search([("partner_id", "=", self.customer_cz.id)])
        other = self.env["res.partner"].create({"name": "Jiná firma", "country_id": self.env.ref("base.cz").id})
        self.create_invoice(partner=other)
        self.run_queue()
        right = [subject for subject in self.remote("subjects") if subject["id"] != wrong][0]["id"]
        binding.remote_id = str(right)
        move = self.create_invoice()
        self.run_queue()
        self.assertEqual(move.engine_state, "sent", move.engine_error)
        self.assertEqual(self.remote_invoice(move)["subject_id"], right)

    def test_credit_note_becomes_a_correction_of_the_invoice(self):
        invoice = self.create_invoice(lines=[(self.product_21, 2, 1000.0)])
        self.run_queue()
        reversal = self.env["account.move.reversal"].with_context(
            active_model="account.move", active_ids=invoice.ids
        ).create({"reason": "Vrácené zboží", "journal_id": invoice.journal_id.id, "date": "2026-11-10"})
        credit_note = self.env["account.move"].browse(reversal.refund_moves()["res_id"])
        credit_note.invoice_line_ids[0].quantity = 1
        credit_note.action_post()
        self.run_queue()
        remote_credit = self.remote_invoice(credit_note)
        remote_invoice = self.remote_invoice(invoice)
        self.assertEqual(credit_note.engine_state, "sent")
        self.assertEqual(remote_credit["document_type"], "correction")
        self.assertEqual(remote_credit["correction_id"], remote_invoice["id"])
        self.assertEqual(remote_invoice["correction_id"], remote_credit["id"])
        self.assertEqual(Decimal(remote_credit["lines"][0]["quantity"]), Decimal(-1))
        self.assertEqual(Decimal(remote_credit["total"]), Decimal("-1210.00"))
        self.assertFalse(credit_note.engine_total_mismatch)

    def test_credit_note_waits_for_its_invoice_in_the_same_batch(self):
        invoice = self.create_invoice()
        credit_note = invoice._reverse_moves([{"invoice_date": invoice.invoice_date}])
        credit_note.action_post()
        self.run_queue()
        self.assertEqual(invoice.engine_state, "sent")
        self.assertEqual(credit_note.engine_state, "sent", "invoices go first, so the correction can follow")
        self.assertEqual(self.remote_invoice(credit_note)["correction_id"], int(invoice.engine_remote_id))

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
            f"{self.sandbox.api_url}/accounts/odoo-test/invoices/{invoice_id}/payments.json",
            json={"amount": amount},
            headers={"Authorization": f"Bearer {token}", "User-Agent": "Accountant (ucetni@firma.cz)"},
            timeout=10,
        )
        self.assertEqual(response.status_code, 201)

