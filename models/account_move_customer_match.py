from odoo import api, fields, models


class AccountMove(models.Model):
    _inherit = "account.move"

    engine_customer_to_choose = fields.Boolean(
        compute="_compute_engine_customer_to_choose",
        help="The engine holds several records that may be this invoice's customer: a person chooses one.",
    )

    @api.depends("engine_state", "engine_id", "commercial_partner_id")
    def _compute_engine_customer_to_choose(self):
        waiting = self.filtered(lambda move: move.engine_state == "error")
        bindings = self.env["invoice.engine.partner"].sudo().search([
            ("engine_id", "in", waiting.engine_id.ids),
            ("partner_id", "in", waiting.commercial_partner_id.ids),
            ("match_state", "=", "ambiguous"),
        ])
        ambiguous = {(binding.engine_id, binding.partner_id) for binding in bindings}
        for move in self:
            move.engine_customer_to_choose = (move.engine_id, move.commercial_partner_id) in ambiguous \
                and move.engine_state == "error"

    def action_engine_choose_customer(self):
        self.ensure_one()
        binding = self.env["invoice.engine.partner"].search([
            ("engine_id", "=", self.engine_id.id),
            ("partner_id", "=", self.commercial_partner_id.id),
        ])
        return binding.action_choose_record()
