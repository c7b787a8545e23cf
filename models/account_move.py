from collections import defaultdict
from decimal import Decimal

from markupsafe import Markup

from odoo import _, api, fields, models
from odoo.exceptions import UserError
from odoo.tools import LazyTranslate, html2plaintext, is_html_empty

from ..engines import document as neutral
from ..engines.document import RemoteRef

_lt = LazyTranslate(__name__)

# The life of a move in its engine (DESIGN §2):
#
#   (posted) ─▶ queued ─(cron)─▶ sending ─▶ sent
#                 ▲                 │
#                 │                 ├─ data refused ─────▶ error ─(fix + retry)─▶ queued
#                 ├── transient ────┤
#                 │                 └─ answer lost: stays sending; the next run looks the
#                 │                    document up by its key before creating anything
#                 └─ "confirm none exists" ◀─ needs_review (the engine cannot tell)
#
#   sent ─(the engine answers 404 for it)─▶ missing ─┬─ "send again" ─▶ queued (a new document)
#                                                    └─ "link existing" ─▶ sent
#   excluded: a person chose not to send it.   False: never queued (or reset to draft while queued).
#
# Only the transitions below write ``engine_state``, each through its method
# ``_engine_<name>``, and each only from the states listed for it. A transient failure is no
# transition: the move keeps its state (queued, or sending) and its next attempt is postponed.
ENGINE_STATES = [
    ("queued", "Queued"),
    ("sending", "Sending"),
    ("sent", "Sent"),
    ("error", "Error"),
    ("needs_review", "Needs review"),
    ("missing", "Missing in engine"),
    ("excluded", "Not sent"),
]
# Where a person must act before the engine holds the document
ENGINE_ATTENTION_STATES = ("error", "needs_review", "missing")
# Not in the engine yet: waiting for the job, or for a person
ENGINE_OPEN_STATES = ("queued", "sending", *ENGINE_ATTENTION_STATES)
ENGINE_TRANSITIONS = {
    # name: (states it starts from, state it leads to)
    "to_queued": ((False, "queued", "error", "needs_review", "missing", "excluded"), "queued"),
    "to_unqueued": (("queued",), False),  # reset to draft before the job sent it
    "to_sending": (("queued",), "sending"),  # the marker is committed before the create call
    "back_to_queued": (("sending",), "queued"),  # the engine did not store the document
    "to_sent": (("queued", "sending", "error", "needs_review", "missing"), "sent"),
    "to_error": (("queued", "sending"), "error"),
    "to_needs_review": (("sending",), "needs_review"),  # the engine cannot tell whether it holds it
    "to_missing": (("sent",), "missing"),
    "to_excluded": ((False, "queued", "error", "needs_review", "missing"), "excluded"),
}
# What a person may do in each state; the buttons' methods check it, the views show a subset.
ENGINE_ACTIONS = {
    False: {"send", "exclude"},
    "queued": {"send", "exclude", "link_existing"},
    "sending": {"link_existing"},
    "sent": {"refresh"},
    "error": {"send", "exclude", "link_existing"},
    "needs_review": {"confirm_none", "link_existing", "exclude"},
    "missing": {"send", "link_existing", "exclude"},
    "excluded": {"send"},
}
ENGINE_ACTION_LABELS = {
    "send": _lt("Send to engine"),
    "exclude": _lt("Do not send"),
    "confirm_none": _lt("Confirm none exists"),
    "link_existing": _lt("Link existing document"),
    "refresh": _lt("Refresh from engine"),
}
# Fields whose change after sending makes Odoo and the engine disagree.
ENGINE_RELEVANT_FIELDS = {
    "partner_id", "invoice_date", "invoice_date_due", "currency_id", "invoice_line_ids", "line_ids",
    "narration", "ref", "payment_reference", "invoice_payment_term_id", "delivery_date",
}


class EngineStateError(ValueError):
    """A transition was asked from a state it does not start from: a programming mistake."""


class EngineDataError(UserError):
    """The move cannot be sent as it is; the message lists what a person must fix."""

    def __init__(self, problems):
        self.problems = problems
        super().__init__("\n".join(problems))


def _display_number(series, number):
    """A number as the engine prints it: the series first, for engines that number per series."""
    number = number or ""
    return f"{series}{number}" if series and number and not number.startswith(series) else number


