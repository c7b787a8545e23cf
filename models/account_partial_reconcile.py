from odoo import api, models


class AccountPartialReconcile(models.Model):
    _inherit = "account.partial.reconcile"

    @api.model_create_multi
    def create(self, vals_list):
        partials = super().create(vals_list)
        self.env["invoice.engine.payment"]._track_reconciliations(partials)
        return partials

    def unlink(self):
        self.env["invoice.engine.payment"]._track_unreconciliations(self)
        return super().unlink()
