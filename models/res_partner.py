from odoo import _, fields, models

from ..engines import document as neutral


class ResPartner(models.Model):
    _inherit = "res.partner"

    engine_binding_ids = fields.One2many(
        "invoice.engine.partner", "partner_id", string="Invoice engine links", groups="account.group_account_manager"
    )

    def _engine_party(self, db_tag, problems):
        """The customer as engines see it; missing essentials are appended to ``problems``."""
        self.ensure_one()
        if not (self.name or "").strip():
            problems.append(_(
                "The customer (contact #%(id)s) has no name. Open the customer and fill in its name.", id=self.id
            ))
        if not self.country_id:
            problems.append(_(
                "The customer “%(name)s” has no country. The engine needs it for the VAT treatment: set "
                "the country on the customer.", name=self.name or self.id,
            ))
        vat_no, local_vat_no = self._engine_vat_numbers()
        return neutral.Party(
            key=f"odoo-{db_tag}-partner-{self.id}",
            name=(self.name or "").strip(),
            is_company=self.is_company,
            email=(self.email or "").strip(),
            phone=(self.phone or self.mobile or "").strip(),
            website=(self.website or "").strip(),
            street=(self.street or "").strip(),
            street2=(self.street2 or "").strip(),
            city=(self.city or "").strip(),
            zip=(self.zip or "").strip(),
            state_name=self.state_id.name or "",
            state_code=self.state_id.code or "",
            country_code=self.country_id.code or "",
            registration_no=(self.company_registry or "").replace(" ", ""),
            vat_no=vat_no,
            local_vat_no=local_vat_no,
            is_vat_payer=bool(vat_no),
            language=(self.lang or "").split("_")[0],
        )

    def _engine_vat_numbers(self):
        """``(vat_no, local_vat_no)``.

        In Slovakia the VAT id (IČ DPH) is "SK" followed by the 10-digit tax id (DIČ), and
        invoices show both; a Slovak company that is not VAT-registered has only the DIČ.
        """
        vat = (self.vat or "").replace(" ", "").upper()
        if self.country_id.code == "SK":
            if vat.startswith("SK"):
                return vat, vat[2:]
            if vat.isdigit():
                return "", vat
        return vat, ""
