from odoo import fields, models

from .invoice_engine_partner import MATCH_FIELDS


class InvoiceEnginePartnerCandidate(models.Model):
    """An engine record that may be the customer of an ambiguous link, kept for a person to choose."""

    _name = "invoice.engine.partner.candidate"
    _description = "Invoice Engine Customer Candidate"
    _order = "binding_id, id"

    binding_id = fields.Many2one("invoice.engine.partner", required=True, ondelete="cascade", index=True)
    company_id = fields.Many2one(related="binding_id.company_id", store=True)
    remote_id = fields.Char(string="Remote ID", required=True)
    name = fields.Char(required=True)
    registration_no = fields.Char(string="Registration number")
    vat_no = fields.Char(string="VAT number")
    email = fields.Char(string="E-mail")
    remote_key = fields.Char(
        string="Linked to",
        help="The reference another system (or another Odoo contact) already set on this record in the engine.",
    )
    url = fields.Char(string="Link")
    matched_on = fields.Selection(MATCH_FIELDS)

    def _compute_display_name(self):
        for candidate in self:
            details = ", ".join(filter(None, (candidate.registration_no, candidate.vat_no, candidate.email)))
            candidate.display_name = f"{candidate.name} ({details})" if details else candidate.name

    @classmethod
    def _values_from(cls, candidate):
        """Field values from an engine's ``CustomerCandidate``."""
        return {
            "remote_id": candidate.id,
            "name": candidate.name or candidate.id,
            "registration_no": candidate.registration_no,
            "vat_no": candidate.vat_no,
            "email": candidate.email,
            "remote_key": candidate.key,
            "url": candidate.url,
            "matched_on": candidate.matched_on or False,
        }
