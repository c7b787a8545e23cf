import hashlib
import secrets
from datetime import timedelta

from odoo import _, api, fields, models

STATE_LIFETIME = timedelta(minutes=10)


class InvoiceEngineOAuthState(models.Model):
    """A single-use ``state`` for the OAuth authorization-code flow.

    It binds the browser round trip to one engine and one user; only its hash is
    stored, so reading the table does not let anyone forge a callback.
    """

    _name = "invoice.engine.oauth.state"
    _description = "Invoice Engine OAuth State"

    engine_id = fields.Many2one("invoice.engine", required=True, ondelete="cascade")
    user_id = fields.Many2one("res.users", required=True, ondelete="cascade")
    state_hash = fields.Char(required=True, index=True)
    expires_at = fields.Datetime(required=True)
    used_at = fields.Datetime()

    @api.model
    def _issue(self, engine):
        """Create a state for ``engine`` and the current user; return the clear value."""
        value = secrets.token_urlsafe(32)
        self.sudo().create({
            "engine_id": engine.id,
            "user_id": self.env.uid,
            "state_hash": self._hash(value),
            "expires_at": fields.Datetime.now() + STATE_LIFETIME,
        })
        return value

    @api.model
    def _consume(self, value):
        """Validate and burn a state; return ``(engine, None)`` or ``(None, reason)``.

        The state is marked used on a cursor of its own, committed at once: it is spent on its
        first use, even when the rest of the callback fails and its transaction is rolled back.
        """
        if not value:
            return None, _("The authorization answer carries no state. Start again from the engine form.")
        with self.env.registry.cursor() as cr:
            states = self.with_env(self.env(cr=cr))
            engine_id, problem = states._consume_locked(value)
            states.env.flush_all()
        return (self.env["invoice.engine"].browse(engine_id), None) if engine_id else (None, problem)

    def _consume_locked(self, value):
        self.env.cr.execute(
            "SELECT id FROM invoice_engine_oauth_state WHERE state_hash = %s FOR UPDATE", [self._hash(value)]
        )
        row = self.env.cr.fetchone()
        record = self.sudo().browse(row[0]) if row else self.sudo()
        if not record:
            return None, _("This authorization link is not valid. Start again from the engine form.")
        if record.used_at:
            return None, _("This authorization link was already used. Start again from the engine form.")
        record.used_at = fields.Datetime.now()
        if record.expires_at < fields.Datetime.now():
            return None, _("This authorization link has expired. Start again from the engine form.")
        if record.user_id.id != self.env.uid:
            return None, _("This authorization was started by another user. Start again from the engine form.")
        return record.engine_id.id, None

    @api.model
    def _hash(self, value):
        return hashlib.sha256(value.encode()).hexdigest()

    @api.autovacuum
    def _gc_expired_states(self):
        self.sudo().search([("expires_at", "<", fields.Datetime.now() - timedelta(days=1))]).unlink()
