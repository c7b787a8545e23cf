"""Never twice to the tax authority: Odoo's own submission gives way to an engine that submits.

Some engines submit the documents they issue to the tax authority themselves (SmartBill to ANAF's
RO e-Factura, Fakturownia to KSeF); their ``Capabilities.tax_authority`` says to which system.
Odoo may have its own module that submits to the same system (``l10n_ro_edi`` for RO e-Factura).
If both ran, one sale would reach the authority twice, under Odoo's number and the engine's. So,
for a move such an engine covers:

- Send & Print does not offer Odoo's submission, and says in one line who submits instead;
- Odoo does not attach its national XML (CIUS-RO) as the e-invoice: the engine's document is the
  legal one;
- a move Odoo has already submitted is not sent to the engine: a person decides what to do.

Moves of journals the engine does not cover, and those marked "Do not send", keep Odoo's flow.
The rule is keyed by the authority's system, never by the engine: another engine that submits to
RO e-Factura needs only its capability, and an Odoo module for KSeF only its line below.
"""
from collections import defaultdict
from dataclasses import dataclass

from odoo import _, api, fields, models
from odoo.exceptions import UserError


@dataclass(frozen=True)
class OdooSubmitter:
    """Odoo's own module that submits moves to one tax authority's e-invoicing system."""

    module: str  # the module's technical name, for integrators: "l10n_ro_edi"
    extra_edis: frozenset  # its options in Send & Print (keys of account.move.send._get_all_extra_edis)
    edi_formats: frozenset  # the national XML it builds (values of res.partner.invoice_edi_format)
    submitted_field: str  # set on a move once Odoo has submitted it and the authority did not refuse it
    reference_field: str  # the authority's reference of Odoo's submission
    credential_fields: tuple  # company fields, one of them set once Odoo may submit for the company

    def installed(self, env):
        return self.submitted_field in env["account.move"]._fields

    def has_submitted(self, move):
        return self.submitted_field in move._fields and bool(move[self.submitted_field])

    def configured_for(self, company):
        company = company.sudo()  # credentials: readable by administrators only
        return any(name in company._fields and company[name] for name in self.credential_fields)


# Odoo's own submitter to each system, by ``TaxAuthority.system``. Odoo 18 has none for KSeF.
ODOO_SUBMITTERS = {
    "RO e-Factura": OdooSubmitter(
        module="l10n_ro_edi",
        extra_edis=frozenset({"ro_edi"}),  # "Send E-Factura to SPV"
        edi_formats=frozenset({"ciusro"}),
        submitted_field="l10n_ro_edi_state",  # Sent (waiting for ANAF's answer) or Validated
        reference_field="l10n_ro_edi_index",
        credential_fields=("l10n_ro_edi_client_id", "l10n_ro_edi_access_token"),
    ),
}


class InvoiceEngine(models.Model):
    _inherit = "invoice.engine"

    submitter_conflict = fields.Text(
        string="Two submitters", compute="_compute_submitter_conflict",
        help="Odoo can submit to the same tax authority as this engine: which of the two is used.",
    )

    def _tax_authority(self):
        """The tax authority's system this engine submits its documents to itself, or None."""
        return self._client_class().capabilities.tax_authority

    def _odoo_submitter(self):
        """Odoo's own submitter to the system this engine submits to, when it is installed."""
        authority = self._tax_authority()
        submitter = authority and ODOO_SUBMITTERS.get(authority.system)
        return submitter if submitter and submitter.installed(self.env) else None

    @api.depends("engine_type", "company_id", "journal_ids")
    def _compute_submitter_conflict(self):
        for engine in self:
            submitter = engine._odoo_submitter()
            if not (submitter and engine.company_id and submitter.configured_for(engine.company_id)):
                engine.submitter_conflict = False
                continue
            authority = engine._tax_authority()
            engine.submitter_conflict = _(
                "Two submitters to %(recipient)s are configured: %(engine)s, and Odoo's own %(system)s "
                "(%(module)s) with the company's credentials in the Accounting settings. %(engine)s is the one "
                "used for the journals it covers (%(journals)s): Odoo does not submit their invoices. Odoo "
                "submits only the invoices of other journals and those marked “Do not send”.",
                recipient=authority.recipient, engine=engine._engine_label(), system=authority.system,
                module=submitter.module,
                journals=", ".join(engine.journal_ids.mapped("name")) or _("all sales journals"),
            )


