from odoo import fields
from odoo.tests import tagged

from .common import CLIENT_ID, SLUG, InvoiceEngineCase


@tagged("post_install", "-at_install")
class TestFaults(InvoiceEngineCase):
    """Engine and network faults: the move is never lost and never created twice."""

    def test_revoked_token_is_replaced_once(self):
        first = self.create_invoice()
        self.run_queue()
        self.sandbox.revoke_tokens(CLIENT_ID)
        second = self.create_invoice()
        self.run_queue()
        self.assertEqual((first.engine_state, second.engine_state), ("sent", "sent"))
        grants = [request for request in self.requests_to("/oauth/token")]
        self.assertEqual(len(grants), 2, "one grant at the start, one after the 401")
        self.assertEqual(self.engine.state, "connected")

    def test_refused_credentials_stop_the_batch(self):
        self.sandbox.reset()  # the sandbox no longer knows our client: every grant is refused
        self.sandbox.add_account(SLUG)
        moves = self.create_invoice() + self.create_invoice()
        self.run_queue()
        self.assertEqual(moves.mapped("engine_state"), ["queued", "queued"], "not the invoices' fault")
        self.assertEqual(len(self.requests_to("/oauth/token")), 1, "the batch stops at the first refusal")
        self.assertEqual(self.engine.state, "error")
        self.assertIn("Client ID and Client Secret", self.engine.last_error)
        self.assertTrue(self.engine.activity_ids)

    def test_blocked_account(self):
        self.sandbox.block_account(SLUG)
        move = self.create_invoice()
        self.run_queue()
        self.assertEqual(move.engine_state, "queued")
        self.assertEqual(self.engine.state, "error")
        self.assertIn("Pay the overdue Fakturoid invoices", self.engine.last_error)

        self.sandbox.block_account(SLUG, blocked=False)
        self.run_queue()
        self.assertEqual(move.engine_state, "sent")
        self.assertEqual(self.engine.state, "connected")

    def test_rate_limit_pauses_the_engine_until_the_window_resets(self):
        moves = self.create_invoice() + self.create_invoice()
        self.sandbox.inject("rate_limit", method="POST", path=r"/invoices\.json$", reset=42)
        self.run_queue()
        self.assertEqual(moves.mapped("engine_state"), ["queued", "queued"], "a 429 stores nothing")
        self.assertEqual(len(self.requests_to("/invoices.json", "POST")), 1, "nothing more is sent after a 429")
        self.assertAlmostEqual(
            (self.engine.paused_until - fields.Datetime.now()).total_seconds(), 42, delta=3,
            msg="the pause comes from Fakturoid's X-RateLimit header",
        )
        self.run_queue()
        self.assertEqual(len(self.requests_to("/invoices.json", "POST")), 1, "still paused")
        self.run_queue_later(seconds=43)
        self.assertEqual(moves.mapped("engine_state"), ["sent", "sent"])
        self.assertEqual(len(self.remote()), 2)

    def test_server_error_on_create_is_looked_up_before_retrying(self):
        move = self.create_invoice()
        self.sandbox.inject("status", method="POST", path=r"/invoices\.json$", status=502)
        self.run_queue()
        self.assertEqual(move.engine_state, "sending")
        self.assertIn("looked up", move.engine_error)
        self.run_queue_later(minutes=2)
        self.assertEqual(move.engine_state, "sent")
        self.assertEqual(len(self.remote()), 1)
        self.assertEqual(len(self.requests_to("/invoices.json", "POST")), 2, "not stored the first time: created now")

    def test_a_refused_lookup_leaves_the_decision_to_a_person(self):
        move = self.create_invoice()
        self.sandbox.inject("status", method="POST", path=r"/invoices\.json$", status=502)
        self.run_queue()
        self.sandbox.inject("status", method="GET", path=r"/invoices\.json$", status=422)
        self.run_queue_later(minutes=2)
        self.assertEqual(move.engine_state, "needs_review", "not an error that Retry would send again blindly")
        self.assertIn("Confirm none exists", move.engine_error)
        self.assertEqual(len(self.requests_to("/invoices.json", "POST")), 1, "nothing created after the refused lookup")

    def test_server_error_on_a_read_is_retried_later(self):
        move = self.create_invoice()
        self.sandbox.inject("status", method="GET", path=r"/subjects\.json$", status=503)
        self.run_queue()
        self.assertEqual(move.engine_state, "queued")
        self.assertTrue(move.engine_next_attempt_at)
        self.assertFalse(move.activity_ids, "a passing failure is not a person's problem yet")
        self.run_queue_later(minutes=2)
        self.assertEqual(move.engine_state, "sent")

    def test_repeated_failures_alert_a_person_once_and_keep_retrying(self):
        move = self.create_invoice()
        self.sandbox.inject("status", method="GET", path=r"/subjects\.json$", status=503, times=5)
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

    def test_customer_deleted_in_fakturoid_is_linked_afresh(self):
        self.create_invoice()
        self.run_queue()
        self.reset_sandbox()  # the subject we linked no longer exists
        move = self.create_invoice()
        self.run_queue()
        self.assertEqual(move.engine_state, "sent", move.engine_error)
        self.assertEqual(len(self.remote("subjects")), 1)
        self.assertEqual(self.remote_invoice(move)["subject_id"], self.remote("subjects")[0]["id"])

    def test_html_instead_of_json(self):
        move = self.create_invoice()
        self.sandbox.inject("html", method="POST", path=r"/invoices\.json$", status=200)
        self.run_queue()
        self.assertEqual(move.engine_state, "sending")
        self.assertIn("HTML", move.engine_error)
        self.run_queue_later(minutes=2)
        self.assertEqual(move.engine_state, "sent")
        self.assertEqual(len(self.remote()), 1)

    def test_connection_reset_after_the_document_was_stored(self):
        move = self.create_invoice()
        self.sandbox.inject("reset_after_store", method="POST", path=r"/invoices\.json$")
        self.run_queue()
        self.assertEqual(move.engine_state, "sending")
        self.assertEqual(len(self.remote()), 1, "Fakturoid stored it although we got no answer")
        self.run_queue()
        self.assertEqual(move.engine_state, "sending", "the lookup waits for a request that may still land")
        self.run_queue_later(minutes=2)
        self.assertEqual(move.engine_state, "sent")
        self.assertEqual(move.engine_number, self.remote_invoice(move)["number"])
        self.assertEqual(len(self.remote()), 1, "exactly one document")
        self.assertEqual(len(self.requests_to("/invoices.json", "POST")), 1, "never created again")
        self.assertTrue(any("linked without sending again" in message.body for message in move.message_ids))

    def test_duplicates_found_by_the_lookup_go_to_review(self):
        move = self.create_invoice()
        self.sandbox.inject("reset_after_store", method="POST", path=r"/invoices\.json$")
        self.run_queue()
        # Someone created the same invoice by hand in the meantime, with the same custom_id.
        token = self.sandbox.issue_token(CLIENT_ID)
        self._post_invoice_copy(token, self.remote()[0])
        self.run_queue_later(minutes=2)
        self.assertEqual(move.engine_state, "needs_review")
        self.assertTrue(move.activity_ids)
        remote_ids = sorted(invoice["id"] for invoice in self.remote())
        wizard = self.env["invoice.engine.link.wizard"].create({"move_id": move.id, "remote_id": str(remote_ids[0])})
        wizard.action_link()
        self.assertEqual(move.engine_state, "sent")
        self.assertEqual(move.engine_remote_id, str(remote_ids[0]))

    def test_needs_review_confirm_none_sends_again(self):
        move = self.create_invoice()
        move.write({"engine_state": "needs_review", "engine_error": "The engine could not tell."})
        move.action_engine_send()
        self.assertEqual(move.engine_state, "needs_review", "only a person's confirmation sends it again")
        move.action_engine_confirm_none()
        self.run_queue()
        self.assertEqual(move.engine_state, "sent")
        self.assertEqual(len(self.remote()), 1)

    def test_reset_to_draft_while_queued_is_not_sent(self):
        move = self.create_invoice()
        move.button_draft()
        self.run_queue()
        self.assertFalse(move.engine_state)
        self.assertFalse(self.remote())
        move.action_post()
        self.run_queue()
        self.assertEqual(move.engine_state, "sent")

    def test_changes_after_sending_are_flagged(self):
        move = self.create_invoice()
        self.run_queue()
        move.button_draft()
        move.ref = "Nová objednávka"
        move.action_post()
        self.assertTrue(move.engine_changed_after_send)
        self.assertEqual(move.engine_state, "sent", "not sent a second time")
        self.run_queue()
        self.assertEqual(len(self.remote()), 1)

    def _post_invoice_copy(self, token, invoice):
        import requests

        response = requests.post(
            f"{self.sandbox.api_url}/accounts/{SLUG}/invoices.json",
            json={
                "custom_id": invoice["custom_id"],
                "subject_id": invoice["subject_id"],
                "lines": [{"name": "Ručně", "quantity": "1", "unit_price": "100", "vat_rate": 21}],
            },
            headers={"Authorization": f"Bearer {token}", "User-Agent": "Accountant (ucetni@firma.cz)"},
            timeout=10,
        )
        self.assertEqual(response.status_code, 201, response.text)
