"""The sending job: moves, PDFs and payments, one engine account at a time.

Invariants (DESIGN §2):
- one worker per engine account: a PostgreSQL advisory lock held for the whole run;
- each move is row-locked while handled and committed on its own;
- the ``sending`` marker is committed before the create call, and a move found in
  ``sending`` is looked up in the engine before anything new is created;
- the engine's rate limit stops the batch and the job comes back when the engine allows.
"""
import base64
import hashlib
import json
import logging
import time
from contextlib import contextmanager

import psycopg2
from dataclasses import asdict
from datetime import timedelta

from odoo import _, api, fields, models
from odoo.exceptions import UserError
from odoo.tools import mute_logger

from ..engines import errors
from ..engines.document import PAYMENT_BANK, PaymentInfo
from .account_move import EngineDataError

_logger = logging.getLogger(__name__)

ADVISORY_LOCK_CLASS = 0x41494531  # "AIE1": namespaces our advisory locks
BATCH_SIZE = 50
MAX_BACKOFF = timedelta(hours=6)
MAYBE_CREATED_DELAY = timedelta(minutes=1)  # let a request still in flight land before we look it up
ATTEMPTS_BEFORE_ALERT = 5
# An asynchronous PDF is not there while the engine renders it: look again after these delays (seconds).
PDF_RETRY_DELAYS = (1, 2, 5, 30, 120, 600, 3600)
PDF_WAIT_IN_RUN = 3  # seconds the job may wait for a PDF being rendered before moving on


class StopBatch(Exception):
    """The engine cannot take more calls now (credentials, account, rate limit)."""


class CallLog:
    """The client's ``on_exchange``: stores each call, linked to the move being handled."""

    def __init__(self, engine):
        self.engine = engine
        self.move = None

    def __call__(self, exchange):
        self.engine._log_exchange(exchange, self.move)

    @contextmanager
    def about(self, move):
        previous, self.move = self.move, move
        try:
            yield
        finally:
            self.move = previous


def party_fingerprint(party):
    return hashlib.sha256(json.dumps(asdict(party), sort_keys=True, default=str).encode()).hexdigest()


