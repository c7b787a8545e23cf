"""Fakturownia's part of ``invoice.engine``: the account link, the API token, KSeF on creation.

The account link is the engine's ``base_url``: a person gives the address they sign in to
Fakturownia at, or just the account's name, and it is stored as the account's root
(``https://firma.fakturownia.pl``). The generic ``https://app.fakturownia.pl`` is kept as it
is: a token with the account as prefix (``TOKEN/firma``) then names the account.
"""
from dataclasses import replace

from odoo import _, api, fields, models
from odoo.exceptions import UserError, ValidationError
from odoo.tools import LazyTranslate

from ..engines import document as neutral
from ..engines import errors
from ..engines.fakturownia import (
    FakturowniaClient,
    corrected_lines,
    document_limit_problems,
    stored_account_link,
    tax_basis_fields,
)

_lt = LazyTranslate(__name__)

ENGINE_TYPE = "fakturownia"
TOKEN_PLACE = "Ustawienia › Ustawienia konta › Integracja › Kod autoryzacyjny API"
# Fakturownia's field names in its refusals, in the words of the Odoo forms.
FIELD_WORDS = {
    "buyer_tax_no": _lt("the customer's Tax ID (NIP)"),
    "buyer_tax_no_kind": _lt("the kind of the customer's Tax ID"),
    "buyer_name": _lt("the customer's name"),
    "buyer_phone": _lt("the customer's phone"),
    "buyer_company": _lt("whether the customer is a company"),
    "client_id": _lt("the customer"),
    "department_id": _lt("the department (the journal's engine numbering)"),
    "positions": _lt("the invoice lines"),
    "positions.name": _lt("a line's label"),
    "positions.tax": _lt("a line's VAT rate"),
    "description": _lt("the terms and conditions"),
    "exempt_tax_kind": _lt("the exemption basis (VAT rates tab of the engine)"),
    "np_tax_kind": _lt("the not-subject basis (VAT rates tab of the engine)"),
    "issue_date": _lt("the invoice date"),
    "sell_date": _lt("the delivery date"),
    "payment_to": _lt("the due date"),
    "currency": _lt("the currency"),
    "correction_reason": _lt("the reason of the credit note"),
    "invoice_id": _lt("the corrected invoice"),
}
TAX_KIND_WORDS = {
    neutral.TAX_ZERO: _lt("zero rate"),
    neutral.TAX_EXEMPT: _lt("exempt (zw)"),
    neutral.TAX_REVERSE_CHARGE: _lt("reverse charge (oo)"),
    neutral.TAX_NOT_SUBJECT: _lt("not subject to VAT (np)"),
}
# KSeF requires the legal basis of these kinds (exempt_tax_kind, np_tax_kind): tax kind -> an example.
BASIS_EXAMPLES = {
    neutral.TAX_EXEMPT: "art. 43 ust. 1 pkt 37 ustawy o VAT",
    neutral.TAX_NOT_SUBJECT: "export_service / export_service_eu",
}


