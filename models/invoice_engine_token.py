from datetime import datetime, timedelta, timezone

from odoo import fields, models

# Renew a token this long before the engine would refuse it.
TOKEN_MARGIN = timedelta(seconds=60)


class InvoiceEngineToken(models.Model):
    """The OAuth tokens of one engine, in a table of their own.

    Tokens are renewed on a separate, immediately committed transaction while a worker's
    transaction may be writing the engine's own row (health, account data): keeping them
    apart means the two never update the same row, which PostgreSQL's repeatable-read
    isolation would otherwise refuse. Readable by administrators only; every access goes
    through ``sudo()`` in ``invoice.engine``.
    """

    _name = "invoice.engine.token"
    _description = "Invoice Engine OAuth Token"

    engine_id = fields.Many2one("invoice.engine", required=True, ondelete="cascade", index=True)
    access_token = fields.Char()
    refresh_token = fields.Char()
    expires_at = fields.Datetime()

    _sql_constraints = [
        ("engine_unique", "UNIQUE(engine_id)", "An engine has one set of tokens."),
    ]

    def is_fresh(self, stale_token=None):
        """A usable access token that is not the one the engine just refused."""
        return bool(
            self.access_token
            and self.access_token != stale_token
            and self.expires_at
            and self.expires_at - TOKEN_MARGIN > fields.Datetime.now()
        )

    def _store(self, tokens):
        self.ensure_one()
        self.write({
            "access_token": tokens.access_token,
            # A refresh answer carries no refresh token: keep the one we have.
            "refresh_token": tokens.refresh_token or self.refresh_token,
            "expires_at": datetime.fromtimestamp(tokens.expires_at, timezone.utc).replace(tzinfo=None),
        })
