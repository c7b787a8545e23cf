"""Posting and sending, engine-neutral: each engine's case runs these flows (see the end)."""
from decimal import Decimal

from odoo.tests import tagged

from .common import FakturoidCase
from .harness_fakturownia import FakturowniaCase
from .harness_smartbill import SmartBillCase


class PostingTests:
    """Posting only queues; the send button and the queue create each document once."""

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
        bill = self.init_invoice("in_invoice", partner=self.customer, amounts=[100.0], post=True)
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
        self.assertEqual(len(self.harness.documents()), 1)
        self.assertEqual(len(self.harness.requests("create_document")), 1)


class SendFlowTests:
    """A sent move carries the engine's number, link and PDF; totals agree to the cent."""

    def test_invoice_is_numbered_linked_and_its_pdf_attached(self):
        async_pdf = self.harness.capabilities.async_pdf
        if async_pdf:
            self.harness.delay_pdf(1)  # the first download is "not rendered yet": fetched on the retry
        move = self.create_invoice(lines=[(self.product_standard, 2, 1000.0), (self.product_reduced, 3, 250.0)])
        self.run_queue()
        remote = self.remote_document(move)
        self.assertEqual(move.engine_state, "sent")
        self.assertEqual(move.engine_number, remote["number"])
        self.assertEqual(move.engine_remote_id, remote["id"])
        self.assertEqual(move.engine_url, remote["url"])
        self.assertEqual(move.engine_status, "open")
        self.assertTrue(move.engine_pdf_id, "the PDF is attached")
        self.assertTrue(move.engine_pdf_id.raw.startswith(b"%PDF"))
        self.assertIn(remote["number"].encode(), move.engine_pdf_id.raw)
        self.assertEqual(len(self.harness.requests("fetch_pdf")), 2 if async_pdf else 1)
        self.assertFalse(move.engine_total_mismatch)
        self.assertEqual(remote["total"], self.gross(2000) + self.gross(750, self.vat_reduced))
        self.assertTrue(any(remote["number"] in message.body for message in move.message_ids))
        self.assertFalse(any("not updated from the attachment" in message.body for message in move.message_ids))

    def test_discounts_match_odoo_totals_to_the_cent(self):
        move = self.create_discounted_invoice()
        self.run_queue()
        self.assertEqual(self.remote_document(move)["total"], Decimal(str(move.amount_total)))
        self.assertFalse(move.engine_total_mismatch)

    def test_foreign_currency_document(self):
        eur = self.setup_other_currency("EUR", rates=[("2026-01-01", 0.04)])
        move = self.create_invoice(currency_id=eur.id, lines=[(self.product_standard, 1, 100.0)])
        self.run_queue()
        remote = self.remote_document(move)
        self.assertEqual(remote["currency"], "EUR")
        self.assertEqual(remote["total"], self.gross(100))
        self.assertFalse(move.engine_total_mismatch)

    def test_manager_relinks_a_customer(self):
        if not self.harness.capabilities.keeps_customers:
            self.skipTest("the engine embeds the customer in each document: nothing to relink")
        self.create_invoice()
        self.run_queue()
        [wrong] = [customer["id"] for customer in self.harness.customers()]
        binding = self.env["invoice.engine.partner"].search([("partner_id", "=", self.customer.id)])
        other = self.env["res.partner"].create({"name": "Jiná firma", "country_id": self.customer.country_id.id})
        self.create_invoice(partner=other)
        self.run_queue()
        [right] = [customer["id"] for customer in self.harness.customers() if customer["id"] != wrong]
        binding.remote_id = right
        move = self.create_invoice()
        self.run_queue()
        self.assertEqual(move.engine_state, "sent", move.engine_error)
        self.assertEqual(self.remote_document(move)["customer_id"], right)

    def test_credit_note_corrects_the_invoice(self):
        invoice = self.create_invoice(lines=[(self.product_standard, 2, 1000.0)])
        self.run_queue()
        credit_note = self.refund(invoice, quantity=1)
        self.run_queue()
        self.assertEqual(credit_note.engine_state, "sent")
        remote_credit = self.remote_document(credit_note)
        self.assertEqual(remote_credit["corrects"], self.remote_document(invoice)["id"])
        self.assertEqual(remote_credit["total"], -self.gross(1000))
        self.assertFalse(credit_note.engine_total_mismatch)

    def test_credit_note_waits_for_its_invoice_in_the_same_batch(self):
        invoice = self.create_invoice()
        credit_note = invoice._reverse_moves([{"invoice_date": invoice.invoice_date}])
        credit_note.action_post()
        self.run_queue()
        self.assertEqual(invoice.engine_state, "sent")
        self.assertEqual(credit_note.engine_state, "sent", "invoices go first, so the correction can follow")
        self.assertEqual(self.remote_document(credit_note)["corrects"], invoice.engine_remote_id)


@tagged("post_install", "-at_install")
class TestPostingFakturoid(PostingTests, FakturoidCase):
    pass


@tagged("post_install", "-at_install")
class TestSendFlowFakturoid(SendFlowTests, FakturoidCase):
    pass


@tagged("post_install", "-at_install")
class TestPostingFakturownia(PostingTests, FakturowniaCase):
    pass


@tagged("post_install", "-at_install")
class TestPostingSmartBill(PostingTests, SmartBillCase):
    pass


@tagged("post_install", "-at_install")
class TestSendFlowFakturownia(SendFlowTests, FakturowniaCase):
    pass


@tagged("post_install", "-at_install")
class TestSendFlowSmartBill(SendFlowTests, SmartBillCase):
    pass
