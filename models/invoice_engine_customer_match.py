"""Matching Odoo customers with the records the engine account already holds.

Before a customer is created in the engine it is looked for there: by our own reference,
then by registration number, VAT number and e-mail (``EngineClient.find_customer``). The
sending job does it for one customer at a time; "Match existing customers" does it for the
whole customer base of the company, so that the first invoices create no duplicates and
the ambiguous customers can be settled before anything is sent.
"""
import time

from odoo import Command, _, fields, models
from odoo.exceptions import UserError

from ..engines import errors
from .invoice_engine_queue import party_fingerprint

# Stop a matching run while this many calls are left in the engine's window: one customer
# costs at most its own-reference lookup, three searches and the adopting update.
CALLS_PER_CUSTOMER = 5
# One click runs in one web request: leave it well inside the server's time limit.
SECONDS_PER_RUN = 60


class InvoiceEngine(models.Model):
    _inherit = "invoice.engine"

    customer_to_choose_count = fields.Integer(compute="_compute_customer_to_choose_count")

    def _compute_customer_to_choose_count(self):
        counts = dict(self.env["invoice.engine.partner"]._read_group(
            [("engine_id", "in", self.ids), ("match_state", "=", "ambiguous")], ["engine_id"], ["__count"],
        ))
        for engine in self:
            engine.customer_to_choose_count = counts.get(engine, 0)

    # ------------------------------------------------------------------
    # The button
    # ------------------------------------------------------------------

    def action_match_customers(self):
        """Match every customer of the company not linked yet; report matched / to choose / new.

        Runs until done or until the engine's rate limit says stop; running it again goes on
        with the customers still unlinked (and checks the ambiguous and new ones again).
        """
        self.ensure_one()
        self._check_may_operate()
        if self.paused_until and self.paused_until > fields.Datetime.now():
            raise UserError(_("%(engine)s asked to slow down: match the customers again after %(when)s.",
                              engine=self._engine_label(), when=fields.Datetime.to_string(self.paused_until)))
        if not self._try_advisory_lock():
            raise UserError(_("Invoices are being sent to %s right now. Try again in a minute.", self._engine_label()))
        try:
            report = self._match_customers(self._customers_to_match())
        finally:
            self._release_advisory_lock()
        return self._match_notification(report)

    def action_view_customers_to_choose(self):
        self.ensure_one()
        return {
            "type": "ir.actions.act_window",
            "name": _("Customers to choose in %s", self._engine_label()),
            "res_model": "invoice.engine.partner",
            "view_mode": "list",
            "views": [(self.env.ref("account_invoice_engine.invoice_engine_partner_view_list").id, "list")],
            "domain": [("engine_id", "=", self.id)],
            "context": {"search_default_to_choose": 1, "default_engine_id": self.id},
        }

    # ------------------------------------------------------------------
    # Matching
    # ------------------------------------------------------------------

    def _customers_to_match(self):
        """The company's customers (customer rank > 0: invoiced, or marked as customers) still to match.

        Contacts count through their company: the engine knows commercial partners only.
        Linked customers and those a person decided on are left alone.
        """
        customers = self.env["res.partner"].search([
            ("customer_rank", ">", 0),
            ("company_id", "in", (False, self.company_id.id)),
        ]).commercial_partner_id
        settled = self.env["invoice.engine.partner"].search([
            ("engine_id", "=", self.id), ("partner_id", "in", customers.ids),
            "|", ("remote_id", "!=", False), ("match_state", "=", "manual"),
        ]).partner_id
        return (customers - settled).sorted("id")

    def _match_customers(self, partners):
        """Match ``partners`` one by one; return the counts and why the run stopped early, if it did."""
        report = {"matched": 0, "ambiguous": 0, "new": 0, "total": len(partners), "stopped": ""}
        client = self._client()
        db_tag = self.env["account.move"]._engine_db_tag()
        deadline = time.monotonic() + SECONDS_PER_RUN
        for partner in partners:
            if self._rate_budget_spent(client):
                report["stopped"] = _("%(engine)s allows only so many calls a minute.", engine=self._engine_label())
                break
            if time.monotonic() > deadline:
                report["stopped"] = _("one run lasts a minute at most.")
                break
            try:
                report[self._match_one(client, partner, partner._engine_party(db_tag, []))] += 1
            except errors.RateLimited as error:
                self._pause(error.retry_after)
                report["stopped"] = _("%(engine)s asked to slow down for %(seconds)s seconds.",
                                      engine=self._engine_label(), seconds=round(error.retry_after))
                break
            except errors.EngineError as error:
                report["stopped"] = self._explain(error)
                break
        return report

    @staticmethod
    def _rate_budget_spent(client):
        remaining = getattr(client.rate_limit, "remaining", None)
        return remaining is not None and remaining < CALLS_PER_CUSTOMER

    def _match_one(self, client, partner, party):
        """Find ``partner`` in the engine and record the outcome; an unambiguous match is adopted now."""
        binding = self._customer_binding(partner)
        try:
            values = self._match_customer(client, party)
        except errors.AmbiguousCustomer as error:
            values = self._ambiguous_values(error)
        if values.get("remote_id"):
            self._adopt_customer(client, party, values)
        self._bind_customer(binding, partner, values)
        return values["match_state"]

    def _adopt_customer(self, client, party, values):
        """Push the customer onto the matched record: it then carries our reference for later lookups."""
        try:
            remote_id = client.upsert_customer(party, values["remote_id"], match=False)
        except errors.Rejected:
            return  # linked all the same: the first invoice pushes it again and says what the engine refuses
        values.update(remote_id=remote_id, pushed_hash=party_fingerprint(party), last_push_at=fields.Datetime.now())

    def _match_customer(self, client, party):
        """Binding values from the engine's record for ``party``; ``AmbiguousCustomer`` propagates."""
        candidate = client.find_customer(party)
        values = {"candidate_ids": [Command.clear()], "match_field": False, "match_state": "new"}
        if candidate:
            values.update(remote_id=candidate.id, match_state="matched", match_field=candidate.matched_on)
        return values

    def _ambiguous_values(self, error):
        candidate_model = self.env["invoice.engine.partner.candidate"]
        return {
            "match_state": "ambiguous",
            "match_field": False,
            "candidate_ids": [Command.clear()] + [
                Command.create(candidate_model._values_from(candidate)) for candidate in error.candidates
            ],
        }

    def _customer_binding(self, partner):
        return self.env["invoice.engine.partner"].search(
            [("engine_id", "=", self.id), ("partner_id", "=", partner.id)]
        )

    def _bind_customer(self, binding, partner, values):
        if binding:
            binding.write(values)
            return binding
        return binding.create({"engine_id": self.id, "partner_id": partner.id, **values})

    def _describe_ambiguous_customer(self, error):
        return _(
            "%(message)s Choose the right record with “Choose customer record” on this invoice (or under "
            "Invoice Engines › %(engine)s › Customers); the invoice is sent once it is chosen.",
            message=error.message, engine=self.name,
        )

    def _match_notification(self, report):
        message = _("%(matched)s matched, %(ambiguous)s to choose, %(new)s not in %(engine)s (created with "
                    "their first invoice).", engine=self._engine_label(), **report)
        done = report["matched"] + report["ambiguous"] + report["new"]
        if report["stopped"]:
            message = _("%(message)s Stopped after %(done)s of %(total)s customers: %(reason)s Run it again "
                        "later to go on.", message=message, done=done, total=report["total"], reason=report["stopped"])
        notification = self._notify(_("Customers matched with %s", self._engine_label()), message,
                                    "warning" if report["stopped"] or report["ambiguous"] else "success")
        if report["ambiguous"]:
            notification["params"]["next"] = self.action_view_customers_to_choose()
        return notification
