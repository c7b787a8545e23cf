from datetime import timedelta

from odoo import api, fields, models


class InvoiceEngineLog(models.Model):
    """One HTTP call to an engine, redacted by the transport before it reaches us."""

    _name = "invoice.engine.log"
    _description = "Invoice Engine Call"
    _order = "id desc"
    _rec_name = "operation"

    engine_id = fields.Many2one("invoice.engine", required=True, ondelete="cascade", index=True, readonly=True)
    company_id = fields.Many2one(related="engine_id.company_id", store=True)
    move_id = fields.Many2one("account.move", ondelete="set null", index="btree_not_null", readonly=True)
    operation = fields.Char(readonly=True)
    method = fields.Char(readonly=True)
    url = fields.Char(string="URL", readonly=True)
    status_code = fields.Integer(string="HTTP status", readonly=True, help="0 when no answer came back.")
    duration_ms = fields.Integer(string="Duration (ms)", readonly=True)
    request_excerpt = fields.Text(readonly=True)
    response_excerpt = fields.Text(readonly=True)
    error = fields.Char(readonly=True)

    @api.autovacuum
    def _gc_old_calls(self):
        """Delete calls older than each engine's retention period."""
        engines = self.env["invoice.engine"].with_context(active_test=False).search([])
        for engine in engines:
            limit = fields.Datetime.now() - timedelta(days=engine.log_retention_days)
            self.search([("engine_id", "=", engine.id), ("create_date", "<", limit)]).unlink()
