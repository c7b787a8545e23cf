"""Spend an engine account's calls below its documented rate limit, across every worker.

Reacting to a 429 after the fact is not enough: SmartBill answers the 31st call in 10 s
by blocking the account for 10 minutes (HTTP 403), and every Odoo worker and UI action
shares one account. ``Throttle.acquire()`` is asked before each call and waits until a
call may start, so that at most ``limit × margin`` calls start in any ``window`` seconds
(a sliding window). It also heeds what the engine says: a reported remaining budget of 0,
or a 429, holds every caller until the engine's reset.

The window lives in a store shared by whoever calls on the account: ``MemoryStore`` for
one process; the Odoo models keep it in PostgreSQL (``invoice.engine.throttle``).

Documented limits, for the clients to state as ``capabilities.call_limit``:

    Fakturoid    400 calls / 60 s per account (``X-RateLimit-Policy``), then 429
    SmartBill     30 calls / 10 s, then the account is blocked 10 minutes (403)
    Fakturownia   not documented: 30 calls / 10 s is our conservative choice
"""
import threading
import time
from dataclasses import dataclass, field

from .errors import RateLimited

MARGIN = 0.9  # spend at most this share of the documented limit: clocks and latencies differ
MAX_WAIT = 30.0  # seconds a caller may wait in all; longer, and it is told to come back later
MIN_WAIT = 0.001  # seconds: the shortest wait (see _take_slot)


@dataclass
class WindowState:
    """What every caller of one engine account shares: recent call starts and a hold."""

    starts: list = field(default_factory=list)  # epoch seconds, oldest first
    held_until: float = 0.0  # epoch seconds before which no call may start


class MemoryStore:
    """A ``WindowState`` shared by the threads of one process."""

    def __init__(self):
        self._lock = threading.Lock()
        self._state = WindowState()

    def update(self, change):
        """Apply ``change(state)`` atomically and return what it returns.

        ``change`` may be called again on a fresh state (stores that retry on conflict do).
        """
        with self._lock:
            return change(self._state)


class Throttle:
    """A sliding-window limiter over a shared store; see the module docstring."""

    def __init__(self, limit, window, store=None, *, label="the engine", margin=MARGIN,
                 max_wait=MAX_WAIT, clock=time.time, sleep=time.sleep):
        self.budget = max(1, int(limit * margin))
        self.window = float(window)
        self.store = store or MemoryStore()
        self.label = label
        self.max_wait = max_wait
        self.clock = clock
        self.sleep = sleep

    def acquire(self):
        """Wait until a call may start and count it; ``RateLimited`` if that takes too long."""
        waited = 0.0
        while True:
            wait = self.store.update(self._take_slot)
            if wait <= 0:
                return
            if waited + wait > self.max_wait:
                raise RateLimited(
                    f"{self.label} allows only so many calls in a short time, and its budget is "
                    f"spent. Sending resumes automatically in {wait:.0f} seconds; nothing to do.",
                    retry_after=wait,
                )
            self.sleep(wait)
            waited += wait

    def hold(self, seconds):
        """The engine asked to wait ``seconds``: no caller starts a call before then."""
        until = self.clock() + seconds

        def extend(state):
            state.held_until = max(state.held_until, until)

        self.store.update(extend)

    def observe(self, rate_limit):
        """Heed the engine's own count (a ``RateLimitState``): none left means wait for its reset."""
        if rate_limit.remaining is not None and rate_limit.remaining <= 0 and rate_limit.reset_after:
            self.hold(rate_limit.reset_after)

    def _take_slot(self, state):
        """Count a call starting now and return 0, or return how long to wait first.

        A wait shorter than ``MIN_WAIT`` (what float rounding leaves of a slot just freed) is
        rounded up to it: a frozen test clock would otherwise spin on a wait it never reaches.
        """
        now = self.clock()
        state.starts = sorted(start for start in state.starts if start > now - self.window)
        if state.held_until > now:
            return max(state.held_until - now, MIN_WAIT)
        if len(state.starts) >= self.budget:
            # The call may start once the oldest start still counting leaves the window.
            return max(state.starts[-self.budget] + self.window - now, MIN_WAIT)
        state.starts.append(now)
        return 0.0
