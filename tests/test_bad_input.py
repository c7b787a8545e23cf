"""Data a person must fix, engine-neutral: a clear message, one activity, nothing sent, nothing lost.

What the engine itself refuses is engine-specific (``test_fakturoid_flows.py``).
"""
from decimal import Decimal

from odoo import Command
from odoo.tests import tagged

from .common import FakturoidCase
from .harness_fakturownia import FakturowniaCase
from .harness_smartbill import SmartBillCase


class BadInputTests:

    def assert_stopped_before_network(self, move, *fragments):
        self.assertEqual(move.engine_state, "error")
        for fragment in fragments:
            self.assertIn(fragment, move.engine_error)
        self.assertFalse(self.harness.requests("create_document"), "nothing may be created")
        activities = move.activity_ids.filtered(
            lambda activity: activity.activity_type_id == self.env.ref("account_invoice_engine.mail_activity_engine_problem")
        )
        self.assertEqual(len(activities), 1)
        self.assertIn(fragments[0], activities.note)

    def test_partner_without_name(self):
        nameless = self.env["res.partner"].create({"type": "invoice", "country_id": self.env.ref("base.cz").id})
        self.assertFalse(nameless.name)
        move = self.create_invoice(partner=nameless)
        self.run_queue()
        self.assert_stopped_before_network(move, "has no name")
        if self.harness.capabilities.keeps_customers:
            self.assertFalse(self.harness.requests("find_customer") + self.harness.requests("create_customer"),
                             "not even a customer lookup")

    def test_partner_without_country(self):
        self.customer.country_id = False
        move = self.create_invoice()
        self.run_queue()
        self.assert_stopped_before_network(move, "has no country", self.customer.name)

    def test_tax_without_vat_rate(self):
        eco_fee = self.env["account.tax"].create({
            "name": "Recyklační poplatek", "amount_type": "fixed", "amount": 5, "type_tax_use": "sale",
            "company_id": self.company.id,
        })
        move = self.create_invoice(lines=[(self.product_standard, 1, 100.0, 0.0, eco_fee)])
        self.run_queue()
        self.assert_stopped_before_network(move, "Recyklační poplatek", "VAT rates")

        # A manager maps it (to one of the engine's own rates where it lists them); retrying sends it
        # with the mapped rate.
        offered = self.engine.vat_rate_ids.filtered(lambda vat_rate: vat_rate.rate == self.vat_standard.amount)
        self.env["invoice.engine.tax"].create({"engine_id": self.engine.id, "tax_id": eco_fee.id,
                                             "vat_rate": self.vat_standard.amount,
                                             "engine_vat_rate_id": offered[:1].id})
        move.action_engine_send()
        self.run_queue()
        self.assertEqual(move.engine_state, "sent")
        self.assertEqual(self.remote_document(move)["vat_rates"], [Decimal(str(self.vat_standard.amount))])
        self.assertFalse(move.activity_ids, "the problem activity is closed once sent")

    def test_several_taxes_on_one_line(self):
        move = self.create_invoice(lines=[(self.product_standard, 1, 100.0, 0.0, self.vat_standard + self.vat_reduced)])
        self.run_queue()
        self.assert_stopped_before_network(move, "several taxes")

    def test_currency_without_rate(self):
        usd = self.env.ref("base.USD")
        usd.active = True
        self.env["res.currency.rate"].search([("currency_id", "=", usd.id)]).unlink()
        move = self.create_invoice(currency_id=usd.id)
        self.run_queue()
        self.assert_stopped_before_network(move, "no exchange rate for USD")

    def test_zero_line_invoice(self):
        move = self.env["account.move"].create({
            "move_type": "out_invoice",
            "partner_id": self.customer.id,
            "invoice_date": "2026-11-02",
            "invoice_line_ids": [Command.create({"display_type": "line_note", "name": "Jen poznámka"})],
        })
        move.action_post()
        self.run_queue()
        self.assert_stopped_before_network(move, "has no lines")

    def test_all_problems_are_listed_at_once(self):
        self.customer.country_id = False
        eco_fee = self.env["account.tax"].create({
            "name": "Poplatek", "amount_type": "fixed", "amount": 5, "type_tax_use": "sale", "company_id": self.company.id,
        })
        move = self.create_invoice(lines=[(self.product_standard, 1, 100.0, 0.0, eco_fee)])
        self.run_queue()
        self.assertIn("has no country", move.engine_error)
        self.assertIn("Poplatek", move.engine_error)

    def test_one_problem_message_per_problem(self):
        self.customer.country_id = False
        move = self.create_invoice()
        self.run_queue()
        move.action_engine_send()
        self.run_queue()
        problem_notes = move.message_ids.filtered(lambda message: "has no country" in (message.body or ""))
        self.assertEqual(len(problem_notes), 1, "the same problem is not posted twice")
        self.assertEqual(len(move.activity_ids), 1)

    def test_do_not_send(self):
        self.customer.country_id = False
        move = self.create_invoice()
        self.run_queue()
        move.action_engine_exclude()
        self.assertEqual(move.engine_state, "excluded")
        self.assertFalse(move.activity_ids)
        self.run_queue()
        self.assertEqual(move.engine_state, "excluded")


@tagged("post_install", "-at_install")
class TestBadInputFakturoid(BadInputTests, FakturoidCase):
    pass


@tagged("post_install", "-at_install")
class TestBadInputFakturownia(BadInputTests, FakturowniaCase):
    pass


@tagged("post_install", "-at_install")
class TestBadInputSmartBill(BadInputTests, SmartBillCase):
    pass
