from markupsafe import Markup

from odoo import _, api, fields, models
from odoo.exceptions import UserError

from ..engines import document as neutral
from ..engines import errors


class InvoiceEngineCancelWizard(models.TransientModel):
    """Confirm the cancellation of an invoice in its engine, then in Odoo; or explain why it cannot be."""

    _name = "invoice.engine.cancel.wizard"
    _description = "Cancel an invoice in its engine"

    move_id = fields.Many2one("account.move", required=True, readonly=True)
    engine_id = fields.Many2one(related="move_id.engine_id")
    blocked_by_authority = fields.Boolean(compute="_compute_explanation")
    explanation = fields.Html(compute="_compute_explanation")

    @api.depends("move_id")
    def _compute_explanation(self):
        for wizard in self:
            move = wizard.move_id
            engine = move.engine_id._engine_label()
            wizard.blocked_by_authority = move._engine_cancel_blocked_by_authority()
            if wizard.blocked_by_authority:
                wizard.explanation = Markup("<p>%s</p><p>%s</p>") % (
                    _("%(authority)s already holds %(number)s (%(authority)s number %(id)s): an invoice the tax "
                      "authority received can be neither deleted nor cancelled, in %(engine)s or anywhere else.",
                      authority=move.engine_authority_name, number=move.engine_display_number,
                      id=move.engine_authority_number or _("pending"), engine=engine),
                    _("To undo it, issue a credit note that corrects it to zero. It goes to %(engine)s and to "
                      "%(authority)s like any other document.", engine=engine, authority=move.engine_authority_name),
                )
            else:
                wizard.explanation = Markup("<p>%s</p><p>%s</p>") % (
                    _("%(number)s is cancelled in %(engine)s first: it keeps its number there and shows as "
                      "cancelled. Then the invoice is cancelled in Odoo.", number=move.engine_display_number, engine=engine),
                    _("If %(engine)s refuses (a payment is recorded on it, for instance), nothing changes and the "
                      "reason is shown.", engine=engine),
                )

    def action_cancel_in_engine(self):
        self.ensure_one()
        move = self.move_id
        if not move._engine_cancels_in_engine() or move._engine_cancel_blocked_by_authority():
            raise UserError(_("%(move)s cannot be cancelled in its engine any more.", move=move.display_name))
        engine = move.engine_id.sudo()
        client = engine._client(on_exchange=lambda exchange: engine._log_exchange(exchange, move))
        try:
            client.cancel_document(move._engine_ref())
        except errors.EngineError as error:
            raise UserError(engine._explain(error)) from error
        move._engine_write({"engine_status": neutral.REMOTE_CANCELLED})
        move.message_post(body=_("%(number)s cancelled in %(engine)s by %(user)s.", number=move.engine_display_number,
                                 engine=engine._engine_label(), user=self.env.user.name))
        move.button_cancel()
        return {"type": "ir.actions.act_window_close"}

    def action_correct_to_zero(self):
        """Odoo's own credit note wizard, for the whole invoice."""
        self.ensure_one()
        return self.move_id.action_reverse()
