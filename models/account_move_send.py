"""The engine's PDF is the invoice document: Odoo's Send & Print e-mails it and Print downloads it.

Once an engine covers a customer document, the engine's rendering with the engine's number is the
legal invoice. It becomes the move's invoice document (``invoice_pdf_report_id``, the attachment
Odoo's Send & Print attaches instead of rendering its own, and Odoo's downloads return). Until the
engine's PDF arrives, Send & Print never falls back on Odoo's PDF: the sending waits on the move
and goes out, with the settings the person chose, when the PDF is attached.
"""
from markupsafe import Markup, escape

from odoo import _, api, fields, models
from odoo.exceptions import UserError

from .account_move import ENGINE_ATTENTION_STATES

# Send & Print settings that hold records or sets: how they are kept on a move while it waits
RECORD_SETTINGS = {"pdf_report": "ir.actions.report", "mail_template": "mail.template"}
SET_SETTINGS = ("sending_methods", "extra_edis")
HTML_SETTINGS = ("mail_body",)


class AccountMove(models.Model):
    _inherit = "account.move"

    engine_deferred_sending = fields.Json(
        copy=False, readonly=True,
        help="Send & Print settings of a sending that waits for the engine's PDF.",
    )

    def _engine_waits_for_pdf(self):
        """The engine covers this document and its PDF, the legal one, is not attached yet."""
        self.ensure_one()
        return bool(self.engine_state) and self.engine_state != "excluded" and not self.engine_pdf_id

    def _engine_owns_invoice_document(self):
        self.ensure_one()
        return bool(self.engine_pdf_id) and self.invoice_pdf_report_id == self.engine_pdf_id

    def _engine_in_odoo_text(self, text):
        """``text`` with Odoo's move number replaced by the engine's legal number, once known."""
        self.ensure_one()
        if not (text and self.engine_display_number and self.name and self.name != "/"):
            return text
        if isinstance(text, Markup):
            return Markup(text.replace(escape(self.name), escape(self.engine_display_number)))
        return text.replace(self.name, self.engine_display_number)

    # ------------------------------------------------------------------
    # The engine's PDF as the invoice document
    # ------------------------------------------------------------------

    def _engine_take_invoice_document(self, attachment):
        """Make the engine's PDF the move's invoice document, and send what waited for it."""
        self.ensure_one()
        odoo_pdf = self.invoice_pdf_report_id
        if odoo_pdf and odoo_pdf != attachment:
            # Kept among the move's attachments, but no longer what Send & Print and downloads give.
            odoo_pdf.sudo().write({"res_field": False})
            self._message_log(body=_(
                "%(engine)s's PDF is now the invoice document; the PDF Odoo rendered before, %(name)s, is kept "
                "as an attachment but is no longer sent nor downloaded.",
                engine=self.engine_id._engine_label(), name=odoo_pdf.name,
            ))
        attachment.sudo().write({"res_field": "invoice_pdf_report_file"})
        self.invalidate_recordset(["invoice_pdf_report_id", "invoice_pdf_report_file"])
        if self.engine_deferred_sending:
            self._engine_send_deferred()

    def _engine_release_invoice_document(self):
        """The engine's document is gone (deleted, or issued anew): its PDF is no longer the invoice's."""
        released = self.filtered(lambda move: move.engine_pdf_id and move._engine_owns_invoice_document())
        released.engine_pdf_id.sudo().write({"res_field": False})
        released.invalidate_recordset(["invoice_pdf_report_id", "invoice_pdf_report_file"])

    # ------------------------------------------------------------------
    # A sending that waits for the engine's PDF
    # ------------------------------------------------------------------

    def _engine_defer_sending(self, settings):
        self.ensure_one()
        stored = {}
        for key, value in settings.items():
            if key in RECORD_SETTINGS:
                value = value.id if value else False
            elif key in SET_SETTINGS:
                value = sorted(value or ())
            elif key in HTML_SETTINGS:
                value = str(value or "")
            stored[key] = value
        self._engine_write({"engine_deferred_sending": stored, "sending_data": False})
        self._message_log(body=_(
            "Send & Print waits for %(engine)s's PDF, the legal invoice: it goes out as soon as that PDF is "
            "attached. Odoo's own PDF is not sent.", engine=self.engine_id._engine_label() or _("the engine"),
        ))

    def _engine_deferred_settings(self):
        self.ensure_one()
        settings = dict(self.engine_deferred_sending or {})
        for key, model in RECORD_SETTINGS.items():
            if key in settings:
                settings[key] = self.env[model].browse(settings[key] or []).exists()
        for key in SET_SETTINGS:
            if key in settings:
                settings[key] = set(settings[key])
        for key in HTML_SETTINGS:
            if key in settings:
                settings[key] = self._engine_in_odoo_text(Markup(settings[key]))
        if settings.get("mail_subject"):
            settings["mail_subject"] = self._engine_in_odoo_text(settings["mail_subject"])
        if not settings.get("pdf_report"):
            settings.pop("pdf_report", None)  # the report was deleted meanwhile: the partner's default
        return settings

    def _engine_send_deferred(self):
        """Send & Print, as the person asked it, now that the engine's PDF is the invoice document."""
        self.ensure_one()
        settings = self._engine_deferred_settings()
        self._engine_write({"engine_deferred_sending": False})
        try:
            with self.env.cr.savepoint():
                # from_cron: a problem (no e-mail address, say) is noted on the move, not raised in the job
                self.env["account.move.send"]._generate_and_send_invoices(self, from_cron=True, **settings)
        except Exception as error:  # noqa: BLE001 - the engine's job goes on; the person is told on the move
            self._message_log(body=_(
                "The invoice waiting for %(engine)s's PDF could not be sent: %(error)s. Send it again from "
                "Send & Print.", engine=self.engine_id._engine_label(), error=str(error),
            ))

    @api.model
    def _cron_account_move_send(self, job_count=10):
        # Odoo's job tells each author "Invoices sent successfully" for every invoice it processed.
        # Those waiting for the engine's PDF are not sent yet: they wait on the move, and their
        # authors are told so, before Odoo's job takes the rest.
        waiting = self.search([("sending_data", "!=", False), ("state", "=", "posted")]).filtered(
            lambda move: move._engine_waits_for_pdf())  # all of them: deferring renders nothing
        if waiting:
            authors = waiting.grouped(lambda move: move.sending_data.get("author_partner_id"))
            self.env["account.move.send"]._generate_and_send_invoices(waiting, from_cron=True)
            for partner_id, moves in authors.items():
                self.env["res.partner"].browse(partner_id)._bus_send("account_notification", {
                    "type": "info",
                    "title": _("Waiting for the engine's PDF"),
                    "message": _("%s invoice(s) go out as soon as their engine returns the legal PDF.", len(moves)),
                    "action_button": {
                        "name": _("Open"), "action_name": _("Invoices waiting for the engine's PDF"),
                        "model": "account.move", "res_ids": moves.ids,
                    },
                })
        return super()._cron_account_move_send(job_count=job_count)

    def action_engine_exclude(self):
        res = super().action_engine_exclude()
        for move in self.filtered("engine_deferred_sending"):
            move._engine_write({"engine_deferred_sending": False})
            move._message_log(body=_(
                "The sending that waited for the engine's PDF is dropped: this invoice is not sent to the engine. "
                "Send it from Send & Print with Odoo's PDF if that is what the customer should receive."
            ))
        return res

    # ------------------------------------------------------------------
    # Print
    # ------------------------------------------------------------------

    def action_print_pdf(self):
        self.ensure_one()
        if self._engine_owns_invoice_document():
            return self.action_invoice_download_pdf()
        if self._engine_waits_for_pdf():
            raise UserError(_(
                "%(engine)s has not returned the PDF of %(move)s yet, and that PDF is the legal invoice. Print "
                "downloads it once it is attached; Send & Print can already send it then.",
                engine=self.engine_id._engine_label(), move=self.display_name,
            ))
        return super().action_print_pdf()


