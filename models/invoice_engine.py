import functools
import ipaddress
import logging
from datetime import datetime, timezone
from urllib.parse import urlsplit

import psycopg2

from odoo import _, api, fields, models, tools
from odoo.exceptions import AccessError, UserError, ValidationError
from odoo.tools import mute_logger, str2bool

from ..engines import CLIENT_CLASSES, errors
from ..engines.fakturoid import DEFAULT_BASE_URL as FAKTUROID_URL, FakturoidClient, FakturoidOAuth

_logger = logging.getLogger(__name__)

TOKEN_LOCK_ATTEMPTS = 3
TOKEN_REUSE_MARGIN = 60  # seconds: a token this close to its expiry is renewed instead
# System parameters (only administrators can set them).
PARAM_ALLOW_LOOPBACK = "account_invoice_engine.allow_loopback_urls"
PARAM_EXTRA_API_HOSTS = "account_invoice_engine.extra_api_hosts"
LOG_CURSOR_LOCK_TIMEOUT = "5s"
OBTAINED_TOKENS_KEY = "invoice_engine_obtained_tokens"


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
        tracking=True,
    )
    company_id = fields.Many2one(
        "res.company", required=True, default=lambda self: self.env.company, ondelete="cascade"
    )
    base_url = fields.Char(
        string="API URL",
        required=True,
        default=FAKTUROID_URL,
        tracking=True,
        help="The engine's API root, on the vendor's own domain. Only administrators can change it, "
        "and changing it clears the saved credentials.",
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
        tracking=True,
    )
    fakturoid_client_id = fields.Char(string="Client ID", copy=False, tracking=True)
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
    can_edit_credentials = fields.Boolean(compute="_compute_can_edit_credentials")

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

    @api.depends_context("uid")
    def _compute_can_edit_credentials(self):
        self.can_edit_credentials = self._may_edit_credentials()

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
            [("engine_id", "in", self.ids),
             ("engine_state", "in", ("queued", "sending", "error", "needs_review", "missing"))],
            ["engine_id", "engine_state"],
            ["__count"],
        )
        counts = {(engine.id, state): count for engine, state, count in groups}
        for engine in self:
            engine.queued_count = counts.get((engine.id, "queued"), 0) + counts.get((engine.id, "sending"), 0)
            engine.error_count = sum(counts.get((engine.id, state), 0) for state in ("error", "needs_review", "missing"))

    # ------------------------------------------------------------------
    # Constraints
    # ------------------------------------------------------------------

    @api.constrains("base_url", "engine_type")
    def _check_base_url(self):
        for engine in self:
            problem = engine._base_url_problem()
            if problem:
                raise ValidationError(problem)

    def _base_url_problem(self):
        """Why the API URL may not receive this engine's credentials, or ``None``."""
        self.ensure_one()
        parts = urlsplit((self.base_url or "").strip())
        host = (parts.hostname or "").lower()
        if parts.scheme not in ("http", "https") or not host:
            return _("The API URL must be a full address starting with https://.")
        if parts.username or parts.password:
            return _("The API URL must not contain a user name or password.")
        if _is_loopback(host):
            if self._loopback_urls_allowed():
                return None
            return _(
                "The API URL %(url)s points at this server, where only a test sandbox runs. Such "
                "addresses are accepted while Odoo runs its tests or the demo, or when an administrator "
                "sets the system parameter %(param)s.",
                url=self.base_url, param=PARAM_ALLOW_LOOPBACK,
            )
        if parts.scheme != "https":
            return _("The API URL must start with https://: credentials never travel unencrypted.")
        domains = self._client_class().api_domains
        if any(host == domain or host.endswith(f".{domain}") for domain in domains) or host in self._extra_api_hosts():
            return None
        return _(
            "The API URL must be on %(engine)s's own domain (%(domains)s), because the engine's "
            "credentials are sent there. For a test host of the vendor, an administrator adds its "
            "name to the system parameter %(param)s.",
            engine=self._engine_label(), domains=", ".join(domains), param=PARAM_EXTRA_API_HOSTS,
        )

    def _loopback_urls_allowed(self):
        """Loopback URLs reach the bundled sandbox: in tests, in a demo database, or on explicit permission."""
        if tools.config["test_enable"]:
            return True
        if str2bool(self.env["ir.config_parameter"].sudo().get_param(PARAM_ALLOW_LOOPBACK, "False"), False):
            return True
        # A demo database (made with demo data) talks to the bundled sandbox.
        return bool(self.env["ir.module.module"].sudo().search_count([("name", "=", "base"), ("demo", "=", True)]))

    def _extra_api_hosts(self):
        hosts = self.env["ir.config_parameter"].sudo().get_param(PARAM_EXTRA_API_HOSTS) or ""
        return {host.strip().lower() for host in hosts.split(",") if host.strip()}

    @api.constrains("journal_ids", "company_id")
    def _check_journals(self):
        for engine in self:
            if any(journal.company_id != engine.company_id or journal.type != "sale" for journal in engine.journal_ids):
                raise ValidationError(_("An engine only sends from sales journals of its own company."))

    @api.onchange("engine_type")
    def _onchange_engine_type(self):
        if self.engine_type:
            self.base_url = self._client_class().default_base_url

    # ------------------------------------------------------------------
    # Who may change where the credentials go (DESIGN §2: secrets never leave the server)
    # ------------------------------------------------------------------

    def _credential_fields(self):
        """Fields that decide which server receives the credentials, or are credentials."""
        return {
            "engine_type", "base_url", "fakturoid_auth_flow", "fakturoid_client_id",
            "fakturoid_client_secret", "fakturoid_client_secret_input",
        }

    def _secret_fields(self):
        """Stored secrets, cleared when the API URL changes."""
        return ["fakturoid_client_secret"]

    def _may_edit_credentials(self):
        # Whoever may not read a secret must not be able to send it elsewhere.
        return self.env.is_system()

    def _check_credential_rights(self, vals):
        touched = self._credential_fields().intersection(vals)
        if touched and not self._may_edit_credentials():
            labels = sorted(self._fields[name].string for name in touched)
            raise AccessError(_(
                "Only administrators (Settings rights) can change the API URL and the credentials of an "
                "invoice engine (%(fields)s): whoever may not read the secrets must not be able to send "
                "them elsewhere.",
                fields=", ".join(labels),
            ))

    @api.model_create_multi
    def create(self, vals_list):
        for vals in vals_list:
            self._check_credential_rights(self._chosen_credentials(vals))
        return super().create(vals_list)

    @api.model
    def _chosen_credentials(self, vals):
        """The credential fields of new-engine ``vals`` set to something else than their default."""
        engine_type = vals.get("engine_type") or self._fields["engine_type"].default(self)
        chosen = set()
        for name in self._credential_fields().intersection(vals) - {"engine_type"}:
            field = self._fields[name]
            default = field.default(self) if field.default else False
            if name == "base_url":
                default = CLIENT_CLASSES[engine_type].default_base_url
            if vals[name] and vals[name] != default:
                chosen.add(name)
        return chosen

    def write(self, vals):
        self._check_credential_rights(vals)
        moving = self.browse()
        if "base_url" in vals:
            new_url = (vals["base_url"] or "").strip().rstrip("/")
            moving = self.filtered(lambda engine: (engine.base_url or "").rstrip("/") != new_url)
        old_urls = {engine.id: engine.base_url for engine in moving}
        cleared = moving.filtered(lambda engine: engine._holds_secrets())
        if cleared:
            cleared._forget_secrets()
        result = super().write(vals)
        for engine in moving:
            note = _("API URL changed from %(old)s to %(new)s by %(user)s.",
                     old=old_urls[engine.id], new=engine.base_url, user=self.env.user.name)
            if engine in cleared:
                note += " " + _("The saved credentials and tokens were cleared: enter them again.")
            engine._post_note(note)
        return result

    def _holds_secrets(self):
        self.ensure_one()
        secrets = self.sudo()
        return any(secrets[name] for name in self._secret_fields()) or bool(self._token())

    def _forget_secrets(self):
        self.sudo().write({**dict.fromkeys(self._secret_fields(), False), "state": "draft"})
        self._forget_tokens()

    def _check_may_operate(self):
        """Refuse, before any call to the engine, users who may not configure it."""
        try:
            self.check_access("write")
        except AccessError:
            raise AccessError(_(
                "Only accounting administrators can test, connect, disconnect, reload or match customers "
                "for the invoice engine “%(engine)s”.", engine=", ".join(self.mapped("name")),
            )) from None

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

    def _client_class(self):
        return CLIENT_CLASSES[self.engine_type or self._fields["engine_type"].default(self)]

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
            throttle=self._throttle(),
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
            clock=_now_timestamp,
            throttle=self._throttle(),
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

        The caller's transaction keeps the snapshot it started with and cannot see a token
        committed since: it remembers the token it obtained (``_obtained_tokens``) instead of
        reading the stored one again, which would be the one just invalidated.
        """
        self.ensure_one()
        obtained = self._obtained_tokens().get(self.id)
        if obtained and obtained[0] != stale_token and obtained[1] - TOKEN_REUSE_MARGIN > _now_timestamp():
            return obtained[0]
        if not obtained and self._token().is_fresh(stale_token):
            return self._token().access_token
        # Credentials as the caller sees them; only the token itself is read under the lock.
        oauth = self._fakturoid_oauth(on_exchange)
        for attempt in range(TOKEN_LOCK_ATTEMPTS):
            try:
                token, expires_at = self._fakturoid_access_token_locked(stale_token, oauth)
                break
            except psycopg2.errors.SerializationFailure:
                # Another worker renewed the token while we waited for the lock: a new
                # transaction sees its token, which we then use.
                if attempt == TOKEN_LOCK_ATTEMPTS - 1:
                    raise
        self._obtained_tokens()[self.id] = (token, expires_at)
        self._token().invalidate_recordset()
        return token

    def _obtained_tokens(self):
        """Tokens obtained on separate cursors during this transaction: ``{engine id: (token, expires_at)}``."""
        cr = self.env.cr
        if OBTAINED_TOKENS_KEY not in cr.cache:
            cr.cache[OBTAINED_TOKENS_KEY] = {}
            # The next transaction's snapshot sees the committed tokens again.
            forget = functools.partial(cr.cache.pop, OBTAINED_TOKENS_KEY, None)
            cr.postcommit.add(forget)
            cr.postrollback.add(forget)
        return cr.cache[OBTAINED_TOKENS_KEY]

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
            if not token.is_fresh(stale_token):
                token._store(locked._fakturoid_grant(oauth, self.fakturoid_auth_flow, token.refresh_token))
            return token.access_token, _as_timestamp(token.expires_at)

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
        for engine_id in self.ids:
            self._obtained_tokens().pop(engine_id, None)

    def _fakturoid_complete_authorization(self, code):
        """Exchange an authorization code (OAuth callback) and discover the account."""
        self.ensure_one()
        tokens = self._fakturoid_oauth().exchange_code(code, self.oauth_redirect_uri)
        self._store_tokens(tokens)
        self._obtained_tokens()[self.id] = (tokens.access_token, tokens.expires_at)
        self._fakturoid_discover_accounts()
        self._mark_healthy()
        self._post_note(_("Connected to Fakturoid by %(user)s.", user=self.env.user.name))

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
            engine._post_note(message)
            engine.sudo().activity_schedule(
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
        self._check_may_operate()
        try:
            if self.engine_type == "fakturoid" and self.fakturoid_auth_flow == "client_credentials":
                # A new grant, not the stored token: this is what proves the credentials.
                self._fakturoid_access_token(stale_token=self._fakturoid_current_token())
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
        self._check_may_operate()
        self._check_authorization_code_flow()
        return {"type": "ir.actions.act_url", "url": f"/invoice_engine/fakturoid/connect/{self.id}", "target": "self"}

    def action_disconnect(self):
        self._check_may_operate()
        for engine in self:
            refresh_token = engine._token().refresh_token
            if refresh_token:
                try:
                    engine._fakturoid_oauth().revoke(refresh_token)
                except (errors.EngineError, UserError) as error:
                    _logger.info("Revoking the Fakturoid token of engine %s failed: %s", engine.id, error)
            engine._forget_tokens()
            engine.write({"state": "draft", "last_error": False})
            engine._post_note(_("Disconnected by %(user)s.", user=self.env.user.name))

    def action_refresh_reference_data(self):
        self.ensure_one()
        self._check_may_operate()
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

    def _fakturoid_current_token(self):
        """The access token this transaction would use now (``None`` when there is none)."""
        obtained = self._obtained_tokens().get(self.id)
        return obtained[0] if obtained else self._token().access_token or None

    def _check_authorization_code_flow(self):
        if self.fakturoid_auth_flow != "authorization_code":
            raise UserError(_(
                "The engine “%(engine)s” signs in with client credentials: “Connect to Fakturoid” is only "
                "for the authorization-code flow. Test the connection instead, or change the "
                "Authentication setting first.", engine=self.name,
            ))

    def _post_note(self, body):
        """A chatter note that never fails on the current user's e-mail settings.

        Outside superuser mode ``message_post`` refuses an author without an e-mail address
        ("Unable to send message…"), which would hide the real outcome from the user.
        """
        for engine in self.sudo():
            engine.message_post(body=body, subtype_xmlid="mail.mt_note")

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
        """Store one call record (already redacted by the transport).

        The row is committed on a cursor of its own, so that it survives whatever happens to
        the transaction that made the call (an error shown to the user rolls that one back).
        When the engine or the move is not committed yet (created in the same transaction),
        the row goes into the caller's transaction instead.
        """
        values = {
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
        }
        try:
            with mute_logger("odoo.sql_db"), self.env.registry.cursor() as cr:
                cr.execute(f"SET LOCAL lock_timeout = '{LOG_CURSOR_LOCK_TIMEOUT}'")
                logs = self.env(cr=cr, su=True)["invoice.engine.log"]
                logs.create(values)
                logs.env.flush_all()  # the stored related company is written at flush
        except psycopg2.Error:
            self.env["invoice.engine.log"].sudo().create(values)



def _is_loopback(host):
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _now_timestamp():
    # The clock that judges token freshness everywhere (frozen in tests).
    return fields.Datetime.now().replace(tzinfo=timezone.utc).timestamp()


def _as_timestamp(moment):
    return moment.replace(tzinfo=timezone.utc).timestamp() if isinstance(moment, datetime) else 0.0
