"""The main paths in a real browser (Odoo's tours in headless Chromium): the tours click, these
tests prepare the data and check what each click left behind. Without Chromium, Odoo skips them."""
from odoo import Command
from odoo.tests import HttpCase, tagged

from .common import FakturoidCase
from .harness_fakturownia import FakturowniaCase


class TourMixin:

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        # Odoo's layout wizard would come first on Send & Print and Print: this company has a layout.
        cls.company.external_report_layout_id = cls.env.ref("web.external_layout_standard")
        cls.env.ref("base.user_admin").write({
            "company_ids": [Command.link(cls.company.id)], "company_id": cls.company.id,
        })

    def tour(self, url, name):
        self.env.flush_all()
        self.start_tour(url, name, login="admin", timeout=120)
        self.env.invalidate_all()

    def form_url(self, record):
        return f"/odoo/{record._name}/{record.id}"


@tagged("post_install", "-at_install", "is_tour")
class TestTourConfigure(TourMixin, FakturowniaCase, HttpCase):

    def test_configure_an_engine_from_settings_to_a_successful_test(self):
        engine = self.env["invoice.engine"].create({
            "name": "Tour Fakturownia", "company_id": self.company.id, "contact_email": "ksiegowa@firma.pl",
            "engine_type": "fakturownia", "base_url": self.harness.account_url,
        })
        self.assertFalse(engine.has_credentials)
        self.tour("/odoo/settings#account", "account_invoice_engine_configure")
        self.assertEqual(engine.state, "connected")
        self.assertTrue(engine.has_fakturownia_api_token)
        self.assertTrue(engine.numbering_ids, "the departments were loaded by the test")


@tagged("post_install", "-at_install", "is_tour")
class TestToursFakturoid(TourMixin, FakturoidCase, HttpCase):

    def setUp(self):
        super().setUp()
        self.customer.email = "invoices@customer.example"

    def test_post_see_it_sent_and_email_the_engine_pdf(self):
        move = self.create_invoice(post=False)
        self.tour(self.form_url(move), "account_invoice_engine_post")
        self.assertEqual(move.state, "posted")
        self.assertEqual(move.engine_state, "queued")
        self.run_queue()
        self.assertEqual(move.invoice_pdf_report_id, move.engine_pdf_id)
        self.tour(self.form_url(move), "account_invoice_engine_send_and_print")
        mail = move.message_ids.filtered(lambda message: message.message_type == "comment")
        self.assertEqual(len(mail), 1)
        self.assertEqual(mail.attachment_ids.mapped("raw"), [move.engine_pdf_id.raw])
        self.assertIn(move.engine_display_number, mail.subject)

    def test_fix_an_error_from_its_activity_and_retry(self):
        self.customer.country_id = False
        move = self.create_invoice()
        self.run_queue()
        self.assertEqual(move.engine_state, "error")
        self.tour(self.form_url(move), "account_invoice_engine_fix_and_retry")
        self.assertEqual(self.customer.country_id, self.env.ref("base.cz"))
        self.assertEqual(move.engine_state, "queued")
        self.run_queue()
        self.assertEqual(move.engine_state, "sent")
        self.assertFalse(move.activity_ids, "the activity closes once the invoice is sent")

    def test_relink_a_customer(self):
        self.create_invoice()
        self.run_queue()
        binding = self.env["invoice.engine.partner"].search([("engine_id", "=", self.engine.id),
                                                             ("partner_id", "=", self.customer.id)])
        self.assertTrue(binding.remote_id)
        self.tour(self.form_url(self.engine), "account_invoice_engine_relink_customer")
        self.assertEqual(binding.remote_id, "424242")

    def test_the_dashboard_opens_what_to_fix(self):
        self.customer.country_id = False
        self.create_invoice()
        self.run_queue()
        self.tour("/odoo/action-account.open_account_journal_dashboard_kanban", "account_invoice_engine_dashboard")
