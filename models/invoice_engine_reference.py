from odoo import _, api, fields, models
from odoo.exceptions import ValidationError

from ..engines import document


class InvoiceEngineNumbering(models.Model):
    """A numbering the engine offers (number formats, series, departments), pulled from the engine."""

    _name = "invoice.engine.numbering"
    _description = "Invoice Engine Numbering"
    _order = "engine_id, usage, is_default desc, name"

    engine_id = fields.Many2one("invoice.engine", required=True, ondelete="cascade", index=True)
    company_id = fields.Many2one(related="engine_id.company_id", store=True)
    remote_id = fields.Char(required=True, readonly=True)
    name = fields.Char(required=True, readonly=True)
    usage = fields.Selection(
        [(document.NUMBERING_DOCUMENTS, "Invoices and credit notes"), (document.NUMBERING_RECEIPTS, "Cash receipts")],
        default=document.NUMBERING_DOCUMENTS, required=True, readonly=True,
    )
    preview = fields.Char(readonly=True, help="The next number this numbering gives, as the engine shows it.")
    next_number = fields.Char(readonly=True, help="The next number, as the engine wrote it when last loaded.")
    is_default = fields.Boolean(string="Default", readonly=True)

    _sql_constraints = [
        ("remote_unique", "UNIQUE(engine_id, remote_id)", "A number format is listed once per engine."),
    ]

    @api.depends("name", "preview", "next_number")
    def _compute_display_name(self):
        for numbering in self:
            example = numbering.preview or (numbering.next_number and f"{numbering.name}{numbering.next_number}")
            numbering.display_name = f"{numbering.name} ({example})" if example else numbering.name


class InvoiceEngineVatRate(models.Model):
    """A VAT rate the engine account offers, pulled from the engine (engines that list them).

    Such an engine accepts a line only with one of its own rates, named as it names them, so
    every Odoo tax is mapped onto one (``invoice.engine.tax.engine_vat_rate_id``). A rate the
    engine stops offering stays here, ``listed`` off, so that its mappings show the problem.
    """

    _name = "invoice.engine.vat.rate"
    _description = "Invoice Engine VAT Rate Offered"
    _order = "engine_id, listed desc, rate desc, name"

    engine_id = fields.Many2one("invoice.engine", required=True, ondelete="cascade", index=True)
    company_id = fields.Many2one(related="engine_id.company_id", store=True)
    name = fields.Char(required=True, readonly=True, help="The rate's name in the engine, sent as is.")
    rate = fields.Float(string="Rate (%)", digits=(5, 2), readonly=True)
    listed = fields.Boolean(
        string="Offered", default=True, readonly=True,
        help="Off when the engine no longer offers this rate: invoices using it stop before any call.",
    )

    _sql_constraints = [
        ("name_unique", "UNIQUE(engine_id, name)", "A VAT rate is listed once per engine."),
    ]

    @api.depends("name", "rate")
    def _compute_display_name(self):
        for vat_rate in self:
            vat_rate.display_name = f"{vat_rate.name} ({vat_rate.rate:g} %)"


class InvoiceEngineTax(models.Model):
    """How one Odoo tax is expressed in the engine.

    Simple percentage taxes need no row: their rate is sent as is. A row is needed for
    taxes the engine cannot read from Odoo (fixed amounts, groups, a 0 % tax that is really
    an exemption or reverse charge) and to override the rate of any tax.
    """

    _name = "invoice.engine.tax"
    _description = "Invoice Engine VAT Rate"
    _order = "engine_id, tax_id"

    engine_id = fields.Many2one("invoice.engine", required=True, ondelete="cascade", index=True)
    company_id = fields.Many2one(related="engine_id.company_id", store=True)
    tax_id = fields.Many2one(
        "account.tax",
        required=True,
        ondelete="cascade",
        domain="[('type_tax_use', '=', 'sale'), ('company_id', '=', company_id)]",
    )
    engine_vat_rate_id = fields.Many2one(
        "invoice.engine.vat.rate", string="Engine VAT rate", ondelete="restrict",
        domain="[('engine_id', '=', engine_id), ('listed', '=', True)]",
        help="For engines that list their own VAT rates: the one this tax is sent as.",
    )
    engine_vat_rate_missing = fields.Boolean(
        string="No longer offered", compute="_compute_engine_vat_rate_missing",
        help="The engine stopped offering the VAT rate this tax is mapped to: choose another one.",
    )
    matched_automatically = fields.Boolean(
        readonly=True, help="Matched by percentage when the engine's rates were loaded; a person's choice is kept.",
    )
    vat_rate = fields.Float(
        string="VAT rate (%)", digits=(5, 2), required=True,
        compute="_compute_vat_rate", store=True, readonly=False, precompute=True,
    )
    engine_code = fields.Char(
        string="Exemption basis",
        help="What the engine needs beside the rate for exempt lines: the legal basis printed on the "
        "document (e.g. “art. 43 ust. 1 pkt 37”).",
    )
    kind = fields.Selection(
        [
            (document.TAX_STANDARD, "Standard"),
            (document.TAX_ZERO, "Zero rate"),
            (document.TAX_EXEMPT, "Exempt"),
            (document.TAX_REVERSE_CHARGE, "Reverse charge"),
            (document.TAX_NOT_SUBJECT, "Not subject to VAT"),
        ],
        default=document.TAX_STANDARD,
        required=True,
    )

    _sql_constraints = [
        ("tax_unique", "UNIQUE(engine_id, tax_id)", "A tax is mapped once per engine."),
    ]

    @api.depends("engine_vat_rate_id", "tax_id")
    def _compute_vat_rate(self):
        for mapping in self:
            if mapping.engine_vat_rate_id:
                mapping.vat_rate = mapping.engine_vat_rate_id.rate
            elif not mapping.vat_rate and mapping.tax_id.amount_type == "percent":
                mapping.vat_rate = mapping.tax_id.amount

    @api.depends("engine_vat_rate_id.listed")
    def _compute_engine_vat_rate_missing(self):
        for mapping in self:
            mapping.engine_vat_rate_missing = bool(mapping.engine_vat_rate_id) and not mapping.engine_vat_rate_id.listed

    def write(self, vals):
        if "engine_vat_rate_id" in vals and "matched_automatically" not in vals:
            vals = dict(vals, matched_automatically=False)  # a person chose: later loads keep it
        return super().write(vals)

    @api.constrains("vat_rate", "kind")
    def _check_rate(self):
        for mapping in self:
            if mapping.vat_rate < 0 or mapping.vat_rate >= 100:
                raise ValidationError(_("A VAT rate is a percentage between 0 and 100."))
            if mapping.kind != document.TAX_STANDARD and mapping.vat_rate:
                raise ValidationError(_("Exempt, zero-rated, reverse-charge and non-taxable lines carry a 0 % rate."))
