from collections import defaultdict

from odoo import _, api, fields, models
from odoo.exceptions import ValidationError

from ..engines import document as neutral
from .account_move import ENGINE_ATTENTION_STATES, ENGINE_OPEN_STATES

AUTO_SEND_CHOICES = [
    ("engine", "As the engine says"),
    ("auto", "On posting"),
    ("manual", "With the button only"),
]
PAYMENT_MEANS = [
    (neutral.PAYMENT_BANK, "Bank transfer"),
    (neutral.PAYMENT_CASH, "Cash"),
    (neutral.PAYMENT_CARD, "Card"),
]


class AccountJournal(models.Model):
    """A sales journal is a sales channel: it chooses the engine's numbering and whether posting sends.

    The engine covering the journal keeps the defaults (``invoice.engine.numbering_id``,
    ``refund_numbering_id``, ``auto_send``); a journal overrides them. A bank or cash journal
    says how the money it records was received, which some engines print on the receipt.
    """

    _inherit = "account.journal"

    invoice_engine_id = fields.Many2one(
        "invoice.engine", string="Invoice engine", compute="_compute_invoice_engine_id",
        help="The engine that receives this journal's invoices and credit notes.",
    )
    invoice_engine_auto_send = fields.Selection(
        AUTO_SEND_CHOICES, string="Send to the engine", default="engine", required=True,
        help="When this journal's invoices go to the engine: as the engine's “Send on posting” says, "
        "always on posting, or only with the “Send to engine” button.",
    )
    invoice_engine_numbering_id = fields.Many2one(
        "invoice.engine.numbering", string="Engine numbering",
        domain="[('engine_id', '=', invoice_engine_id), ('usage', '=', 'documents')]",
        help="The engine's number series (or department) for this journal's invoices. Empty: the engine's default.",
    )
    invoice_engine_refund_numbering_id = fields.Many2one(
        "invoice.engine.numbering", string="Engine numbering for credit notes",
        domain="[('engine_id', '=', invoice_engine_id), ('usage', '=', 'documents')]",
        help="The engine's number series for this journal's credit notes. Empty: the engine's default for "
        "credit notes, else the invoices' one.",
    )
    invoice_engine_payment_means = fields.Selection(
        PAYMENT_MEANS, string="Payments received by",
        compute="_compute_invoice_engine_payment_means", store=True, readonly=False,
        help="How the payments recorded in this journal were received, as the engine records them "
        "(bank transfer, cash receipt, card).",
    )

    def _fill_sale_purchase_dashboard_data(self, dashboard_data):
        """The Accounting dashboard's sales journal cards: what waits for the engine and what to fix."""
        super()._fill_sale_purchase_dashboard_data(dashboard_data)
        sale_journals = self.filtered(lambda journal: journal.type == "sale")
        if not sale_journals:
            return
        counts = defaultdict(int)
        for journal, state, count in self.env["account.move"]._read_group(
            [("journal_id", "in", sale_journals.ids), ("engine_state", "in", ENGINE_OPEN_STATES)],
            ["journal_id", "engine_state"], ["__count"],
        ):
            kind = "engine_to_fix" if state in ENGINE_ATTENTION_STATES else "engine_queued"
            counts[journal.id, kind] += count
        for journal in sale_journals:
            engine = journal.invoice_engine_id
            dashboard_data[journal.id].update({
                "engine_label": engine.name or "",
                "engine_queued": counts[journal.id, "engine_queued"],
                "engine_to_fix": counts[journal.id, "engine_to_fix"],
            })

    @api.depends("company_id", "type")
    def _compute_invoice_engine_id(self):
        engines = self.env["invoice.engine"]
        for journal in self:
            journal.invoice_engine_id = engines._find_for_journal(journal) if journal.type == "sale" else False

    @api.depends("type")
    def _compute_invoice_engine_payment_means(self):
        for journal in self:
            journal.invoice_engine_payment_means = (
                neutral.PAYMENT_CASH if journal.type == "cash" else neutral.PAYMENT_BANK
            )

    @api.constrains("invoice_engine_numbering_id", "invoice_engine_refund_numbering_id")
    def _check_invoice_engine_numbering(self):
        for journal in self:
            for numbering in journal.invoice_engine_numbering_id | journal.invoice_engine_refund_numbering_id:
                if numbering.engine_id.company_id != journal.company_id or numbering.usage != neutral.NUMBERING_DOCUMENTS:
                    raise ValidationError(_(
                        "The journal “%(journal)s” can only use a document numbering of an engine of its own company.",
                        journal=journal.display_name,
                    ))

    def _invoice_engine_sends_on_post(self, engine):
        self.ensure_one()
        if self.invoice_engine_auto_send == "engine":
            return engine.auto_send
        return self.invoice_engine_auto_send == "auto"
