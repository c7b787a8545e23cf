"""The throttle: calls spent below the engine's limit, one budget for every worker.

The window logic runs on a fake clock; the sending job runs against a sandbox whose
limit is low; two threads with their own PostgreSQL connections share one window.
"""
import random
import threading
import time
from unittest.mock import patch

from odoo.tests.common import BaseCase, tagged

from odoo.addons.account_invoice_engine.engines.base import RateLimitState
from odoo.addons.account_invoice_engine.engines.errors import RateLimited
from odoo.addons.account_invoice_engine.engines.throttle import MemoryStore, Throttle
from odoo.addons.account_invoice_engine.models.invoice_engine_throttle import ThrottleStore

from .committed import CommittedEngineCase
from .common import FakturoidCase


class FakeClock:
    """``time.time`` and ``time.sleep`` where sleeping only moves the clock."""

    def __init__(self):
        self.now = 1_800_000_000.0
        self.slept = []

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.slept.append(seconds)
        self.now += seconds


def busiest_window(starts, window):
    """The most calls that started within any ``window`` seconds."""
    starts = sorted(starts)
    return max(
        (sum(1 for other in starts[index:] if other < start + window) for index, start in enumerate(starts)),
        default=0,
    )


@tagged("post_install", "-at_install")
class TestThrottleWindow(BaseCase):

    def setUp(self):
        self.clock = FakeClock()

    def throttle(self, limit=10, window=10.0, **kwargs):
        return Throttle(limit, window, MemoryStore(), clock=self.clock, sleep=self.clock.sleep, **kwargs)

    def test_spends_at_most_ninety_percent_of_the_limit_then_waits_for_the_oldest_call(self):
        throttle = self.throttle(limit=10, window=10.0)
        for _call in range(9):
            throttle.acquire()
            self.clock.now += 0.5
        self.assertEqual(self.clock.slept, [])
        throttle.acquire()  # the tenth waits until the first leaves the window
        self.assertEqual(self.clock.slept, [5.5])

    def test_never_more_than_the_budget_in_any_window(self):
        throttle = self.throttle(limit=30, window=10.0)  # SmartBill's limit
        rng = random.Random(6)
        starts = []
        for _call in range(300):
            self.clock.now += rng.choice((0, 0, 0.01, 0.2, 1.5))
            throttle.acquire()
            starts.append(self.clock.now)
        self.assertEqual(throttle.budget, 27)
        self.assertLessEqual(busiest_window(starts, 10.0), 27)
        self.assertGreater(starts[-1] - starts[0], 100, "300 calls at 27 per 10 s take over 100 s")

    def test_the_engine_saying_none_left_holds_until_its_reset(self):
        throttle = self.throttle()
        throttle.acquire()
        throttle.observe(RateLimitState(limit=400, remaining=0, reset_after=7.0))
        throttle.acquire()
        self.assertEqual(self.clock.slept, [7.0])

    def test_a_remaining_budget_does_not_hold(self):
        throttle = self.throttle()
        throttle.observe(RateLimitState(limit=400, remaining=3, reset_after=7.0))
        throttle.observe(RateLimitState(limit=None, remaining=None, reset_after=None))
        throttle.acquire()
        self.assertEqual(self.clock.slept, [])

    def test_a_long_hold_is_refused_at_once_instead_of_sleeping(self):
        throttle = self.throttle(label="SmartBill")
        throttle.hold(600)  # the account is blocked for ten minutes
        with self.assertRaises(RateLimited) as caught:
            throttle.acquire()
        self.assertEqual(caught.exception.retry_after, 600)
        self.assertIn("SmartBill", caught.exception.message)
        self.assertEqual(self.clock.slept, [])

    def test_waiting_is_bounded_in_total(self):
        throttle = self.throttle(limit=1, window=20.0, margin=1, max_wait=30)

        def sleep_while_the_engine_asks_for_more(seconds):
            self.clock.sleep(seconds)
            throttle.hold(15)

        throttle.sleep = sleep_while_the_engine_asks_for_more
        throttle.acquire()
        with self.assertRaises(RateLimited) as caught:
            throttle.acquire()  # 20 s for the window, then 15 more: over the 30 s allowed
        self.assertEqual(caught.exception.retry_after, 15)
        self.assertEqual(self.clock.slept, [20.0])

    def test_holds_only_extend(self):
        throttle = self.throttle()
        throttle.hold(10)
        throttle.hold(2)
        throttle.acquire()
        self.assertEqual(self.clock.slept, [10.0])