class InvoiceEngine(models.Model):
    _inherit = "invoice.engine"

    # ------------------------------------------------------------------
    # Entry points
    # ------------------------------------------------------------------

    @api.model
    def _cron_send(self):
        """Scheduled action: work through every engine's queue, one engine at a time."""
        done = remaining = 0
        for engine in self.search([("state", "!=", "disconnected")]):  # disconnected: its queue waits
            engine_done, engine_remaining = engine._process_queue()
            done += engine_done
            remaining += engine_remaining
        self.env["ir.cron"]._notify_progress(done=done, remaining=remaining)

    def _process_queue(self, batch_size=BATCH_SIZE):
        """Send what is due for this engine; return ``(done, remaining)``.

        Commits after every move, so it must run on a cursor the caller owns (the cron's).
        """
        self.ensure_one()
        if not self._try_advisory_lock():
            _logger.info("Invoice engine %s: another worker is sending, skipping this run", self.id)
            return 0, 0
        try:
            return self._process_queue_locked(batch_size)
        finally:
            self._release_advisory_lock()

    def _process_queue_locked(self, batch_size):
        if self.paused_until and self.paused_until > fields.Datetime.now():
            self._schedule_run(self.paused_until)
            return 0, 0
        moves = self._moves_to_send(batch_size)
        if not (moves or self._due_pdf_moves() or self._due_payments()):
            return 0, 0
        done = 0
        calls = CallLog(self)
        try:
            client = self._client(on_exchange=calls)
            self._learn_account(client)
            for move in moves:
                self._send_move(client, calls, move)
                done += 1
                if self._create_left_unsettled(move):
                    break  # the next run settles it before anything else is created
            # Looked up after sending, so that what was just created gets its PDF and payments now.
            self._fetch_pdfs(client, calls, self._due_pdf_moves())
            self._sync_payments(client, calls, self._due_payments())
        except StopBatch:
            pass
        except UserError as error:
            # The engine itself is misconfigured (no account, no e-mail): nothing can be sent.
            self.env.cr.rollback()
            self._mark_broken(error.args[0])
            self.env.cr.commit()
        self._schedule_next_run()
        remaining = len(self._due_moves(batch_size)) if len(moves) == batch_size else 0
        return done, remaining

    def _learn_account(self, client):
        """Know the account (and its currency, where the engine tells one) before sending: each
        invoice is checked against it. Once known, a run costs no call for it."""
        if self.remote_account_name:
            return
        try:
            self._store_account_info(client.check())
        except errors.EngineError as error:
            self._stop_if_engine_unavailable(error)
            return  # a passing failure: the invoices are checked by the engine itself
        finally:
            self.env.cr.commit()

    def _stop_if_engine_unavailable(self, error):
        """Errors about the engine account rather than one document end the run."""
        if isinstance(error, errors.RateLimited):
            self._pause(error.retry_after)
            raise StopBatch()
        if isinstance(error, errors.AuthError):
            self._mark_broken(self._explain(error))
            raise StopBatch()

    # ------------------------------------------------------------------
    # Locks and scheduling
    # ------------------------------------------------------------------

    def _try_advisory_lock(self):
        self.env.cr.execute("SELECT pg_try_advisory_lock(%s, %s)", [ADVISORY_LOCK_CLASS, self.id])
        return self.env.cr.fetchone()[0]

    def _release_advisory_lock(self):
        """Release the engine's lock even after a failed transaction.

        The lock belongs to the database session, which outlives the cursor in Odoo's connection
        pool: left held, it would keep every worker away from this engine until a restart.
        """
        cr = self.env.cr
        try:
            with mute_logger("odoo.sql_db"):
                cr.execute("SELECT pg_advisory_unlock(%s, %s)", [ADVISORY_LOCK_CLASS, self.id])
        except psycopg2.errors.InFailedSqlTransaction:
            cr.rollback()
            cr.execute("SELECT pg_advisory_unlock(%s, %s)", [ADVISORY_LOCK_CLASS, self.id])

    def _commit_item(self):
        """Commit one move's or payment's work; False when a concurrent update undid it.

        A person may change the same record meanwhile (a payment registered on the invoice whose PDF
        arrives): their change stands, ours is undone and done again at the next run.
        """
        try:
            with mute_logger("odoo.sql_db"):
                self.env.cr.commit()
            return True
        except psycopg2.extensions.TransactionRollbackError as error:
            _logger.info("Invoice engine %s: concurrent update, retried at the next run (%s)", self.id, error.pgcode)
            self.env.cr.rollback()
            return False

    def _lock_move(self, move):
        """Row-lock the move for this transaction; False when someone else holds it.

        NO KEY UPDATE excludes other workers just as well, and unlike FOR UPDATE it lets the
        call log, committed on a cursor of its own, reference the move while we hold it.
        """
        try:
            self.env.cr.execute("SELECT id FROM account_move WHERE id = %s FOR NO KEY UPDATE SKIP LOCKED", [move.id])
            locked = bool(self.env.cr.fetchone())
        except psycopg2.extensions.TransactionRollbackError:
            # Another worker committed a change to the move after this transaction's snapshot: nothing
            # of ours is pending (each item commits on its own), so start afresh and leave it for now.
            self.env.cr.rollback()
            locked = False
        move.invalidate_recordset()
        return locked

    def _due_domain(self, date_field):
        now = fields.Datetime.now()
        return ["|", (date_field, "=", False), (date_field, "<=", now)]

    def _due_moves(self, limit):
        return self.env["account.move"].search(
            [("engine_id", "=", self.id), ("engine_state", "in", ("queued", "sending"))]
            + self._due_domain("engine_next_attempt_at"),
            order="move_type, id",  # invoices before the credit notes that correct them
            limit=limit,
        )

    def _moves_to_send(self, batch_size):
        """The due moves this run sends, or only the unsettled creates it must reconcile first.

        An engine that cannot look a document up (no read-back) tells whether a lost create landed by
        its numbering alone (SmartBill: the series' next number): nothing else may be created in that
        account until every move left in ``sending`` is settled, or the numbers would no longer tell.
        """
        moves = self._due_moves(batch_size)
        if self._client_class().capabilities.reads_back_documents:
            return moves
        unsettled = self.env["account.move"].search(
            [("engine_id", "=", self.id), ("engine_state", "=", "sending")], order="id"
        )
        return unsettled & moves if unsettled else moves

    def _create_left_unsettled(self, move):
        """Whether ``move``'s create was lost on an engine that tells what landed by its numbering alone.

        Any create after it would move the numbering on, and the next run could no longer tell
        whether the lost one landed (SmartBill: the series' next number must have moved by one at most).
        """
        if self._client_class().capabilities.reads_back_documents:
            return False
        move.invalidate_recordset(["engine_state"])
        return move.engine_state == "sending"

    def _due_pdf_moves(self):
        return self.env["account.move"].search(
            [("engine_id", "=", self.id), ("engine_state", "=", "sent"), ("engine_pdf_id", "=", False)]
            + self._due_domain("engine_pdf_next_attempt_at")
        )

    def _due_payments(self):
        return self.env["invoice.engine.payment"].search(
            [("engine_id", "=", self.id), ("state", "in", ("to_send", "sending", "to_delete"))]
            + self._due_domain("next_attempt_at")
        )

    def _schedule_next_run(self):
        """Wake the job when the earliest postponed piece of work becomes due."""
        candidates = [
            self.env["account.move"].search(
                [("engine_id", "=", self.id), ("engine_state", "in", ("queued", "sending")),
                 ("engine_next_attempt_at", "!=", False)], order="engine_next_attempt_at", limit=1,
            ).engine_next_attempt_at,
            self.env["account.move"].search(
                [("engine_id", "=", self.id), ("engine_state", "=", "sent"), ("engine_pdf_id", "=", False),
                 ("engine_pdf_next_attempt_at", "!=", False)], order="engine_pdf_next_attempt_at", limit=1,
            ).engine_pdf_next_attempt_at,
            self.env["invoice.engine.payment"].search(
                [("engine_id", "=", self.id), ("state", "in", ("to_send", "sending", "to_delete")),
                 ("next_attempt_at", "!=", False)], order="next_attempt_at", limit=1,
            ).next_attempt_at,
        ]
        due = [moment for moment in candidates if moment]
        if due:
            self._schedule_run(min(due))
        self.env.cr.commit()

    def _schedule_run(self, when):
        self.env.ref("account_invoice_engine.ir_cron_invoice_engine_send")._trigger(max(when, fields.Datetime.now()))

    @staticmethod
    def _backoff(attempts):
        return min(timedelta(minutes=2 ** max(attempts - 1, 0)), MAX_BACKOFF)

    # ------------------------------------------------------------------
    # Moves
    # ------------------------------------------------------------------

    def _send_move(self, client, calls, move):
        """Handle one move and commit; raise ``StopBatch`` when the engine must not be called again now."""
        cr = self.env.cr
        if not self._lock_move(move):
            cr.commit()
            return
        try:
            with calls.about(move):
                self._send_locked_move(client, move)
        except StopBatch:
            self._commit_item()
            raise
        except UserError as error:
            # A configuration problem surfaced mid-call (e.g. the secret was removed): the move
            # keeps its committed state and is retried once the engine is fixed.
            cr.rollback()
            self._mark_broken(error.args[0])
            cr.commit()
            raise StopBatch() from error
        except psycopg2.extensions.TransactionRollbackError:
            # Someone changed a record we write (before the sending marker was committed, or after the
            # engine answered): the move keeps its committed state, "sending" is looked up first.
            cr.rollback()
            return
        except Exception:
            # A bug must not lose the move: undo this move's work, keep its state honest, go on.
            _logger.exception("Invoice engine %s: unexpected error while sending move %s", self.id, move.id)
            cr.rollback()
            move.invalidate_recordset()
            if move.engine_state == "sending":
                move._engine_write({"engine_next_attempt_at": fields.Datetime.now() + MAYBE_CREATED_DELAY})
            else:
                move._engine_to_error(_(
                    "Unexpected error while preparing the document; the administrator can find the details "
                    "in the server log. Retry once it is fixed."
                ))
        self._commit_item()

    def _send_locked_move(self, client, move):
        if move.engine_state not in ("queued", "sending"):
            return
        if move.engine_state == "sending" and self._reconcile_move(client, move):
            return
        if move.state != "posted":
            # Reset to draft while queued: it is queued again when posted.
            move._engine_to_unqueued()
            return
        if self._defer_credit_note(move):
            return
        attempt = move.engine_attempts + 1
        try:
            document = move._engine_document(self)
            customer_id = self._sync_customer(client, move.commercial_partner_id, document.customer)
            marker = client.prepare_create(document)
        except EngineDataError as error:
            move._engine_to_error("\n".join(error.problems))
            return
        except errors.EngineError as error:
            move._engine_write({"engine_attempts": attempt})
            self._handle_move_error(move, error)
            return
        move._engine_to_sending(marker, attempt)
        self.env.cr.commit()  # the marker must be durable before the engine can store anything
        try:
            ref = self._create_document(client, move, document, customer_id)
        except errors.MaybeCreated as error:
            self._handle_move_error(move, error)
            return
        except errors.EngineError as error:
            # Any other error means the engine did not store the document.
            move._engine_back_to_queued()
            self._handle_move_error(move, error)
            return
        move._engine_to_sent(ref)
        self._mark_healthy()

    def _create_document(self, client, move, document, customer_id):
        try:
            return client.create_document(document, customer_id)
        except errors.CustomerGone:
            pass
        # The customer's record is gone from the engine (deleted there): link it afresh, once.
        self._forget_customer(move.commercial_partner_id)
        customer_id = self._sync_customer(client, move.commercial_partner_id, document.customer)
        return client.create_document(document, customer_id)

    def _reconcile_move(self, client, move):
        """A move left in ``sending``: adopt the document if the engine has it. True when settled."""
        try:
            ref = client.find_document(move._engine_document(self, strict=False), move.engine_marker or {})
        except errors.OutcomeUnknown as error:
            move._engine_to_needs_review(
                _("%(message)s Check the engine, then use “Link existing document” or “Confirm none exists”.",
                  message=error.message),
            )
            return True
        except (errors.Rejected, errors.NotFound) as error:
            # The engine refused the lookup itself: whether the create arrived stays unknown, and
            # sending again from an error state would skip the lookup. A person decides.
            move._engine_to_needs_review(_(
                "%(engine)s refused to look this document up (HTTP %(status)s), so it is unknown whether it "
                "was created. Check %(engine)s, then use “Link existing document” or “Confirm none exists”.",
                engine=self._engine_label(), status=error.status or "?",
            ))
            return True
        except errors.EngineError as error:
            self._handle_move_error(move, error)
            return True
        if ref:
            move._engine_to_sent(ref, found_again=True)
            return True
        move._engine_back_to_queued()  # the create never arrived: send it now
        return False

    def _defer_credit_note(self, move):
        """Wait for the corrected invoice when it is still on its way to the engine."""
        original = move._engine_original()
        if original and original.engine_id == self and original.engine_state in ("queued", "sending"):
            move._engine_write({
                "engine_next_attempt_at": fields.Datetime.now() + timedelta(minutes=1),
                "engine_error": _("Waiting for %s to be sent first.", original.name),
            })
            return True
        return False

    def _handle_move_error(self, move, error):
        """Map an engine error onto the move's state (see the taxonomy in engines/errors.py)."""
        now = fields.Datetime.now()
        if isinstance(error, errors.RateLimited):
            move._engine_write({"engine_next_attempt_at": now + timedelta(seconds=error.retry_after)})
        self._stop_if_engine_unavailable(error)
        if isinstance(error, errors.MaybeCreated):
            # The create may have landed: stay in "sending"; the next run looks it up first.
            move._engine_write({
                "engine_error": _("%(message)s The document will be looked up before any new attempt.",
                                  message=error.message),
                "engine_next_attempt_at": now + MAYBE_CREATED_DELAY,
            })
            return
        if isinstance(error, errors.TransientError):
            attempts = move.engine_attempts or 1
            move._engine_write({
                "engine_error": error.message,
                "engine_next_attempt_at": now + self._backoff(attempts),
            })
            if attempts == ATTEMPTS_BEFORE_ALERT:
                move._engine_report(
                    _("%(message)s Tried %(count)s times; retrying automatically.", message=error.message, count=attempts),
                )
            return
        # Rejected, NotFound: a person must fix the data.
        move._engine_to_error(self._describe_rejection(error))

    def _describe_rejection(self, error):
        if isinstance(error, errors.AmbiguousCustomer):
            return self._describe_ambiguous_customer(error)
        if isinstance(error, errors.Rejected) and error.field_errors:
            details = "; ".join(f"{field}: {', '.join(messages)}" for field, messages in error.field_errors.items())
            return _("%(engine)s refused the document (%(details)s). Fix the invoice or the customer, then retry.",
                     engine=self._engine_label(), details=details)
        return _("%(message)s Fix the invoice or the customer, then retry.", message=error.message)

    def _pause(self, seconds):
        until = fields.Datetime.now() + timedelta(seconds=max(seconds, 1))
        self.write({"paused_until": until})
        self._schedule_run(until)

    # ------------------------------------------------------------------
    # Customers
    # ------------------------------------------------------------------

    def _sync_customer(self, client, partner, party):
        """Create or update the customer in the engine when needed; return its remote id.

        A customer not linked yet is first matched with the engine's records (see
        ``invoice_engine_customer_match``); an ambiguous match is recorded for a person
        and raised, so nothing is created.
        """
        if not client.capabilities.keeps_customers:
            return None  # the customer travels inside each document
        binding = self._customer_binding(partner)
        fingerprint = party_fingerprint(party)
        if binding.remote_id and binding.pushed_hash == fingerprint:
            return binding.remote_id
        values = {}
        try:
            if not binding.remote_id and binding.match_state != "manual":
                values = self._match_customer(client, party)
            remote_id = client.upsert_customer(
                party, binding.remote_id or values.get("remote_id"), match=bool(binding.remote_id)
            )
        except errors.AmbiguousCustomer as error:
            self._bind_customer(binding, partner, self._ambiguous_values(error))
            raise
        values.update(remote_id=remote_id, pushed_hash=fingerprint, last_push_at=fields.Datetime.now())
        self._bind_customer(binding, partner, values)
        return remote_id

    def _forget_customer(self, partner):
        """Drop the customer's remote id so that the next sync matches or creates it again."""
        self._customer_binding(partner).write({"remote_id": False, "match_state": False})

    # ------------------------------------------------------------------
    # PDFs
    # ------------------------------------------------------------------

    def _fetch_pdfs(self, client, calls, moves):
        """Attach the engine's PDF; a PDF still being rendered is retried shortly."""
        deadline = time.monotonic() + PDF_WAIT_IN_RUN
        pending = moves
        while pending:
            busy = pending.browse()
            for move in pending:
                if not self._lock_move(move):
                    busy |= move  # someone is working on the invoice: its PDF waits for the next run
                    continue
                with calls.about(move):
                    self._fetch_pdf(client, move)
                self._commit_item()
            pending = (pending - busy).filtered(
                lambda move: not move.engine_pdf_id and move.engine_pdf_next_attempt_at
                and move.engine_pdf_next_attempt_at <= fields.Datetime.now() + timedelta(seconds=PDF_WAIT_IN_RUN)
            )
            if not pending or time.monotonic() >= deadline:
                return
            wait = (min(pending.mapped("engine_pdf_next_attempt_at")) - fields.Datetime.now()).total_seconds()
            time.sleep(min(max(wait, 0), max(deadline - time.monotonic(), 0)))

    def _fetch_pdf(self, client, move):
        try:
            pdf = client.fetch_pdf(move._engine_ref())
        except errors.EngineError as error:
            self._handle_pdf_error(move, error)
            return
        if pdf is None:
            attempts = move.engine_pdf_attempts + 1
            delay = PDF_RETRY_DELAYS[min(attempts, len(PDF_RETRY_DELAYS)) - 1]
            move._engine_write({"engine_pdf_attempts": attempts,
                        "engine_pdf_next_attempt_at": fields.Datetime.now() + timedelta(seconds=delay)})
            return
        attachment = self.env["ir.attachment"].create({
            "name": f"{(move.engine_display_number or move.name).replace('/', '-')}.pdf",
            "datas": base64.b64encode(pdf),
            "mimetype": "application/pdf",
            "res_model": "account.move",
            "res_id": move.id,
        })
        values = {"engine_pdf_id": attachment.id, "engine_pdf_next_attempt_at": False}
        if not move.message_main_attachment_id:
            values["message_main_attachment_id"] = attachment.id  # what the form's preview shows
        move._engine_write(values)
        # A note, not a message to import: no follower is notified, no attachment is read as an invoice.
        move._message_log(body=_("PDF from %s attached.", self._engine_label()), attachment_ids=attachment.ids)
        move._engine_take_invoice_document(attachment)

    def _handle_pdf_error(self, move, error):
        self._stop_if_engine_unavailable(error)
        attempts = move.engine_pdf_attempts + 1
        move._engine_write({
            "engine_pdf_attempts": attempts,
            "engine_pdf_next_attempt_at": fields.Datetime.now() + self._backoff(attempts),
        })
        if attempts == ATTEMPTS_BEFORE_ALERT:
            move.message_post(body=_("The PDF could not be downloaded yet: %s", error.message))

    # ------------------------------------------------------------------
    # Payments
    # ------------------------------------------------------------------

    def _sync_payments(self, client, calls, payments):
        for payment in payments:
            if payment.move_id.engine_state != "sent" or not self._lock_payment(payment):
                continue  # recorded once the invoice itself is in the engine; or someone is busy with it
            try:
                with calls.about(payment.move_id):
                    if payment.state == "to_delete":
                        self._delete_payment(client, payment)
                    else:
                        self._record_payment(client, payment)
            except errors.EngineError as error:
                self._handle_payment_error(payment, error)
            except psycopg2.extensions.TransactionRollbackError:
                self.env.cr.rollback()  # unreconciled meanwhile: the payment's committed state decides next time
                continue
            self._commit_item()

    def _lock_payment(self, payment):
        """Row-lock the payment for this transaction (as ``_lock_move``); False when someone holds it."""
        self.env.cr.execute(
            "SELECT id FROM invoice_engine_payment WHERE id = %s FOR NO KEY UPDATE SKIP LOCKED", [payment.id]
        )
        locked = bool(self.env.cr.fetchone())
        payment.invalidate_recordset()
        return locked

    def _record_payment(self, client, payment):
        ref = payment.move_id._engine_ref()
        if payment.state == "sending":
            found = self._find_remote_payment(client, ref, payment)
            if found:
                payment.write({"state": "sent", "remote_id": found, "last_error": False})
                return
        payment.write({"state": "sending", "attempts": payment.attempts + 1})
        self.env.cr.commit()  # as for documents: durable before the engine can store it
        try:
            remote_id = client.record_payment(ref, self._payment_info(payment))
        except errors.MaybeCreated:
            raise  # stays "sending": looked up before any new attempt
        except errors.EngineError:
            payment.write({"state": "to_send"})  # the engine did not store it
            raise
        payment.write({"state": "sent", "remote_id": remote_id, "last_error": False, "next_attempt_at": False})
        payment.move_id._message_log(body=_(
            "Payment of %(amount)s recorded in %(engine)s.",
            amount=payment.currency_id.format(payment.amount), engine=self._engine_label(),
        ))

    def _delete_payment(self, client, payment):
        ref = payment.move_id._engine_ref()
        remote_id = payment.remote_id or self._find_remote_payment(client, ref, payment)
        if remote_id:
            client.delete_payment(ref, remote_id)
            payment.move_id._message_log(body=_(
                "Payment of %(amount)s removed from %(engine)s (unreconciled in Odoo).",
                amount=payment.currency_id.format(payment.amount), engine=self._engine_label(),
            ))
        payment.write({"state": "deleted", "last_error": False, "next_attempt_at": False})

    def _find_remote_payment(self, client, ref, payment):
        """The engine's id of a payment whose creation went unanswered, or False."""
        if not client.capabilities.reads_back_payments:
            raise errors.OutcomeUnknown(_(
                "%(engine)s did not answer when the payment of %(amount)s of %(date)s was sent, and it cannot "
                "list the payments of %(number)s: check there whether it was recorded, and record or remove "
                "it there by hand.",
                engine=self._engine_label(), amount=payment.currency_id.format(payment.amount),
                date=payment.date, number=ref.number or ref.id,
            ))
        status = client.document_status(ref)
        known = set(payment.move_id.engine_payment_ids.filtered("remote_id").mapped("remote_id"))
        for remote in status.payments:
            if remote.id not in known and remote.amount == payment._amount_decimal() and remote.paid_on == payment.date:
                return remote.id
        return False

    def _payment_info(self, payment):
        invoice = payment.move_id
        recorded = sum(invoice.engine_payment_ids.filtered(lambda other: other.state == "sent").mapped("amount"))
        completes = invoice.currency_id.compare_amounts(recorded + payment.amount, invoice.amount_total) >= 0
        return PaymentInfo(
            key=payment.key,
            amount=payment._amount_decimal(),
            currency=payment.currency_id.name,
            paid_on=payment.date,
            **self._payment_options(),
            completes_document=completes,
            method=payment.journal_id.invoice_engine_payment_means or PAYMENT_BANK,
            customer=invoice.commercial_partner_id._engine_party(invoice._engine_db_tag(), []),
            reference=payment.reference or "",
            language=invoice._engine_document_language(self),
        )

    def _handle_payment_error(self, payment, error):
        self._stop_if_engine_unavailable(error)
        now = fields.Datetime.now()
        if isinstance(error, errors.NotFound) and payment.state == "to_delete":
            payment.write({"state": "deleted"})
            return
        if isinstance(error, errors.MaybeCreated):
            payment.write({"last_error": error.message, "next_attempt_at": now + MAYBE_CREATED_DELAY})
            return
        if isinstance(error, errors.TransientError):
            payment.write({"last_error": error.message, "next_attempt_at": now + self._backoff(payment.attempts or 1)})
            return
        if payment.state == "to_delete":
            payment.write({"state": "delete_error", "last_error": error.message})
            payment.move_id._engine_report(_(
                "The payment of %(amount)s was unreconciled in Odoo, but %(engine)s refused to remove it, so it "
                "still counts there: %(message)s Remove it in %(engine)s by hand.",
                amount=payment.currency_id.format(payment.amount), engine=self._engine_label(), message=error.message,
            ))
            return
        payment.write({"state": "error", "last_error": error.message})
        payment.move_id._engine_report(
            _("The payment of %(amount)s could not be recorded: %(message)s",
              amount=payment.currency_id.format(payment.amount), message=error.message),
        )

