import logging

from werkzeug.exceptions import NotFound
from werkzeug.urls import url_encode

from odoo import _, http
from odoo.exceptions import AccessError, UserError
from odoo.http import request

from ..engines import errors

_logger = logging.getLogger(__name__)


class InvoiceEngineOAuth(http.Controller):
    """Fakturoid's authorization-code flow: send the browser to Fakturoid and take it back."""

    @http.route("/invoice_engine/fakturoid/connect/<int:engine_id>", type="http", auth="user", methods=["GET"])
    def fakturoid_connect(self, engine_id):
        engine = self._engine_for_current_user(engine_id)
        try:
            engine._check_authorization_code_flow()
            oauth = engine._fakturoid_oauth()
        except UserError as error:
            return self._result_page(engine, error.args[0], ok=False)
        state = request.env["invoice.engine.oauth.state"]._issue(engine)
        return request.redirect(oauth.authorize_url(engine.oauth_redirect_uri, state), local=False)

    @http.route("/invoice_engine/fakturoid/callback", type="http", auth="user", methods=["GET"])
    def fakturoid_callback(self, code=None, state=None, error=None, error_description=None, **_kwargs):
        # The state is burnt on a cursor of its own: whatever happens next, it cannot be replayed.
        engine, problem = request.env["invoice.engine.oauth.state"]._consume(state)
        if problem:
            return self._result_page(None, problem, ok=False)
        engine = self._engine_for_current_user(engine.id)
        if error or not code:
            message = _("Fakturoid did not grant access (%(error)s). Start again from the engine form.",
                        error=error_description or error or _("no authorization code"))
            return self._result_page(engine, message, ok=False)
        try:
            engine._check_authorization_code_flow()
            engine._fakturoid_complete_authorization(code)
        except (errors.EngineError, UserError) as failure:
            # A failed attempt leaves the engine's health as it was: a working connection stays.
            message = engine._explain(failure)
            _logger.info("Fakturoid authorization for engine %s failed: %s", engine.id, message)
            return self._result_page(engine, message, ok=False)
        return request.redirect(self._engine_url(engine))

    def _engine_for_current_user(self, engine_id):
        engine = request.env["invoice.engine"].browse(engine_id).exists()
        if not engine:
            raise NotFound()
        try:
            engine.check_access("write")
        except AccessError as error:
            raise NotFound() from error
        return engine

    def _engine_url(self, engine):
        return "/odoo/action-account_invoice_engine.action_invoice_engine/%s?%s" % (
            engine.id, url_encode({"cids": engine.company_id.id}),
        )

    def _result_page(self, engine, message, ok):
        values = {
            "message": message,
            "ok": ok,
            "back_url": self._engine_url(engine) if engine else "/odoo/action-account_invoice_engine.action_invoice_engine",
        }
        html = request.env["ir.ui.view"]._render_template("account_invoice_engine.oauth_result_page", values)
        return request.make_response(html, headers=[("Content-Type", "text/html; charset=utf-8")],
                                     status=200 if ok else 400)
