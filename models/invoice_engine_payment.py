from decimal import Decimal

from odoo import api, fields, models

PAYMENT_STATES = [
    ("to_send", "To send"),
    ("sending", "Sending"),
    ("sent", "Recorded"),
    ("to_delete", "To remove"),
    ("deleted", "Removed"),
    ("error", "Error"),
    ("delete_error", "Removal refused"),  # still in the engine: a person removes it there
]


class InvoiceEnginePayment(models.Model):
    """One Odoo reconciliation of a sent invoice, mirrored as a payment in the engine.

    Created when a payment is reconciled with the invoice and marked ``to_delete`` when it
    is unreconciled; the sending job does the calls, so reconciling never waits on HTTP.
    """

    _name = "invoice.engine.payment"
    _description = "Invoice Engine Payment"
    _order = "id"

    engine_id = fields.Many2one("invoice.engine", required=True, ondelete="cascade", index=True)
    company_id = fields.Many2one(related="engine_id.company_id", store=True)
    move_id = fields.Many2one("account.move", required=True, ondelete="cascade", index=True)
    partial_id = fields.Many2one("account.partial.reconcile", ondelete="set null", index="btree_not_null")
    key = fields.Char(required=True, index=True)
    amount = fields.Monetary(required=True, currency_field="currency_id")
    currency_id = fields.Many2one("res.currency", required=True)
    date = fields.Date(required=True)
    journal_id = fields.Many2one(
        "account.journal", string="Received in", ondelete="set null",
        help="The journal of the payment: it says how the money came (bank, cash, card).",
    )
    reference = fields.Char(help="The Odoo payment or statement line that paid the invoice.")
    state = fields.Selection(PAYMENT_STATES, default="to_send", required=True, index=True)
    remote_id = fields.Char(string="Remote ID", readonly=True)
    next_attempt_at = fields.Datetime(readonly=True)
    attempts = fields.Integer(readonly=True)
    last_error = fields.Text(readonly=True)

    _sql_constraints = [
        ("key_unique", "UNIQUE(engine_id, key)", "A reconciliation is recorded once per engine."),
    ]

    def _amount_decimal(self):
        self.ensure_one()
        return Decimal(str(self.amount)).quantize(Decimal("0.01"))

    @api.model
    def _track_reconciliations(self, partials):
        """Register payments for sent (or still queued) invoices reconciled by ``partials``."""
        values = []
        for partial in partials:
            for invoice_line, counterpart_line, amount in (
                (partial.debit_move_id, partial.credit_move_id, partial.debit_amount_currency),
                (partial.credit_move_id, partial.debit_move_id, partial.credit_amount_currency),
            ):
                invoice = invoice_line.move_id
                if not self._is_engine_payment(invoice, counterpart_line.move_id):
                    continue
                values.append({
                    "engine_id": invoice.engine_id.id,
                    "move_id": invoice.id,
                    "partial_id": partial.id,
                    "key": f"partial-{partial.id}",
                    "amount": amount,
                    "currency_id": invoice.currency_id.id,
                    "date": max(counterpart_line.date, invoice.invoice_date or counterpart_line.date),
                    "journal_id": counterpart_line.journal_id.id,
                    "reference": counterpart_line.move_id.name,
                })
        if values:
            self.sudo().create(values)
            self.env.ref("account_invoice_engine.ir_cron_invoice_engine_send").sudo()._trigger()

    @api.model
    def _is_engine_payment(self, invoice, counterpart):
        # Only money received against an invoice: a credit note reconciled with its invoice is
        # already expressed in the engine by the correction document.
        return (
            invoice.move_type == "out_invoice"
            and invoice.engine_id
            and invoice.engine_state in ("queued", "sending", "sent")
            and not counterpart.is_invoice(include_receipts=True)
        )

    @api.model
    def _track_unreconciliations(self, partials):
        payments = self.sudo().search([("partial_id", "in", partials.ids)])
        never_sent = payments.filtered(lambda payment: payment.state in ("to_send", "error"))
        recorded = payments.filtered(lambda payment: payment.state in ("sending", "sent"))
        never_sent.unlink()
        if recorded:
            recorded.write({"state": "to_delete", "next_attempt_at": False, "attempts": 0})
            self.env.ref("account_invoice_engine.ir_cron_invoice_engine_send").sudo()._trigger()
