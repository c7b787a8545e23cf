"""Never twice to ANAF: SmartBill beside Odoo's own RO e-Factura (``l10n_ro_edi``), as a Romanian
company has them: the Romanian chart, ANAF credentials configured in Odoo, and SmartBill.

``scripts/test.sh`` installs ``l10n_ro_edi`` in the test database for these tests. ANAF's SPV
(``make_efactura_request``, the one function of Odoo's module that calls it) is replaced by a
fake that fails loudly when an invoice SmartBill covers reaches it, and that answers as ANAF does
for the invoices Odoo still submits itself.
"""
from unittest.mock import patch

import odoo.modules.module
from odoo.exceptions import UserError
from odoo.modules.registry import Registry
from odoo.tests import HttpCase, tagged
from odoo.tests.common import get_db_name

from .harness_smartbill import SmartBillCase, SmartBillHarness
from .test_tours import TourMixin

SPV = "odoo.addons.l10n_ro_edi.models.ciusro_document.make_efactura_request"
# ANAF's answer to an accepted upload (ExecutionStatus 0), as l10n_ro_edi reads it
SPV_ACCEPTED = (b'<header xmlns="mfp:anaf:dgti:spv:respUploadFisier:v1" dateResponse="202611021200" '
                b'ExecutionStatus="0" index_incarcare="5001234"/>')
REASON = "SmartBill submits this invoice to ANAF: Odoo's “Send E-Factura to SPV” is off for it."


class SmartBillOnTheRomanianChart(SmartBillHarness):
    chart_template = "ro"


class RomanianCompanyCase(SmartBillCase):
    """SmartBill covers the company's sales journal; Odoo holds ANAF credentials too."""

    harness_class = SmartBillOnTheRomanianChart

    @classmethod
    def setUpClass(cls):
        if "l10n_ro_edi_state" not in Registry(get_db_name())["account.move"]._fields:
            raise AssertionError("These tests need Odoo's l10n_ro_edi: run them with scripts/test.sh, which installs it.")
        super().setUpClass()
        cls.company.write({
            "vat": "RO14399840",
            "company_registry": "J40/1000/2010",
            "street": "Str. Academiei 1",
            "city": "Sector 3",
            "zip": "030016",
            "state_id": cls.env.ref("base.RO_B").id,
            "l10n_ro_edi_client_id": "odoo-efactura-client",
            "l10n_ro_edi_client_secret": "odoo-efactura-secret",
            "l10n_ro_edi_access_token": "anaf-access-token",
        })
        cls.customer.write({"invoice_edi_format": "ciusro", "email": "facturi@client-test.ro"})
        cls.other_journal = cls.sale_journal.copy({"name": "Facturi Odoo", "code": "FODO"})

    def setUp(self):
        super().setUp()
        self.spv_calls = []
        self.spv_open = False  # only invoices Odoo submits itself may reach it, in the tests that say so
        for patcher in (
            patch(SPV, side_effect=self.fake_spv),
            # Odoo's runner names the running test here, and Send & Print then does not commit;
            # pytest-odoo does so only from Odoo 19.
            patch.object(odoo.modules.module, "current_test", self),
        ):
            patcher.start()
            self.addCleanup(patcher.stop)

    def fake_spv(self, session, company, endpoint, method, params, data=None):
        self.spv_calls.append({"endpoint": endpoint, "params": params, "data": data})
        if not self.spv_open:
            raise AssertionError(f"Odoo reached ANAF's SPV ({method} {endpoint}) for an invoice SmartBill submits")
        return {"content": SPV_ACCEPTED}

    # -- helpers -----------------------------------------------------------

    def send_and_print_wizard(self, move):
        return self.env["account.move.send.wizard"].with_context(
            active_model="account.move", active_ids=move.ids).create({})

    def sent_mails(self, move):
        return move.message_ids.filtered(lambda message: message.message_type == "comment")

    def render_odoos_pdf(self):
        """Odoo's own PDF, without wkhtmltopdf, for the invoices Odoo still renders."""
        def render(_send, invoices_data):
            for invoice, invoice_data in invoices_data.items():
                invoice_data["pdf_attachment_values"] = {
                    "name": invoice._get_invoice_report_filename(), "raw": b"%PDF-1.4 Odoo's own",
                    "mimetype": "application/pdf", "res_model": invoice._name, "res_id": invoice.id,
                    "res_field": "invoice_pdf_report_file",
                }
        return patch.object(type(self.env["account.move.send"]), "_prepare_invoice_pdf_report", autospec=True,
                            side_effect=render)

    def create_sent_invoice(self, **values):
        move = self.create_invoice(**values)
        self.run_queue()
        self.assertEqual(move.engine_state, "sent")
        return move

    def submit_through_odoo(self, move):
        """Odoo's own Send & Print with "Send E-Factura to SPV", the SPV answering as ANAF does."""
        self.spv_open = True
        wizard = self.send_and_print_wizard(move)
        self.assertTrue(wizard.extra_edi_checkboxes["ro_edi"]["checked"])
        self.assertFalse(wizard.extra_edi_checkboxes["ro_edi"].get("readonly"))
        with self.render_odoos_pdf():
            wizard.action_send_and_print()
        self.spv_open = False
        self.assertEqual(move.l10n_ro_edi_state, "invoice_sent", move.l10n_ro_edi_document_ids.mapped("message"))

    def assert_mailed_smartbills_pdf_only(self, move):
        mails = self.sent_mails(move)
        self.assertEqual(len(mails), 1)
        self.assertEqual(mails.attachment_ids.mapped("raw"), [move.engine_pdf_id.raw],
                         "the customer gets SmartBill's PDF, and no XML or PDF of Odoo's")

    def assert_nothing_reached_anaf_from_odoo(self, move):
        self.assertEqual(self.spv_calls, [])
        self.assertFalse(move.l10n_ro_edi_document_ids)
        self.assertFalse(move.l10n_ro_edi_state)
        self.assertFalse(move.ubl_cii_xml_id, "no CIUS-RO XML of Odoo's: SmartBill's document is the legal one")


