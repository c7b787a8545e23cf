"""Payments, engine-neutral: recorded once, removed when unreconciled (see the end for engines)."""
from decimal import Decimal

from odoo.tests import tagged

from .common import FakturoidCase
from .harness_fakturownia import FakturowniaCase
from .harness_smartbill import SmartBillCase


class PaymentTests:

    partial_status = False  # the engine's document of a partly paid invoice stays "open" (Fakturoid)

    def test_payment_is_recorded_once(self):
        move = self.create_invoice()
        self.run_queue()
        self.register_payment(move)
        self.assertEqual(len(move.engine_payment_ids), 1)
        self.run_queue()
        self.run_queue()
        payments = self.remote_payments(move)
        self.assertEqual(len(payments), 1)
        self.assertEqual(payments[0]["amount"], self.gross(2000))
        self.assertEqual(payments[0]["paid_on"], "2026-11-12")
        self.assertEqual(self.remote_document(move)["status"], "paid")
        self.assertEqual(move.engine_payment_ids.state, "sent")

    def test_partial_payments(self):
        move = self.create_invoice()
        self.run_queue()
        self.register_payment(move, amount=1000)
        self.run_queue()
        self.assertEqual(self.remote_document(move)["status"], "partially_paid" if self.partial_status else "open")
        self.register_payment(move, amount=float(self.gross(2000) - 1000))
        self.run_queue()
        self.assertEqual(sorted(payment["amount"] for payment in self.remote_payments(move)),
                         [Decimal("1000.00"), self.gross(2000) - 1000])
        self.assertEqual(self.remote_document(move)["status"], "paid")

    def test_unreconciling_removes_the_payment(self):
        move = self.create_invoice()
        self.run_queue()
        payment = self.register_payment(move)
        self.run_queue()
        self.assertEqual(len(self.remote_payments(move)), 1)
        payment.move_id.line_ids.remove_move_reconcile()
        self.assertEqual(move.engine_payment_ids.state, "to_delete")
        self.run_queue()
        self.assertEqual(self.remote_payments(move), [])
        self.assertEqual(self.remote_document(move)["status"], "open")
        self.assertEqual(move.engine_payment_ids.state, "deleted")

    def test_payment_before_the_invoice_is_sent_waits_for_it(self):
        move = self.create_invoice()
        self.register_payment(move)
        self.assertEqual(move.engine_state, "queued")
        self.run_queue()
        self.assertEqual(move.engine_state, "sent")
        self.assertEqual(len(self.remote_payments(move)), 1)

    def test_unreconciled_before_sending_is_never_sent(self):
        move = self.create_invoice()
        payment = self.register_payment(move)
        payment.move_id.line_ids.remove_move_reconcile()
        self.assertFalse(move.engine_payment_ids)
        self.run_queue()
        self.assertEqual(self.remote_payments(move), [])
        self.assertFalse(self.harness.requests("record_payment"))

    def test_lost_answer_on_payment_is_not_recorded_twice(self):
        if not self.harness.capabilities.reads_back_payments:
            self.skipTest("the engine cannot list a document's payments")
        move = self.send_invoice_and_lose_a_payment_answer()
        self.run_queue_later(minutes=2)
        self.assertEqual(move.engine_payment_ids.state, "sent")
        self.assertEqual(len(self.remote_payments(move)), 1)
        self.assertEqual(move.engine_payment_ids.remote_id, self.remote_payments(move)[0]["id"])
        self.assertEqual(len(self.harness.requests("record_payment")), 1, "never recorded again")

    def test_credit_note_reconciliation_is_not_a_payment(self):
        move = self.create_invoice()
        self.run_queue()
        credit_note = move._reverse_moves([{"invoice_date": move.invoice_date}])
        credit_note.action_post()
        receivable_lines = (move + credit_note).line_ids.filtered(lambda line: line.account_type == "asset_receivable")
        if not all(receivable_lines.mapped("reconciled")):
            receivable_lines.reconcile()
        self.assertTrue(move.line_ids.matched_credit_ids, "the credit note settles the invoice")
        self.assertFalse(move.engine_payment_ids)


@tagged("post_install", "-at_install")
class TestPaymentsFakturoid(PaymentTests, FakturoidCase):
    pass


@tagged("post_install", "-at_install")
class TestPaymentsFakturownia(PaymentTests, FakturowniaCase):
    partial_status = True  # Fakturownia's "partial"


@tagged("post_install", "-at_install")
class TestPaymentsSmartBill(PaymentTests, SmartBillCase):
    pass