class AccountMoveSend(models.AbstractModel):
    _inherit = "account.move.send"

    @api.model
    def _generate_and_send_invoices(self, moves, from_cron=False, allow_raising=True, allow_fallback_pdf=False,
                                    **custom_settings):
        waiting = moves.filtered(lambda move: move._engine_waits_for_pdf())
        if waiting:
            self._check_sending_data(waiting, **custom_settings)
            for move in waiting:
                move._engine_defer_sending(self._get_deferred_sending_settings(move, from_cron, custom_settings))
        ready = moves - waiting
        if not ready:
            return self.env["ir.attachment"]
        return super()._generate_and_send_invoices(
            ready, from_cron=from_cron, allow_raising=allow_raising, allow_fallback_pdf=allow_fallback_pdf,
            **custom_settings,
        )

    @api.model
    def _get_deferred_sending_settings(self, move, from_cron, custom_settings):
        """What the person chose; the defaults are computed when the PDF arrives, with the engine's number."""
        settings = dict(custom_settings)
        if from_cron and move.sending_data:
            for key in ("author_user_id", "author_partner_id"):
                settings.setdefault(key, move.sending_data.get(key))
        settings.setdefault("author_user_id", self.env.user.id)
        settings.setdefault("author_partner_id", self.env.user.partner_id.id)
        return settings

    # The engine's number wherever the e-mail names the invoice

    @api.model
    def _get_default_mail_subject(self, move, mail_template, mail_lang):
        return move._engine_in_odoo_text(super()._get_default_mail_subject(move, mail_template, mail_lang))

    @api.model
    def _get_default_mail_body(self, move, mail_template, mail_lang):
        return move._engine_in_odoo_text(super()._get_default_mail_body(move, mail_template, mail_lang))

    @api.model
    def _get_placeholder_mail_attachments_data(self, move, invoice_edi_format=None, extra_edis=None):
        placeholders = super()._get_placeholder_mail_attachments_data(
            move, invoice_edi_format=invoice_edi_format, extra_edis=extra_edis)
        if not move._engine_waits_for_pdf():
            return placeholders
        odoo_pdf_name = move._get_invoice_report_filename()
        name = _("%s PDF, attached when it arrives.pdf", move.engine_id._engine_label())
        return [
            {**placeholder, "id": f"placeholder_{name}", "name": name} if placeholder["name"] == odoo_pdf_name
            else placeholder
            for placeholder in placeholders
        ]

    @api.model
    def _get_alerts(self, moves, moves_data):
        alerts = super()._get_alerts(moves, moves_data)
        waiting = moves.filtered(lambda move: move._engine_waits_for_pdf())
        stuck = waiting.filtered(lambda move: move.engine_state in ENGINE_ATTENTION_STATES)
        if waiting - stuck:
            alerts["account_invoice_engine_pdf_pending"] = {
                "level": "info",
                "message": _(
                    "%(engine)s has not returned the legal PDF yet. Sending waits for it and goes out as soon as it "
                    "is attached; Odoo's own PDF is not sent.",
                    engine=", ".join(sorted(set((waiting - stuck).engine_id.mapped(lambda e: e._engine_label())))),
                ),
            }
        if stuck:
            alerts["account_invoice_engine_not_in_engine"] = {
                "level": "warning",
                "message": _(
                    "%(count)s invoice(s) are not in their engine yet: they need attention first. Sending waits "
                    "until the engine has issued them and returned their PDF.", count=len(stuck),
                ),
                "action_text": _("View invoice(s)"),
                "action": stuck._get_records_action(name=_("Invoices to fix in their engine")),
            }
        return alerts
