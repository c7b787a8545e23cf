from odoo import _, api, fields, models
from odoo.exceptions import ValidationError

from ..engines import document


class InvoiceEngineNumbering(models.Model):
    """A number series the engine offers (Fakturoid number formats), pulled from the engine."""

    _name = "invoice.engine.numbering"
    _description = "Invoice Engine Number Format"
    _order = "engine_id, is_default desc, name"

    engine_id = fields.Many2one("invoice.engine", required=True, ondelete="cascade", index=True)
    company_id = fields.Many2one(related="engine_id.company_id", store=True)
    remote_id = fields.Char(required=True, readonly=True)
    name = fields.Char(required=True, readonly=True)
    preview = fields.Char(readonly=True, help="The next number this format gives, as the engine shows it.")
    is_default = fields.Boolean(string="Default", readonly=True)

    _sql_constraints = [
        ("remote_unique", "UNIQUE(engine_id, remote_id)", "A number format is listed once per engine."),
    ]

    @api.depends("name", "preview")
    def _compute_display_name(self):
        for numbering in self:
            numbering.display_name = f"{numbering.name} ({numbering.preview})" if numbering.preview else numbering.name


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
    vat_rate = fields.Float(string="VAT rate (%)", digits=(5, 2), required=True)
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

    @api.constrains("vat_rate", "kind")
    def _check_rate(self):
        for mapping in self:
            if mapping.vat_rate < 0 or mapping.vat_rate >= 100:
                raise ValidationError(_("A VAT rate is a percentage between 0 and 100."))
            if mapping.kind != document.TAX_STANDARD and mapping.vat_rate:
                raise ValidationError(_("Exempt, zero-rated, reverse-charge and non-taxable lines carry a 0 % rate."))
