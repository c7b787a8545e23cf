import functools
import ipaddress
import logging
from datetime import datetime, timezone
from urllib.parse import urlsplit

import psycopg2

from odoo import SUPERUSER_ID, _, api, fields, models, tools
from odoo.exceptions import AccessError, UserError, ValidationError
from odoo.tools import SQL, mute_logger, str2bool

from ..engines import CLIENT_CLASSES, errors
from ..engines.base import CREDENTIAL_API_TOKEN
from .account_move import ENGINE_ATTENTION_STATES, ENGINE_OPEN_STATES

_logger = logging.getLogger(__name__)

# System parameters (only administrators can set them).
PARAM_ALLOW_LOOPBACK = "account_invoice_engine.allow_loopback_urls"
PARAM_EXTRA_API_HOSTS = "account_invoice_engine.extra_api_hosts"
LOG_CURSOR_LOCK_TIMEOUT = "5s"
OBTAINED_TOKENS_KEY = "invoice_engine_obtained_tokens"


class InvoiceEngine(models.Model):
    """One connection to one engine account, for one company.

    This file is engine-neutral: each engine adds its credentials, sign-in and client in
    ``invoice_engine_<engine>.py`` and answers the hooks below (``_credential_fields``,
    ``_secret_fields``, ``_<engine>_client``, ``_prepare_connection_test``, ``_revoke_access``,
    ``_explain``, ``_payment_options``); what an engine can do is asked of its client
    class's ``capabilities``.
    """

    _name = "invoice.engine"
    _description = "Invoice Engine"
    _inherit = ["mail.thread", "mail.activity.mixin"]
    _order = "company_id, sequence, id"

    name = fields.Char(required=True)
    sequence = fields.Integer(default=10)
    active = fields.Boolean(default=True)
    engine_type = fields.Selection(
        [],  # each engine adds itself (selection_add) in its own file
        required=True,
        default=lambda self: next(iter(CLIENT_CLASSES)),
        tracking=True,
    )
    company_id = fields.Many2one(
        "res.company", required=True, default=lambda self: self.env.company, ondelete="cascade"
    )
    base_url = fields.Char(
        string="API URL",
        required=True,
        default=lambda self: self._client_class().capabilities.default_base_url,
        tracking=True,
        help="The engine's API root, on the vendor's own domain. Only administrators can change it, "
        "and changing it clears the saved credentials.",
    )
    contact_email = fields.Char(
        help="Sent in the User-Agent of every call, so that the engine's operators can reach you. "
        "Some engines refuse calls without it.",
    )
    responsible_user_id = fields.Many2one(
        "res.users",
        string="Responsible",
        default=lambda self: self._default_responsible(),
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
        [
            ("partner", "Customer's language"), ("cs", "Czech"), ("sk", "Slovak"), ("pl", "Polish"),
            ("ro", "Romanian"), ("hu", "Hungarian"), ("en", "English"), ("de", "German"), ("fr", "French"),
            ("it", "Italian"), ("es", "Spanish"),
        ],
        default="partner",
        required=True,
        help="The language of the engine's document; an engine that does not offer it uses its account default.",
    )
    numbering_id = fields.Many2one(
        "invoice.engine.numbering",
        string="Number series",
        domain="[('engine_id', '=', id), ('usage', '=', 'documents')]",
        help="The engine's numbering for the documents sent, unless their journal chooses another. "
        "Empty: the engine's default.",
    )
    refund_numbering_id = fields.Many2one(
        "invoice.engine.numbering",
        string="Number series for credit notes",
        domain="[('engine_id', '=', id), ('usage', '=', 'documents')]",
        help="The engine's numbering for credit notes, unless their journal chooses another. Empty: the one "
        "for invoices.",
    )
    numbering_label = fields.Char(compute="_compute_engine_vocabulary")
    log_retention_days = fields.Integer(
        default=30, help="Call logs older than this are deleted by the daily clean-up."
    )

    can_edit_credentials = fields.Boolean(compute="_compute_can_edit_credentials")
    has_credentials = fields.Boolean(
        compute="_compute_has_credentials", help="A secret or tokens are stored (Disconnect clears them)."
    )

    # What the engine told us about the account
    remote_account_name = fields.Char(string="Account in the engine", readonly=True, copy=False)
    remote_currency = fields.Char(string="Account currency", readonly=True, copy=False)
    remote_country = fields.Char(string="Account country", readonly=True, copy=False)
    remote_vat_mode = fields.Char(string="VAT mode code", readonly=True, copy=False)
    remote_vat_mode_label = fields.Char(string="VAT status", compute="_compute_remote_vat_mode_label")
    api_environment = fields.Selection(
        [("production", "Production"), ("sandbox", "Sandbox")], string="Environment",
        compute="_compute_api_environment",
        help="Production: the vendor's own API, where documents are legal. Sandbox: a test host of the vendor "
        "or the bundled sandbox on this server.",
    )

    # Health
    state = fields.Selection(
        [("draft", "Not connected"), ("connected", "Connected"), ("error", "Needs attention"),
         ("disconnected", "Disconnected")],
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
    vat_rate_ids = fields.One2many("invoice.engine.vat.rate", "engine_id", string="VAT rates offered", readonly=True)
    lists_vat_rates = fields.Boolean(compute="_compute_engine_vocabulary")
    partner_binding_ids = fields.One2many("invoice.engine.partner", "engine_id", string="Customers")
    queued_count = fields.Integer(string="Queued", compute="_compute_move_counts")
    error_count = fields.Integer(string="To fix", compute="_compute_move_counts")

    _sql_constraints = [
        ("log_retention_positive", "CHECK(log_retention_days > 0)", "Keep the call logs at least one day."),
    ]

    # ------------------------------------------------------------------
    # Computes
    # ------------------------------------------------------------------

    @api.depends("engine_type")
    def _compute_engine_vocabulary(self):
        for engine in self:
            capabilities = engine._client_class().capabilities
            engine.numbering_label = capabilities.numbering_label
            engine.lists_vat_rates = capabilities.lists_vat_rates

    @api.depends("remote_vat_mode")
    def _compute_remote_vat_mode_label(self):
        labels = {  # the account's VAT status, as engines report it (document.AccountInfo.vat_mode)
            "vat_payer": _("VAT payer"),
            "non_vat_payer": _("Not a VAT payer"),
            "identified_person": _("Identified person (VAT on EU purchases only)"),
        }
        for engine in self:
            engine.remote_vat_mode_label = labels.get(engine.remote_vat_mode, engine.remote_vat_mode)

    @api.depends("base_url", "engine_type")
    def _compute_api_environment(self):
        for engine in self:
            host = (urlsplit((engine.base_url or "").strip()).hostname or "").lower()
            if not host:
                engine.api_environment = False
            elif _is_loopback(host) or host in engine._extra_api_hosts():
                engine.api_environment = "sandbox"
            else:
                engine.api_environment = "production"

    @api.model
    def _default_responsible(self):
        """The person who sets the engine up; never OdooBot, whom no activity reaches."""
        user = self.env.user
        if not (user._is_superuser() or user.share):
            return user
        return self.env["res.users"].search([
            ("share", "=", False), ("id", "!=", SUPERUSER_ID), ("company_ids", "in", self.env.company.id),
            ("groups_id", "in", self.env.ref("account.group_account_manager").id),
        ], order="id", limit=1)

    @api.depends_context("uid")
    def _compute_can_edit_credentials(self):
        self.can_edit_credentials = self._may_edit_credentials()

    def _compute_has_credentials(self):
        for engine in self:
            engine.has_credentials = bool(engine.id) and engine._holds_secrets()

    def _compute_move_counts(self):
        groups = self.env["account.move"]._read_group(
            [("engine_id", "in", self.ids),
             ("engine_state", "in", ENGINE_OPEN_STATES)],
            ["engine_id", "engine_state"],
            ["__count"],
        )
        counts = {(engine.id, state): count for engine, state, count in groups}
        for engine in self:
            engine.queued_count = counts.get((engine.id, "queued"), 0) + counts.get((engine.id, "sending"), 0)
            engine.error_count = sum(counts.get((engine.id, state), 0) for state in ENGINE_ATTENTION_STATES)

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
        domains = self._client_class().capabilities.api_domains
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
            self.base_url = self._client_class().capabilities.default_base_url

    # ------------------------------------------------------------------
    # Who may change where the credentials go (DESIGN §2: secrets never leave the server)
    # ------------------------------------------------------------------

    def _credential_fields(self):
        """Fields that decide which server receives the credentials, or are credentials.

        Each engine adds its own credential fields.
        """
        return {"engine_type", "base_url"}

    def _secret_fields(self):
        """Stored secrets, cleared when the API URL changes; each engine adds its own."""
        return []

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
            if vals.get("base_url"):
                engine_type = vals.get("engine_type") or self._fields["engine_type"].default(self)
                vals["base_url"] = self._normalised_api_url(engine_type, vals["base_url"])
            self._check_credential_rights(self._chosen_credentials(vals))
        return super().create(vals_list)

    @api.model
    def _normalised_api_url(self, engine_type, url):
        """The API URL as the engine wants it stored; engines whose users give it in another form
        (an account name instead of its address) override this."""
        return url.strip().rstrip("/")

    @api.model
    def _chosen_credentials(self, vals):
        """The credential fields of new-engine ``vals`` set to something else than their default."""
        engine_type = vals.get("engine_type") or self._fields["engine_type"].default(self)
        chosen = set()
        for name in self._credential_fields().intersection(vals) - {"engine_type"}:
            field = self._fields[name]
            default = field.default(self) if field.default else False
            if name == "base_url":
                default = CLIENT_CLASSES[engine_type].capabilities.default_base_url
            if vals[name] and vals[name] != default:
                chosen.add(name)
        return chosen

    def write(self, vals):
        self._check_credential_rights(vals)
        moving = self.browse()
        if "base_url" in vals:
            engine_type = vals.get("engine_type") or self[:1].engine_type or self._fields["engine_type"].default(self)
            new_url = self._normalised_api_url(engine_type, vals["base_url"] or "")
            vals = dict(vals, base_url=new_url or False)
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

    def _sends_on_post(self, journal):
        """Whether posting in ``journal`` queues the move (the journal may override ``auto_send``)."""
        self.ensure_one()
        return journal._invoice_engine_sends_on_post(self)

    def _numbering_for(self, move):
        """The engine numbering of ``move``: its journal's choice first, then the engine's defaults."""
        self.ensure_one()
        journal = move.journal_id
        candidates = [journal.invoice_engine_numbering_id, self.numbering_id]
        if move.move_type == "out_refund":
            candidates = [journal.invoice_engine_refund_numbering_id, self.refund_numbering_id] + candidates
        return next((numbering for numbering in candidates if numbering.engine_id == self), candidates[-1].browse())

    # ------------------------------------------------------------------
    # Clients
    # ------------------------------------------------------------------

    def _user_agent(self):
        self.ensure_one()
        contact = (self.contact_email or "").strip()
        return f"Odoo-account_invoice_engine ({contact})" if contact else "Odoo-account_invoice_engine"

    def _client_class(self):
        return CLIENT_CLASSES[self.engine_type or self._fields["engine_type"].default(self)]

    def _client(self, on_exchange=None):
        """The engine client for this connection; ``on_exchange`` receives every call record."""
        self.ensure_one()
        on_exchange = on_exchange or self._log_exchange
        return getattr(self, f"_{self.engine_type}_client")(on_exchange)

    # ------------------------------------------------------------------
    # OAuth token storage (shared by the engines that sign in with OAuth 2)
    # ------------------------------------------------------------------

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

    def _token(self):
        """This engine's tokens (an empty record when it never had any)."""
        self.ensure_one()
        return self.env["invoice.engine.token"].sudo().search([("engine_id", "=", self.id)])

    def _store_tokens(self, tokens):
        self.ensure_one()
        token = self._token() or self.env["invoice.engine.token"].sudo().create({"engine_id": self.id})
        token._store(tokens)

    def _forget_tokens(self):
        self.env["invoice.engine.token"].sudo().search([("engine_id", "in", self.ids)]).unlink()
        for engine_id in self.ids:
            self._obtained_tokens().pop(engine_id, None)

    # ------------------------------------------------------------------
    # Health
    # ------------------------------------------------------------------

    def _mark_healthy(self):
        values = {"last_success_at": fields.Datetime.now()}
        recovered = self.state == "error"
        if self.state != "connected" or self.last_error:
            values.update(state="connected", last_error=False)
        if self.paused_until:
            values["paused_until"] = False
        self.write(values)
        if recovered:
            attention = self.env.ref("account_invoice_engine.mail_activity_engine_attention")
            self.sudo().activity_ids.filtered(lambda activity: activity.activity_type_id == attention).action_feedback(
                feedback=_("The engine answers again."))

    def _mark_broken(self, message):
        """Record a connection problem once: one chatter note and one activity per episode."""
        for engine in self:
            if engine.state == "error" and engine.last_error == message:
                continue
            engine.write({"state": "error", "last_error": message})
            engine._post_note(message)
            engine.sudo().activity_schedule(
                "account_invoice_engine.mail_activity_engine_attention",
                summary=_("Invoice engine needs attention"),
                note=message,
                user_id=(engine.responsible_user_id or engine._default_responsible() or self.env.user).id,
            )

    # ------------------------------------------------------------------
    # Actions
    # ------------------------------------------------------------------

    def action_test_connection(self):
        self.ensure_one()
        self._check_may_operate()
        try:
            self._prepare_connection_test()
            client = self._client()
            account = client.check()
            self._store_account_info(account)
            self._store_reference_data(client.reference_data())
        except errors.RateLimited as error:
            # The account is fine but may not be called now: wait, do not alarm anyone.
            self._pause(error.retry_after)
            return self._notify(_("Not tested: the engine asks to wait"), self._explain(error), "warning")
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

    def action_disconnect(self):
        self._check_may_operate()
        for engine in self:
            engine._revoke_access()
            engine._forget_tokens()
            if engine._client_class().capabilities.credential == CREDENTIAL_API_TOKEN:
                # An API token cannot be revoked from Odoo: forgetting it is what disconnects.
                engine.sudo().write(dict.fromkeys(engine._secret_fields(), False))
            # Sending stops until a connection test succeeds: invoices posted meanwhile wait in the queue.
            engine.write({"state": "disconnected", "last_error": False})
            engine._post_note(_("Disconnected by %(user)s.", user=self.env.user.name))

    def action_refresh_reference_data(self):
        self.ensure_one()
        self._check_may_operate()
        try:
            self._store_reference_data(self._client().reference_data())
        except (errors.EngineError, UserError) as error:
            return self._notify(_("Could not load from %s", self._engine_label()), self._explain(error), "danger")
        return self._notify(_("Loaded from %s", self._engine_label()), self._reference_data_summary(), "success")

    def _reference_data_summary(self):
        summary = _("%(count)s × %(what)s.", count=len(self.numbering_ids), what=self.numbering_label)
        if self.lists_vat_rates:
            summary += " " + _("%s VAT rates.", len(self.vat_rate_ids.filtered("listed")))
        return summary

    @api.model
    def _cron_refresh_reference_data(self):
        """Daily: keep the numberings and VAT rates of every connected engine as the engine has them."""
        for engine in self.search([("state", "=", "connected")]):
            try:
                engine._store_reference_data(engine._client().reference_data())
            except (errors.EngineError, UserError) as error:
                self.env.cr.rollback()
                _logger.info("Invoice engine %s: reference data not refreshed: %s", engine.id, error)
                continue
            self.env.cr.commit()

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
        """The engine's invoices, filtered by the button's ``engine_filter`` (the search filter it names)."""
        self.ensure_one()
        engine_filter = self.env.context.get("engine_filter", "engine_attention")
        action = self.env["ir.actions.actions"]._for_xml_id("account.action_move_out_invoice_type")
        action["domain"] = [("engine_id", "=", self.id)]
        action["context"] = {f"search_default_{engine_filter}": 1}
        return action

    # ------------------------------------------------------------------
    # Helpers
    # ------------------------------------------------------------------

    # ------------------------------------------------------------------
    # Hooks each engine answers in its own file
    # ------------------------------------------------------------------

    def _prepare_connection_test(self):
        """Before "Test connection" calls the engine: sign in afresh, discover the account."""

    def _revoke_access(self):
        """Tell the engine that the stored access is given up (Disconnect)."""

    def _payment_options(self):
        """Engine-specific ``PaymentInfo`` options for payments recorded from Odoo."""
        return {}

    def _document_problems(self, move, document):
        """What the engine's own rules refuse in ``document`` (built from ``move``), before any call.

        Each message names the field to fix; engines add their rules (SmartBill's client data for
        ANAF, KSeF's field limits).
        """
        return []

    def _post_note(self, body):
        """A chatter note that never fails on the current user's e-mail settings.

        Outside superuser mode ``message_post`` refuses an author without an e-mail address
        ("Unable to send message…"), which would hide the real outcome from the user.
        """
        for engine in self.sudo():
            engine.message_post(body=body, subtype_xmlid="mail.mt_note")

    def _engine_label(self):
        return self._client_class().capabilities.label

    def _store_account_info(self, account):
        self.write({
            "remote_account_name": account.name,
            "remote_currency": account.currency,
            "remote_country": account.country,
            "remote_vat_mode": account.vat_mode,
        })

    def _store_reference_data(self, reference):
        self._store_numberings(reference.numberings)
        if self.lists_vat_rates:
            self._store_vat_rates(reference.vat_rates)

    def _store_numberings(self, options):
        numbering_model = self.env["invoice.engine.numbering"]
        existing = {(numbering.usage, numbering.remote_id): numbering for numbering in self.numbering_ids}
        seen = numbering_model
        for option in options:
            values = {"name": option.name, "preview": option.preview, "is_default": option.is_default,
                      "next_number": option.next_number}
            numbering = existing.get((option.usage, option.id))
            if numbering:
                numbering.write(values)
            else:
                numbering = numbering_model.create(
                    {"engine_id": self.id, "remote_id": option.id, "usage": option.usage, **values}
                )
            seen |= numbering
        gone = self.numbering_ids - seen
        # A numbering the engine dropped but an engine or a journal still names is kept: it shows there,
        # and the engine refuses it in words, rather than the choice silently falling back to a default.
        (gone - self._numberings_in_use(gone)).unlink()

    @api.model
    def _numberings_in_use(self, numberings):
        """Those of ``numberings`` an engine or a journal chose (in any of their numbering fields)."""
        used = numberings.browse()
        for model_name in ("invoice.engine", "account.journal"):
            model = self.env[model_name].sudo().with_context(active_test=False)
            for name, field in model._fields.items():
                if field.type == "many2one" and field.comodel_name == numberings._name and field.store:
                    used |= model.search([(name, "in", numberings.ids)]).mapped(name)
        return used & numberings

    def _store_vat_rates(self, offered):
        """Keep the engine's VAT rates, flag the ones it dropped, and map Odoo's sales taxes by percentage."""
        rates_model = self.env["invoice.engine.vat.rate"]
        existing = {vat_rate.name: vat_rate for vat_rate in self.vat_rate_ids}
        listed = rates_model
        for option in offered:
            vat_rate = existing.get(option.name)
            values = {"rate": float(option.rate), "listed": True}
            if vat_rate:
                vat_rate.write(values)
            else:
                vat_rate = rates_model.create({"engine_id": self.id, "name": option.name, **values})
            listed |= vat_rate
        dropped = (self.vat_rate_ids - listed).filtered("listed")
        dropped.write({"listed": False})
        self._match_taxes_to_vat_rates()
        affected = self.tax_mapping_ids.filtered("engine_vat_rate_missing")
        if dropped and affected:
            self._post_note(_(
                "%(engine)s no longer offers the VAT rates %(rates)s. Invoices with the taxes %(taxes)s stop "
                "before sending until each is mapped to an offered rate (VAT rates tab).",
                engine=self._engine_label(), rates=", ".join(dropped.mapped("display_name")),
                taxes=", ".join(affected.tax_id.mapped("name")),
            ))

    def _match_taxes_to_vat_rates(self):
        """Map each percentage sales tax to the one offered rate of the same percentage.

        A mapping a person chose is kept; a rate offered under several names is left for a person.
        """
        offered = self.vat_rate_ids.filtered("listed")
        mappings = {mapping.tax_id: mapping for mapping in self.tax_mapping_ids}
        taxes = self.env["account.tax"].search([
            ("company_id", "=", self.company_id.id), ("type_tax_use", "=", "sale"), ("amount_type", "=", "percent"),
        ])
        for tax in taxes:
            mapping = mappings.get(tax)
            if mapping and mapping.engine_vat_rate_id and not mapping.matched_automatically:
                continue
            same = offered.filtered(lambda vat_rate: tools.float_compare(vat_rate.rate, tax.amount, 2) == 0)
            if len(same) != 1:
                continue
            values = {"engine_vat_rate_id": same.id, "matched_automatically": True}
            if mapping:
                mapping.write(values)
            else:
                self.env["invoice.engine.tax"].create({"engine_id": self.id, "tax_id": tax.id, **values})

    def _explain(self, error):
        """What went wrong and what to do, for a person.

        The engine clients already write that for every error they raise (and only once):
        this only unwraps it. Engines refine it where the Odoo side knows better.
        """
        if isinstance(error, UserError):
            return error.args[0]
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
        # One statement, not the ORM: every call of a sending run comes here, and an environment on
        # a fresh cursor starts with empty caches. Built before the cursor opens: nothing may query
        # the caller's cursor while the log's is open.
        columns = [*values, "company_id", "create_uid", "write_uid", "create_date", "write_date"]
        insert = SQL(
            "INSERT INTO invoice_engine_log (%s) VALUES (%s, %s, %s, %s, %s)",
            SQL(", ").join(SQL.identifier(column) for column in columns),
            SQL(", ").join(value if value is not False else None for value in values.values()),
            self.company_id.id, self.env.uid, self.env.uid,
            SQL("(now() AT TIME ZONE 'UTC'), (now() AT TIME ZONE 'UTC')"),
        )
        try:
            with mute_logger("odoo.sql_db"), self.env.registry.cursor() as cr:
                cr.execute(f"SET LOCAL lock_timeout = '{LOG_CURSOR_LOCK_TIMEOUT}'")
                cr.execute(insert)
        except psycopg2.Error:
            self.env["invoice.engine.log"].sudo().create(values)



def _is_loopback(host):
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def now_timestamp():
    """The clock that judges token freshness everywhere (frozen in tests)."""
    return fields.Datetime.now().replace(tzinfo=timezone.utc).timestamp()


def as_timestamp(moment):
    return moment.replace(tzinfo=timezone.utc).timestamp() if isinstance(moment, datetime) else 0.0
