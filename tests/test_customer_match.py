"""Existing customers are matched, not duplicated (DESIGN §2), from Odoo over real HTTP."""
from datetime import timedelta
from unittest.mock import patch

from freezegun import freeze_time

from odoo import fields
from odoo.exceptions import AccessError, UserError
from odoo.tests import new_test_user, tagged

from .common import SLUG, FakturoidCase


@tagged("post_install", "-at_install")
class TestCustomerMatch(FakturoidCase):

    def add_subject(self, **values):
        return self.sandbox.add_subject(SLUG, **{"name": "Zákazník (ve Fakturoidu)", **values})

    def key(self, partner):
        return f"odoo-{self.env['account.move']._engine_db_tag()}-partner-{partner.id}"

    def binding(self, partner):
        return self.env["invoice.engine.partner"].search(
            [("engine_id", "=", self.engine.id), ("partner_id", "=", partner.id)]
        )

    def subject(self, subject_id):
        return next(s for s in self.remote("subjects") if s["id"] == subject_id)

    def problem_activities(self, move):
        activity_type = self.env.ref("account_invoice_engine.mail_activity_engine_problem")
        return move.activity_ids.filtered(lambda activity: activity.activity_type_id == activity_type)

    def open_wizard(self, move):
        action = move.action_engine_choose_customer()
        self.assertEqual(action["res_model"], "invoice.engine.customer.link.wizard")
        return self.env[action["res_model"]].with_context(action["context"]).create({})

    def assert_next_invoice_makes_no_customer_call(self):
        self.sandbox.requests.clear()
        move = self.create_invoice()
        self.run_queue()
        self.assertEqual(move.engine_state, "sent")
        self.assertEqual(self.requests_to("/subjects"), [])

    # ------------------------------------------------------------------ sending

    def test_invoice_adopts_the_customer_found_by_registration_number(self):
        existing = self.add_subject(registration_no="25596641", email="jinak@zakaznik.cz")
        move = self.create_invoice()
        self.run_queue()
        self.assertEqual(move.engine_state, "sent")
        self.assertEqual(len(self.remote("subjects")), 1, "no second subject")
        self.assertEqual(self.remote_invoice(move)["subject_id"], existing["id"])
        self.assertEqual(self.subject(existing["id"])["custom_id"], self.key(self.customer_cz))
        binding = self.binding(self.customer_cz)
        self.assertEqual((binding.remote_id, binding.match_state, binding.match_field),
                         (str(existing["id"]), "matched", "registration_no"))

    def test_a_linked_customer_costs_no_lookup(self):
        self.create_invoice()
        self.run_queue()
        self.assertTrue(self.requests_to("/subjects/search.json"), "the first invoice looked the customer up")
        self.assert_next_invoice_makes_no_customer_call()

    def test_several_candidates_make_the_invoice_wait_until_a_person_chooses(self):
        first = self.add_subject(registration_no="25596641")
        second = self.add_subject(name="Zákazník s.r.o. – pobočka", registration_no="25596641")
        move = self.create_invoice()
        self.run_queue()
        self.assertEqual(move.engine_state, "error")
        self.assertIn("2 Fakturoid customers match Zákazník s.r.o. (registration number 25596641)", move.engine_error)
        self.assertIn("Choose customer record", move.engine_error)
        self.assertEqual(len(self.problem_activities(move)), 1)
        self.assertEqual((self.remote(), len(self.remote("subjects"))), ([], 2), "nothing created")
        self.assertTrue(move.engine_customer_to_choose)

        wizard = self.open_wizard(move)
        self.assertEqual(wizard.candidate_ids.mapped("remote_id"), [str(first["id"]), str(second["id"])])
        wizard.candidate_id = wizard.candidate_ids.filtered(lambda c: c.remote_id == str(second["id"]))
        wizard.action_link()
        self.assertEqual(move.engine_state, "queued", "sent again once the customer is chosen")
        self.assertFalse(self.problem_activities(move))

        self.run_queue()
        self.assertEqual(move.engine_state, "sent")
        self.assertEqual(len(self.remote("subjects")), 2, "nothing extra created")
        self.assertEqual(self.remote_invoice(move)["subject_id"], second["id"])
        self.assertEqual(self.subject(second["id"])["custom_id"], self.key(self.customer_cz))
        self.assertIsNone(self.subject(first["id"])["custom_id"])
        self.assertEqual(self.binding(self.customer_cz).match_state, "manual")

    def test_a_match_linked_to_another_reference_waits_and_may_become_a_new_record(self):
        taken = self.add_subject(vat_no="CZ25596641", custom_id="jiny-system-7")
        move = self.create_invoice()
        self.run_queue()
        self.assertEqual(move.engine_state, "error")
        self.assertIn("already linked to another record (reference jiny-system-7)", move.engine_error)
        wizard = self.open_wizard(move)
        self.assertEqual(wizard.candidate_ids.remote_key, "jiny-system-7")
        wizard.action_create_new()
        self.customers(self.customer_cz)
        action = self.engine.action_match_customers()
        self.assertIn("0 matched, 0 to choose, 0 not in", action["params"]["message"], "a person's choice stands")
        self.run_queue()
        self.assertEqual(move.engine_state, "sent")
        subjects = self.remote("subjects")
        self.assertEqual(len(subjects), 2)
        self.assertEqual(self.subject(taken["id"])["custom_id"], "jiny-system-7", "left alone")
        self.assertEqual(self.remote_invoice(move)["subject_id"], subjects[1]["id"])

    def test_nothing_to_match_creates_the_customer(self):
        self.add_subject(name="Jiná firma", registration_no="99999999")
        move = self.create_invoice()
        self.run_queue()
        self.assertEqual(move.engine_state, "sent")
        self.assertEqual(len(self.remote("subjects")), 2)
        self.assertEqual(self.binding(self.customer_cz).match_state, "new")

    # ------------------------------------------------------------------ the engine's action

    def customers(self, *partners):
        self.env["res.partner"].search([("customer_rank", ">", 0)]).customer_rank = 0
        for partner in partners:
            partner.customer_rank = 1

    def make_partner(self, name, **values):
        return self.env["res.partner"].create({"name": name, "is_company": True,
                                               "country_id": self.env.ref("base.cz").id, **values})

    def test_match_action_counts_matched_ambiguous_and_new(self):
        matched = self.add_subject(registration_no="25596641")
        self.add_subject(name="Odberateľ", vat_no="SK2020273893")
        self.add_subject(name="Odberateľ – pobočka", vat_no="SK2020273893")
        newcomer = self.make_partner("Nový zákazník s.r.o.", company_registry="11111111")
        linked = self.make_partner("Propojený s.r.o.", company_registry="22222222")
        self.env["invoice.engine.partner"].create({"engine_id": self.engine.id, "partner_id": linked.id,
                                                   "remote_id": "16999999"})
        contact = self.env["res.partner"].create({"name": "Jana Nováková", "parent_id": self.customer_cz.id})
        self.customers(contact, self.customer_sk, newcomer, linked)
        subjects_before = len(self.remote("subjects"))

        action = self.engine.action_match_customers()

        self.assertEqual(action["params"]["message"], "1 matched, 1 to choose, 1 not in Fakturoid (created with "
                                                      "their first invoice).")
        self.assertEqual(action["params"]["next"]["res_model"], "invoice.engine.partner")
        self.assertEqual(self.env["invoice.engine.partner"].search(action["params"]["next"]["domain"]).filtered(
            lambda b: b.match_state == "ambiguous").partner_id, self.customer_sk)
        self.assertEqual(self.engine.customer_to_choose_count, 1)
        self.assertEqual([self.binding(p).match_state for p in (self.customer_cz, self.customer_sk, newcomer)],
                         ["matched", "ambiguous", "new"])
        self.assertEqual(len(self.binding(self.customer_sk).candidate_ids), 2)
        self.assertEqual(self.subject(matched["id"])["custom_id"], self.key(self.customer_cz), "adopted")
        self.assertEqual(len(self.remote("subjects")), subjects_before, "the action creates nothing")
        self.assertFalse([r for r in self.sandbox.requests if "22222222" in str(r["query"])], "linked: no call")

        # A second run rechecks only what is not linked: the matched customer costs nothing.
        self.sandbox.requests.clear()
        action = self.engine.action_match_customers()
        self.assertEqual(action["params"]["message"], "0 matched, 1 to choose, 1 not in Fakturoid (created with "
                                                      "their first invoice).")
        self.assertFalse([r for r in self.sandbox.requests if "25596641" in str(r["query"])])

    def test_matched_customer_is_invoiced_without_any_customer_call(self):
        self.add_subject(registration_no="25596641")
        self.customers(self.customer_cz)
        self.engine.action_match_customers()
        self.assert_next_invoice_makes_no_customer_call()

    def test_match_action_stops_within_the_rate_budget_and_goes_on_when_run_again(self):
        newcomer = self.make_partner("Nový zákazník s.r.o.", company_registry="11111111")
        self.customers(self.customer_cz, self.customer_sk, newcomer)
        self.sandbox.set_rate_limit(quota=6)
        action = self.engine.action_match_customers()
        self.assertIn("0 matched, 0 to choose, 1 not in",
                      action["params"]["message"])
        self.assertIn("Stopped after 1 of 3 customers", action["params"]["message"])
        self.assertEqual(self.binding(newcomer).match_state, False)
        self.assertFalse([r for r in self.sandbox.requests if r["status"] == 429], "stopped before a refusal")

        self.sandbox.set_rate_limit()
        action = self.engine.action_match_customers()
        self.assertEqual(action["params"]["message"], "0 matched, 0 to choose, 3 not in Fakturoid (created with "
                                                      "their first invoice).")

    def test_match_action_keeps_one_run_short(self):
        self.customers(self.customer_cz, self.customer_sk)
        with patch("odoo.addons.account_invoice_engine.models.invoice_engine_customer_match.SECONDS_PER_RUN", -1):
            action = self.engine.action_match_customers()
        self.assertIn("Stopped after 0 of 2 customers: one run lasts a minute at most.", action["params"]["message"])
        self.assertEqual(self.sandbox.requests, [])

    def test_match_action_stops_on_a_refusal_and_waits_for_the_engine(self):
        self.customers(self.customer_cz, self.customer_sk)
        self.sandbox.inject("rate_limit", method="GET", path=r"/subjects\.json$", reset=30)
        action = self.engine.action_match_customers()
        self.assertIn("Stopped after 0 of 2 customers: Fakturoid asked to slow down for 30 seconds.",
                      action["params"]["message"])
        self.assertTrue(self.engine.paused_until)
        with self.assertRaises(UserError):
            self.engine.action_match_customers()
        with freeze_time(fields.Datetime.now() + timedelta(seconds=31)):
            action = self.engine.action_match_customers()
        self.assertIn("0 matched, 0 to choose, 2 not in", action["params"]["message"])

    def test_remote_id_typed_by_hand_settles_the_choice(self):
        subject = self.add_subject(registration_no="25596641")
        self.add_subject(registration_no="25596641")
        move = self.create_invoice()
        self.run_queue()
        binding = self.binding(self.customer_cz)
        self.assertEqual(binding.match_state, "ambiguous")
        binding.remote_id = str(subject["id"])
        self.assertEqual((binding.match_state, binding.candidate_ids.ids), ("manual", []))
        move.action_engine_send()
        self.run_queue()
        self.assertEqual(self.remote_invoice(move)["subject_id"], subject["id"])
        self.assertEqual(len(self.remote("subjects")), 2)

    def test_managers_match_and_choose_invoicing_users_only_see_the_state(self):
        manager = new_test_user(self.env, login="match_manager", company_id=self.company.id,
                                company_ids=[self.company.id], groups="account.group_account_manager,base.group_user")
        invoicing = new_test_user(self.env, login="match_invoicing", company_id=self.company.id,
                                  company_ids=[self.company.id], groups="account.group_account_invoice,base.group_user")
        self.add_subject(registration_no="25596641")
        self.add_subject(registration_no="25596641")
        self.customers(self.customer_cz)
        action = self.engine.with_user(manager).action_match_customers()
        self.assertIn("0 matched, 1 to choose", action["params"]["message"])
        move = self.create_invoice()
        self.run_queue()
        self.assertTrue(move.with_user(invoicing).engine_customer_to_choose)
        with self.assertRaises(AccessError):
            move.with_user(invoicing).action_engine_choose_customer()
        with self.assertRaises(AccessError):
            self.engine.with_user(invoicing).action_match_customers()
        wizard = self.open_wizard(move.with_user(manager))
        wizard.candidate_id = wizard.candidate_ids[0]
        wizard.action_link()
        self.run_queue()
        self.assertEqual(move.engine_state, "sent")