@tagged("post_install", "-at_install")
class TestSmartBillSubmitsToAnafNotOdoo(RomanianCompanyCase):

    def test_send_and_print_offers_odoos_submission_off_and_says_why(self):
        move = self.create_sent_invoice()
        wizard = self.send_and_print_wizard(move)
        self.assertEqual(wizard.extra_edi_checkboxes["ro_edi"], {
            "checked": False, "readonly": True, "label": "Send E-Factura to SPV", "question_circle": REASON,
        })
        self.assertFalse(wizard.extra_edis)
        self.assertIn(REASON, [alert["message"] for alert in wizard.alerts.values()])
        self.assertFalse(wizard.invoice_edi_format, "no CIUS-RO XML")
        self.assertEqual([attachment["name"] for attachment in wizard.mail_attachments_widget],
                         [move.engine_pdf_id.name])
        wizard.action_send_and_print()
        self.assert_nothing_reached_anaf_from_odoo(move)
        self.assert_mailed_smartbills_pdf_only(move)

    def test_not_even_when_code_asks_for_it(self):
        move = self.create_sent_invoice()
        self.env["account.move.send"]._generate_and_send_invoices(
            move, sending_methods={"email"}, extra_edis={"ro_edi"}, invoice_edi_format="ciusro")
        self.assert_nothing_reached_anaf_from_odoo(move)
        self.assertEqual(len(self.sent_mails(move)), 1)

    def test_a_sending_that_waits_for_smartbills_pdf_stays_off_anaf(self):
        move = self.create_invoice()
        self.env["account.move.send"]._generate_and_send_invoices(
            move, sending_methods={"email"}, extra_edis={"ro_edi"}, invoice_edi_format="ciusro")
        self.assertTrue(move.engine_deferred_sending)
        self.run_queue()
        self.assertFalse(move.engine_deferred_sending)
        self.assert_nothing_reached_anaf_from_odoo(move)
        self.assert_mailed_smartbills_pdf_only(move)
        self.assertFalse(any("could not be sent" in message.body for message in move.message_ids))

    def test_batch_send_and_odoos_sending_job(self):
        moves = self.create_sent_invoice() + self.create_sent_invoice(lines=[(self.product_reduced, 1, 250.0)])
        batch = self.env["account.move.send.batch.wizard"].with_context(
            active_model="account.move", active_ids=moves.ids).create({})
        self.assertIn("SmartBill submits these 2 invoices to ANAF: Odoo's “Send E-Factura to SPV” is off for them.",
                      [alert["message"] for alert in batch.alerts.values()])
        batch.action_send_and_print()
        self.env["account.move"]._cron_account_move_send()
        for move in moves:
            self.assert_nothing_reached_anaf_from_odoo(move)
            self.assert_mailed_smartbills_pdf_only(move)

    def test_a_credit_note_too(self):
        invoice = self.create_sent_invoice()
        credit_note = invoice._reverse_moves([{"ref": "Retur"}])
        credit_note.action_post()
        self.run_queue()
        self.assertEqual(credit_note.engine_state, "sent")
        wizard = self.send_and_print_wizard(credit_note)
        self.assertTrue(wizard.extra_edi_checkboxes["ro_edi"]["readonly"])
        wizard.action_send_and_print()
        self.assert_nothing_reached_anaf_from_odoo(credit_note)