def _reversal_key(line):
    """What must be equal, line by line, for a credit note to reverse its invoice whole."""
    return (line.name, line.quantity, line.unit_price, line.discount_percent, line.subtotal, line.tax.rate, line.tax.kind)


def _decimal(value, places=None):
    number = Decimal(str(value or 0))
    return number.quantize(Decimal(1).scaleb(-places)) if places is not None else number


class AccountMove(models.Model):
    _inherit = "account.move"

    engine_id = fields.Many2one("invoice.engine", string="Invoice engine", copy=False, readonly=True, index="btree_not_null")
    engine_state = fields.Selection(ENGINE_STATES, string="Engine state", copy=False, readonly=True, index=True)
    engine_remote_id = fields.Char(string="Engine document ID", copy=False, readonly=True)
    engine_remote_series = fields.Char(
        string="Engine series", copy=False, readonly=True,
        help="The number series the engine issued the document in (some engines find a document by series and number).",
    )
    engine_number = fields.Char(string="Engine number", copy=False, readonly=True, index="trigram")
    engine_display_number = fields.Char(
        string="Legal number", compute="_compute_engine_display_number", store=True, index="trigram",
        help="The document's number as the engine prints it (with its series, for engines that number per series).",
    )
    engine_url = fields.Char(string="Engine link", copy=False, readonly=True)
    engine_status = fields.Selection(neutral.REMOTE_STATUSES, string="Status in engine", copy=False, readonly=True)
    engine_total = fields.Monetary(string="Total in engine", copy=False, readonly=True)
    engine_total_mismatch = fields.Boolean(compute="_compute_engine_total_mismatch")
    engine_pdf_id = fields.Many2one("ir.attachment", string="Engine PDF", copy=False, readonly=True)
    engine_pdf = fields.Binary(related="engine_pdf_id.datas", string="Engine PDF file")
    engine_pdf_name = fields.Char(related="engine_pdf_id.name")
    engine_pdf_attempts = fields.Integer(copy=False, readonly=True)
    engine_pdf_next_attempt_at = fields.Datetime(copy=False, readonly=True)
    engine_error = fields.Text(string="Engine message", copy=False, readonly=True)
    engine_attempts = fields.Integer(string="Send attempts", copy=False, readonly=True)
    engine_next_attempt_at = fields.Datetime(string="Next attempt", copy=False, readonly=True)
    engine_marker = fields.Json(copy=False, readonly=True)
    engine_sent_at = fields.Datetime(string="Sent to engine on", copy=False, readonly=True)
    engine_last_sync_at = fields.Datetime(string="Last read from engine", copy=False, readonly=True)
    engine_changed_after_send = fields.Boolean(
        string="Changed after sending",
        copy=False,
        readonly=True,
        help="The invoice was modified in Odoo after the engine issued it. The engine still holds "
        "the version it received: correct it there or issue a credit note.",
    )
    engine_payment_ids = fields.One2many("invoice.engine.payment", "move_id", string="Engine payments")
    engine_paid_amount = fields.Monetary(
        string="Paid in engine", copy=False, readonly=True,
        help="What the engine counts as paid on its document, as last read back.",
    )
    engine_changed_in_engine = fields.Boolean(
        string="Changed in the engine", copy=False, readonly=True,
        help="The engine's document no longer carries the total it was issued with: it was edited in the "
        "engine. Check it there, then correct Odoo or the engine so that both agree.",
    )
    # The tax authority the engine submits the document to (engines whose capabilities report it).
    engine_authority_state = fields.Selection(
        neutral.AUTHORITY_STATUSES, string="Tax authority status", copy=False, readonly=True,
    )
    engine_authority_number = fields.Char(string="Tax authority number", copy=False, readonly=True)
    engine_authority_link = fields.Char(string="Verification link", copy=False, readonly=True)
    engine_authority_message = fields.Text(string="Tax authority message", copy=False, readonly=True)
    engine_authority_demo = fields.Boolean(
        string="Authority test environment", copy=False, readonly=True,
        help="The engine submitted the document to the tax authority's test environment (DEMO): it has no legal effect.",
    )
    engine_authority_attempts = fields.Integer(copy=False, readonly=True)
    engine_authority_next_at = fields.Datetime(copy=False, readonly=True)
    engine_authority_attachment_ids = fields.Many2many(
        "ir.attachment", "account_move_engine_authority_attachment_rel", "move_id", "attachment_id",
        string="Tax authority files", copy=False, readonly=True,
    )
    engine_authority_name = fields.Char(compute="_compute_engine_authority_name")
    engine_corrected_number = fields.Char(
        string="Corrects", related="reversed_entry_id.engine_display_number",
        help="The engine's document this credit note corrects.",
    )
    engine_payment_note = fields.Char(
        compute="_compute_engine_payment_note",
        help="Why Odoo's payment status and the engine's differ, when they do.",
    )

    @api.depends("engine_remote_series", "engine_number")
    def _compute_engine_display_number(self):
        for move in self:
            move.engine_display_number = _display_number(move.engine_remote_series, move.engine_number)

    @api.depends("payment_state", "engine_status", "engine_state", "engine_payment_ids.state")
    def _compute_engine_payment_note(self):
        paid_in_odoo = ("paid", "in_payment", "partial")
        for move in self:
            note = False
            if move.engine_state == "sent" and move.engine_status and move.payment_state in paid_in_odoo \
                    and move.engine_status not in (neutral.REMOTE_PAID, neutral.REMOTE_PARTIALLY_PAID):
                waiting = move.engine_payment_ids.filtered(lambda payment: payment.state in ("to_send", "sending"))
                failed = move.engine_payment_ids.filtered(lambda payment: payment.state == "error")
                if failed:
                    note = _("Paid in Odoo; recording the payment in the engine failed (see Invoice engine tab).")
                elif waiting:
                    note = _("Paid in Odoo; the payment is recorded in the engine with its next run.")
                else:
                    note = _("Paid in Odoo; the engine still shows the document as %(status)s. Refresh from the "
                             "engine to read its state again.",
                             status=dict(self._fields["engine_status"]._description_selection(self.env))[move.engine_status])
            move.engine_payment_note = note

    @api.depends("engine_total", "amount_total", "engine_state")
    def _compute_engine_total_mismatch(self):
        for move in self:
            move.engine_total_mismatch = bool(
                move.engine_state == "sent"
                and move.engine_total
                and move.currency_id.compare_amounts(abs(move.engine_total), move.amount_total) != 0
            )

    @api.depends("engine_id")
    def _compute_engine_authority_name(self):
        for move in self:
            authority = move.engine_id and move.engine_id._client_class().capabilities.tax_authority
            move.engine_authority_name = authority.system if authority else False

    # ------------------------------------------------------------------
    # Posting: only mark the move, never call the engine here (DESIGN §2)
    # ------------------------------------------------------------------

    def _post(self, soft=True):
        posted = super()._post(soft)
        posted._engine_queue_after_post()
        return posted

    def _engine_queue_after_post(self):
        engine_by_journal = {}
        move_ids_by_engine = defaultdict(list)
        for move in self:
            if not move.is_sale_document() or move.engine_state not in (False, "error"):
                continue
            if move.journal_id not in engine_by_journal:
                engine_by_journal[move.journal_id] = self.env["invoice.engine"]._find_for_journal(move.journal_id)
            engine = move.engine_id or engine_by_journal[move.journal_id]
            # A move that failed before is queued again once reposted, whatever auto-send says.
            if engine and (engine._sends_on_post(move.journal_id) or move.engine_state == "error"):
                move_ids_by_engine[engine].append(move.id)
        for engine, move_ids in move_ids_by_engine.items():
            self.browse(move_ids)._engine_enqueue(engine)

    def _engine_enqueue(self, engine=None):
        """Mark the moves queued (one write, posting must stay fast) and wake the sending job."""
        self._engine_to_queued(engine)
        self.env.ref("account_invoice_engine.ir_cron_invoice_engine_send").sudo()._trigger()

    def write(self, vals):
        if ENGINE_RELEVANT_FIELDS.intersection(vals):
            self.filtered(lambda move: move.engine_state == "sent" and not move.engine_changed_after_send)._engine_write(
                {"engine_changed_after_send": True}
            )
        return super().write(vals)

    def _engine_write(self, vals):
        """Write engine bookkeeping fields only.

        They are not accounting data: skip the invoice/line synchronisation, the balance check
        and the tracking snapshot that ``account.move.write`` runs, and do not flag the move as
        manually modified. This keeps posting as fast as without the engine.
        """
        return self.sudo().with_context(
            skip_invoice_sync=True,
            check_move_validity=False,
            skip_is_manually_modified=True,
            tracking_disable=True,
        ).write(vals)

    def button_draft(self):
        sent = self.filtered(lambda move: move.engine_state == "sent" and move.engine_status != neutral.REMOTE_CANCELLED)
        for move in sent:
            move.message_post(body=_(
                "This invoice is already issued in %(engine)s as %(number)s. Changes made in Odoo "
                "are not sent there: correct the document in %(engine)s or issue a credit note.",
                engine=move.engine_id._engine_label(),
                number=move.engine_display_number,
            ))
        return super().button_draft()

    # ------------------------------------------------------------------
    # Buttons (what each engine state allows: ENGINE_ACTIONS)
    # ------------------------------------------------------------------

    def _engine_allows(self, action):
        self.ensure_one()
        return action in ENGINE_ACTIONS[self.engine_state]

    def _engine_check_action(self, action):
        """Refuse ``action`` with a message a person understands when a move's state does not allow it."""
        states = dict(self._fields["engine_state"]._description_selection(self.env))
        for move in self:
            if not move._engine_allows(action):
                raise UserError(_(
                    "“%(action)s” is not possible for %(move)s: its engine state is “%(state)s”.",
                    action=ENGINE_ACTION_LABELS[action],
                    move=move.display_name,
                    state=states.get(move.engine_state) or _("Not queued"),
                ))

    def action_engine_send(self):
        """Queue the moves (again) and wake the sending job; the job does the network work.

        Moves whose state does not allow sending are skipped rather than refused, so that a
        double click or a stale form is harmless: those already in the engine, or whose create
        may have reached it (sending, needs review), would otherwise exist twice.
        """
        moves = self.filtered(lambda move: move._engine_allows("send"))
        for move in moves:
            if move.state != "posted" or not move.is_sale_document():
                raise UserError(_("Only posted customer invoices and credit notes can be sent to an engine."))
            engine = move.engine_id or self.env["invoice.engine"]._find_for_journal(move.journal_id)
            if not engine:
                raise UserError(_(
                    "No invoice engine covers the journal “%(journal)s”. Configure one under "
                    "Accounting › Configuration › Invoice Engines.",
                    journal=move.journal_id.display_name,
                ))
            move._engine_check_not_submitted_by_odoo(engine)
            if move.engine_state == "missing":
                move.message_post(body=_("%(user)s asked for a new engine document: the one it had is gone.",
                                         user=self.env.user.name))
                move._engine_forget_remote()
            move._engine_enqueue(engine)
        return True

    def action_engine_exclude(self):
        self._engine_check_action("exclude")
        self._engine_to_excluded()
        self._engine_close_activities(_("Marked as not to be sent."))

    def action_engine_confirm_none(self):
        """Needs review: a person checked the engine and the document is not there."""
        self._engine_check_action("confirm_none")
        for move in self:
            move.message_post(body=_("%(user)s confirmed that no document exists in the engine; sending again.",
                                     user=self.env.user.name))
            move._engine_write({"engine_marker": False, "engine_error": False})
            move._engine_enqueue()
        return True

    def action_engine_link_existing(self):
        self.ensure_one()
        self._engine_check_action("link_existing")
        return {
            "type": "ir.actions.act_window",
            "name": _("Link an existing engine document"),
            "res_model": "invoice.engine.link.wizard",
            "view_mode": "form",
            "target": "new",
            "context": {"default_move_id": self.id},
        }

    # ------------------------------------------------------------------
    # Transitions (ENGINE_TRANSITIONS): the only writers of engine_state
    # ------------------------------------------------------------------

    def _engine_transition(self, name, values=None):
        sources, target = ENGINE_TRANSITIONS[name]
        for move in self:
            if move.engine_state not in sources:
                raise EngineStateError(
                    f"{move}: the engine transition {name!r} does not start from the state {move.engine_state!r}"
                )
        self._engine_write({**(values or {}), "engine_state": target})

    def _engine_to_queued(self, engine=None):
        values = {"engine_next_attempt_at": False, "engine_attempts": 0}
        if engine:
            values["engine_id"] = engine.id
        self._engine_transition("to_queued", values)

    def _engine_to_unqueued(self):
        self._engine_transition("to_unqueued", {"engine_next_attempt_at": False})

    def _engine_to_sending(self, marker, attempt):
        self._engine_transition("to_sending", {
            "engine_marker": marker,
            "engine_attempts": attempt,
            "engine_next_attempt_at": False,
        })

    def _engine_back_to_queued(self):
        self._engine_transition("back_to_queued")

    def _engine_to_sent(self, ref, found_again=False):
        """Store the engine's answer: the move now lives in the engine."""
        self.ensure_one()
        self._engine_transition("to_sent", {
            "engine_remote_id": ref.id,
            "engine_remote_series": ref.series or False,
            "engine_number": ref.number,
            "engine_url": ref.url,
            "engine_status": self._engine_neutral_status(ref.status) or neutral.REMOTE_OPEN,
            # Credit notes are negative in the engine and positive in Odoo: compare magnitudes.
            "engine_total": float(abs(ref.total)) if ref.total is not None else 0.0,
            "engine_error": False,
            "engine_marker": False,
            "engine_next_attempt_at": False,
            "engine_pdf_attempts": 0,
            "engine_pdf_next_attempt_at": False,
            "engine_sent_at": fields.Datetime.now(),
            "engine_last_sync_at": fields.Datetime.now(),
        })
        label = self.engine_id._engine_label()
        if found_again:
            body = _("Found in %(engine)s as %(number)s after an unanswered request; linked without sending again.",
                     engine=label, number=_display_number(ref.series, ref.number))
        else:
            body = _("Sent to %(engine)s as %(number)s.", engine=label, number=_display_number(ref.series, ref.number))
        if ref.url:
            body = Markup("%s <a href='%s' target='_blank'>%s</a>") % (body, ref.url, _("Open in %s", label))
        self._message_log(body=body)  # a note of the job's: nobody to notify
        if self.engine_total_mismatch:
            self.message_post(body=_(
                "%(engine)s computed a total of %(engine_total)s while Odoo has %(odoo_total)s. Check the "
                "VAT rounding method (Accounting settings) and the lines of both documents.",
                engine=label,
                engine_total=self.currency_id.format(self.engine_total),
                odoo_total=self.currency_id.format(self.amount_total),
            ))
        self._engine_close_activities(_("Sent as %s.", _display_number(ref.series, ref.number)))

    def _engine_to_error(self, message):
        """The engine or the checks refused the data: a person fixes it and retries."""
        self._engine_transition("to_error")
        self._engine_report(message)

    def _engine_to_needs_review(self, message):
        self._engine_transition("to_needs_review")
        self._engine_report(message)

    def _engine_to_missing(self):
        """The engine answered 404 for the document this move was linked to."""
        self.ensure_one()
        self._engine_transition("to_missing")
        self._engine_report(_(
            "%(engine)s no longer has %(number)s: it was deleted there. Link the document that replaces "
            "it (“Link existing document”), or send this invoice again to have a new one issued "
            "(“Send again”).",
            engine=self.engine_id._engine_label(), number=self.engine_display_number or self.engine_remote_id,
        ))

    def _engine_to_excluded(self):
        self._engine_transition("to_excluded", {"engine_next_attempt_at": False})

    # ------------------------------------------------------------------
    # Engine data of a move
    # ------------------------------------------------------------------

    def _engine_ref(self):
        self.ensure_one()
        return RemoteRef(
            id=self.engine_remote_id,
            number=self.engine_number or "",
            url=self.engine_url or "",
            series=self.engine_remote_series or "",
        )

    def _engine_forget_remote(self):
        """Unlink the move from an engine document that no longer exists.

        Its payments were recorded on that document: they are recorded again on the next one.
        """
        self._engine_release_invoice_document()
        self._engine_write({
            "engine_remote_id": False, "engine_remote_series": False, "engine_number": False, "engine_url": False,
            "engine_status": False, "engine_total": 0.0, "engine_pdf_id": False, "engine_pdf_attempts": 0,
            "engine_pdf_next_attempt_at": False, "engine_marker": False, "engine_changed_after_send": False,
        })
        payments = self.sudo().engine_payment_ids
        payments.filtered(lambda payment: payment.state in ("sent", "sending", "error")).write(
            {"state": "to_send", "remote_id": False, "attempts": 0, "next_attempt_at": False, "last_error": False})
        payments.filtered(lambda payment: payment.state in ("to_delete", "delete_error")).write({"state": "deleted"})

    @staticmethod
    def _engine_neutral_status(status):
        """The client's status when it is one of the neutral ``REMOTE_STATUSES``, else False."""
        return status if status in dict(neutral.REMOTE_STATUSES) else False

    def _engine_report(self, message):
        """Make ``message`` the move's engine message: one chatter note and one activity per problem."""
        self.ensure_one()
        # A retry that fails the same way reports nothing new: the earlier note and activity stand.
        if self.engine_error == message:
            return
        self._engine_write({"engine_error": message})
        # sudo: a note must not fail because the acting user has no e-mail address.
        self.sudo().message_post(body=_("%(engine)s: %(message)s", engine=self.engine_id._engine_label(),
                                        message=message))
        activity_type = self.env.ref("account_invoice_engine.mail_activity_engine_problem")
        activity = self.activity_ids.filtered(lambda activity: activity.activity_type_id == activity_type)
        if activity:
            activity.write({"note": message})
        else:
            self.activity_schedule(
                "account_invoice_engine.mail_activity_engine_problem",
                summary=_("Fix and resend to %s", self.engine_id._engine_label()),
                note=message,
                user_id=(self.invoice_user_id or self.engine_id.responsible_user_id or self.env.user).id,
            )

    def _engine_close_activities(self, feedback):
        activity_type = self.env.ref("account_invoice_engine.mail_activity_engine_problem")
        activities = self.activity_ids.filtered(lambda activity: activity.activity_type_id == activity_type)
        if activities:
            activities.action_feedback(feedback=feedback)

    # ------------------------------------------------------------------
    # The neutral document
    # ------------------------------------------------------------------

    def _engine_key(self):
        self.ensure_one()
        return f"odoo-{self._engine_db_tag()}-move-{self.id}"

    def _engine_db_tag(self):
        # Distinguishes two databases pushing to one engine account (e.g. a restored copy).
        return (self.env["ir.config_parameter"].sudo().get_param("database.uuid") or "")[:8]

    def _engine_original(self):
        """The invoice a credit note corrects, when it was sent to the same engine."""
        self.ensure_one()
        return self.reversed_entry_id if self.move_type == "out_refund" else self.browse()

    def _engine_document(self, engine, strict=True):
        """Build the neutral document; with ``strict``, raise ``EngineDataError`` listing every problem."""
        self.ensure_one()
        if strict and (refusal := self._engine_odoo_submission_problem(engine)):
            raise EngineDataError([refusal])  # nothing else to fix: a person decides (models/tax_authority.py)
        problems = []
        customer = self.commercial_partner_id._engine_party(self._engine_db_tag(), problems)
        lines = self._engine_lines(engine, problems)
        exchange_rate = self._engine_exchange_rate(engine, problems)
        original = self._engine_original()
        if self.move_type == "out_refund":
            if not original:
                problems.append(_(
                    "This credit note does not reverse an invoice. %(engine)s issues a credit note only as "
                    "a correction of an invoice it holds: create it with “Credit Note” on the invoice.",
                    engine=engine._engine_label(),
                ))
            elif original.engine_state != "sent" or original.engine_id != engine:
                problems.append(_(
                    "The corrected invoice %(invoice)s is not in %(engine)s. Send it first (button “Send to "
                    "engine” on the invoice), then retry this credit note.",
                    invoice=original.display_name,
                    engine=engine._engine_label(),
                ))
        language = self._engine_document_language(engine)
        document = neutral.Document(
            key=self._engine_key(),
            kind=neutral.CREDIT_NOTE if self.move_type == "out_refund" else neutral.INVOICE,
            reference=self.name,
            customer=customer,
            lines=tuple(lines),
            issue_date=self.invoice_date,
            taxable_supply_date=self._engine_taxable_supply_date(),
            due_date=self.invoice_date_due or self.invoice_date,
            currency=self.currency_id.name,
            company_currency=self.company_currency_id.name,
            exchange_rate=exchange_rate,
            amount_untaxed=_decimal(self.amount_untaxed),
            amount_tax=_decimal(self.amount_tax),
            amount_total=_decimal(self.amount_total),
            variable_symbol=self._engine_variable_symbol(),
            order_number=(self.ref or self.invoice_origin or "")[:60],
            note=html2plaintext(self.narration).strip() if not is_html_empty(self.narration) else "",
            language=language,
            numbering=engine._numbering_for(self).remote_id or "",
            original=original._engine_ref() if original and original.engine_remote_id else None,
            original_reference=original.engine_display_number or original.name or "" if original else "",
            **(self._engine_correction_values(engine, original, lines) if original else {}),
        )
        if strict:
            problems += engine._document_problems(self, document)
            if problems:
                raise EngineDataError(problems)
        return document

    def _engine_document_language(self, engine):
        """ISO 639-1 code of the language the engine's document is written in."""
        language = engine.document_language
        return (self.partner_id.lang or "").split("_")[0] if language == "partner" else language

    def _engine_correction_values(self, engine, original, lines):
        """What a credit note tells about the invoice it corrects."""
        original_lines = tuple(original._engine_lines(engine, []))
        return {
            "original_lines": original_lines,
            "original_issue_date": original.invoice_date,
            "reverses_whole_original": (
                self.currency_id == original.currency_id
                and self.currency_id.compare_amounts(self.amount_total, original.amount_total) == 0
                and [_reversal_key(line) for line in lines] == [_reversal_key(line) for line in original_lines]
            ),
            "correction_reason": (self.ref or "").strip()[:255],
        }

    def _engine_taxable_supply_date(self):
        # l10n_cz adds taxable_supply_date (DUZP); other localizations use delivery_date.
        return self["taxable_supply_date"] if "taxable_supply_date" in self._fields and self["taxable_supply_date"] \
            else self.delivery_date or self.invoice_date

    def _engine_variable_symbol(self):
        # A Czech variable symbol is up to 10 digits; anything else is left to the engine,
        # which derives one from its own number.
        reference = (self.payment_reference or "").replace(" ", "")
        return reference if reference.isdigit() and len(reference) <= 10 else ""

    def _engine_exchange_rate(self, engine, problems):
        if engine.remote_currency and engine.remote_currency != self.company_currency_id.name:
            problems.append(_(
                "The %(engine)s account keeps its books in %(remote)s but the company's currency is %(company)s: "
                "exchange rates would be wrong. Connect the engine account that matches the company.",
                engine=engine._engine_label(), remote=engine.remote_currency, company=self.company_currency_id.name,
            ))
            return None
        if self.currency_id == self.company_currency_id:
            return None
        has_rate = self.env["res.currency.rate"].search_count([
            ("currency_id", "=", self.currency_id.id),
            ("name", "<=", self.invoice_date),
            ("company_id", "in", (False, self.company_id.root_id.id, self.company_id.id)),
        ], limit=1)
        if not has_rate or not self.invoice_currency_rate:
            problems.append(_(
                "There is no exchange rate for %(currency)s on or before %(date)s. Add one under "
                "Accounting › Configuration › Currencies, then reset the invoice to draft and post it again "
                "so Odoo uses it.",
                currency=self.currency_id.name, date=self.invoice_date,
            ))
            return None
        return (Decimal(1) / Decimal(str(self.invoice_currency_rate))).quantize(Decimal("0.000001"))

    def _engine_lines(self, engine, problems):
        product_lines = self.invoice_line_ids.filtered(lambda line: line.display_type == "product")
        if not product_lines:
            problems.append(_("The invoice has no lines. %(engine)s cannot issue an empty document.",
                              engine=engine._engine_label()))
        return [
            line._engine_line(engine, problems)
            for line in product_lines
        ]


