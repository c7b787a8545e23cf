"""What comes back after sending: payment state, edits made in the engine, the tax authority's verdict.

A scheduled job reads the status of sent documents that are not final yet, oldest read first,
within one rate-limit window of calls per run, and only while the engine's sending queue is
empty (sending has the budget first). It holds the same advisory lock as the sending job, so
one worker at a time calls an engine account.

Tax authority (engines whose capabilities report it, such as KSeF through Fakturownia):
accepted documents get the authority's files attached once; a refusal goes to a person; a
submission that failed on the way is checked again after about a minute, then submitted again
every five minutes, three times at most (the vendor's advice), then goes to a person.
"""
import base64
import logging
from datetime import timedelta

from odoo import _, api, fields, models
from odoo.exceptions import UserError

from ..engines import document as neutral
from ..engines import errors
from .invoice_engine_queue import CallLog, StopBatch

_logger = logging.getLogger(__name__)

FINAL_REMOTE_STATUSES = (neutral.REMOTE_PAID, neutral.REMOTE_CANCELLED)
AUTHORITY_FIRST_CHECK = timedelta(minutes=1)
AUTHORITY_RETRY_DELAY = timedelta(minutes=5)
AUTHORITY_MAX_SUBMISSIONS = 3
STATUS_CALLS_PER_RUN = 200  # at most; one rate-limit window of the engine when that is less


class InvoiceEngine(models.Model):
    _inherit = "invoice.engine"

    @api.model
    def _cron_refresh_status(self):
        """Scheduled action: read back what became of the documents each engine holds."""
        done = 0
        for engine in self.search([("state", "=", "connected")]):
            done += engine._refresh_statuses()
        self.env["ir.cron"]._notify_progress(done=done, remaining=0)

    def _refresh_statuses(self, limit=None):
        """Read the status of the moves that are due; return how many were read. Commits per move."""
        self.ensure_one()
        if not self._try_advisory_lock():
            return 0
        try:
            if (self.paused_until and self.paused_until > fields.Datetime.now()) or self._due_moves(1):
                return 0
            done = self._refresh_moves(self._moves_to_refresh(limit or self._status_budget()))
            self._schedule_authority_retries()
            return done
        finally:
            self._release_advisory_lock()

    def _refresh_moves(self, moves):
        if not moves:
            return 0
        cr = self.env.cr
        calls = CallLog(self)
        done = 0
        try:
            client = self._client(on_exchange=calls)
            for move in moves:
                if not self._lock_move(move):
                    continue
                try:
                    with calls.about(move):
                        self._refresh_move(client, move)
                except (StopBatch, UserError):
                    raise
                except Exception:
                    # A bug must not stop the others: this move is read again next time.
                    _logger.exception("Invoice engine %s: unexpected error while reading move %s", self.id, move.id)
                    cr.rollback()
                    continue
                done += self._commit_item()
        except StopBatch:
            self._commit_item()
        except UserError as error:
            cr.rollback()
            self._mark_broken(error.args[0])
            cr.commit()
        return done

    def _status_budget(self):
        capabilities = self._client_class().capabilities
        limit = capabilities.call_limit
        return min(STATUS_CALLS_PER_RUN, int(limit[0] * capabilities.call_margin)) if limit else STATUS_CALLS_PER_RUN

    def _moves_to_refresh(self, limit):
        """Sent moves whose status may still change, the ones read longest ago first.

        Only invoices are followed until paid: a credit note is never paid in the engine (Odoo does
        not record refunds there), it is read while the tax authority has not decided on it.
        """
        due = [
            "|", "&", ("move_type", "=", "out_invoice"), ("engine_status", "not in", FINAL_REMOTE_STATUSES),
            ("engine_changed_in_engine", "=", True),
        ]
        if self._client_class().capabilities.reports_authority_status:
            now = fields.Datetime.now()
            due = ["|", "|", "|"] + due + [
                ("engine_authority_state", "in", (False, neutral.AUTHORITY_PENDING)),
                "&", ("engine_authority_state", "=", neutral.AUTHORITY_FAILED), ("engine_authority_next_at", "<=", now),
                "&", ("engine_authority_state", "=", neutral.AUTHORITY_ACCEPTED),
                ("engine_authority_attachment_ids", "=", False),
            ]
        return self.env["account.move"].search(
            [("engine_id", "=", self.id), ("engine_state", "=", "sent")] + due,
            order="engine_last_sync_at asc nulls first, id", limit=limit,
        )

    def _refresh_move(self, client, move):
        """Read one move's status and act on it; errors about the account stop the run."""
        try:
            if move.engine_authority_state == neutral.AUTHORITY_FAILED and move._engine_authority_retry_due():
                self._retry_authority(client, move)
                return
            move._engine_read_back(client)
        except errors.NotFound:
            move._engine_to_missing()
        except errors.EngineError as error:
            self._stop_if_engine_unavailable(error)
            _logger.info("Invoice engine %s: status of move %s not read: %s", self.id, move.id, error.message)
            move._engine_write({"engine_last_sync_at": fields.Datetime.now()})  # the others come first next time

    def _retry_authority(self, client, move):
        """The vendor's advice for a failed submission: check again, then submit again, a few times."""
        status = client.document_status(move._engine_ref())
        move._engine_store_status(status, retrying=True)
        if move.engine_authority_state != neutral.AUTHORITY_FAILED:
            return
        if move.engine_authority_attempts >= AUTHORITY_MAX_SUBMISSIONS:
            move._engine_report(_(
                "%(authority)s could not be reached for this document, even after %(count)s new submissions. "
                "Check its status in %(engine)s, then use “Submit again”.",
                authority=move.engine_authority_name, count=move.engine_authority_attempts,
                engine=self._engine_label(),
            ))
            move._engine_write({"engine_authority_next_at": False})
            return
        client.resubmit_to_authority(move._engine_ref())
        move._engine_write({
            "engine_authority_attempts": move.engine_authority_attempts + 1,
            "engine_authority_next_at": fields.Datetime.now() + AUTHORITY_RETRY_DELAY,
        })
        move.message_post(body=_("Submitted to %(authority)s again (attempt %(count)s).",
                                 authority=move.engine_authority_name, count=move.engine_authority_attempts))

    def _schedule_authority_retries(self):
        """Wake the status job when the next failed submission is due."""
        moves = self.env["account.move"].search([
            ("engine_id", "=", self.id), ("engine_state", "=", "sent"),
            ("engine_authority_state", "=", neutral.AUTHORITY_FAILED), ("engine_authority_next_at", "!=", False),
        ], order="engine_authority_next_at", limit=1)
        if moves:
            cron = self.env.ref("account_invoice_engine.ir_cron_invoice_engine_status")
            cron.sudo()._trigger(max(moves.engine_authority_next_at, fields.Datetime.now()))
        self.env.cr.commit()