class AccountMove(models.Model):
    _inherit = "account.move"

    def _engine_covering(self):
        """The engine whose document is this move's legal one: the engine it went to, else its journal's."""
        self.ensure_one()
        if not self.is_sale_document() or self.engine_state == "excluded":
            return self.env["invoice.engine"]
        return self.engine_id or self.env["invoice.engine"]._find_for_journal(self.journal_id)

    def _engine_giving_way(self):
        """``(engine, submitter)``: the engine covering this move, and Odoo's own submitter that gives
        way to it on this move, or None.

        A move Odoo has already submitted keeps Odoo's flow: the engine refuses it instead.
        """
        engine = self._engine_covering()
        submitter = engine and engine._odoo_submitter()
        return engine, (submitter if submitter and not submitter.has_submitted(self) else None)

    def _engine_replaced_submitter(self):
        return self._engine_giving_way()[1]

    def _engine_odoo_submission_problem(self, engine):
        """Why this move may not go to ``engine``: Odoo itself has submitted it to the engine's authority."""
        self.ensure_one()
        submitter = engine._odoo_submitter()
        if not (submitter and submitter.has_submitted(self)):
            return None
        authority = engine._tax_authority()
        field = self._fields[submitter.submitted_field]
        state = self[submitter.submitted_field]
        if field.type == "selection":
            state = dict(field._description_selection(self.env)).get(state, state)
        return _(
            "Odoo has already submitted %(move)s to %(recipient)s itself (%(system)s, reference %(reference)s, "
            "state “%(state)s”). %(engine)s would submit it a second time under its own number, so it is not "
            "sent to %(engine)s. Either keep it as Odoo submitted it: choose “Do not send”, and correct it with a "
            "credit note if it is wrong. Or decide in %(engine)s: issue it there by hand without submitting it to "
            "%(recipient)s, then link it here with “Link existing document”.",
            move=self.display_name, recipient=authority.recipient, system=authority.system,
            reference=self[submitter.reference_field] or "-", state=state, engine=engine._engine_label(),
        )

    def _engine_check_not_submitted_by_odoo(self, engine):
        """Refuse, before anything is queued, to send a move Odoo has already submitted to the authority."""
        problem = self._engine_odoo_submission_problem(engine)
        if problem:
            raise UserError(problem)


class AccountMoveSend(models.AbstractModel):
    _inherit = "account.move.send"

    @api.model
    def _get_default_extra_edis(self, move):
        edis = super()._get_default_extra_edis(move)
        submitter = move._engine_replaced_submitter()
        return edis - submitter.extra_edis if submitter else edis

    @api.model
    def _get_default_invoice_edi_format(self, move, **kwargs):
        edi_format = super()._get_default_invoice_edi_format(move, **kwargs)
        submitter = move._engine_replaced_submitter()
        return False if submitter and edi_format in submitter.edi_formats else edi_format

    @api.model
    def _get_default_sending_settings(self, move, from_cron=False, **custom_settings):
        # Every sending passes here, whatever its caller asked for (a wizard, Odoo's sending job, a
        # sending that waited for the engine's PDF, code): Odoo's submission and its XML stay off.
        settings = super()._get_default_sending_settings(move, from_cron=from_cron, **custom_settings)
        submitter = move._engine_replaced_submitter()
        if submitter:
            settings["extra_edis"] = set(settings["extra_edis"] or ()) - submitter.extra_edis
            if settings.get("invoice_edi_format") in submitter.edi_formats:
                settings["invoice_edi_format"] = False
        return settings

    @api.model
    def _engine_given_way_options(self, move):
        """``(engine, {option: label})``: Odoo's submission options that would apply to ``move`` but give
        way to the engine covering it."""
        engine, submitter = move._engine_giving_way()
        if not submitter:
            return engine, {}
        all_extra_edis = self._get_all_extra_edis()
        return engine, {
            key: all_extra_edis[key]["label"] for key in sorted(submitter.extra_edis)
            if key in all_extra_edis and all_extra_edis[key]["is_applicable"](move)
        }

    @api.model
    def _engine_submission_reason(self, engine, labels, count):
        """One line: who submits ``count`` invoices to the tax authority instead of Odoo's ``labels``."""
        values = {"engine": engine._engine_label(), "recipient": engine._tax_authority().recipient,
                  "options": ", ".join(f"“{label}”" for label in sorted(labels))}
        if count == 1:
            return _("%(engine)s submits this invoice to %(recipient)s: Odoo's %(options)s is off for it.", **values)
        return _("%(engine)s submits these %(count)s invoices to %(recipient)s: Odoo's %(options)s is off for them.",
                 count=count, **values)

    @api.model
    def _get_alerts(self, moves, moves_data):
        alerts = super()._get_alerts(moves, moves_data)
        given_way = defaultdict(lambda: {"count": 0, "labels": set()})
        for move in moves:
            engine, options = self._engine_given_way_options(move)
            if options:
                given_way[engine]["count"] += 1
                given_way[engine]["labels"].update(options.values())
        for engine, covered in given_way.items():
            alerts[f"account_invoice_engine_submits_{engine.id}"] = {
                "level": "info",
                "message": self._engine_submission_reason(engine, covered["labels"], covered["count"]),
            }
        return alerts


class AccountMoveSendWizard(models.TransientModel):
    """Odoo's submission option stays in view, off and greyed, with the reason on its question mark."""

    _inherit = "account.move.send.wizard"

    def _compute_extra_edi_checkboxes(self):
        super()._compute_extra_edi_checkboxes()
        for wizard in self.filtered("move_id"):
            engine, options = self._engine_given_way_options(wizard.move_id)
            if not options:
                continue
            reason = self._engine_submission_reason(engine, options.values(), 1)
            wizard.extra_edi_checkboxes = {
                **(wizard.extra_edi_checkboxes or {}),
                **{key: {"checked": False, "readonly": True, "label": label, "question_circle": reason}
                   for key, label in options.items()},
            }
