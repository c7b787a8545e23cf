from odoo import _, api, fields, models
from odoo.exceptions import UserError


class InvoiceEngineCustomerLinkWizard(models.TransientModel):
    """Settle an ambiguous customer match: link one of the engine's records, or create a new one."""

    _name = "invoice.engine.customer.link.wizard"
    _description = "Choose a customer's record in the engine"

    binding_id = fields.Many2one("invoice.engine.partner", required=True, ondelete="cascade")
    partner_id = fields.Many2one(related="binding_id.partner_id")
    engine_id = fields.Many2one(related="binding_id.engine_id")
    candidate_ids = fields.One2many(related="binding_id.candidate_ids")
    candidate_id = fields.Many2one(
        "invoice.engine.partner.candidate",
        string="Record to link",
        domain="[('binding_id', '=', binding_id)]",
    )
    partner_identifiers = fields.Char(compute="_compute_partner_identifiers")

    @api.depends("partner_id")
    def _compute_partner_identifiers(self):
        for wizard in self:
            partner = wizard.partner_id
            wizard.partner_identifiers = ", ".join(filter(None, (partner.company_registry, partner.vat, partner.email)))

    def action_link(self):
        self.ensure_one()
        if not self.candidate_id:
            raise UserError(_("Choose the record to link, or create a new one."))
        self.binding_id._link_candidate(self.candidate_id)
        return {"type": "ir.actions.act_window_close"}

    def action_create_new(self):
        self.ensure_one()
        self.binding_id._create_new_record()
        return {"type": "ir.actions.act_window_close"}
