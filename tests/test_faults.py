"""Engine and network faults, engine-neutral: the move is never lost and never created twice.

Every engine reconciles a create whose answer was lost before it creates anything again
(``find_document``): by reading its documents back where it can, otherwise by what it can
tell (a series' next number). Each engine's own faults (OAuth, a blocked account) are in
its ``test_<engine>_flows.py``.
"""
from odoo import fields
from odoo.exceptions import UserError
from odoo.tests import tagged

from .common import FakturoidCase
from .harness_fakturownia import FakturowniaCase
from .harness_smartbill import SmartBillCase


class FaultTests:

    def require(self, capability, reason):
        if not getattr(self.harness.capabilities, capability):
            self.skipTest(reason)

    def test_rate_limit_pauses_the_engine_until_the_window_resets(self):
        moves = self.create_invoice() + self.create_invoice()
        self.harness.inject("rate_limit", "create_document", reset=42)
        self.run_queue()
        self.assertEqual(moves.mapped("engine_state"), ["queued", "queued"], "a 429 stores nothing")
        self.assertEqual(len(self.harness.requests("create_document")), 1, "nothing more is sent after a 429")
        self.assertAlmostEqual(
            (self.engine.paused_until - fields.Datetime.now()).total_seconds(), 42, delta=3,
            msg="the pause is the one the engine's rate-limit answer asks for",
        )
        self.run_queue()
        self.assertEqual(len(self.harness.requests("create_document")), 1, "still paused")
        self.run_queue_later(seconds=44)  # an engine may give its reset as a unix time, rounded up to the second
        self.assertEqual(moves.mapped("engine_state"), ["sent", "sent"])
        self.assertEqual(len(self.harness.documents()), 2)

    def test_server_error_on_create_is_looked_up_before_retrying(self):
        move = self.create_invoice()
        self.harness.inject("status", "create_document", status=502)
        self.run_queue()
        self.assertEqual(move.engine_state, "sending")
        self.assertIn("looked up", move.engine_error)
        self.run_queue_later(minutes=2)
        self.assertEqual(move.engine_state, "sent")
        self.assertEqual(len(self.harness.documents()), 1)
        self.assertEqual(len(self.harness.requests("create_document")), 2, "not stored the first time: created now")

    def test_a_refused_lookup_leaves_the_decision_to_a_person(self):
        move = self.create_invoice()
        self.harness.inject("status", "create_document", status=502)
        self.run_queue()
        self.harness.inject("status", "find_document", status=422)
        self.run_queue_later(minutes=2)
        self.assertEqual(move.engine_state, "needs_review", "not an error that Retry would send again blindly")
        self.assertIn("Confirm none exists", move.engine_error)
        self.assertEqual(len(self.harness.requests("create_document")), 1, "nothing created after the refused lookup")

    def test_server_error_on_a_read_is_retried_later(self):
        self.require("keeps_customers", "no customer lookup precedes the create")
        move = self.create_invoice()
        self.harness.inject("status", "find_customer", status=503)
        self.run_queue()
        self.assertEqual(move.engine_state, "queued")
        self.assertTrue(move.engine_next_attempt_at)
        self.assertFalse(move.activity_ids, "a passing failure is not a person's problem yet")
        self.run_queue_later(minutes=2)
        self.assertEqual(move.engine_state, "sent")

    def test_repeated_failures_alert_a_person_once_and_keep_retrying(self):
        self.require("keeps_customers", "no customer lookup precedes the create")
        move = self.create_invoice()
        self.harness.inject("status", "find_customer", status=503, times=5)
        self.run_queue()
        for minutes in (2, 5, 10, 20):
            self.assertFalse(move.activity_ids)
            self.run_queue_later(minutes=minutes)
        self.assertEqual(move.engine_attempts, 5)
        self.assertEqual(move.engine_state, "queued")
        self.assertEqual(len(move.activity_ids), 1, "after 5 failed attempts a person is told")
        self.assertIn("Tried 5 times", move.activity_ids.note)
        self.run_queue_later(minutes=40)
        self.assertEqual(move.engine_state, "sent")
        self.assertFalse(move.activity_ids)

    def test_customer_deleted_in_the_engine_is_linked_afresh(self):
        self.require("keeps_customers", "the engine keeps no customer records")
        self.create_invoice()
        self.run_queue()
        self.reset_sandbox()  # the customer we linked no longer exists
        move = self.create_invoice()
        self.run_queue()
        self.assertEqual(move.engine_state, "sent", move.engine_error)
        [customer] = self.harness.customers()
        self.assertEqual(self.remote_document(move)["customer_id"], customer["id"])

    def test_html_instead_of_json(self):
        move = self.create_invoice()
        self.harness.inject("html", "create_document", status=200)
        self.run_queue()
        self.assertEqual(move.engine_state, "sending")
        self.assertIn("HTML", move.engine_error)
        self.run_queue_later(minutes=2)
        self.assertEqual(move.engine_state, "sent")
        self.assertEqual(len(self.harness.documents()), 1)

    def test_connection_reset_after_the_document_was_stored(self):
        move = self.create_invoice()
        self.harness.inject("reset_after_store", "create_document")
        self.run_queue()
        self.assertEqual(move.engine_state, "sending")
        self.assertEqual(len(self.harness.documents()), 1, "the engine stored it although we got no answer")
        self.run_queue()
        self.assertEqual(move.engine_state, "sending", "the lookup waits for a request that may still land")
        self.run_queue_later(minutes=2)
        self.assertEqual(move.engine_state, "sent")
        self.assertEqual(move.engine_number, self.remote_document(move)["number"])
        self.assertEqual(len(self.harness.documents()), 1, "exactly one document")
        self.assertEqual(len(self.harness.requests("create_document")), 1, "never created again")
        self.assertTrue(self.harness.requests("find_document"), "found by reading it back")
        self.assertTrue(any("linked without sending again" in message.body for message in move.message_ids))

    def test_without_read_back_nothing_is_created_while_a_create_is_unsettled(self):
        if self.harness.capabilities.reads_back_documents:
            self.skipTest("the engine looks a document up by its key: other creates do not blur the answer")
        first = self.create_invoice()
        self.harness.inject("reset_after_store", "create_document")
        self.run_queue()
        self.assertEqual(first.engine_state, "sending")
        second = self.create_invoice()
        self.run_queue()
        self.assertEqual(second.engine_state, "queued", "the numbering must tell what became of the first")
        self.assertEqual(len(self.harness.requests("create_document")), 1)
        self.run_queue_later(minutes=2)
        self.assertEqual(first.engine_state, "sent", first.engine_error)
        self.run_queue_later(minutes=2)
        self.assertEqual(second.engine_state, "sent", second.engine_error)
        self.assertEqual(len(self.harness.documents()), 2, "one document each, none twice")

    def test_duplicates_found_by_the_lookup_go_to_review(self):
        move = self.create_invoice()
        self.harness.inject("reset_after_store", "create_document")
        self.run_queue()
        # Someone created the same invoice by hand in the meantime, with the same key.
        self.harness.store_copy(self.harness.documents()[0])
        self.run_queue_later(minutes=2)
        self.assertEqual(move.engine_state, "needs_review")
        self.assertTrue(move.activity_ids)
        remote_ids = [document["id"] for document in self.harness.documents()]  # oldest first
        wizard = self.env["invoice.engine.link.wizard"].create({"move_id": move.id, "remote_id": remote_ids[0]})
        wizard.action_link()
        self.assertEqual(move.engine_state, "sent")
        self.assertEqual(move.engine_remote_id, remote_ids[0])

    def test_needs_review_confirm_none_sends_again(self):
        move = self.create_invoice()
        move.write({"engine_state": "needs_review", "engine_error": "The engine could not tell."})
        move.action_engine_send()
        self.assertEqual(move.engine_state, "needs_review", "only a person's confirmation sends it again")
        move.action_engine_confirm_none()
        self.run_queue()
        self.assertEqual(move.engine_state, "sent")
        self.assertEqual(len(self.harness.documents()), 1)

    def test_reset_to_draft_while_queued_is_not_sent(self):
        move = self.create_invoice()
        move.button_draft()
        self.run_queue()
        self.assertFalse(move.engine_state)
        self.assertFalse(self.harness.documents())
        move.action_post()
        self.run_queue()
        self.assertEqual(move.engine_state, "sent")

    def test_changes_after_sending_are_flagged(self):
        if self.harness.capabilities.cancels_documents:
            self.skipTest("a sent invoice is cancelled in the engine (Request Cancel), never reset to draft")
        move = self.create_invoice()
        self.run_queue()
        if self.harness.capabilities.cancels_documents:
            # Where the engine voids its document, a sent invoice is cancelled, not reset to draft
            # (account_move_cancel); what a posted invoice still lets change is watched all the same.
            with self.assertRaises(UserError):
                move.button_draft()
            move.ref = "Nová objednávka"
        else:
            move.button_draft()
            move.ref = "Nová objednávka"
            move.action_post()
        self.assertTrue(move.engine_changed_after_send)
        self.assertEqual(move.engine_state, "sent", "not sent a second time")
        self.run_queue()
        self.assertEqual(len(self.harness.documents()), 1)


@tagged("post_install", "-at_install")
class TestFaultsFakturoid(FaultTests, FakturoidCase):
    pass


@tagged("post_install", "-at_install")
class TestFaultsFakturownia(FaultTests, FakturowniaCase):
    pass


@tagged("post_install", "-at_install")
class TestFaultsSmartBill(FaultTests, SmartBillCase):
    pass