class AccountMoveLine(models.Model):
    _inherit = "account.move.line"

    def _engine_line(self, engine, problems):
        self.ensure_one()
        tax = self._engine_tax(engine, problems)
        quantity = _decimal(self.quantity)
        discount = _decimal(self.discount)
        return neutral.Line(
            name=(self.name or self.product_id.display_name or "").strip()[:255] or "-",
            quantity=quantity,
            unit_price=self._engine_net_unit_price(quantity, discount),
            tax=tax,
            unit_name=self.product_uom_id.name or "" if self.product_uom_id else "",
            discount_percent=discount,
            subtotal=_decimal(self.move_id.direction_sign * self.amount_currency, self.currency_id.decimal_places),
            total=_decimal(self.price_total),
            product_code=self.product_id.default_code or "",
            is_service=self.product_id.type == "service",
        )

    def _engine_net_unit_price(self, quantity, discount):
        if not any(self.tax_ids.mapped("price_include")):
            return _decimal(self.price_unit)
        # Tax-included price: the engine wants the net unit price before discount.
        if not quantity or discount >= 100:
            return Decimal(0)
        net = _decimal(self.price_subtotal) / (quantity * (1 - discount / 100))
        return net.quantize(Decimal("0.0001"))

    def _engine_tax(self, engine, problems):
        taxes = self.tax_ids
        if not taxes:
            return neutral.TaxInfo(rate=Decimal(0), kind=neutral.TAX_NOT_SUBJECT, label=_("No tax"))
        if len(taxes) > 1:
            problems.append(_(
                "The line “%(line)s” has several taxes (%(taxes)s). %(engine)s accepts one VAT rate per line: "
                "keep one tax, or group them in one tax and map it under the engine's VAT rates.",
                line=self.name, taxes=", ".join(taxes.mapped("name")), engine=engine._engine_label(),
            ))
            return neutral.TaxInfo(rate=Decimal(0))
        mapping = engine.tax_mapping_ids.filtered(lambda mapping: mapping.tax_id == taxes)
        if engine.lists_vat_rates:
            return self._engine_listed_tax(engine, mapping, problems)
        if mapping:
            return neutral.TaxInfo(rate=_decimal(mapping.vat_rate).normalize(), kind=mapping.kind, label=taxes.name,
                                   engine_code=mapping.engine_code or "")
        if taxes.amount_type == "percent":
            rate = _decimal(taxes.amount).normalize()
            return neutral.TaxInfo(rate=rate, kind=neutral.TAX_STANDARD if rate else neutral.TAX_ZERO, label=taxes.name)
        problems.append(_(
            "The tax “%(tax)s” on the line “%(line)s” has no VAT rate for %(engine)s. Map it under "
            "Accounting › Configuration › Invoice Engines › %(name)s › VAT rates.",
            tax=taxes.name, line=self.name, engine=engine._engine_label(), name=engine.name,
        ))
        return neutral.TaxInfo(rate=Decimal(0), label=taxes.name)

    def _engine_listed_tax(self, engine, mapping, problems):
        """The tax as one of the VAT rates the engine offers (engines that list their rates)."""
        tax = self.tax_ids
        vat_rate = mapping.engine_vat_rate_id
        if vat_rate and vat_rate.listed:
            return neutral.TaxInfo(rate=_decimal(vat_rate.rate).normalize(), kind=mapping.kind, label=tax.name,
                                   engine_code=vat_rate.name)
        if vat_rate:
            problems.append(_(
                "The tax “%(tax)s” on the line “%(line)s” is mapped to the VAT rate “%(rate)s”, which %(engine)s no "
                "longer offers. Choose one of its current rates under Accounting › Configuration › Invoice Engines › "
                "%(name)s › VAT rates.",
                tax=tax.name, line=self.name, rate=vat_rate.display_name, engine=engine._engine_label(),
                name=engine.name,
            ))
        else:
            problems.append(_(
                "The tax “%(tax)s” on the line “%(line)s” is not mapped to any VAT rate %(engine)s offers. Load the "
                "engine's VAT rates (Test connection) and map it under Accounting › Configuration › Invoice Engines "
                "› %(name)s › VAT rates.",
                tax=tax.name, line=self.name, engine=engine._engine_label(), name=engine.name,
            ))
        return neutral.TaxInfo(rate=_decimal(mapping.vat_rate if mapping else tax.amount).normalize(), label=tax.name)
