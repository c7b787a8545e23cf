"""The customer's portal shows and prints the engine's PDF, the legal invoice, not Odoo's rendering.

Odoo's invoice page embeds ``report_type=html`` (Odoo's HTML report, with Odoo's number) and serves
``report_type=pdf`` by rendering Odoo's report. Once the engine's PDF is the invoice's document, the
page embeds that PDF instead, and the PDF links give it under the engine's number.
"""
from odoo import http
from odoo.exceptions import AccessError, MissingError
from odoo.http import content_disposition, request

from odoo.addons.account.controllers.portal import PortalAccount


class EnginePortalAccount(PortalAccount):

    @http.route()
    def portal_my_invoice_detail(self, invoice_id, access_token=None, report_type=None, download=False, **kw):
        if report_type in ("html", "pdf"):
            try:
                invoice_sudo = self._document_check_access("account.move", invoice_id, access_token)
            except (AccessError, MissingError):
                return request.redirect("/my")
            if invoice_sudo._engine_owns_invoice_document():
                if report_type == "pdf":
                    return self._engine_pdf_response(invoice_sudo, download)
                return request.render("account_invoice_engine.portal_invoice_engine_pdf", {
                    "invoice": invoice_sudo,
                    "pdf_url": invoice_sudo.get_portal_url(report_type="pdf"),
                })
        return super().portal_my_invoice_detail(
            invoice_id, access_token=access_token, report_type=report_type, download=download, **kw)

    def _engine_pdf_response(self, invoice_sudo, download):
        pdf = invoice_sudo.engine_pdf_id.sudo()
        return request.make_response(pdf.raw, [
            ("Content-Type", "application/pdf"),
            ("Content-Length", len(pdf.raw)),
            ("Content-Disposition", content_disposition(pdf.name, disposition_type="attachment" if download else "inline")),
        ])
