from collections import Counter, defaultdict

from odoo import _, models
from odoo.exceptions import UserError

from ..engines.arithmetic import align
from .account_move import _decimal

# Moves whose document the engine holds, or may hold: their figures are the engine's already.
_IN_ENGINE_STATES = ("sending", "sent", "needs_review")


class AccountMove(models.Model):
    """Totals equal to the cent (DESIGN §2): before a move is posted, its VAT per rate is set
    to what its engine will compute from the lines it receives, as a visible rounding adjustment.

    Odoo 18 keeps a tax line amount edited by hand (the tax-totals widget does the same): tax
    lines are recomputed only when a base line changes, which resets the move to Odoo's own
    rounding until it is posted, and so aligned, again.
    """

    _inherit = "account.move"

    def _post(self, soft=True):
        self._engine_align_totals()
        return super()._post(soft)

    def _engine_align_totals(self):
        engine_by_journal = {}
        notes = {}
        amounts = {}  # tax line -> its aligned amount_currency
        new_tax_lines = []
        for move in self:
            if move.state != "draft" or not move.is_sale_document() or move.engine_state in _IN_ENGINE_STATES:
                continue
            if move.journal_id not in engine_by_journal:
                engine_by_journal[move.journal_id] = self.env["invoice.engine"]._find_for_journal(move.journal_id)
            engine = move.engine_id or engine_by_journal[move.journal_id]
            alignment = engine and move._engine_alignment(engine)
            if alignment and alignment.vat_adjustments:
                move_amounts, move_new_lines = move._engine_vat_changes(engine, alignment.vat_adjustments)
                amounts.update(move_amounts)
                new_tax_lines += move_new_lines
                notes[move.id] = move._engine_adjustment_note(engine, alignment)
        if notes:
            adjusted = self.browse(list(notes))
            # The chatter note below says what changed: no tracking of each amount on top of it.
            adjusted.with_context(tracking_disable=True)._engine_write_vat(amounts, new_tax_lines)
            adjusted._message_log_batch(bodies=notes)

    def _engine_alignment(self, engine):
        """The engine's figures against the move's; ``None`` when the lines are not sendable as they are."""
        self.ensure_one()
        problems = []
        lines = self._engine_lines(engine, problems)
        rate_by_tax = self._engine_rate_by_tax(lines)
        tax_lines = self.line_ids.filtered("tax_repartition_line_id")
        if problems or any(tax not in rate_by_tax for tax in tax_lines.tax_line_id):
            return None  # the sending job reports what a person must fix, before any network call
        if any(line.display_type == "rounding" for line in self.line_ids):
            raise UserError(_(
                "%(move)s: the cash rounding of its total is not sent to %(engine)s, so the two totals would "
                "differ. Remove the cash rounding method (Other Info tab), then post again.",
                move=self.display_name, engine=engine._engine_label(),
            ))
        vat_by_rate = defaultdict(float)
        for tax_line in tax_lines:
            vat_by_rate[rate_by_tax[tax_line.tax_line_id]] += self.direction_sign * tax_line.amount_currency
        alignment = align(
            engine._client_class().capabilities.arithmetic,
            lines,
            untaxed=_decimal(self.amount_untaxed, 2),
            vat_by_rate={rate: _decimal(vat, 2) for rate, vat in vat_by_rate.items()},
            lines_by_rate=Counter(line.tax.rate for line in lines),
        )
        if alignment.problems:
            raise UserError(self._engine_alignment_message(engine, alignment))
        return alignment

    def _engine_rate_by_tax(self, lines):
        """The engine VAT rate of each tax on the invoice lines (``lines`` are their neutral form)."""
        product_lines = self.invoice_line_ids.filtered(lambda line: line.display_type == "product")
        rate_by_tax = {}
        for aml, line in zip(product_lines, lines):
            for tax in aml.tax_ids | aml.tax_ids.children_tax_ids:
                rate_by_tax[tax] = line.tax.rate
        return rate_by_tax

    def _engine_vat_changes(self, engine, adjustments):
        """Each rate's VAT moves onto its largest tax line; a rate Odoo rounded to zero has no tax
        line yet, and Odoo's tax-line builder makes one carrying the adjustment."""
        rate_by_tax = self._engine_rate_by_tax(self._engine_lines(engine, []))
        tax_lines = self.line_ids.filtered("tax_repartition_line_id")
        amounts = {}
        missing = {}
        for rate, delta in adjustments.items():
            at_rate = tax_lines.filtered(lambda line: rate_by_tax[line.tax_line_id] == rate)
            if not at_rate:
                taxes = (tax for tax, tax_rate in rate_by_tax.items() if tax_rate == rate)
                missing[next(tax for tax in taxes if tax.amount_type != "group")] = delta
                continue
            tax_line = max(at_rate, key=lambda line: abs(line.amount_currency))
            amounts[tax_line] = tax_line.amount_currency + self.direction_sign * float(delta)
        return amounts, [{**values, "move_id": self.id} for values in self._engine_new_tax_lines(missing)]

    def _engine_write_vat(self, amounts, new_tax_lines):
        """Write the aligned tax lines of all moves in one synchronisation, as ``account.move.write``
        does: Odoo converts each line to the company currency and recomputes the receivables."""
        container = {"records": self}
        with self._check_balanced(container), self._sync_dynamic_lines(container):
            for tax_line, amount in amounts.items():
                tax_line.with_env(self.env).amount_currency = amount
            self.env["account.move.line"].create(new_tax_lines)

    def _engine_new_tax_lines(self, delta_by_tax):
        if not delta_by_tax:
            return []
        AccountTax = self.env["account.tax"]
        base_lines, tax_lines = self._get_rounded_base_and_tax_lines()
        AccountTax._add_accounting_data_in_base_lines_tax_details(
            base_lines, self.company_id, include_caba_tags=self.always_tax_exigible,
        )
        for tax, delta in delta_by_tax.items():
            tax_data = next(
                tax_data for base_line in base_lines for tax_data in base_line["tax_details"]["taxes_data"]
                if tax_data["tax"] == tax
            )
            tax_rep_data = tax_data["tax_reps_data"][0]
            tax_rep_data["tax_amount_currency"] += float(delta)
            tax_rep_data["tax_amount"] += self.company_currency_id.round(float(delta) / self.invoice_currency_rate)
        to_add = AccountTax._prepare_tax_lines(base_lines, self.company_id, tax_lines=tax_lines)["tax_lines_to_add"]
        return [{**values, "display_type": "tax"} for values in to_add]

    def _engine_adjustment_note(self, engine, alignment):
        # Outside the outer _(): the term extractor does not look into its arguments.
        adjustments = ", ".join(
            _("%(amount)s at %(rate)s %%", amount=self.currency_id.format(float(delta)), rate=rate)
            for rate, delta in sorted(alignment.vat_adjustments.items(), reverse=True)
        )
        return _(
            "VAT adjusted by %(adjustments)s to match %(engine)s's rounding (%(method)s).",
            adjustments=adjustments,
            engine=engine._engine_label(),
            method=engine._client_class().capabilities.arithmetic.description,
        )

    def _engine_alignment_message(self, engine, alignment):
        label = engine._engine_label()
        messages = []
        for kind, rate, odoo_amount, engine_amount in alignment.problems:
            values = {
                "move": self.display_name, "engine": label, "rate": rate,
                "odoo": self.currency_id.format(float(odoo_amount)),
                "remote": self.currency_id.format(float(engine_amount)),
            }
            if kind == "untaxed":
                messages.append(_(
                    "%(move)s: %(engine)s would compute an untaxed amount of %(remote)s from the invoice "
                    "lines, while Odoo has %(odoo)s. Check the lines that are not invoice lines (early "
                    "payment discount), then post again.", **values))
            else:
                messages.append(_(
                    "%(move)s: the VAT at %(rate)s %% is %(odoo)s in Odoo, but %(engine)s computes %(remote)s "
                    "from the same lines. That is more than rounding: check that the taxes at this rate are "
                    "mapped to the right VAT rate (Invoice Engines › VAT rates), then post again.", **values))
        return "\n".join(messages)
