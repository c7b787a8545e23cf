import time

from odoo import fields, models

from ..engines.throttle import Throttle, WindowState


class InvoiceEngineThrottle(models.Model):
    """The call window of one engine account, shared by every Odoo worker and UI action.

    The sending job's advisory lock keeps a second cron worker away, but not the buttons
    on the engine and the invoices: all of them spend the same engine budget, so every
    call is counted here first (``ThrottleStore``). Written before every engine call, it
    keeps only the starts of the last window. Administrators only; used through ``sudo()``.
    """

    _name = "invoice.engine.throttle"
    _description = "Invoice Engine Call Window"

    engine_id = fields.Many2one("invoice.engine", required=True, ondelete="cascade", index=True)
    call_starts = fields.Json(help="When the calls of the last window started (epoch seconds, oldest first).")
    held_until = fields.Float(help="No call starts before this moment (epoch seconds): the engine asked to wait.")

    _sql_constraints = [
        ("engine_unique", "UNIQUE(engine_id)", "An engine has one call window."),
    ]


class ThrottleStore:
    """The ``Throttle`` store of one engine in ``invoice.engine.throttle``.

    Each update runs on a cursor of its own, committed at once, so that the caller's
    transaction never holds the lock while it waits for a slot or for the engine's answer.
    """

    def __init__(self, engine):
        self.env = engine.env
        self.engine_id = engine.id

    def update(self, change):
        with self.env.registry.cursor() as cr:
            cr.execute("SET LOCAL lock_timeout = '15s'")
            # Taken before the transaction's snapshot (unlike a row lock), so what is read
            # next includes every call counted up to now and no concurrent update can
            # make this transaction fail. Held for a few milliseconds.
            cr.execute("LOCK TABLE invoice_engine_throttle IN SHARE ROW EXCLUSIVE MODE")
            windows = self.env(cr=cr, su=True)["invoice.engine.throttle"]
            window = windows.search([("engine_id", "=", self.engine_id)]) or windows.create(
                {"engine_id": self.engine_id}
            )
            state = WindowState(list(window.call_starts or []), window.held_until)
            result = change(state)
            window.write({"call_starts": state.starts, "held_until": state.held_until})
            windows.env.flush_all()
            return result


class InvoiceEngine(models.Model):
    _inherit = "invoice.engine"

    def _throttle(self):
        """The ``Throttle`` of this engine account, shared by all workers; None when nothing limits it."""
        self.ensure_one()
        capabilities = self._client_class().capabilities
        if not (capabilities.call_limit and self.id):
            return None
        calls, seconds = capabilities.call_limit
        return Throttle(calls, seconds, ThrottleStore(self), label=self._engine_label(), clock=_now,
                        margin=capabilities.call_margin)


def _now():
    # Read at each call (not bound once), so that tests freezing time move this clock as
    # they move every other in Odoo: the engine's pause and the throttle's hold agree.
    return time.time()
