"""What comes back after sending: payments and edits made in the engine, read by the status job."""
from decimal import Decimal

from odoo import SUPERUSER_ID, api
from odoo.tests import tagged

from .common import FakturoidCase
from .harness_fakturownia import FakturowniaCase
from .harness_smartbill import SmartBillCase


class ReadBackTests:
    """Run once per engine: the status job reads sent documents back within its budget."""

    def run_status_job(self):
        self.env.flush_all()
        with self.registry.cursor() as cr:
            api.Environment(cr, SUPERUSER_ID, {})["invoice.engine"]._cron_refresh_status()
        self.env.invalidate_all()

    def status_reads(self):
        return self.harness.requests("document_status")

    @staticmethod
    def reads(request, move):
        """Whether the status read ``request`` is about ``move``'s document: its id in the path, or its
        series and number in the query (engines that know documents by those)."""
        if move.engine_remote_id in request["path"]:
            return True
        names = {move.engine_number, move.engine_remote_series} - {False, ""}
        return bool(move.engine_number) and names <= set(request["query"].values())

    def sent(self, count=1):
        moves = self.env["account.move"]
        for _index in range(count):
            moves |= self.create_invoice()
        self.run_queue()
        self.assertEqual(set(moves.mapped("engine_state")), {"sent"})
        return moves

    def test_payment_made_in_the_engine_shows_on_the_move(self):
        move = self.sent()
        self.harness.pay_in_engine(self.remote_document(move), Decimal("1000.00"))
        self.run_status_job()
        self.assertEqual(move.engine_status, "partially_paid" if self.partial_status else "open")
        self.assertEqual(move.engine_paid_amount, 1000.0)
        self.harness.pay_in_engine(self.remote_document(move), self.gross(2000) - 1000)
        self.run_status_job()
        self.assertEqual(move.engine_status, "paid")
        self.assertEqual(move.engine_paid_amount, float(self.gross(2000)))
        self.assertTrue(move.engine_last_sync_at)
        reads = len(self.status_reads())
        self.run_status_job()
        self.assertEqual(len(self.status_reads()), reads, "a paid document is final: not read again")

    def test_document_edited_in_the_engine_is_flagged_once(self):
        move = self.sent()
        self.harness.edit_in_engine(self.remote_document(move))
        self.run_status_job()
        self.assertTrue(move.engine_changed_in_engine)
        self.assertIn("changed in", move.engine_error)
        activity_type = self.env.ref("account_invoice_engine.mail_activity_engine_problem")
        self.assertEqual(len(move.activity_ids.filtered(lambda a: a.activity_type_id == activity_type)), 1)
        self.run_status_job()
        self.assertEqual(len(move.activity_ids.filtered(lambda a: a.activity_type_id == activity_type)), 1,
                         "read again, reported once")
        self.assertEqual(move.engine_state, "sent")

    def test_the_longest_unread_come_first_within_the_budget(self):
        first, second, third = self.sent(3)
        before = len(self.status_reads())
        self.env.flush_all()
        with self.registry.cursor() as cr:
            engine = api.Environment(cr, SUPERUSER_ID, {})["invoice.engine"].browse(self.engine.id)
            self.assertEqual(engine._refresh_statuses(limit=2), 2)
        self.env.invalidate_all()
        read = self.status_reads()[before:]
        self.assertEqual(len(read), 2)
        self.assertTrue(any(self.reads(request, first) for request in read))
        self.assertTrue(any(self.reads(request, second) for request in read))
        self.assertFalse(any(self.reads(request, third) for request in read), "read in the next run")
        self.run_status_job()
        self.assertTrue(any(self.reads(request, third) for request in self.status_reads()[before + 2:]))

    def test_sending_goes_first(self):
        self.sent()
        self.create_invoice()  # queued and due: the engine's calls go to sending
        before = len(self.status_reads())
        self.run_status_job()
        self.assertEqual(len(self.status_reads()), before)


@tagged("post_install", "-at_install")
class TestReadBackFakturoid(ReadBackTests, FakturoidCase):
    partial_status = False  # Fakturoid keeps an invoice "open" until it is paid in full


@tagged("post_install", "-at_install")
class TestReadBackFakturownia(ReadBackTests, FakturowniaCase):
    partial_status = True  # Fakturownia's "partial"


@tagged("post_install", "-at_install")
class TestReadBackSmartBill(ReadBackTests, SmartBillCase):
    partial_status = True  # paymentstatus tells a partly paid invoice from an unpaid one