@tagged("post_install", "-at_install")
class TestOdoosOwnEFacturaOutsideSmartBill(RomanianCompanyCase):

    def test_an_invoice_outside_smartbills_journals_keeps_odoos_e_factura(self):
        self.engine.journal_ids = self.sale_journal
        move = self.create_invoice(journal_id=self.other_journal.id)
        self.assertFalse(move.engine_state)
        wizard = self.send_and_print_wizard(move)
        self.assertEqual(wizard.invoice_edi_format, "ciusro")
        self.assertNotIn(REASON, [alert["message"] for alert in (wizard.alerts or {}).values()])
        self.submit_through_odoo(move)
        self.assertEqual([call["endpoint"] for call in self.spv_calls], ["upload"])
        self.assertIn(move.name.encode(), self.spv_calls[0]["data"], "Odoo's CIUS-RO XML of this invoice")
        self.assertEqual(move.l10n_ro_edi_index, "5001234")
        self.assertTrue(move.ubl_cii_xml_id, "Odoo's CIUS-RO XML is attached as before")
        self.assertEqual(self.harness.requests("create_document"), [], "SmartBill is not involved")

    def test_an_invoice_marked_do_not_send_keeps_odoos_e_factura(self):
        move = self.create_invoice()
        move.action_engine_exclude()
        self.submit_through_odoo(move)
        self.assertEqual(len(self.spv_calls), 1)


@tagged("post_install", "-at_install")
class TestAMoveOdooSubmittedIsNotSentToSmartBill(RomanianCompanyCase):

    def submitted_by_odoo(self):
        move = self.create_invoice()
        move.action_engine_exclude()
        self.submit_through_odoo(move)
        self.spv_calls.clear()
        return move

    def test_send_to_engine_is_refused_in_words(self):
        move = self.submitted_by_odoo()
        with self.assertRaisesRegex(UserError, "Odoo has already submitted .* to ANAF itself") as refusal:
            move.action_engine_send()
        message = str(refusal.exception)
        self.assertIn("reference 5001234", message)
        self.assertIn("“Do not send”", message)
        self.assertIn("“Link existing document”", message)
        self.assertEqual(move.engine_state, "excluded", "nothing changed")
        self.assertEqual(self.sandbox.requests, [])

    def test_the_sending_job_refuses_it_and_a_person_decides(self):
        move = self.submitted_by_odoo()
        move._engine_enqueue(self.engine)  # queued as a batch would queue it, before the check
        self.run_queue()
        self.assertEqual(move.engine_state, "error")
        self.assertIn("SmartBill would submit it a second time under its own number", move.engine_error)
        self.assertIn("correct it with a credit note", move.engine_error)
        self.assertEqual(self.harness.requests("create_document"), [], "nothing issued in SmartBill")
        self.assertTrue(move.activity_ids, "someone is asked to decide")
        move.action_engine_exclude()
        self.assertEqual(move.engine_state, "excluded")
        self.assertEqual(move.l10n_ro_edi_state, "invoice_sent", "Odoo's submission is left as it is")
        self.assertEqual(self.spv_calls, [])


@tagged("post_install", "-at_install")
class TestTwoSubmittersAreNamed(RomanianCompanyCase):

    def test_the_engine_form_and_the_settings_warn(self):
        conflict = self.engine.submitter_conflict
        self.assertIn("Two submitters to ANAF are configured: SmartBill, and Odoo's own RO e-Factura (l10n_ro_edi)",
                      conflict)
        self.assertIn("SmartBill is the one used for the journals it covers (all sales journals)", conflict)
        shown = self.env["res.config.settings"].onchange(
            {}, [], {"company_id": {}, "invoice_engine_submitter_conflict": {}})["value"]
        self.assertEqual(shown["invoice_engine_submitter_conflict"], conflict, "what the settings form shows")

        self.engine.journal_ids = self.sale_journal
        self.assertIn(f"covers ({self.sale_journal.name})", self.engine.submitter_conflict)

    def test_no_warning_without_anaf_credentials_in_odoo(self):
        self.company.write({"l10n_ro_edi_client_id": False, "l10n_ro_edi_access_token": False})
        self.engine.invalidate_recordset(["submitter_conflict"])
        self.assertFalse(self.engine.submitter_conflict)


@tagged("post_install", "-at_install", "is_tour")
class TestTourSendAndPrintLeavesAnafToSmartBill(TourMixin, RomanianCompanyCase, HttpCase):

    def test_the_wizard_shows_odoos_submission_off_with_the_reason(self):
        move = self.create_sent_invoice()
        self.tour(self.form_url(move), "account_invoice_engine_anaf_once")
        self.assert_mailed_smartbills_pdf_only(move)
        self.assert_nothing_reached_anaf_from_odoo(move)
