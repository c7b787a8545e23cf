"""Send & Print and Print give the engine's legal PDF, never Odoo's in its place; every engine."""
from unittest.mock import patch

from odoo.exceptions import UserError
from odoo.tests import HttpCase, tagged

from .common import FakturoidCase
from .harness_fakturownia import FakturowniaCase
from .harness_smartbill import SmartBillCase


class SendPrintTests:

    def setUp(self):
        super().setUp()
        self.customer.email = "invoices@customer.example"

    # -- helpers -----------------------------------------------------------

    def send_and_print_wizard(self, move):
        return self.env["account.move.send.wizard"].with_context(
            active_model="account.move", active_ids=move.ids).create({})

    def sent_mails(self, move):
        return move.message_ids.filtered(lambda message: message.message_type == "comment")

    def invoice_documents(self, move):
        return self.env["ir.attachment"].search([
            ("res_model", "=", "account.move"), ("res_id", "=", move.id), ("res_field", "=", "invoice_pdf_report_file"),
        ])

    def assert_mailed_with_engine_pdf(self, move):
        mails = self.sent_mails(move)
        self.assertEqual(len(mails), 1, "one e-mail to the customer")
        self.assertEqual(mails.attachment_ids.mapped("raw"), [move.engine_pdf_id.raw],
                         "the engine's PDF, and nothing rendered by Odoo")
        self.assertIn(move.engine_display_number, mails.subject)
        self.assertNotIn(move.name, mails.subject)
        self.assertIn(move.engine_display_number, mails.body)
        self.assertEqual(self.invoice_documents(move), move.engine_pdf_id)

    def create_sent_invoice(self):
        move = self.create_invoice()
        self.run_queue()
        self.assertEqual(move.engine_state, "sent")
        self.assertTrue(move.engine_pdf_id)
        return move

    # -- the engine's PDF is the invoice document ----------------------------

    def test_the_engine_pdf_is_the_invoice_document(self):
        move = self.create_sent_invoice()
        self.assertEqual(move.invoice_pdf_report_id, move.engine_pdf_id)
        legal = move._get_invoice_legal_documents("pdf")
        self.assertEqual(legal["content"], move.engine_pdf_id.raw)
        self.assertEqual(legal["filename"], f"{move.engine_display_number.replace('/', '-')}.pdf")
        action = move.action_print_pdf()
        self.assertEqual(action["type"], "ir.actions.act_url")
        self.assertIn(f"/account/download_invoice_documents/{move.id}/pdf", action["url"])

    def test_send_and_print_emails_the_engine_pdf_under_its_number(self):
        move = self.create_sent_invoice()
        wizard = self.send_and_print_wizard(move)
        self.assertIn(move.engine_display_number, wizard.mail_subject)
        self.assertNotIn(move.name, wizard.mail_subject)
        self.assertEqual([a["name"] for a in wizard.mail_attachments_widget if not a.get("placeholder")][:1],
                         [move.engine_pdf_id.name])
        self.assertFalse([a for a in wizard.mail_attachments_widget if a.get("placeholder")], "nothing to render")
        with patch.object(type(self.env["ir.actions.report"]), "_pre_render_qweb_pdf",
                          side_effect=AssertionError("Odoo rendered its own PDF")):
            wizard.action_send_and_print()
        self.assert_mailed_with_engine_pdf(move)

    def test_an_odoo_pdf_made_before_gives_way_to_the_engines(self):
        move = self.create_invoice()
        odoo_pdf = self.env["ir.attachment"].create({
            "name": "INV_odoo.pdf", "raw": b"%PDF-1.4 Odoo's own", "mimetype": "application/pdf",
            "res_model": "account.move", "res_id": move.id, "res_field": "invoice_pdf_report_file",
        })
        self.assertEqual(move.invoice_pdf_report_id, odoo_pdf)
        self.run_queue()
        self.assertEqual(move.invoice_pdf_report_id, move.engine_pdf_id)
        self.assertTrue(odoo_pdf.exists(), "Odoo's PDF is kept, as an attachment")
        self.assertFalse(odoo_pdf.res_field)
        self.assertTrue(any("no longer sent nor downloaded" in message.body for message in move.message_ids))

    def test_the_portal_names_the_invoice_by_its_legal_number(self):
        for template in ("account.portal_my_invoices", "account.portal_my_home_menu_invoice"):
            combined = self.env.ref(template).get_combined_arch()
            self.assertIn("invoice.sudo().engine_display_number", combined, f"{template} shows the legal number")

    # -- before the engine's PDF arrives -------------------------------------

    def test_send_waits_for_the_engine_pdf_and_then_sends_it(self):
        move = self.create_invoice()
        wizard = self.send_and_print_wizard(move)
        self.assertIn("account_invoice_engine_pdf_pending", wizard.alerts)
        self.assertTrue(all(self.harness.label not in a["name"] or a.get("placeholder")
                            for a in wizard.mail_attachments_widget))
        wizard.mail_body = wizard.mail_body + "<p>Děkujeme / Thank you</p>"
        with patch.object(type(self.env["ir.actions.report"]), "_pre_render_qweb_pdf",
                          side_effect=AssertionError("Odoo rendered its own PDF")):
            wizard.action_send_and_print()
        self.assertFalse(self.sent_mails(move), "nothing goes out before the engine's PDF")
        self.assertFalse(self.invoice_documents(move))
        self.assertTrue(move.engine_deferred_sending)
        with self.assertRaisesRegex(UserError, "has not returned the PDF"):
            move.action_print_pdf()

        self.run_queue()
        self.assertFalse(move.engine_deferred_sending)
        self.assert_mailed_with_engine_pdf(move)
        self.assertIn("Thank you", self.sent_mails(move).body, "the text the person wrote is kept")

    def test_batch_send_waits_through_odoos_job_too(self):
        moves = self.create_invoice() + self.create_invoice(lines=[(self.product_reduced, 1, 250.0)])
        batch = self.env["account.move.send.batch.wizard"].with_context(
            active_model="account.move", active_ids=moves.ids).create({})
        self.assertIn("account_invoice_engine_pdf_pending", batch.alerts)
        batch.action_send_and_print()
        notifications = []
        with patch.object(type(self.env["res.partner"]), "_bus_send", autospec=True,
                          side_effect=lambda partner, kind, payload: notifications.append((partner, payload))):
            self.env["account.move"]._cron_account_move_send()
        self.assertEqual([(partner, payload["title"], sorted(payload["action_button"]["res_ids"]))
                          for partner, payload in notifications],
                         [(self.env.user.partner_id, "Waiting for the engine's PDF", sorted(moves.ids))],
                         "the author is told they wait, not that they were sent")
        self.assertFalse(any(moves.mapped("sending_data")), "Odoo's job does not pick them up again")
        self.assertTrue(all(moves.mapped("engine_deferred_sending")))
        self.assertFalse(self.sent_mails(moves))
        self.run_queue()
        for move in moves:
            self.assert_mailed_with_engine_pdf(move)

    def test_an_invoice_that_needs_attention_is_named_in_the_wizard(self):
        move = self.create_invoice()
        move._engine_write({"engine_state": "error", "engine_error": "Fix me"})
        wizard = self.send_and_print_wizard(move)
        self.assertIn("account_invoice_engine_not_in_engine", wizard.alerts)
        self.assertNotIn("account_invoice_engine_pdf_pending", wizard.alerts)

    def test_excluding_drops_the_waiting_sending_and_says_so(self):
        move = self.create_invoice()
        self.send_and_print_wizard(move).action_send_and_print()
        self.assertTrue(move.engine_deferred_sending)
        move.action_engine_exclude()
        self.assertFalse(move.engine_deferred_sending)
        self.assertTrue(any("sending that waited" in message.body for message in move.message_ids))

    # -- moves the engine does not cover keep Odoo's own flow -----------------

    def test_an_invoice_outside_the_engine_keeps_odoos_pdf(self):
        self.engine.journal_ids = self.sale_journal
        other_journal = self.sale_journal.copy({"name": "Export", "code": "EXP"})
        move = self.create_invoice(journal_id=other_journal.id)
        self.assertFalse(move.engine_state)
        self.assertFalse(move._engine_waits_for_pdf())
        # Odoo's report (or, before the company's layout is set, Odoo's layout wizard leading to it)
        self.assertIn(move.action_print_pdf()["type"], ("ir.actions.report", "ir.actions.act_window"))
        wizard = self.send_and_print_wizard(move)
        self.assertFalse({"account_invoice_engine_pdf_pending", "account_invoice_engine_not_in_engine"}
                         & set(wizard.alerts or {}))
        rendered = []

        def render(_send, invoices_data):  # Odoo's rendering, without wkhtmltopdf
            for invoice, invoice_data in invoices_data.items():
                rendered.append(invoice)
                invoice_data["pdf_attachment_values"] = {
                    "name": invoice._get_invoice_report_filename(), "raw": b"%PDF-1.4 Odoo's own",
                    "mimetype": "application/pdf", "res_model": invoice._name, "res_id": invoice.id,
                    "res_field": "invoice_pdf_report_file",
                }

        with patch.object(type(self.env["account.move.send"]), "_prepare_invoice_pdf_report", autospec=True,
                          side_effect=render):
            wizard.action_send_and_print()
        self.assertEqual(rendered, [move], "Odoo renders its own PDF as before")
        self.assertEqual(self.sent_mails(move).attachment_ids.mapped("raw"), [b"%PDF-1.4 Odoo's own"])
        self.assertFalse(move.engine_deferred_sending)


