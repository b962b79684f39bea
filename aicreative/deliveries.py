"""Paid results on their way to the browser: held in memory until the browser has them.

This module owns the promise "a paid image is never lost between the charge
and the gallery": whatever happens after the charge (a reload, a closed tab,
a cut network, a server restart), the user ends up with the images or the
credits back, and a client cannot turn that into free images.

A finished generation is *held* here, in this process's memory only (never on
disk, never logged), bound to the account id, until the browser acknowledges
it or it expires. Each held result is in one of two states:

* **unsent**: it never reached any response (the client went away before it
  finished). It is handed over on the account's next page load
  (:meth:`Deliveries.pending`); if it expires first, or the server shuts
  down, its credits are refunded, exactly once.
* **sent**: it was handed to a live response (or to :meth:`pending`). The
  client had it, so it is never refunded; it stays held for re-delivery until
  acknowledged (the browser may have died before storing it) or until it
  expires.

Generations still running are counted too (:meth:`Deliveries.running`): at
shutdown they are asked to stop (their progress check raises ``Cancelled``,
and the Studio refunds them as it refunds any cancel), and the page can say
that a result from the last visit is still on its way.

Memory is bounded by count and bytes, per account and in total; making room
drops the oldest *sent* results first (they were delivered once), and only
then the oldest unsent ones, which are refunded. The clock is injectable
for tests.

>>> refunds = []
>>> now = [0.0]
>>> d = Deliveries(lambda account, credits: refunds.append((account, credits)), ttl=60, clock=lambda: now[0])
>>> held = d.hold("acct-1", {"images": []}, cost=2, nbytes=10)
>>> now[0] = 61.0
>>> d.expire(), refunds
(1, [('acct-1', 2)])
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from typing import Any

from .errors import AICreativeError, Cancelled

log = logging.getLogger(__name__)

#: ``refund(account_id, credits)``: give the credits back to that account.
Refund = Callable[[str, int], None]
#: Accounts with a refund notice waiting; the oldest are forgotten beyond it.
MAX_NOTICES = 10_000


class ShuttingDown(AICreativeError):
    """The server is stopping; nothing was charged."""

    def __init__(self) -> None:
        super().__init__("The server is restarting; please try again in a moment.")


@dataclasses.dataclass
class Held:
    """One finished result waiting for its browser."""

    id: str
    account_id: str
    payload: dict[str, Any] = dataclasses.field(repr=False)
    cost: int
    images: int
    nbytes: int
    created: float
    sent: bool = False


@dataclasses.dataclass(frozen=True)
class Pending:
    """What :meth:`Deliveries.pending` hands to the page."""

    results: list[dict[str, Any]]
    notice: str
    running: int

    def as_dict(self) -> dict[str, Any]:
        return {"results": self.results, "notice": self.notice, "running": self.running}


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


class Deliveries:
    """Held results and running generations of every account, in memory.

    ``refund(account_id, credits)`` gives credits back (the Studio resolves the
    id to the account as it is now; a deleted account gets nothing). Bounds:
    ``ttl`` seconds; ``max_per_account``/``max_bytes_per_account`` and
    ``max_total``/``max_bytes_total`` results and bytes.
    """

    def __init__(
        self,
        refund: Refund,
        *,
        ttl: float = 1800.0,
        max_per_account: int = 20,
        max_bytes_per_account: int = 64 << 20,
        max_total: int = 1000,
        max_bytes_total: int = 256 << 20,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._refund = refund
        self.ttl = float(ttl)
        self.max_per_account = max(1, int(max_per_account))
        self.max_bytes_per_account = max(1, int(max_bytes_per_account))
        self.max_total = max(1, int(max_total))
        self.max_bytes_total = max(1, int(max_bytes_total))
        self._clock = clock
        self._lock = threading.Condition()
        # Oldest first: eviction and expiry walk from the front.
        self._held: OrderedDict[str, Held] = OrderedDict()
        self._bytes = 0
        self._running: dict[str, int] = {}
        self._refunded: OrderedDict[str, int] = OrderedDict()
        self._closed = False

    # -- running generations ---------------------------------------------------

    @contextlib.contextmanager
    def running(self, account_id: str) -> Iterator[None]:
        """Count a generation of ``account_id`` while it runs (charge included).

        Raises ShuttingDown (before any charge) once :meth:`shutdown` began.
        """
        with self._lock:
            if self._closed:
                raise ShuttingDown()
            self._running[account_id] = self._running.get(account_id, 0) + 1
        try:
            yield
        finally:
            with self._lock:
                left = self._running.get(account_id, 1) - 1
                if left > 0:
                    self._running[account_id] = left
                else:
                    self._running.pop(account_id, None)
                self._lock.notify_all()

    def check(self) -> None:
        """Raise Cancelled when the server is stopping (called from progress callbacks)."""
        if self._closed:
            raise Cancelled(
                "The server is restarting; the generation stopped and your credits were refunded."
            )

    @property
    def closed(self) -> bool:
        """Whether :meth:`shutdown` began (nothing new is held or started)."""
        return self._closed

    def running_count(self, account_id: str) -> int:
        with self._lock:
            return self._running.get(account_id, 0)

    # -- holding ---------------------------------------------------------------

    def hold(
        self,
        account_id: str,
        payload: dict[str, Any],
        *,
        cost: int,
        nbytes: int,
        images: int = 0,
    ) -> Held | None:
        """Keep a finished, paid result (unsent) until acknowledged or expired.

        Returns None, and refunds ``cost``, when it cannot be kept: the server
        is stopping, or the result alone is larger than a bound. The caller
        must then not send the result (the credits are back).
        """
        with self._lock:
            refunds = _unsent(self._expire_locked())
            too_big = nbytes > min(self.max_bytes_per_account, self.max_bytes_total)
            if self._closed or too_big:
                refunds.append((account_id, cost))
                held = None
            else:
                refunds += self._make_room(account_id, nbytes)
                held = Held(
                    id=secrets.token_urlsafe(18),
                    account_id=account_id,
                    payload=payload,
                    cost=int(cost),
                    images=int(images),
                    nbytes=int(nbytes),
                    created=self._clock(),
                )
                self._held[held.id] = held
                self._bytes += held.nbytes
        self._pay(refunds)
        return held

    def mark_sent(self, delivery_id: str) -> bool:
        """The result was handed to a live response: never refunded from now on."""
        with self._lock:
            held = self._held.get(delivery_id)
            if held is None:
                return False
            held.sent = True
            return True

    def ack(self, account_id: str, delivery_id: str) -> bool:
        """The browser stored the result: forget it. Only the owning account may."""
        with self._lock:
            held = self._held.get(delivery_id) if isinstance(delivery_id, str) else None
            if held is None or held.account_id != account_id:
                return False
            self._drop(held)
            return True

    def forget(self, account_id: str) -> int:
        """The account was deleted: drop everything held for it (nobody to refund)."""
        with self._lock:
            mine = [h for h in self._held.values() if h.account_id == account_id]
            for held in mine:
                self._drop(held)
            self._refunded.pop(account_id, None)
            return len(mine)

    def pending(self, account_id: str) -> Pending:
        """Everything held for ``account_id`` (now counted as sent) and what to tell the user."""
        with self._lock:
            gone = self._expire_locked()
        self._pay(_unsent(gone))
        with self._lock:
            mine = [h for h in self._held.values() if h.account_id == account_id]
            for held in mine:
                held.sent = True
            refunded = self._refunded.pop(account_id, 0)
            running = self._running.get(account_id, 0)
            results = [dict(h.payload, delivery=h.id) for h in mine]
            images = sum(h.images for h in mine)
        parts = []
        if images:
            parts.append(
                f"{_plural(images, 'image')} from your last session "
                f"{'was' if images == 1 else 'were'} recovered."
            )
        if refunded:
            parts.append(refund_message(refunded))
        if running:
            parts.append(
                f"{_plural(running, 'generation')} from your last session "
                f"{'is' if running == 1 else 'are'} still running; "
                f"{'its' if running == 1 else 'their'} images will arrive here."
            )
        return Pending(results, " ".join(parts), running)

    def take_refund_notice(self, account_id: str) -> str:
        """The refund message waiting for this account ('' if none); shown once."""
        with self._lock:
            refunded = self._refunded.pop(account_id, 0)
        return refund_message(refunded) if refunded else ""

    # -- time and bounds -----------------------------------------------------------

    def expire(self) -> int:
        """Drop results older than the time limit, refunding the unsent; returns how many."""
        with self._lock:
            gone = self._expire_locked()
        self._pay(_unsent(gone))
        return len(gone)

    def stats(self) -> dict[str, int]:
        """Counts only (for /healthz or logs): never a prompt or an image."""
        with self._lock:
            return {
                "held": len(self._held),
                "bytes": self._bytes,
                "unsent": sum(1 for h in self._held.values() if not h.sent),
                "running": sum(self._running.values()),
            }

    def shutdown(self, wait: float = 10.0) -> int:
        """Stop: ask running generations to stop, wait up to ``wait`` s, refund every unsent result.

        Returns how many held results were refunded. A restart then loses
        nothing that was paid for: the results could not survive it (memory
        only), so their credits come back. Later calls change nothing.
        """
        with self._lock:
            self._closed = True
            deadline = time.monotonic() + max(0.0, wait)
            while self._running and (left := deadline - time.monotonic()) > 0:
                self._lock.wait(left)
            if self._running:
                log.warning(
                    "shutdown: %d generation(s) still running after %.0f s",
                    sum(self._running.values()),
                    wait,
                )
            refunds = _unsent(list(self._held.values()))
            self._held.clear()
            self._bytes = 0
        self._pay(refunds, notice=False)
        if refunds:
            log.info("shutdown: refunded %d undelivered result(s)", len(refunds))
        return len(refunds)

    # -- inside the lock -------------------------------------------------------------

    def _expire_locked(self) -> list[Held]:
        """Drop and return every result past the time limit (oldest first)."""
        cutoff = self._clock() - self.ttl
        gone: list[Held] = []
        while self._held:
            oldest = next(iter(self._held.values()))
            if oldest.created > cutoff:
                break
            self._drop(oldest)
            gone.append(oldest)
        return gone

    def _make_room(self, account_id: str, nbytes: int) -> list[tuple[str, int]]:
        refunds: list[tuple[str, int]] = []

        def over(account: str | None) -> bool:
            if account is None:
                return (
                    len(self._held) + 1 > self.max_total
                    or self._bytes + nbytes > self.max_bytes_total
                )
            mine = [h for h in self._held.values() if h.account_id == account]
            return (
                len(mine) + 1 > self.max_per_account
                or sum(h.nbytes for h in mine) + nbytes > self.max_bytes_per_account
            )

        for scope in (account_id, None):
            while over(scope):
                candidates = [
                    h for h in self._held.values() if scope is None or h.account_id == scope
                ]
                # Sent ones first: they reached the browser once already.
                victim = next((h for h in candidates if h.sent), candidates[0])
                self._drop(victim)
                if not victim.sent:
                    refunds.append((victim.account_id, victim.cost))
        return refunds

    def _drop(self, held: Held) -> None:
        if self._held.pop(held.id, None) is not None:
            self._bytes -= held.nbytes

    def _pay(self, refunds: list[tuple[str, int]], *, notice: bool = True) -> None:
        """Refund outside the lock (the store may be slow); each entry exactly once."""
        for account_id, credits in refunds:
            if credits <= 0:
                continue
            try:
                self._refund(account_id, credits)
            except Exception as exc:  # a deleted account, a store error: never crash the caller
                log.warning("refund of an undelivered result failed: %s", type(exc).__name__)
                continue
            if notice:
                with self._lock:
                    self._refunded[account_id] = self._refunded.get(account_id, 0) + credits
                    self._refunded.move_to_end(account_id)
                    while len(self._refunded) > MAX_NOTICES:
                        self._refunded.popitem(last=False)


def _unsent(results: list[Held]) -> list[tuple[str, int]]:
    """(account id, credits) of the results that never reached a response."""
    return [(h.account_id, h.cost) for h in results if not h.sent]


def refund_message(credits: int) -> str:
    """What the user reads after an undelivered result was refunded.

    >>> refund_message(2)
    '2 credits refunded: images from your last session could not reach your browser in time.'
    """
    return (
        f"{_plural(credits, 'credit')} refunded: images from your last session could not "
        "reach your browser in time."
    )
