from odoo import _, fields, models
from odoo.exceptions import UserError

from ..engines import errors


class InvoiceEngineLinkWizard(models.TransientModel):
    """Link a move to a document that already exists in the engine (needs review, relink)."""

    _name = "invoice.engine.link.wizard"
    _description = "Link an existing engine document"

    move_id = fields.Many2one("account.move", required=True)
    engine_id = fields.Many2one(related="move_id.engine_id")
    remote_id = fields.Char(
        string="Document ID",
        required=True,
        help="The document as the engine identifies it: its id at the end of the document's address in the "
        "engine, or, for engines that identify documents by series and number, the number printed on its PDF.",
    )

    def action_link(self):
        self.ensure_one()
        move = self.move_id
        move._engine_check_action("link_existing")
        engine = move.engine_id.sudo()
        client = engine._client(on_exchange=lambda exchange: engine._log_exchange(exchange, move))
        try:
            ref = client.get_document(self.remote_id.strip())
        except errors.NotFound as error:
            raise UserError(_("There is no document %(id)s in %(engine)s.",
                              id=self.remote_id, engine=engine._engine_label())) from error
        except errors.EngineError as error:
            raise UserError(engine._explain(error)) from error
        if move.engine_state == "missing":
            move._engine_forget_remote()
        move._engine_to_sent(ref, found_again=True)
        move.message_post(body=_("Linked by hand to %(engine)s document %(number)s by %(user)s.",
                                 engine=engine._engine_label(), number=ref.number, user=self.env.user.name))
        return {"type": "ir.actions.act_window_close"}
