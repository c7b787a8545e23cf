from odoo import _, api, fields, models


class ResConfigSettings(models.TransientModel):
    _inherit = "res.config.settings"

    invoice_engine_summary = fields.Char(compute="_compute_invoice_engine_summary")
    invoice_engine_submitter_conflict = fields.Text(string="Two submitters", compute="_compute_invoice_engine_summary")

    # Depending on the company makes the settings form compute it: without a dependency, the web
    # client's first onchange leaves a non-stored computed field empty.
    @api.depends("company_id")
    def _compute_invoice_engine_summary(self):
        states = dict(self.env["invoice.engine"]._fields["state"]._description_selection(self.env))
        for settings in self:
            engines = self.env["invoice.engine"].search([("company_id", "=", settings.company_id.id)])
            summary = ", ".join(f"{engine.name}: {states[engine.state]}" for engine in engines)
            conflicts = "\n".join(engine.submitter_conflict for engine in engines if engine.submitter_conflict)
            settings.invoice_engine_summary = summary or _("No engine configured")
            settings.invoice_engine_submitter_conflict = conflicts or False

    def action_open_invoice_engines(self):
        return self.env["ir.actions.actions"]._for_xml_id("account_invoice_engine.action_invoice_engine")
