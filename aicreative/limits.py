"""Throttling: how many times something happened lately, and who must wait.

Owns every rate limit of the app (login failures, reset mails, sign-ups,
confirmation mails) and the one place their counts live: a
:class:`Counters` storage. The counting is a fixed-window counter: time is
cut into windows of ``window_s`` seconds aligned on the epoch, and a key's
count is the number of events in the current window. Fixed windows let a
burst of at most twice the limit straddle a window edge; that is accepted
for simplicity, and because windows aligned on the epoch read the same in
every process (a shared storage, e.g. PostgreSQL, needs no clock of its own).

:class:`MemoryCounters` keeps counts in process memory with a maximum
number of keys: a key whose window has ended is dropped when met, and past
the maximum the least recently counted key is evicted, so no table grows
with the number of names or addresses ever tried. Evicting forgets a count,
which at worst lets an attacker who filled the table start a window over.

>>> counters = MemoryCounters(max_keys=2)
>>> counters.add("a", 60), counters.add("a", 60), counters.get("a", 60)
(1, 2, 2)
>>> counters.reset("a"); counters.get("a", 60)
0
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Protocol

from .errors import Throttled

Clock = Callable[[], float]


class Counters(Protocol):
    """Where event counts live (in memory here; shared across processes later)."""

    def add(self, key: str, window_s: float) -> int:
        """Count one event for ``key`` in its current window; the count in that window."""

    def get(self, key: str, window_s: float) -> int:
        """The count of ``key`` in its current window (0 if none)."""

    def reset(self, key: str) -> None:
        """Forget ``key``'s count (e.g. after a successful login)."""


def window_start(now: float, window_s: float) -> float:
    """The start of the fixed window that holds ``now`` (aligned on the epoch)."""
    return math.floor(now / window_s) * window_s


def seconds_left(now: float, window_s: float) -> float:
    """Seconds until the window that holds ``now`` ends (what Retry-After says)."""
    return max(0.0, window_start(now, window_s) + window_s - now)


class MemoryCounters:
    """Fixed-window counts in process memory, at most ``max_keys`` keys.

    Thread-safe. Each key remembers the window it counts; a new window
    starts it at zero.
    """

    def __init__(self, max_keys: int = 100_000, clock: Clock = time.time) -> None:
        if max_keys < 1:
            raise ValueError("max_keys must be at least 1")
        self.max_keys = max_keys
        self._clock = clock
        self._lock = threading.Lock()
        #: key -> (window start, window length, count), least recently counted first.
        self._counts: OrderedDict[str, tuple[float, float, int]] = OrderedDict()

    def __len__(self) -> int:
        with self._lock:
            return len(self._counts)

    def add(self, key: str, window_s: float) -> int:
        now = self._clock()
        start = window_start(now, window_s)
        with self._lock:
            held = self._counts.get(key)
            count = held[2] + 1 if held is not None and held[0] == start else 1
            self._counts[key] = (start, window_s, count)
            self._counts.move_to_end(key)
            self._evict(now)
            return count

    def get(self, key: str, window_s: float) -> int:
        now = self._clock()
        with self._lock:
            held = self._counts.get(key)
            if held is None:
                return 0
            if held[0] != window_start(now, window_s):
                del self._counts[key]  # its window ended
                return 0
            return held[2]

    def reset(self, key: str) -> None:
        with self._lock:
            self._counts.pop(key, None)

    def _evict(self, now: float) -> None:
        """Drop ended windows at the old end, then the oldest keys over the maximum."""
        while self._counts:
            key, (start, length, _) = next(iter(self._counts.items()))
            if start + length > now and len(self._counts) <= self.max_keys:
                break
            del self._counts[key]


class RateLimit:
    """At most ``limit`` events per key in each window of ``window`` seconds."""

    def __init__(
        self,
        counters: Counters,
        limit: int,
        window: float,
        prefix: str,
        clock: Clock = time.time,
    ) -> None:
        self.counters, self.limit, self.window = counters, limit, window
        self.prefix, self._clock = prefix, clock

    def hit(self, key: str, what: str = "requests") -> None:
        """Count one event; Throttled when the key is over its limit."""
        if self.counters.add(f"{self.prefix}:{key}", self.window) > self.limit:
            raise Throttled(seconds_left(self._clock(), self.window), what)

    def check(self, key: str, what: str = "requests") -> None:
        """Throttled if the key is already at its limit (counts nothing)."""
        if self.counters.get(f"{self.prefix}:{key}", self.window) >= self.limit:
            raise Throttled(seconds_left(self._clock(), self.window), what)


class LoginThrottle:
    """Slows failed logins so that an attacker slows down themselves, not the owner.

    Failures count per (username, client address) pair and per client
    address. A pair over ``per_pair`` failures waits until its window ends;
    an address over ``per_client`` failures (any usernames) waits too. The
    owner, from their own address, has their own pair and is never locked
    out by failures from elsewhere; a success clears the owner's pair.
    Guessing from many addresses is not stopped here: argon2, the minimum
    length and the common-password check are what make that slow.
    """

    def __init__(
        self,
        counters: Counters | None = None,
        per_pair: int = 5,
        per_client: int = 20,
        window: float = 300.0,
        clock: Clock = time.time,
    ) -> None:
        if counters is None:
            counters = MemoryCounters(clock=clock)
        self.counters: Counters = counters
        self.per_pair, self.per_client, self.window = per_pair, per_client, window
        self._clock = clock

    @staticmethod
    def _pair(username: str, client: str | None) -> str:
        return f"login:pair:{username.strip().lower()}|{client or '-'}"

    @staticmethod
    def _client(client: str | None) -> str:
        return f"login:client:{client or '-'}"

    def check(self, username: str, client: str | None = None) -> None:
        """Raise Throttled while this username from this client, or this client, must wait."""
        pair = self.counters.get(self._pair(username, client), self.window)
        per_client = self.counters.get(self._client(client), self.window)
        if pair >= self.per_pair or per_client >= self.per_client:
            raise Throttled(seconds_left(self._clock(), self.window), "failed logins")

    def failure(self, username: str, client: str | None = None) -> None:
        self.counters.add(self._pair(username, client), self.window)
        self.counters.add(self._client(client), self.window)

    def success(self, username: str, client: str | None = None) -> None:
        self.counters.reset(self._pair(username, client))