@tagged("post_install", "-at_install")
class TestThrottledSending(FakturoidCase):
    """A Fakturoid account whose limit is far below the documented one."""

    QUOTA, WINDOW, INVOICES = 10, 2, 8

    def setUp(self):
        super().setUp()
        self.sandbox.set_rate_limit(quota=self.QUOTA, window=self.WINDOW)
        self.moves = [self.create_invoice() for _index in range(self.INVOICES)]

    def answers_429(self):
        return [request for request in self.sandbox.requests if request["status"] == 429]

    def test_without_the_throttle_the_engine_answers_429(self):
        """The baseline the throttle is measured against."""
        with patch.object(type(self.engine), "_throttle", lambda engine: None):
            self.run_queue()
        self.assertTrue(self.answers_429())
        self.assertNotEqual({move.engine_state for move in self.moves}, {"sent"}, "the batch stopped at the 429")

    def test_throttled_sending_gets_no_429_and_sends_everything(self):
        started = time.monotonic()
        self.run_queue()
        calls = [request for request in self.sandbox.requests if "/accounts/" in request["path"]]
        self.assertGreater(len(calls), self.QUOTA, "more calls than one window allows")
        self.assertEqual(self.answers_429(), [])
        self.assertEqual({move.engine_state for move in self.moves}, {"sent"})
        self.assertGreaterEqual(time.monotonic() - started, self.WINDOW, "it waited for the engine's reset")


@tagged("post_install", "-at_install")
class TestThrottleSharedByWorkers(CommittedEngineCase):
    """Committed transactions, one connection per worker: one budget in PostgreSQL."""

    slug = "throttle"
    client_id = "throttle-client"
    client_secret = "throttle-secret"

    LIMIT, WINDOW, CALLS = 5, 1.0, 8

    def spend(self, starts, errors, barrier):
        try:
            with self.registry.cursor() as cr:
                engine = self.env_on(cr)["invoice.engine"].browse(self.engine_id)
                throttle = Throttle(self.LIMIT, self.WINDOW, ThrottleStore(engine), margin=1)
                barrier.wait(10)
                for _call in range(self.CALLS):
                    throttle.acquire()
                    starts.append(time.time())
        except Exception as error:  # collected and asserted by the test
            errors.append(error)

    def test_two_workers_together_never_exceed_the_limit(self):
        starts, errors = [], []
        barrier = threading.Barrier(2)
        workers = [threading.Thread(target=self.spend, args=(starts, errors, barrier)) for _ in range(2)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(60)
        self.assertEqual(errors, [])
        self.assertEqual(len(starts), 2 * self.CALLS)
        # A few milliseconds pass between taking a slot and noting the time here.
        self.assertLessEqual(busiest_window(starts, self.WINDOW - 0.05), self.LIMIT)
        self.assertGreaterEqual(max(starts) - min(starts), 2 * self.WINDOW, "16 calls at 5 a second")

    def test_the_engine_gives_every_client_the_shared_throttle(self):
        with self.registry.cursor() as cr:
            engine = self.env_on(cr)["invoice.engine"].browse(self.engine_id)
            throttle = engine._throttle()
            self.assertEqual((throttle.budget, throttle.window), (380, 60.0), "95 % of Fakturoid's 400 a minute")
            self.assertIsInstance(engine._fakturoid_client(None)._transport.throttle.store, ThrottleStore)