class InvoiceEngine(models.Model):
    _inherit = "invoice.engine"

    engine_type = fields.Selection(
        selection_add=[(ENGINE_TYPE, "Fakturownia")], ondelete={ENGINE_TYPE: "cascade"}
    )
    # Readable by administrators only and never sent to the browser: the form writes it
    # through the *_input field.
    fakturownia_api_token = fields.Char(copy=False, groups="base.group_system")
    fakturownia_api_token_input = fields.Char(
        string="Fakturownia API token",
        compute="_compute_fakturownia_api_token_input",
        inverse="_inverse_fakturownia_api_token_input",
        help="Write-only: a saved token is never shown again. Type a new one to replace it. "
        "Both kinds work: the token alone, or with the account as prefix (TOKEN/yourcompany).",
    )
    has_fakturownia_api_token = fields.Boolean(compute="_compute_has_fakturownia_api_token")
    fakturownia_send_to_ksef = fields.Boolean(
        string="Send to KSeF on creation",
        tracking=True,
        help="Ask Fakturownia to send each invoice and correction to KSeF as it creates it "
        "(gov_save_and_send). Leave it off when the Fakturownia account sends to KSeF on its own "
        "(its automatic KSeF sending is on): the customer's company flag decides there.",
    )

    def _compute_fakturownia_api_token_input(self):
        self.fakturownia_api_token_input = False

    def _inverse_fakturownia_api_token_input(self):
        for engine in self:
            if engine.fakturownia_api_token_input:
                engine.sudo().fakturownia_api_token = engine.fakturownia_api_token_input.strip()

    def _compute_has_fakturownia_api_token(self):
        for engine, secrets in zip(self, self.sudo()):
            engine.has_fakturownia_api_token = bool(secrets.fakturownia_api_token)

    # ------------------------------------------------------------------
    # The engine-neutral hooks of invoice.engine
    # ------------------------------------------------------------------

    def _credential_fields(self):
        return super()._credential_fields() | {"fakturownia_api_token", "fakturownia_api_token_input"}

    def _secret_fields(self):
        return super()._secret_fields() + ["fakturownia_api_token"]

    @api.model
    def _normalised_api_url(self, engine_type, url):
        if engine_type != ENGINE_TYPE:
            return super()._normalised_api_url(engine_type, url)
        try:
            return stored_account_link(url)
        except errors.AuthError as problem:
            raise ValidationError(problem.message) from None

    def _fakturownia_client(self, on_exchange):
        token = self.sudo().fakturownia_api_token
        if not token:
            raise UserError(_(
                "Enter the API token on the engine “%(engine)s”. It is in Fakturownia under %(place)s.",
                engine=self.name, place=TOKEN_PLACE,
            ))
        return FakturowniaClient(
            self.base_url,
            token,
            user_agent=self._user_agent(),
            on_exchange=on_exchange,
            throttle=self._throttle(),
            send_to_ksef=self.fakturownia_send_to_ksef,
        )

    def _explain(self, error):
        if self.engine_type != ENGINE_TYPE:
            return super()._explain(error)
        if isinstance(error, errors.TransientError) and error.status and error.status < 300:
            # A web page with a success status: what answers at the link is not an account's API.
            return _(
                "Fakturownia answered with a web page instead of data (HTTP %(status)s). Either the account "
                "link %(link)s is not the address of your Fakturownia account (it is the address you sign in "
                "at, such as https://yourcompany.fakturownia.pl, or just yourcompany), or Fakturownia is under "
                "maintenance. Check the Account link, then test the connection again.",
                status=error.status, link=self.base_url,
            )
        if isinstance(error, errors.Rejected) and error.status == 200:
            # Fakturownia reports some refusals in the body of a success (KSeF.md): say so plainly.
            return _(
                "Fakturownia refused the request: “%(reason)s” (it answered HTTP 200 with an error). Act on "
                "what it says, in Fakturownia or in the engine settings, then try again.",
                reason=self._fakturownia_refusal_text(error),
            )
        return super()._explain(error)

    def _describe_rejection(self, error):
        if self.engine_type != ENGINE_TYPE or not isinstance(error, errors.Rejected) or not error.field_errors:
            return super()._describe_rejection(error)
        if error.status is None:
            return error.message  # refused by the client itself, before sending: its words say what to do
        return _(
            "Fakturownia refused the document: %(details)s. Fix the invoice or the customer, then retry.",
            details=self._fakturownia_refusal_text(error),
        )

    def _fakturownia_refusal_text(self, error):
        """Fakturownia's own (Polish) messages, each after the Odoo words for its field."""
        parts = []
        for field, messages in error.field_errors.items():
            text = ", ".join(messages)
            words = FIELD_WORDS.get(field)
            parts.append(f"{words} ({field}): {text}" if words else text if field == "base" else f"{field}: {text}")
        return "; ".join(parts) or error.message

    # ------------------------------------------------------------------
    # What KSeF and Fakturownia refuse, found before any call
    # ------------------------------------------------------------------

    def _document_problems(self, move, document):
        problems = super()._document_problems(move, document)
        if self.engine_type != ENGINE_TYPE:
            return problems
        product_lines = move.invoice_line_ids.filtered(lambda line: line.display_type == "product")
        problems += self._fakturownia_length_problems(document, product_lines)
        tax_problems = self._fakturownia_tax_problems(document, product_lines)
        if not tax_problems:
            try:
                tax_basis_fields(document)  # one basis per document: the client says so in words
            except errors.Rejected as refusal:
                tax_problems.append(refusal.message)
        problems += tax_problems
        if document.is_credit_note:
            problems += self._fakturownia_correction_problems(move, document)
        return problems

    def _fakturownia_length_problems(self, document, product_lines):
        """KSeF's field limits, judged on the full line labels (the neutral lines are shortened)."""
        lines = tuple(
            replace(line, name=full) if len(full) > len(line.name) else line
            for line, full in zip(document.lines, ((aml.name or "").strip() for aml in product_lines))
        )
        return document_limit_problems(replace(document, lines=lines))

    def _fakturownia_tax_problems(self, document, product_lines):
        """zw, np and oo lines: Fakturownia computes no VAT on them and KSeF wants their basis."""
        problems = []
        seen = set()
        for line, aml in zip(document.lines, product_lines):
            tax, kind = aml.tax_ids, line.tax.kind
            if kind == neutral.TAX_STANDARD or tax in seen:
                continue
            seen.add(tax)
            if not tax:
                problems.append(_(
                    "The line “%(line)s” has no tax: Fakturownia sends it as not subject to VAT (np), which "
                    "KSeF accepts only with the reason why. Give the line a tax, and map that tax as “Not "
                    "subject to VAT” with its Exemption basis under Accounting › Configuration › Invoice "
                    "Engines › %(engine)s › VAT rates.",
                    line=line.name, engine=self.name,
                ))
                continue
            if any(amount for amount in tax.mapped("amount")):
                rate = f"{tax.amount:g}"  # outside _(): the term extractor reads its arguments as literals
                problems.append(_(
                    "The tax “%(tax)s” is mapped as %(kind)s for Fakturownia, which computes no VAT for such lines, "
                    "while Odoo charges it (%(amount)s): the totals would differ. Use a 0 %% tax on these lines, "
                    "or map “%(tax)s” as Standard under Accounting › Configuration › Invoice Engines › "
                    "%(engine)s › VAT rates.",
                    tax=tax.name, kind=TAX_KIND_WORDS[kind], amount=rate, engine=self.name,
                ))
            if kind in BASIS_EXAMPLES and not line.tax.engine_code.strip():
                problems.append(_(
                    "The tax “%(tax)s” is mapped as %(kind)s: KSeF requires its legal basis. Fill in its "
                    "Exemption basis (e.g. “%(example)s”) under Accounting › Configuration › Invoice Engines › "
                    "%(engine)s › VAT rates.",
                    tax=tax.name, kind=TAX_KIND_WORDS[kind], example=BASIS_EXAMPLES[kind], engine=self.name,
                ))
        return problems

    def _fakturownia_correction_problems(self, move, document):
        """A correction states each corrected line before and after, and keeps its invoice's seller."""
        original = move._engine_original()
        if not original:
            return []  # the spine says what is wrong with such a credit note
        try:
            corrected_lines(document)
        except errors.Rejected as refusal:
            return [refusal.message]
        default = self.numbering_ids.filtered("is_default")[:1].remote_id or ""
        invoice_department = self._numbering_for(original).remote_id or default
        if (document.numbering or default) == invoice_department:
            return []
        # KSeF refuses a correction whose seller differs from its invoice's.
        name = {numbering.remote_id: numbering.name for numbering in self.numbering_ids}
        return [_(
            "The credit note would be issued by the department “%(credit)s” while %(invoice)s was issued by "
            "“%(original)s”: a correction keeps the seller of its invoice. Set the engine numbering for credit "
            "notes of the journal “%(journal)s” (Advanced Settings) and of the engine to that department, or "
            "leave them empty.",
            credit=name.get(document.numbering or default, document.numbering), invoice=original.name,
            original=name.get(invoice_department, invoice_department), journal=move.journal_id.display_name,
        )]