class AccountMove(models.Model):
    _inherit = "account.move"

    def action_engine_refresh(self):
        """Read the document's status back from the engine, now."""
        self._engine_check_action("refresh")
        for move in self:
            engine = move.engine_id.sudo()
            client = engine._client(on_exchange=lambda exchange, move=move: engine._log_exchange(exchange, move))
            try:
                move._engine_read_back(client)
            except errors.NotFound:
                move._engine_to_missing()
            except errors.EngineError as error:
                raise UserError(engine._explain(error)) from error
        return True

    def action_engine_resubmit_authority(self):
        """A person corrected what the tax authority refused (in the engine): submit the document again."""
        for move in self:
            if move.engine_state != "sent" or move.engine_authority_state not in (
                    neutral.AUTHORITY_REJECTED, neutral.AUTHORITY_FAILED):
                raise UserError(_("%(move)s is not waiting for a new submission to the tax authority.",
                                  move=move.display_name))
            engine = move.engine_id.sudo()
            client = engine._client(on_exchange=lambda exchange, move=move: engine._log_exchange(exchange, move))
            try:
                client.resubmit_to_authority(move._engine_ref())
            except errors.EngineError as error:
                raise UserError(engine._explain(error)) from error
            move._engine_write({
                "engine_authority_state": neutral.AUTHORITY_PENDING, "engine_authority_attempts": 0,
                "engine_authority_next_at": False, "engine_authority_message": False,
            })
            move.message_post(body=_("%(user)s submitted the document to %(authority)s again.",
                                     user=self.env.user.name, authority=move.engine_authority_name))
            move._engine_close_activities(_("Submitted again."))
        return True

    def _engine_read_back(self, client):
        """Read the document's status, and the authority's files once it accepted the document."""
        self._engine_store_status(client.document_status(self._engine_ref()))
        if self.engine_authority_state == neutral.AUTHORITY_ACCEPTED and not self.engine_authority_attachment_ids:
            self._engine_attach_authority_documents(client.authority_documents(self._engine_ref()))

    def _engine_authority_retry_due(self):
        """A failed submission waits for its next attempt; none once a person was asked to act."""
        return bool(self.engine_authority_next_at) and self.engine_authority_next_at <= fields.Datetime.now()

    def _engine_store_status(self, status, retrying=False):
        """Keep what the engine says of its document: payment state, total, the authority's verdict."""
        self.ensure_one()
        values = {
            "engine_status": self._engine_neutral_status(status.status),  # False: the engine's word is unknown
            "engine_last_sync_at": fields.Datetime.now(),
        }
        if status.paid_amount is not None:
            values["engine_paid_amount"] = float(abs(status.paid_amount))
        if status.total is not None:
            values.update(self._engine_total_values(abs(status.total)))
        if status.authority_status:
            values.update(self._engine_authority_values(status, retrying))
        self._engine_write(values)

    def _engine_total_values(self, total):
        """Flag a document edited in the engine: its total is no longer the one it was issued with.

        ``engine_total`` is the total the engine issued the document with (compared with Odoo's by
        ``engine_total_mismatch``); when the create's answer did not carry it, the first read does.
        """
        if not self.engine_total:
            return {"engine_total": float(total)}
        changed = self.currency_id.compare_amounts(float(total), self.engine_total) != 0
        if changed and not self.engine_changed_in_engine:
            self._engine_report(_(
                "%(engine)s now shows a total of %(engine_total)s for %(number)s, while it was issued for "
                "%(issued_total)s: the document was changed in %(engine)s. Check it there, correct Odoo or the "
                "engine so that both agree, then use “Refresh from engine”.",
                engine=self.engine_id._engine_label(), number=self.engine_display_number,
                engine_total=self.currency_id.format(float(total)),
                issued_total=self.currency_id.format(self.engine_total),
            ))
        elif not changed and self.engine_changed_in_engine:
            self._engine_close_activities(_("The engine's total is the one it was issued with again."))
            self._engine_write({"engine_error": False})
        return {"engine_changed_in_engine": changed}

    def _engine_authority_values(self, status, retrying):
        authority = self.engine_authority_name
        values = {
            "engine_authority_state": status.authority_status,
            "engine_authority_number": status.authority_number or self.engine_authority_number,
            "engine_authority_link": status.authority_link or self.engine_authority_link,
            "engine_authority_message": "\n".join(status.authority_messages) or False,
            "engine_authority_demo": status.authority_demo,
        }
        if status.authority_status == self.engine_authority_state:
            return values
        if status.authority_status == neutral.AUTHORITY_ACCEPTED:
            self.message_post(body=_("%(authority)s accepted the document as %(number)s%(demo)s.",
                                     authority=authority, number=status.authority_number or "?",
                                     demo=_(" (test environment, no legal effect)") if status.authority_demo else ""))
            self._engine_close_activities(_("Accepted by %s.", authority))
        elif status.authority_status == neutral.AUTHORITY_REJECTED:
            self._engine_report(_(
                "%(authority)s refused the document: %(reasons)s. Correct it in %(engine)s (or issue a credit note "
                "and a new invoice from Odoo), then use “Submit again”.",
                authority=authority, reasons="; ".join(status.authority_messages) or _("no reason given"),
                engine=self.engine_id._engine_label(),
            ))
        elif status.authority_status == neutral.AUTHORITY_FAILED and not retrying:
            values["engine_authority_next_at"] = fields.Datetime.now() + AUTHORITY_FIRST_CHECK
        return values

    def _engine_attach_authority_documents(self, documents):
        if not documents:
            return
        attachments = self.env["ir.attachment"].create([{
            "name": document.name,
            "datas": base64.b64encode(document.content),
            "mimetype": document.mimetype,
            "res_model": "account.move",
            "res_id": self.id,
        } for document in documents])
        self._engine_write({"engine_authority_attachment_ids": [fields.Command.set(attachments.ids)]})
        # no_new_invoice: the files are the authority's record, not documents to import.
        self.with_context(no_new_invoice=True).message_post(
            body=_("Files from %s attached.", self.engine_authority_name), attachment_ids=attachments.ids,
        )
