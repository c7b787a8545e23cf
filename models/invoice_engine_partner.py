from odoo import fields, models


class InvoiceEnginePartner(models.Model):
    """The link between an Odoo customer and its record in one engine.

    Managers can correct ``remote_id`` when a customer was linked to the wrong record.
    ``pushed_hash`` fingerprints what was last sent, so the customer is updated in the
    engine only when the data the engine holds has changed in Odoo.
    """

    _name = "invoice.engine.partner"
    _description = "Invoice Engine Customer Link"
    _order = "engine_id, partner_id"
    _rec_name = "partner_id"

    engine_id = fields.Many2one("invoice.engine", required=True, ondelete="cascade", index=True)
    company_id = fields.Many2one(related="engine_id.company_id", store=True)
    partner_id = fields.Many2one("res.partner", required=True, ondelete="cascade", index=True)
    remote_id = fields.Char(string="Remote ID", help="The customer's id in the engine (Fakturoid subject id).")
    pushed_hash = fields.Char(readonly=True, copy=False)
    last_push_at = fields.Datetime(string="Last sent", readonly=True)

    _sql_constraints = [
        ("partner_unique", "UNIQUE(engine_id, partner_id)", "A customer is linked once per engine."),
    ]

    def write(self, vals):
        if "remote_id" in vals and "pushed_hash" not in vals:
            # A relinked customer must be pushed again to its new record.
            vals = dict(vals, pushed_hash=False)
        return super().write(vals)
