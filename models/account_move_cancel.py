from odoo import _, api, models

from ..engines import document as neutral

# The tax authority holds the document (or is processing it): the engine may no longer void it.
AUTHORITY_HOLDS = (neutral.AUTHORITY_PENDING, neutral.AUTHORITY_ACCEPTED)


class AccountMove(models.Model):
    """Cancelling an invoice the engine issued starts in the engine (Odoo's "Request Cancel").

    As Odoo's e-invoicing localizations do for a document a government holds, "Reset to Draft"
    gives way to "Request Cancel" once the engine issued the legal document and can void it.
    The request asks for a confirmation, cancels in the engine, then in Odoo; where the tax
    authority already holds the document (KSeF), it explains why only a correction to zero can
    undo it and offers Odoo's credit note.
    """

    _inherit = "account.move"

    @api.depends("engine_state", "engine_status", "engine_id")
    def _compute_need_cancel_request(self):
        # EXTEND 'account': the engine's fields decide too
        return super()._compute_need_cancel_request()

    def _need_cancel_request(self):
        return super()._need_cancel_request() or self._engine_cancels_in_engine()

    def _engine_cancels_in_engine(self):
        """The engine holds this move's legal document and is the place to cancel it."""
        self.ensure_one()
        return bool(
            self.engine_state == "sent"
            and self.engine_status != neutral.REMOTE_CANCELLED
            and self.engine_id._client_class().capabilities.cancels_documents
        )

    def _engine_cancel_blocked_by_authority(self):
        self.ensure_one()
        capabilities = self.engine_id._client_class().capabilities
        return capabilities.authority_blocks_cancel and self.engine_authority_state in AUTHORITY_HOLDS

    def button_request_cancel(self):
        if self._engine_cancels_in_engine():
            return {
                "type": "ir.actions.act_window",
                "name": _("Cancel in %s", self.engine_id._engine_label()),
                "res_model": "invoice.engine.cancel.wizard",
                "view_mode": "form",
                "target": "new",
                "context": {"default_move_id": self.id},
            }
        return super().button_request_cancel()
