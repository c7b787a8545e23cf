"""SmartBill's part of ``invoice.engine``: the login, the API token, the company's CIF, and
the rules ANAF applies to the customer data of an e-Factura invoice.

SmartBill signs every call in with HTTP Basic (the SmartBill login e-mail and its API token)
and names the company by its CIF. SmartBill forwards the invoices to RO e-Factura on its own,
and ANAF refuses an invoice whose customer data breaks its conditions (spec note 19): an
invoice SmartBill issued and ANAF then refused is worse than one never sent, so those
conditions stop the move here, before any call.
"""
from datetime import timedelta

from odoo import _, api, fields, models
from odoo.exceptions import UserError

from ..engines import errors
from ..engines.smartbill import (
    COUNTIES,
    SmartBillClient,
    client_city,
    compact_id,
    county_name,
    is_bucharest,
    romanian_cif,
    valid_cif,
    valid_cnp,
)

ENGINE_TYPE = "smartbill"


class InvoiceEngine(models.Model):
    _inherit = "invoice.engine"

    engine_type = fields.Selection(selection_add=[(ENGINE_TYPE, "SmartBill")], ondelete={ENGINE_TYPE: "cascade"})

    smartbill_email = fields.Char(
        string="SmartBill login", copy=False, tracking=True,
        help="The e-mail address you sign in to SmartBill Cloud with.",
    )
    # The token is readable by administrators only and never sent to the browser: forms write
    # it through smartbill_token_input.
    smartbill_token = fields.Char(copy=False, groups="base.group_system")
    smartbill_token_input = fields.Char(
        string="SmartBill API token",
        compute="_compute_smartbill_token_input",
        inverse="_inverse_smartbill_token_input",
        help="Write-only: a saved token is never shown again. Type a new one to replace it. It is in "
        "SmartBill under Contul meu › Integrări › API.",
    )
    has_smartbill_token = fields.Boolean(compute="_compute_has_smartbill_token")
    smartbill_cif = fields.Char(
        string="Company CIF", copy=False, tracking=True,
        default=lambda self: self._default_smartbill_cif(),
        help="The CIF of the company in SmartBill (Configurare › Date firmă), without RO. Default: the "
        "company's VAT number.",
    )
    smartbill_use_product_codes = fields.Boolean(
        string="Use product codes",
        help="Turn on when the SmartBill company uses product codes (“Folosește cod produs”): every line then "
        "carries its product's internal reference.",
    )
    smartbill_receipt_numbering_id = fields.Many2one(
        "invoice.engine.numbering", string="Receipt series",
        domain="[('engine_id', '=', id), ('usage', '=', 'receipts')]",
        help="The SmartBill series of the cash receipts (Chitanță) issued for payments received in cash "
        "journals. Empty: SmartBill's default receipt series.",
    )

    @api.model
    def _default_smartbill_cif(self):
        company = self.env.company
        return compact_id(company.vat).removeprefix("RO") if company.country_code == "RO" and company.vat else False

    def _compute_smartbill_token_input(self):
        self.smartbill_token_input = False

    def _inverse_smartbill_token_input(self):
        for engine in self:
            if engine.smartbill_token_input:
                engine.sudo().smartbill_token = engine.smartbill_token_input.strip()

    @api.depends("smartbill_email")
    def _compute_has_smartbill_token(self):
        for engine, secrets in zip(self, self.sudo()):
            engine.has_smartbill_token = bool(secrets.smartbill_token)

    # ------------------------------------------------------------------
    # The engine-neutral hooks of invoice.engine
    # ------------------------------------------------------------------

    def _credential_fields(self):
        return super()._credential_fields() | {
            "smartbill_email", "smartbill_token", "smartbill_token_input", "smartbill_cif",
        }

    def _secret_fields(self):
        return super()._secret_fields() + ["smartbill_token"]

    def _smartbill_client(self, on_exchange):
        secrets = self.sudo()
        missing = [label for label, value in (
            (_("SmartBill login"), self.smartbill_email), (_("API token"), secrets.smartbill_token),
            (_("Company CIF"), self.smartbill_cif),
        ) if not (value or "").strip()]
        if missing:
            raise UserError(_(
                "Enter the %(fields)s on the engine “%(engine)s”. The API token is in SmartBill under Contul meu › "
                "Integrări › API; the CIF under Configurare › Date firmă.",
                fields=", ".join(missing), engine=self.name,
            ))
        return SmartBillClient(
            self.base_url,
            self.smartbill_email.strip(),
            secrets.smartbill_token,
            compact_id(self.smartbill_cif),
            user_agent=self._user_agent(),
            on_exchange=on_exchange,
            throttle=self._throttle(),
            use_product_codes=self.smartbill_use_product_codes,
            receipt_series=self.smartbill_receipt_numbering_id.remote_id or "",
        )

    def _explain(self, error):
        if self.engine_type != ENGINE_TYPE:
            return super()._explain(error)
        message = super()._explain(error)
        if isinstance(error, errors.RateLimited) and error.status == 403:
            # The client counts seconds; a person wants the moment the block ends.
            ends = fields.Datetime.context_timestamp(self, fields.Datetime.now() + timedelta(seconds=error.retry_after))
            return _("%(message)s The block ends at %(time)s.", message=message, time=ends.strftime("%H:%M:%S"))
        if isinstance(error, errors.AuthError) and error.reason == "invalid_credentials":
            return _("%(message)s Odoo signed in as “%(login)s” for the CIF “%(cif)s”.",
                     message=message, login=self.smartbill_email, cif=self.smartbill_cif)
        return message

    def _document_problems(self, move, document):
        problems = super()._document_problems(move, document)
        if self.engine_type != ENGINE_TYPE:
            return problems
        if not document.numbering and not (document.is_credit_note and document.reverses_whole_original):
            problems.append(self._smartbill_series_problem(move))
        return problems + self._smartbill_customer_problems(move.commercial_partner_id, document.customer)

    # ------------------------------------------------------------------
    # What must be right before SmartBill is called
    # ------------------------------------------------------------------

    def _smartbill_series_problem(self, move):
        name = "invoice_engine_refund_numbering_id" if move.move_type == "out_refund" else "invoice_engine_numbering_id"
        journal_field = move.journal_id._fields[name]._description_string(self.env)
        return _(
            "No SmartBill series is chosen for %(move)s. Choose the default series on the engine “%(engine)s” "
            "(Sending tab, Number series; Test connection loads the series), or one for the journal “%(journal)s” "
            "(Advanced Settings, %(field)s).",
            move=move.display_name, engine=self.name, journal=move.journal_id.display_name, field=journal_field,
        )

    def _smartbill_customer_problems(self, partner, party):
        """ANAF's conditions on the customer of an e-Factura invoice, each naming the field to fix."""
        name = partner.display_name
        problems = []
        if party.country_code == "RO" and party.is_company:
            problems += self._smartbill_cif_problems(name, party)
        elif party.country_code == "RO" and compact_id(party.vat_no) and not valid_cnp(compact_id(party.vat_no)):
            problems.append(_(
                "“%(cnp)s” in the Tax ID of the customer “%(name)s” is not a valid CNP. Enter the person's 13-digit "
                "personal numeric code there, or leave the Tax ID empty (the invoice then carries “-”).",
                cnp=party.vat_no, name=name,
            ))
        if not (party.street or party.street2):
            problems.append(_(
                "The customer “%(name)s” has no street. ANAF accepts an e-Factura invoice only with the customer's "
                "address: fill in the Street on the customer.", name=name,
            ))
        if not party.city:
            problems.append(_(
                "The customer “%(name)s” has no city. ANAF accepts an e-Factura invoice only with the customer's "
                "city: fill in the City on the customer.", name=name,
            ))
        if party.country_code == "RO":
            problems += self._smartbill_county_problems(name, party)
        return problems

    def _smartbill_cif_problems(self, name, party):
        cif, _vat_payer, from_registry = romanian_cif(party)
        if not cif:
            return [_(
                "The Romanian company “%(name)s” has no CIF. Enter it in its Tax ID, with RO in front when the "
                "company pays VAT (RO18547290), or in its Company ID when it does not.", name=name,
            )]
        if not valid_cif(cif):
            field = _("Company ID") if from_registry else _("Tax ID")
            return [_(
                "The CIF “%(cif)s” in the %(field)s of the customer “%(name)s” is not valid: its check digit does not "
                "match. Correct it as on the company's registration certificate.",
                cif=party.registration_no if from_registry else party.vat_no, field=field, name=name,
            )]
        return []

    def _smartbill_county_problems(self, name, party):
        if county_name(party.state_code, party.state_name) not in COUNTIES.values():
            return [_(
                "The customer “%(name)s” has no Romanian county. Set its State to the county (județ) of its "
                "address, or to București.", name=name,
            )]
        if is_bucharest(party) and not client_city(party).startswith("Sector "):
            return [_(
                "The customer “%(name)s” is in București, where ANAF wants the sector as the city. Write the City as "
                "“Sector 1” to “Sector 6”, or give the Bucharest postal code (its second digit is the sector).",
                name=name,
            )]
        return []

