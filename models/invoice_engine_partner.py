from odoo import Command, _, api, fields, models

MATCH_STATES = [
    ("matched", "Matched"),
    ("ambiguous", "To choose"),
    ("new", "Not in the engine"),
    ("manual", "Chosen by hand"),
]
MATCH_FIELDS = [
    ("key", "Own reference"),
    ("registration_no", "Registration number"),
    ("vat_no", "VAT number"),
    ("email", "E-mail"),
]


class InvoiceEnginePartner(models.Model):
    """The link between an Odoo customer and its record in one engine.

    Managers can correct ``remote_id`` when a customer was linked to the wrong record.
    ``pushed_hash`` fingerprints what was last sent, so the customer is updated in the
    engine only when the data the engine holds has changed in Odoo.

    ``match_state`` says how the record was found (invariant "existing customers are
    matched, not duplicated"): ``ambiguous`` bindings wait for a person, who picks one of
    ``candidate_ids`` or decides on a new record (``manual`` without ``remote_id``).
    """

    _name = "invoice.engine.partner"
    _description = "Invoice Engine Customer Link"
    _order = "engine_id, partner_id"
    _rec_name = "partner_id"

    engine_id = fields.Many2one("invoice.engine", required=True, ondelete="cascade", index=True)
    company_id = fields.Many2one(related="engine_id.company_id", store=True)
    partner_id = fields.Many2one("res.partner", required=True, ondelete="cascade", index=True)
    remote_id = fields.Char(string="Remote ID", help="The customer's id in the engine.")
    pushed_hash = fields.Char(readonly=True, copy=False)
    last_push_at = fields.Datetime(string="Last sent", readonly=True)
    match_state = fields.Selection(MATCH_STATES, string="Match", readonly=True, index=True)
    match_field = fields.Selection(MATCH_FIELDS, string="Matched on", readonly=True)
    candidate_ids = fields.One2many("invoice.engine.partner.candidate", "binding_id", string="Candidates", readonly=True)
    candidate_count = fields.Integer(compute="_compute_candidate_count")

    _sql_constraints = [
        ("partner_unique", "UNIQUE(engine_id, partner_id)", "A customer is linked once per engine."),
    ]

    @api.depends("candidate_ids")
    def _compute_candidate_count(self):
        for binding in self:
            binding.candidate_count = len(binding.candidate_ids)

    def write(self, vals):
        if "remote_id" in vals and "pushed_hash" not in vals:
            # A relinked customer must be pushed again to its new record.
            vals = dict(vals, pushed_hash=False)
        if vals.get("remote_id") and "match_state" not in vals:
            # A remote id typed in by hand settles an open choice.
            self.filtered(lambda binding: binding.match_state == "ambiguous").write(
                {"match_state": "manual", "candidate_ids": [Command.clear()]}
            )
        return super().write(vals)

    # ------------------------------------------------------------------
    # Resolving an ambiguous match
    # ------------------------------------------------------------------

    def action_choose_record(self):
        self.ensure_one()
        return {
            "type": "ir.actions.act_window",
            "name": _("Choose the customer's record in %s", self.engine_id._engine_label()),
            "res_model": "invoice.engine.customer.link.wizard",
            "view_mode": "form",
            "target": "new",
            "context": {"default_binding_id": self.id},
        }

    def _link_candidate(self, candidate):
        """A person chose ``candidate``: our reference is set on it with the next push."""
        self.ensure_one()
        note = _("%(user)s linked the customer to %(engine)s record “%(name)s” (id %(id)s).",
                 user=self.env.user.name, engine=self.engine_id._engine_label(),
                 name=candidate.name, id=candidate.remote_id)
        self.write({"remote_id": candidate.remote_id, "match_state": "manual", "match_field": candidate.matched_on,
                    "candidate_ids": [Command.clear()]})
        self._send_waiting_moves(note)

    def _create_new_record(self):
        """A person decided that none of the candidates is this customer."""
        self.ensure_one()
        self.write({"remote_id": False, "match_state": "manual", "match_field": False,
                    "candidate_ids": [Command.clear()]})
        self._send_waiting_moves(_("%(user)s chose to create the customer as a new record in %(engine)s.",
                                   user=self.env.user.name, engine=self.engine_id._engine_label()))

    def _send_waiting_moves(self, note):
        """Queue again the invoices that stopped on this customer's match."""
        moves = self.env["account.move"].search([
            ("engine_id", "=", self.engine_id.id),
            ("engine_state", "=", "error"),
            ("commercial_partner_id", "=", self.partner_id.id),
            ("state", "=", "posted"),
        ])
        if not moves:
            return
        for move in moves:
            move.message_post(body=note)
        moves._engine_close_activities(note)
        moves._engine_enqueue()