@tagged("post_install", "-at_install")
class TestSendPrintFakturoid(SendPrintTests, FakturoidCase):
    pass


@tagged("post_install", "-at_install")
class TestSendPrintFakturownia(SendPrintTests, FakturowniaCase):
    pass


@tagged("post_install", "-at_install")
class TestSendPrintSmartBill(SendPrintTests, SmartBillCase):
    pass


@tagged("post_install", "-at_install")
class TestThePortalShowsTheEnginePdf(SmartBillCase, HttpCase):
    """The customer's invoice page, over real HTTP as the customer opens it (access token, no login)."""

    def portal_get(self, move, **params):
        return self.url_open(move.get_portal_url(**params).replace(self.base_url(), ""))

    def test_the_page_embeds_the_engine_pdf_and_its_links_give_it(self):
        move = self.create_invoice()
        self.run_queue()
        self.assertTrue(move._engine_owns_invoice_document())
        embedded = self.portal_get(move, report_type="html")
        self.assertEqual(embedded.status_code, 200)
        self.assertIn("report_type=pdf", embedded.text)
        self.assertIn("access_token=", embedded.text)
        self.assertNotIn(move.name, embedded.text, "nothing of Odoo's rendering, nor Odoo's number")
        self.assertIn('id="wrapwrap"', embedded.text, "the page's frame sizes itself to it")

        shown = self.portal_get(move, report_type="pdf")
        self.assertEqual(shown.headers["Content-Type"], "application/pdf")
        self.assertEqual(shown.content, move.engine_pdf_id.raw)
        self.assertIn("inline", shown.headers["Content-Disposition"])
        self.assertIn(move.engine_pdf_id.name, shown.headers["Content-Disposition"])

        downloaded = self.portal_get(move, report_type="pdf", download=True)
        self.assertEqual(downloaded.content, move.engine_pdf_id.raw)
        self.assertIn("attachment", downloaded.headers["Content-Disposition"])
        self.assertIn(move.engine_pdf_id.name, downloaded.headers["Content-Disposition"])

    def test_without_the_token_nothing_is_shown(self):
        move = self.create_invoice()
        self.run_queue()
        response = self.url_open(f"/my/invoices/{move.id}?report_type=pdf", allow_redirects=False)
        self.assertNotEqual(response.headers.get("Content-Type"), "application/pdf")
        self.assertNotIn(move.engine_pdf_id.raw, response.content)

    def test_an_invoice_the_engine_does_not_cover_keeps_odoos_page(self):
        self.engine.journal_ids = self.sale_journal
        other_journal = self.sale_journal.copy({"name": "Export", "code": "EXP"})
        move = self.create_invoice(journal_id=other_journal.id)
        page = self.portal_get(move, report_type="html")
        self.assertEqual(page.status_code, 200)
        self.assertIn(move.name, page.text, "Odoo's own HTML report")
        self.assertNotIn("report_type=pdf", page.text)
