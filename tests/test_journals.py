"""A sales journal is a sales channel: its own numbering in the engine and its own sending rule."""
from odoo.exceptions import ValidationError
from odoo.tests import tagged

from .common import FakturoidCase


@tagged("post_install", "-at_install")
class TestJournalSettings(FakturoidCase):

    def setUp(self):
        super().setUp()
        self.engine.action_test_connection()
        self.default_format = self.engine.numbering_ids.filtered("is_default")
        self.other_format = self.engine.numbering_ids - self.default_format
        self.export_journal = self.sale_journal.copy({"name": "Export", "code": "EXP"})

    def test_each_journal_numbers_in_its_own_series(self):
        self.export_journal.invoice_engine_numbering_id = self.other_format
        domestic = self.create_invoice()
        export = self.create_invoice(journal_id=self.export_journal.id)
        self.run_queue()
        self.assertEqual(str(self.remote_invoice(domestic)["number_format_id"]), self.default_format.remote_id)
        self.assertEqual(str(self.remote_invoice(export)["number_format_id"]), self.other_format.remote_id)

    def test_credit_notes_take_the_journal_credit_numbering_then_the_engine_one(self):
        self.engine.refund_numbering_id = self.other_format
        invoice = self.create_invoice()
        self.run_queue()
        credit_note = self.refund(invoice)
        self.run_queue()
        self.assertEqual(str(self.remote_invoice(invoice)["number_format_id"]), self.default_format.remote_id)
        self.assertEqual(str(self.remote_invoice(credit_note)["number_format_id"]), self.other_format.remote_id)

        self.sale_journal.invoice_engine_refund_numbering_id = self.default_format
        self.assertEqual(self.engine._numbering_for(credit_note), self.default_format, "the journal's choice wins")

    def test_journal_decides_whether_posting_sends(self):
        self.engine.auto_send = False
        self.export_journal.invoice_engine_auto_send = "auto"
        self.assertFalse(self.create_invoice().engine_state, "the engine's rule: the button only")
        self.assertEqual(self.create_invoice(journal_id=self.export_journal.id).engine_state, "queued")

        self.engine.auto_send = True
        self.export_journal.invoice_engine_auto_send = "manual"
        self.assertEqual(self.create_invoice().engine_state, "queued")
        manual = self.create_invoice(journal_id=self.export_journal.id)
        self.assertFalse(manual.engine_state)
        manual.action_engine_send()
        self.assertEqual(manual.engine_state, "queued", "the button still sends it")

    def test_journal_shows_its_engine(self):
        self.assertEqual(self.sale_journal.invoice_engine_id, self.engine)
        self.engine.journal_ids = self.export_journal
        self.sale_journal.invalidate_recordset(["invoice_engine_id"])
        self.assertFalse(self.sale_journal.invoice_engine_id)

    def test_numbering_of_another_company_engine_is_refused(self):
        other_company = self.setup_other_company()["company"]
        other_engine = self.engine.copy({"company_id": other_company.id, "name": "Other"})
        foreign = self.env["invoice.engine.numbering"].create(
            {"engine_id": other_engine.id, "remote_id": "999", "name": "{YYYY}-{NNN}"}
        )
        with self.assertRaises(ValidationError):
            self.sale_journal.invoice_engine_numbering_id = foreign

    def test_a_numbering_the_engine_dropped_stays_while_a_journal_names_it(self):
        self.export_journal.invoice_engine_numbering_id = self.other_format
        self.engine._store_numberings([])
        self.assertTrue(self.other_format.exists(), "the journal still shows it")
        self.assertFalse(self.default_format.exists())

    def test_payment_journal_says_how_the_money_came(self):
        cash = self.company_data["default_journal_cash"]
        bank = self.company_data["default_journal_bank"]
        self.assertEqual((cash.invoice_engine_payment_means, bank.invoice_engine_payment_means), ("cash", "bank"))
        move = self.create_invoice()
        self.run_queue()
        wizard = self.env["account.payment.register"].with_context(
            active_model="account.move", active_ids=move.ids,
        ).create({"payment_date": "2026-11-12", "journal_id": cash.id})
        payment = wizard._create_payments()
        engine_payment = move.engine_payment_ids
        self.assertEqual(engine_payment.journal_id, cash)
        self.assertEqual(engine_payment.reference, payment.move_id.name)
        info = self.engine._payment_info(engine_payment)
        self.assertEqual(info.method, "cash")
        self.assertEqual(info.customer.name, self.customer_cz.name)
        self.assertEqual(info.reference, payment.move_id.name)
