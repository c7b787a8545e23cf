"""Fakturoid's part of ``invoice.engine``: OAuth 2 credentials, tokens and accounts.

Fakturoid (API v3) signs in with OAuth 2, either with client credentials (the company's own
account) or with the authorization-code flow ("Connect to Fakturoid", answered by
``controllers/fakturoid_oauth.py``). Every new access token invalidates the previous one,
so all workers share one stored token, renewed under a row lock (see
``_fakturoid_access_token``).
"""
import logging

import psycopg2

from odoo import _, api, fields, models
from odoo.exceptions import UserError
from odoo.tools import mute_logger

from ..engines import errors
from ..engines.fakturoid import FakturoidClient, FakturoidOAuth
from .invoice_engine import as_timestamp, now_timestamp

_logger = logging.getLogger(__name__)

ENGINE_TYPE = "fakturoid"
TOKEN_LOCK_ATTEMPTS = 3
TOKEN_REUSE_MARGIN = 60  # seconds: a token this close to its expiry is renewed instead
CALLBACK_PATH = "/invoice_engine/fakturoid/callback"


class InvoiceEngine(models.Model):
    _inherit = "invoice.engine"

    engine_type = fields.Selection(selection_add=[(ENGINE_TYPE, "Fakturoid")], ondelete={ENGINE_TYPE: "cascade"})

    # The secret and the tokens are readable by administrators only and never sent to the
    # browser: forms write the secret through the *_input field.
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
        compute="_compute_fakturoid_client_secret_input",
        inverse="_inverse_fakturoid_client_secret_input",
        help="Write-only: a saved secret is never shown again. Type a new one to replace it.",
    )
    has_fakturoid_client_secret = fields.Boolean(compute="_compute_fakturoid_connection")
    is_oauth_connected = fields.Boolean(compute="_compute_fakturoid_connection")
    fakturoid_account_slug = fields.Char(
        string="Account",
        copy=False,
        help="The Fakturoid account slug (the part after app.fakturoid.cz/ in your browser).",
    )
    remote_account_ids = fields.One2many("invoice.engine.remote.account", "engine_id", readonly=True)
    oauth_redirect_uri = fields.Char(string="Redirect URL", compute="_compute_oauth_redirect_uri")
    send_thank_you_email = fields.Boolean(
        string="Thank-you e-mail on payment",
        help="Ask Fakturoid to e-mail the customer when a payment recorded from Odoo settles the invoice.",
    )

    def _compute_fakturoid_client_secret_input(self):
        self.fakturoid_client_secret_input = False

    def _inverse_fakturoid_client_secret_input(self):
        for engine in self:
            if engine.fakturoid_client_secret_input:
                engine.sudo().fakturoid_client_secret = engine.fakturoid_client_secret_input.strip()
                engine.sudo()._forget_tokens()

    @api.depends("fakturoid_client_id")
    def _compute_fakturoid_connection(self):
        for engine, secrets in zip(self, self.sudo()):
            engine.has_fakturoid_client_secret = bool(secrets.fakturoid_client_secret)
            token = engine._token() if engine.id else engine.env["invoice.engine.token"]
            engine.is_oauth_connected = bool(token.access_token or token.refresh_token)

    @api.depends("engine_type")
    def _compute_oauth_redirect_uri(self):
        for engine in self:
            engine.oauth_redirect_uri = f"{engine.get_base_url()}{CALLBACK_PATH}"

    # ------------------------------------------------------------------
    # The engine-neutral hooks of invoice.engine
    # ------------------------------------------------------------------

    def _credential_fields(self):
        return super()._credential_fields() | {
            "fakturoid_auth_flow", "fakturoid_client_id", "fakturoid_client_secret", "fakturoid_client_secret_input",
        }

    def _secret_fields(self):
        return super()._secret_fields() + ["fakturoid_client_secret"]

    def _user_agent(self):
        if self.engine_type == ENGINE_TYPE and (not self.contact_email or "@" not in self.contact_email):
            raise UserError(_(
                "Set a contact e-mail on the engine “%(engine)s”: Fakturoid requires one in the "
                "User-Agent of every call and refuses calls without it.",
                engine=self.name,
            ))
        return super()._user_agent()

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

    def _prepare_connection_test(self):
        super()._prepare_connection_test()
        if self.engine_type != ENGINE_TYPE:
            return
        if self.fakturoid_auth_flow == "client_credentials":
            # A new grant, not the stored token: this is what proves the credentials.
            self._fakturoid_access_token(stale_token=self._fakturoid_current_token())
        if not self.fakturoid_account_slug:
            self._fakturoid_discover_accounts()

    def _revoke_access(self):
        super()._revoke_access()
        refresh_token = self._token().refresh_token
        if self.engine_type != ENGINE_TYPE or not refresh_token:
            return
        try:
            self._fakturoid_oauth().revoke(refresh_token)
        except (errors.EngineError, UserError) as error:
            _logger.info("Revoking the Fakturoid token of engine %s failed: %s", self.id, error)

    def _explain(self, error):
        if (self.engine_type == ENGINE_TYPE and self.fakturoid_auth_flow == "authorization_code"
                and isinstance(error, errors.AuthError) and error.reason == "token_revoked"):
            # The client's words suit both flows; this flow has a button for it.
            return _("The Fakturoid authorisation of “%(engine)s” has expired or was revoked: click "
                     "“Connect to Fakturoid” on the engine to connect again.", engine=self.name)
        return super()._explain(error)

    def _payment_options(self):
        options = super()._payment_options()
        if self.engine_type == ENGINE_TYPE:
            options["notify_customer"] = self.send_thank_you_email
        return options

    # ------------------------------------------------------------------
    # OAuth
    # ------------------------------------------------------------------

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
            # Expiry is computed with the clock that later judges freshness.
            clock=now_timestamp,
            throttle=self._throttle(),
        )

    def action_fakturoid_connect(self):
        """Start the authorization-code flow in the browser."""
        self.ensure_one()
        self._check_may_operate()
        self._check_authorization_code_flow()
        return {"type": "ir.actions.act_url", "url": f"/invoice_engine/fakturoid/connect/{self.id}", "target": "self"}

    def _check_authorization_code_flow(self):
        if self.fakturoid_auth_flow != "authorization_code":
            raise UserError(_(
                "The engine “%(engine)s” signs in with client credentials: “Connect to Fakturoid” is only "
                "for the authorization-code flow. Test the connection instead, or change the "
                "Authentication setting first.", engine=self.name,
            ))

    def _fakturoid_complete_authorization(self, code):
        """Exchange an authorization code (OAuth callback) and discover the account."""
        self.ensure_one()
        tokens = self._fakturoid_oauth().exchange_code(code, self.oauth_redirect_uri)
        self._store_tokens(tokens)
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
    # Tokens
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
        if obtained and obtained[0] != stale_token and obtained[1] - TOKEN_REUSE_MARGIN > now_timestamp():
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
        self._token().invalidate_recordset()
        if self._token().access_token != token:
            # This transaction's snapshot predates the renewal: it would still read the old token.
            self._obtained_tokens()[self.id] = (token, expires_at)
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
            if not token.is_fresh(stale_token):
                token._store(locked._fakturoid_grant(oauth, self.fakturoid_auth_flow, token.refresh_token))
            return token.access_token, as_timestamp(token.expires_at)

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

    def _fakturoid_current_token(self):
        """The access token this transaction would use now (``None`` when there is none)."""
        obtained = self._obtained_tokens().get(self.id)
        return obtained[0] if obtained else self._token().access_token or None


class InvoiceEngineRemoteAccount(models.Model):
    """A Fakturoid account the connected user can reach (``/user.json``)."""

    _name = "invoice.engine.remote.account"
    _description = "Invoice Engine Account"
    _order = "name"

    engine_id = fields.Many2one("invoice.engine", required=True, ondelete="cascade", index=True)
    company_id = fields.Many2one(related="engine_id.company_id", store=True)
    slug = fields.Char(required=True, readonly=True)
    name = fields.Char(readonly=True)

    def action_use_account(self):
        self.ensure_one()
        self.engine_id.fakturoid_account_slug = self.slug
