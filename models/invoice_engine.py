import logging
from datetime import timezone
from urllib.parse import urlsplit

import psycopg2

from odoo import _, api, fields, models
from odoo.exceptions import UserError, ValidationError
from odoo.tools import mute_logger

from ..engines import errors
from ..engines.fakturoid import DEFAULT_BASE_URL as FAKTUROID_URL, FakturoidClient, FakturoidOAuth

_logger = logging.getLogger(__name__)

TOKEN_LOCK_ATTEMPTS = 3


class InvoiceEngine(models.Model):
    """One connection to one engine account, for one company."""

    _name = "invoice.engine"
    _description = "Invoice Engine"
    _inherit = ["mail.thread", "mail.activity.mixin"]
    _order = "company_id, sequence, id"

    name = fields.Char(required=True)
    sequence = fields.Integer(default=10)
    active = fields.Boolean(default=True)
    engine_type = fields.Selection(
        [("fakturoid", "Fakturoid")],
        required=True,
        default="fakturoid",
    )
    company_id = fields.Many2one(
        "res.company", required=True, default=lambda self: self.env.company, ondelete="cascade"
    )
    base_url = fields.Char(
        string="API URL",
        required=True,
        default=FAKTUROID_URL,
        help="The engine's API root. Change it only to talk to a test server (the bundled sandbox).",
    )
    contact_email = fields.Char(
        help="Sent in the User-Agent of every call. Fakturoid requires a contact e-mail there "
        "and refuses calls without one.",
    )
    responsible_user_id = fields.Many2one(
        "res.users",
        string="Responsible",
        default=lambda self: self.env.user,
        help="Receives the activities for errors on invoices without a salesperson, and for "
        "connection problems.",
    )

    # What is sent
    journal_ids = fields.Many2many(
        "account.journal",
        string="Journals",
        domain="[('type', '=', 'sale'), ('company_id', '=', company_id)]",
        help="Customer invoices and credit notes posted in these journals are sent. "
        "Leave empty to send from every sales journal of the company.",
    )
    auto_send = fields.Boolean(
        string="Send on posting",
        default=True,
        help="Queue every posted invoice and credit note for sending. Without it, invoices are "
        "only sent with the “Send to engine” button.",
    )
    document_language = fields.Selection(
        [("partner", "Customer's language"), ("cs", "Czech"), ("sk", "Slovak"), ("en", "English"), ("de", "German")],
        default="partner",
        required=True,
    )
    numbering_id = fields.Many2one(
        "invoice.engine.numbering",
        string="Number format",
        domain="[('engine_id', '=', id)]",
        help="The engine's number series for the documents sent. Empty: the engine's default.",
    )
    send_thank_you_email = fields.Boolean(
        string="Thank-you e-mail on payment",
        help="Ask Fakturoid to e-mail the customer when a payment recorded from Odoo settles the invoice.",
    )
    log_retention_days = fields.Integer(
        default=30, help="Call logs older than this are deleted by the daily clean-up."
    )

    # Fakturoid credentials. The secret and the tokens are readable by administrators only
    # and never sent to the browser: forms write them through the *_input fields.
    fakturoid_auth_flow = fields.Selection(
        [
            ("client_credentials", "Client credentials (my own Fakturoid account)"),
            ("authorization_code", "Authorization code (“Connect to Fakturoid” button)"),
        ],
        string="Authentication",
        default="client_credentials",
        required=True,
    )
    fakturoid_client_id = fields.Char(string="Client ID", copy=False)
    fakturoid_client_secret = fields.Char(copy=False, groups="base.group_system")
    fakturoid_client_secret_input = fields.Char(
        string="Client Secret",
        compute="_compute_secret_inputs",
        inverse="_inverse_fakturoid_client_secret_input",
        help="Write-only: a saved secret is never shown again. Type a new one to replace it.",
    )
    has_fakturoid_client_secret = fields.Boolean(compute="_compute_has_secrets")
    fakturoid_account_slug = fields.Char(
        string="Account",
        copy=False,
        help="The Fakturoid account slug (the part after app.fakturoid.cz/ in your browser).",
    )
    remote_account_ids = fields.One2many("invoice.engine.remote.account", "engine_id", readonly=True)
    is_oauth_connected = fields.Boolean(compute="_compute_has_secrets")

    # What the engine told us about the account
    remote_account_name = fields.Char(readonly=True, copy=False)
    remote_currency = fields.Char(readonly=True, copy=False)
    remote_country = fields.Char(readonly=True, copy=False)
    remote_vat_mode = fields.Char(string="VAT mode", readonly=True, copy=False)

    # Health
    state = fields.Selection(
        [("draft", "Not connected"), ("connected", "Connected"), ("error", "Needs attention")],
        default="draft",
        required=True,
        readonly=True,
        copy=False,
        tracking=True,
    )
    last_error = fields.Text(readonly=True, copy=False)
    last_success_at = fields.Datetime(string="Last successful call", readonly=True, copy=False)
    paused_until = fields.Datetime(
        readonly=True, copy=False, help="Set when the engine asked us to slow down (rate limit)."
    )

    numbering_ids = fields.One2many("invoice.engine.numbering", "engine_id", readonly=True)
    tax_mapping_ids = fields.One2many("invoice.engine.tax", "engine_id", string="VAT rates")
    partner_binding_ids = fields.One2many("invoice.engine.partner", "engine_id", string="Customers")
    oauth_redirect_uri = fields.Char(string="Redirect URL", compute="_compute_oauth_redirect_uri")
    rounding_warning = fields.Char(compute="_compute_rounding_warning")
    queued_count = fields.Integer(compute="_compute_move_counts")
    error_count = fields.Integer(compute="_compute_move_counts")

    _sql_constraints = [
        ("log_retention_positive", "CHECK(log_retention_days > 0)", "Keep the call logs at least one day."),
    ]

    # ------------------------------------------------------------------
    # Computes
    # ------------------------------------------------------------------

    def _compute_secret_inputs(self):
        for engine in self:
            engine.fakturoid_client_secret_input = False

    def _inverse_fakturoid_client_secret_input(self):
        for engine in self:
            if engine.fakturoid_client_secret_input:
                engine.sudo().fakturoid_client_secret = engine.fakturoid_client_secret_input.strip()
                engine.sudo()._forget_tokens()

    @api.depends("fakturoid_client_id")
    def _compute_has_secrets(self):
        for engine, secrets in zip(self, self.sudo()):
            engine.has_fakturoid_client_secret = bool(secrets.fakturoid_client_secret)
            token = engine._token() if engine.id else engine.env["invoice.engine.token"]
            engine.is_oauth_connected = bool(token.access_token or token.refresh_token)

    @api.depends("engine_type")
    def _compute_oauth_redirect_uri(self):
        for engine in self:
            engine.oauth_redirect_uri = f"{engine.get_base_url()}/invoice_engine/fakturoid/callback"

    @api.depends("company_id.tax_calculation_rounding_method")
    def _compute_rounding_warning(self):
        for engine in self:
            if engine.company_id.tax_calculation_rounding_method == "round_per_line":
                engine.rounding_warning = _(
                    "Fakturoid computes VAT once per rate over the whole invoice. With Odoo's "
                    "“Round per line” rounding method the VAT total can differ by a few cents; "
                    "choose “Round globally” in Accounting settings so both agree."
                )
            else:
                engine.rounding_warning = False

    def _compute_move_counts(self):
        groups = self.env["account.move"]._read_group(
            [("engine_id", "in", self.ids), ("engine_state", "in", ("queued", "sending", "error", "needs_review"))],
            ["engine_id", "engine_state"],
            ["__count"],
        )
        counts = {(engine.id, state): count for engine, state, count in groups}
        for engine in self:
            engine.queued_count = counts.get((engine.id, "queued"), 0) + counts.get((engine.id, "sending"), 0)
            engine.error_count = counts.get((engine.id, "error"), 0) + counts.get((engine.id, "needs_review"), 0)

    # ------------------------------------------------------------------
    # Constraints
    # ------------------------------------------------------------------

    @api.constrains("base_url")
    def _check_base_url(self):
        for engine in self:
            parts = urlsplit(engine.base_url or "")
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise ValidationError(_("The API URL must start with https:// (or http:// for a local test server)."))
            if parts.scheme == "http" and parts.hostname not in ("127.0.0.1", "localhost", "::1"):
                raise ValidationError(_("Only a local test server may be reached over plain http://."))

    @api.constrains("journal_ids", "company_id")
    def _check_journals(self):
        for engine in self:
            if any(journal.company_id != engine.company_id or journal.type != "sale" for journal in engine.journal_ids):
                raise ValidationError(_("An engine only sends from sales journals of its own company."))

    @api.onchange("engine_type")
    def _onchange_engine_type(self):
        if self.engine_type == "fakturoid":
            self.base_url = FAKTUROID_URL

    # ------------------------------------------------------------------
    # Engine lookup
    # ------------------------------------------------------------------

    @api.model
    def _find_for_journal(self, journal):
        """The active engine that covers ``journal`` (explicitly listed first, then company-wide)."""
        engines = self.sudo().search([("company_id", "=", journal.company_id.id)])
        listed = engines.filtered(lambda engine: journal in engine.journal_ids)
        return listed[:1] or engines.filtered(lambda engine: not engine.journal_ids)[:1]

    # ------------------------------------------------------------------
    # Clients
    # ------------------------------------------------------------------

    def _user_agent(self):
        self.ensure_one()
        if not self.contact_email or "@" not in self.contact_email:
            raise UserError(_(
                "Set a contact e-mail on the engine “%(engine)s”: Fakturoid requires one in the "
                "User-Agent of every call and refuses calls without it.",
                engine=self.name,
            ))
        return f"Odoo-account_invoice_engine ({self.contact_email.strip()})"

    def _client(self, on_exchange=None):
        """The engine client for this connection; ``on_exchange`` receives every call record."""
        self.ensure_one()
        on_exchange = on_exchange or self._log_exchange
        return getattr(self, f"_{self.engine_type}_client")(on_exchange)

    def _fakturoid_client(self, on_exchange, require_account=True):
        if require_account and not self.fakturoid_account_slug:
            raise UserError(_(
                "Choose the Fakturoid account on the engine “%(engine)s” (connect first, then "
                "pick it in the Account field).",
                engine=self.name,
            ))
        return FakturoidClient(
            self.base_url,
            self.fakturoid_account_slug or "",
            user_agent=self._user_agent(),
            token_provider=self._fakturoid_token_provider(on_exchange),
            on_exchange=on_exchange,
        )

    def _fakturoid_oauth(self, on_exchange=None):
        self.ensure_one()
        secrets = self.sudo()
        if not self.fakturoid_client_id or not secrets.fakturoid_client_secret:
            raise UserError(_(
                "Enter the Client ID and Client Secret on the engine “%(engine)s”. For your own "
                "account they are in Fakturoid under Settings › User account › API v3 access.",
                engine=self.name,
            ))
        return FakturoidOAuth(
            self.base_url,
            self.fakturoid_client_id.strip(),
            secrets.fakturoid_client_secret,
            user_agent=self._user_agent(),
            on_exchange=on_exchange or self._log_exchange,
            # Expiry is computed with the clock that later judges freshness (_token_is_fresh).
            clock=lambda: fields.Datetime.now().replace(tzinfo=timezone.utc).timestamp(),
        )

    # ------------------------------------------------------------------
    # OAuth tokens
    # ------------------------------------------------------------------

    def _fakturoid_token_provider(self, on_exchange):
        """A ``token_provider(force_refresh)`` callable for ``FakturoidClient``."""
        engine = self
        handed_out = []

        def token_provider(force_refresh=False):
            stale = handed_out[-1] if force_refresh and handed_out else None
            token = engine._fakturoid_access_token(stale_token=stale, on_exchange=on_exchange)
            handed_out.append(token)
            return token

        return token_provider

    def _fakturoid_access_token(self, stale_token=None, on_exchange=None):
        """Return a usable access token, obtaining a new one when needed.

        Fakturoid invalidates the previous token whenever a new one is issued, so every
        worker must share one stored token: the renewal happens under a row lock on a
        cursor of its own, committed at once, and a worker that finds a token renewed by
        someone else meanwhile uses that one instead of renewing it again.
        """
        self.ensure_one()
        if self._token().is_fresh(stale_token):
            return self._token().access_token
        # Credentials as the caller sees them; only the token itself is read under the lock.
        oauth = self._fakturoid_oauth(on_exchange)
        for attempt in range(TOKEN_LOCK_ATTEMPTS):
            try:
                token = self._fakturoid_access_token_locked(stale_token, oauth)
                break
            except psycopg2.errors.SerializationFailure:
                # Another worker renewed the token while we waited for the lock: a new
                # transaction sees its token, which we then use.
                if attempt == TOKEN_LOCK_ATTEMPTS - 1:
                    raise
        self._token().invalidate_recordset()
        return token

    def _fakturoid_access_token_locked(self, stale_token, oauth):
        with self.env.registry.cursor() as cr:
            cr.execute("SET LOCAL lock_timeout = '15s'")
            # A concurrent renewal makes these fail with a serialization error, handled by the caller.
            with mute_logger("odoo.sql_db"):
                cr.execute(
                    "INSERT INTO invoice_engine_token (engine_id) VALUES (%s) ON CONFLICT (engine_id) DO NOTHING",
                    [self.id],
                )
                cr.execute("SELECT id FROM invoice_engine_token WHERE engine_id = %s FOR UPDATE", [self.id])
            locked = self.with_env(self.env(cr=cr, su=True))
            token = locked._token()
            if token.is_fresh(stale_token):
                return token.access_token
            token._store(locked._fakturoid_grant(oauth, self.fakturoid_auth_flow, token.refresh_token))
            return token.access_token

    def _token(self):
        """This engine's tokens (an empty record when it never had any)."""
        self.ensure_one()
        return self.env["invoice.engine.token"].sudo().search([("engine_id", "=", self.id)])

    def _fakturoid_grant(self, oauth, auth_flow, refresh_token):
        """Run the grant that fits the flow; return the ``TokenSet``."""
        if auth_flow == "client_credentials":
            return oauth.client_credentials()
        if refresh_token:
            return oauth.refresh(refresh_token)
        raise errors.AuthError(
            _("The engine “%(engine)s” is not connected: click “Connect to Fakturoid”.", engine=self.name),
            reason="token_revoked",
        )

    def _store_tokens(self, tokens):
        self.ensure_one()
        token = self._token() or self.env["invoice.engine.token"].sudo().create({"engine_id": self.id})
        token._store(tokens)

    def _forget_tokens(self):
        self.env["invoice.engine.token"].sudo().search([("engine_id", "in", self.ids)]).unlink()

    def _fakturoid_complete_authorization(self, code):
        """Exchange an authorization code (OAuth callback) and discover the account."""
        self.ensure_one()
        tokens = self._fakturoid_oauth().exchange_code(code, self.oauth_redirect_uri)
        self._store_tokens(tokens)
        self._fakturoid_discover_accounts()
        self._mark_healthy()
        self.message_post(body=_("Connected to Fakturoid by %(user)s.", user=self.env.user.name))

    def _fakturoid_discover_accounts(self):
        """Store the accounts the user can reach; pick the account when there is only one."""
        self.ensure_one()
        # /user.json is not account-scoped: it is what tells which accounts there are.
        accounts = self._fakturoid_client(self._log_exchange, require_account=False).list_accounts()
        self.remote_account_ids.unlink()
        self.env["invoice.engine.remote.account"].create([
            {"engine_id": self.id, "slug": slug, "name": name} for slug, name in accounts
        ])
        slugs = [slug for slug, _name in accounts]
        if self.fakturoid_account_slug not in slugs:
            self.fakturoid_account_slug = slugs[0] if len(slugs) == 1 else False

    # ------------------------------------------------------------------
    # Health
    # ------------------------------------------------------------------

    def _mark_healthy(self):
        values = {"last_success_at": fields.Datetime.now()}
        if self.state != "connected" or self.last_error:
            values.update(state="connected", last_error=False)
        if self.paused_until:
            values["paused_until"] = False
        self.write(values)

    def _mark_broken(self, message):
        """Record a connection problem once: one chatter note and one activity per episode."""
        for engine in self:
            if engine.state == "error" and engine.last_error == message:
                continue
            engine.write({"state": "error", "last_error": message})
            engine.message_post(body=message)
            engine.activity_schedule(
                "mail.mail_activity_data_todo",
                summary=_("Invoice engine needs attention"),
                note=message,
                user_id=(engine.responsible_user_id or self.env.user).id,
            )

    # ------------------------------------------------------------------
    # Actions
    # ------------------------------------------------------------------

    def action_test_connection(self):
        self.ensure_one()
        try:
            if self.engine_type == "fakturoid" and self.fakturoid_auth_flow == "client_credentials":
                # A new grant, not the stored token: this is what proves the credentials.
                self._fakturoid_access_token(stale_token=self._token().access_token)
            if self.engine_type == "fakturoid" and not self.fakturoid_account_slug:
                self._fakturoid_discover_accounts()
            client = self._client()
            account = client.check()
            self._store_account_info(account)
            self._store_reference_data(client.reference_data())
        except (errors.EngineError, UserError) as error:
            message = self._explain(error)
            self._mark_broken(message)
            return self._notify(_("Connection failed"), message, "danger")
        self._mark_healthy()
        return self._notify(
            _("Connection works"),
            _("Connected to %(engine)s account “%(account)s”.", engine=self._engine_label(), account=self.remote_account_name),
            "success",
        )

    def action_fakturoid_connect(self):
        """Start the authorization-code flow in the browser."""
        self.ensure_one()
        return {"type": "ir.actions.act_url", "url": f"/invoice_engine/fakturoid/connect/{self.id}", "target": "self"}

    def action_disconnect(self):
        for engine in self:
            refresh_token = engine._token().refresh_token
            if refresh_token:
                try:
                    engine._fakturoid_oauth().revoke(refresh_token)
                except (errors.EngineError, UserError) as error:
                    _logger.info("Revoking the Fakturoid token of engine %s failed: %s", engine.id, error)
            engine._forget_tokens()
            engine.write({"state": "draft", "last_error": False})
            engine.message_post(body=_("Disconnected by %(user)s.", user=self.env.user.name))

    def action_refresh_reference_data(self):
        self.ensure_one()
        try:
            self._store_reference_data(self._client().reference_data())
        except (errors.EngineError, UserError) as error:
            return self._notify(_("Could not load the number formats"), self._explain(error), "danger")
        return self._notify(_("Number formats loaded"), _("%s number formats.", len(self.numbering_ids)), "success")

    def action_view_logs(self):
        self.ensure_one()
        return {
            "type": "ir.actions.act_window",
            "name": _("Calls"),
            "res_model": "invoice.engine.log",
            "view_mode": "list,form",
            "domain": [("engine_id", "=", self.id)],
        }

    def action_view_moves(self):
        self.ensure_one()
        action = self.env["ir.actions.actions"]._for_xml_id("account.action_move_out_invoice_type")
        action["domain"] = [("engine_id", "=", self.id)]
        action["context"] = {"search_default_engine_attention": 1}
        return action

    # ------------------------------------------------------------------
    # Helpers
    # ------------------------------------------------------------------

    def _engine_label(self):
        return dict(self._fields["engine_type"].selection).get(self.engine_type, self.engine_type)

    def _store_account_info(self, account):
        self.write({
            "remote_account_name": account.name,
            "remote_currency": account.currency,
            "remote_country": account.country,
            "remote_vat_mode": account.vat_mode,
        })

    def _store_reference_data(self, reference):
        numbering_model = self.env["invoice.engine.numbering"]
        existing = {numbering.remote_id: numbering for numbering in self.numbering_ids}
        seen = numbering_model
        for option in reference.numberings:
            values = {"name": option.name, "preview": option.preview, "is_default": option.is_default}
            numbering = existing.get(option.id)
            if numbering:
                numbering.write(values)
            else:
                numbering = numbering_model.create({"engine_id": self.id, "remote_id": option.id, **values})
            seen |= numbering
        (self.numbering_ids - seen).unlink()

    def _explain(self, error):
        """One sentence for a person: what went wrong and what to do."""
        if isinstance(error, UserError):
            return error.args[0]
        if isinstance(error, errors.AuthError) and error.reason == "account_blocked":
            return _("%(message)s Pay the overdue Fakturoid invoices, then retry.", message=error.message)
        if isinstance(error, errors.AuthError) and self.fakturoid_auth_flow == "authorization_code":
            return _("%(message)s Click “Connect to Fakturoid” again.", message=error.message)
        if isinstance(error, errors.AuthError):
            return _("%(message)s Check the Client ID and Client Secret.", message=error.message)
        return error.message

    def _notify(self, title, message, kind):
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {"title": title, "message": message, "type": kind, "sticky": kind == "danger",
                       "next": {"type": "ir.actions.client", "tag": "soft_reload"}},
        }

    def _log_exchange(self, exchange, move=None):
        """Store one call record (already redacted by the transport)."""
        self.env["invoice.engine.log"].sudo().create({
            "engine_id": self.id,
            "move_id": move.id if move else False,
            "operation": exchange.operation,
            "method": exchange.method,
            "url": exchange.url,
            "status_code": exchange.status or 0,
            "duration_ms": exchange.duration_ms,
            "request_excerpt": exchange.request_excerpt,
            "response_excerpt": exchange.response_excerpt,
            "error": exchange.error,
        })

