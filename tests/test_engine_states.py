from decimal import Decimal

from lxml import etree

from odoo.exceptions import UserError
from odoo.tests import tagged
from odoo.tools.safe_eval import safe_eval

from ..engines import document as neutral
from ..engines import fakturoid
from ..engines.document import RemoteRef, RemoteStatus
from ..models.account_move import ENGINE_ACTIONS, ENGINE_STATES, ENGINE_TRANSITIONS, EngineStateError
from ..models.invoice_engine_queue import ATTEMPTS_BEFORE_ALERT
from .common import FakturoidCase


@tagged("post_install", "-at_install")
class TestEngineStates(FakturoidCase):
    """The move's engine state machine: named transitions, and what a person may do in each state."""

    def sent_move(self):
        move = self.create_invoice()
        self.run_queue()
        self.assertEqual(move.engine_state, "sent")
        return move

    def sending_move(self):
        """A move whose create went unanswered: the engine may hold it."""
        move = self.create_invoice()
        self.sandbox.inject("status", method="POST", path=r"/invoices\.json$", status=502)
        self.run_queue()
        self.assertEqual(move.engine_state, "sending")
        return move

    def test_tables_speak_of_the_same_states(self):
        states = {False} | {state for state, _label in ENGINE_STATES}
        self.assertEqual(set(ENGINE_ACTIONS), states, "every state says what a person may do in it")
        for name, (sources, target) in ENGINE_TRANSITIONS.items():
            self.assertTrue(hasattr(self.env["account.move"], f"_engine_{name}"), name)
            self.assertLessEqual(set(sources) | {target}, states, name)

    def test_form_shows_a_button_only_where_its_action_is_allowed(self):
        arch = etree.fromstring(self.env.ref("account_invoice_engine.view_move_form_invoice_engine").arch)
        buttons = [button for button in arch.iter("button") if button.get("name") in (
            "action_engine_send", "action_engine_exclude", "action_engine_confirm_none",
            "action_engine_link_existing", "action_engine_refresh",
        )]
        self.assertEqual(len(buttons), 10)
        for button in buttons:
            action = button.get("name").removeprefix("action_engine_")
            # A button is hidden when it or any element around it is.
            conditions = [node.get("invisible") for node in (button, *button.iterancestors()) if node.get("invisible")]
            for state in ENGINE_ACTIONS:
                values = {"engine_state": state, "state": "posted", "move_type": "out_invoice", "engine_id": 1,
                          "engine_changed_in_engine": True}
                if not any(safe_eval(condition, values) for condition in conditions):
                    self.assertIn(action, ENGINE_ACTIONS[state], f"“{button.get('string')}” shows in {state!r}")

    def test_illegal_transition_is_refused(self):
        move = self.create_invoice()
        self.assertEqual(move.engine_state, "queued")
        with self.assertRaises(EngineStateError):
            move._engine_to_missing()
        with self.assertRaises(EngineStateError):
            move._engine_back_to_queued()
        self.assertEqual(move.engine_state, "queued")

        move = self.sent_move()
        with self.assertRaises(EngineStateError):
            move._engine_to_sending({"custom_id": "x"}, 1)
        with self.assertRaises(EngineStateError):
            move._engine_to_error("refused")
        self.assertEqual(move.engine_state, "sent")
        self.assertFalse(move.engine_error)

    def test_exclude_is_refused_once_sent(self):
        move = self.sent_move()
        with self.assertRaises(UserError) as caught:
            move.action_engine_exclude()
        self.assertIn("Do not send", str(caught.exception))
        self.assertIn("Sent", str(caught.exception))
        self.assertEqual(move.engine_state, "sent")

    def test_exclude_is_refused_while_sending(self):
        move = self.sending_move()
        with self.assertRaises(UserError):
            move.action_engine_exclude()
        self.assertEqual(move.engine_state, "sending")

    def test_confirm_none_is_refused_unless_under_review(self):
        move = self.sent_move()
        with self.assertRaises(UserError):
            move.action_engine_confirm_none()
        queued = self.create_invoice()
        with self.assertRaises(UserError):
            queued.action_engine_confirm_none()
        self.assertEqual((move.engine_state, queued.engine_state), ("sent", "queued"))

    def test_link_existing_is_refused_once_sent(self):
        move = self.sent_move()
        with self.assertRaises(UserError):
            move.action_engine_link_existing()
        wizard = self.env["invoice.engine.link.wizard"].create({"move_id": move.id, "remote_id": move.engine_remote_id})
        with self.assertRaises(UserError), self.assert_no_http():
            wizard.action_link()

    def test_refresh_is_refused_before_sending(self):
        move = self.create_invoice()
        with self.assertRaises(UserError), self.assert_no_http():
            move.action_engine_refresh()
        self.assertEqual(move.engine_state, "queued")

    def test_send_skips_a_move_already_in_the_engine(self):
        move = self.sent_move()
        move.action_engine_send()
        self.assertEqual(move.engine_state, "sent")
        self.run_queue()
        self.assertEqual(len(self.remote()), 1)

    def test_series_round_trips_through_the_reference(self):
        move = self.create_invoice()
        ref = RemoteRef(id="731", number="0025", series="ODOO", total=Decimal("2420"), status=neutral.REMOTE_OPEN)
        with self.assert_no_http():
            move._engine_to_sent(ref)
        self.assertEqual((move.engine_state, move.engine_remote_series), ("sent", "ODOO"))
        self.assertEqual(move._engine_ref(), RemoteRef(id="731", number="0025", series="ODOO"))
        move._engine_forget_remote()
        self.assertEqual(move._engine_ref().series, "")

    def test_fakturoid_statuses_map_onto_the_neutral_ones(self):
        self.assertEqual(fakturoid.remote_ref({"id": 7, "status": "uncollectible"}).status, neutral.REMOTE_UNCOLLECTIBLE)
        status = fakturoid.remote_status({"status": "overdue", "total": "100.0"})
        self.assertEqual((status.status, status.paid), (neutral.REMOTE_OVERDUE, False))
        self.assertEqual(fakturoid.remote_status({"status": "paid"}).status, neutral.REMOTE_PAID)
        self.assertEqual(fakturoid.remote_status({"status": "something_new"}).status, "", "unknown: no status")

        move = self.sent_move()
        self.assertEqual(move.engine_status, neutral.REMOTE_OPEN)
        move._engine_store_status(RemoteStatus(status=neutral.REMOTE_PARTIALLY_PAID))
        self.assertEqual(move.engine_status, neutral.REMOTE_PARTIALLY_PAID, "the field holds the neutral statuses")
        move._engine_store_status(RemoteStatus(status="zaplaceno"))
        self.assertFalse(move.engine_status, "a status outside the neutral list is not stored")

    def test_repeated_lookup_failures_keep_the_move_sending(self):
        move = self.sending_move()
        move._engine_write({"engine_attempts": ATTEMPTS_BEFORE_ALERT})
        self.sandbox.inject("status", method="GET", path=r"/invoices\.json$", status=503)
        self.run_queue_later(minutes=2)
        self.assertEqual(move.engine_state, "sending", "whether it was created is still unknown: no new create")
        self.assertIn("Tried", move.activity_ids.note)
        self.run_queue_later(minutes=40)
        self.assertEqual(move.engine_state, "sent")
        self.assertEqual(len(self.remote()), 1)
