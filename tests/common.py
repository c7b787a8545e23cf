from contextlib import contextmanager
from datetime import timedelta
from decimal import ROUND_HALF_UP, Decimal
from unittest.mock import patch

from freezegun import freeze_time

from odoo import SUPERUSER_ID, Command, api, fields
from odoo.addons.account.tests.common import AccountTestInvoicingCommon

from .harness_fakturoid import CLIENT_ID, CLIENT_SECRET, SLUG, FakturoidHarness
from .loopback import LoopbackHttpMixin

__all__ = ["CLIENT_ID", "CLIENT_SECRET", "SLUG", "FakturoidCase", "InvoiceEngineCase"]


class InvoiceEngineCase(LoopbackHttpMixin, AccountTestInvoicingCommon):
    """A company whose engine is the local sandbox of ``harness_class``, reached over real HTTP.

    The default harness is Fakturoid (a Czech company); an engine's case is a subclass
    naming its harness (``tests/harness.py``). The registry is in test mode so that the
    sending job's own commits and the token refresh's separate cursor become savepoints
    of the test transaction.
    """

    harness_class = FakturoidHarness

    @classmethod
    def setUpClass(cls):
        cls.harness = cls.harness_class()
        cls.country_code = cls.harness.country_code.upper()  # read by AccountTestInvoicingCommon
        cls.chart_template = cls.harness.chart_template
        super().setUpClass()
        cls.sandbox = cls.harness.start().sandbox
        cls.addClassCleanup(cls.harness.stop)
        if cls.registry.test_cr is None:  # HttpCase enters it on its own
            cls.registry.enter_test_mode(cls.cr)
            cls.addClassCleanup(cls.registry.leave_test_mode)

        cls.company = cls.company_data["company"]
        cls.company.write({"tax_calculation_rounding_method": "round_globally", "email": "ucetni@firma.cz"})
        standard, reduced = cls.harness.vat_rates
        cls.vat_standard = cls._create_sale_tax(f"{cls.harness.tax_label} {standard} %", standard)
        cls.vat_reduced = cls._create_sale_tax(f"{cls.harness.tax_label} {reduced} %", reduced)
        cls.sale_journal = cls.company_data["default_journal_sale"]

        cls.engine = cls.env["invoice.engine"].create({
            "name": cls.harness.label,
            "company_id": cls.company.id,
            "contact_email": "ucetni@firma.cz",
            **cls.harness.engine_values(),
        })
        cls.customer = cls.env["res.partner"].create(cls.harness.customer_values(cls.env))
        cls.second_customer = cls.env["res.partner"].create(cls.harness.second_customer_values(cls.env))
        cls.product_standard = cls._create_product(
            name="Konzultace", lst_price=1000.0, taxes_id=[Command.set(cls.vat_standard.ids)])
        cls.product_reduced = cls._create_product(
            name="Kniha", lst_price=250.0, taxes_id=[Command.set(cls.vat_reduced.ids)])
        cls.harness.reset()
        cls.harness.prepare_engine(cls.engine)

    @classmethod
    def _create_sale_tax(cls, name, rate):
        return cls.env["account.tax"].create({
            "name": name,
            "amount": rate,
            "amount_type": "percent",
            "type_tax_use": "sale",
            "company_id": cls.company.id,
        })

    def setUp(self):
        super().setUp()
        self.reset_sandbox()

    def reset_sandbox(self):
        """An engine account that knows nothing yet."""
        self.harness.reset()

    # ------------------------------------------------------------------
    # Helpers
    # ------------------------------------------------------------------

    def create_invoice(self, partner=None, lines=None, move_type="out_invoice", post=True, **values):
        """``lines``: (product, quantity, price_unit[, discount[, taxes]]) tuples."""
        lines = lines or [(self.product_standard, 2, 1000.0)]
        move = self.env["account.move"].create({
            "move_type": move_type,
            "partner_id": (partner or self.customer).id,
            "invoice_date": values.pop("invoice_date", fields.Date.from_string("2026-11-02")),
            "journal_id": self.sale_journal.id,
            "invoice_line_ids": [Command.create(self._line_values(*line)) for line in lines],
            **values,
        })
        if post:
            move.action_post()
        return move

    def create_discounted_invoice(self):
        """Two discounted lines at odd prices and a plain one: totals that must round like Odoo's."""
        return self.create_invoice(lines=[
            (self.product_standard, 3, 333.33, 7.5),
            (self.product_reduced, 7, 19.99, 12.5),
            (self.product_standard, 1, 1000.0),
        ])

    def gross(self, net, tax=None):
        """``net`` with ``tax`` (default: the standard rate), to the cent: what a simple line totals."""
        rate = Decimal(str((tax or self.vat_standard).amount))
        return (Decimal(str(net)) * (100 + rate) / 100).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)

    def _line_values(self, product, quantity, price_unit, discount=0.0, taxes=None):
        return {
            "product_id": product.id,
            "quantity": quantity,
            "price_unit": price_unit,
            "discount": discount,
            "tax_ids": [Command.set((taxes if taxes is not None else product.taxes_id).ids)],
        }

    def refund(self, invoice, quantity=None):
        """The credit note of the reversal wizard, posted; ``quantity`` replaces its first line's."""
        reversal = self.env["account.move.reversal"].with_context(
            active_model="account.move", active_ids=invoice.ids
        ).create({"reason": "Vrácené zboží", "journal_id": invoice.journal_id.id, "date": "2026-11-10"})
        credit_note = self.env["account.move"].browse(reversal.refund_moves()["res_id"])
        if quantity is not None:
            credit_note.invoice_line_ids[0].quantity = quantity
        credit_note.action_post()
        return credit_note

    def send_invoice_and_lose_a_payment_answer(self):
        """A sent invoice whose payment the engine stored while its answer never reached Odoo."""
        move = self.create_invoice()
        self.run_queue()
        self.register_payment(move)
        self.harness.inject("reset_after_store", "record_payment")
        self.run_queue()
        self.assertEqual(move.engine_payment_ids.state, "sending")
        return move

    def register_payment(self, move, amount=None, date="2026-11-12"):
        wizard = self.env["account.payment.register"].with_context(
            active_model="account.move", active_ids=move.ids
        ).create({"payment_date": date, **({"amount": amount} if amount else {})})
        return wizard._create_payments()

    def run_queue(self):
        """Run the scheduled action the way a cron worker does, on a cursor of its own."""
        self.env.flush_all()
        with self.registry.cursor() as cr:
            api.Environment(cr, SUPERUSER_ID, {})["invoice.engine"]._cron_send()
        self.env.invalidate_all()

    def run_queue_later(self, **delta):
        """Run the queue once postponed work is due (``delta`` as for ``timedelta``)."""
        with freeze_time(fields.Datetime.now() + timedelta(**delta)):
            self.run_queue()

    def remote_document(self, move):
        """The engine's one document for ``move``, in the harness's neutral shape."""
        matches = self.harness.documents_of(move)
        self.assertEqual(len(matches), 1, f"expected exactly one remote document for {move.name}")
        return matches[0]

    def remote_payments(self, move):
        return [payment for payment in self.harness.payments() if payment["document_id"] == move.engine_remote_id]

    # Engine-specific tests read the engine's own records (Fakturoid's: subjects, invoices, payments).

    def remote(self, kind="invoices"):
        return self.harness.state()[kind]

    def remote_invoice(self, move):
        return self.remote_document(move)["raw"]

    def requests_to(self, path_part, method=None):
        return [
            request for request in self.sandbox.requests
            if path_part in request["path"] and (method is None or request["method"] == method)
        ]

    @contextmanager
    def assert_no_http(self):
        """Fail if anything tries to send an HTTP request inside the block."""
        import requests

        def refuse(*args, **kwargs):
            raise AssertionError("an HTTP request was made")

        before = len(self.sandbox.requests)
        with patch.object(requests.Session, "send", refuse):
            yield
        self.assertEqual(len(self.sandbox.requests), before)


class FakturoidCase(InvoiceEngineCase):
    """The case of the Fakturoid flow tests: a Czech company, Fakturoid on the sandbox.

    Its tests name the Czech rates and customers: DPH 21 % and 12 %, a Czech and a Slovak company.
    """

    harness_class = FakturoidHarness

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.vat_21, cls.vat_12 = cls.vat_standard, cls.vat_reduced
        cls.product_21, cls.product_12 = cls.product_standard, cls.product_reduced
        cls.customer_cz, cls.customer_sk = cls.customer, cls.second_customer
