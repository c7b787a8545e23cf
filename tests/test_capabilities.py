"""The shared pipeline follows what each engine's client says it can do (``Capabilities``).

Fakturoid keeps customers and lists payments; SmartBill embeds the customer in each document
and Fakturownia's answers differ again. These tests state another engine's capability on
Fakturoid's client to show that the shared code asks instead of assuming.
"""
from contextlib import contextmanager
from dataclasses import replace
from unittest.mock import patch

from odoo.tests import tagged

from ..engines.base import CUSTOMERS_EMBEDDED
from ..engines.fakturoid import FakturoidClient
from .common import FakturoidCase


@tagged("post_install", "-at_install")
class TestSharedCodeAsksTheCapabilities(FakturoidCase):

    @contextmanager
    def capabilities(self, **changes):
        with patch.object(FakturoidClient, "capabilities", replace(FakturoidClient.capabilities, **changes)):
            yield

    def test_an_engine_that_embeds_customers_gets_no_customer_calls(self):
        move = self.create_invoice()
        document = move._engine_document(self.engine)
        with self.capabilities(customers=CUSTOMERS_EMBEDDED):
            customer_id = self.engine._sync_customer(self.engine._client(), move.commercial_partner_id, document.customer)
        self.assertIsNone(customer_id)
        self.assertEqual(self.sandbox.requests, [])
        self.assertFalse(self.engine.partner_binding_ids)

    def test_a_lost_payment_answer_without_payment_read_back_goes_to_a_person(self):
        move = self.send_invoice_and_lose_a_payment_answer()
        with self.capabilities(reads_back_payments=False):
            self.run_queue_later(minutes=2)
        payment = move.engine_payment_ids
        self.assertEqual(payment.state, "error", "not sent a second time on a guess")
        self.assertIn("check there whether it was recorded", payment.last_error)
        self.assertEqual(len(self.harness.requests("record_payment")), 1)
