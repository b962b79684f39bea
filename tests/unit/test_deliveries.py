"""Paid results held in memory until the browser has them (issue 12, item 1).

The module alone, with a fake clock and a refund list; then through a Studio
over a real TinyDB file, so that refunds land on the right account by id.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from aicreative import Cancelled, Studio
from aicreative.deliveries import Deliveries, ShuttingDown

from ..conftest import PASSWORD


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make(**kw: Any) -> tuple[Deliveries, list[tuple[str, int]], Clock]:
    refunds: list[tuple[str, int]] = []
    clock = Clock()
    kw.setdefault("ttl", 60)
    d = Deliveries(lambda a, c: refunds.append((a, c)), clock=clock, **kw)
    return d, refunds, clock


def payload(n: int = 1) -> dict[str, Any]:
    return {"kind": "generation", "images": [{"seed": i, "data_url": "data:x"} for i in range(n)]}


def test_unsent_result_expires_into_exactly_one_refund_and_a_notice() -> None:
    d, refunds, clock = make()
    d.hold("A", payload(2), cost=2, nbytes=100, images=2)
    clock.now += 59
    assert d.expire() == 0 and refunds == []
    clock.now += 2
    assert d.expire() == 1
    assert refunds == [("A", 2)]
    for _ in range(3):  # later sweeps, page loads and shutdown refund nothing more
        d.expire()
        d.pending("A")
    d.shutdown(wait=0)
    assert refunds == [("A", 2)]
    assert d.stats()["held"] == 0


def test_refund_notice_is_shown_once() -> None:
    d, _, clock = make()
    d.hold("A", payload(2), cost=2, nbytes=100, images=2)
    clock.now += 61
    assert d.pending("A").notice.startswith("2 credits refunded")
    assert d.pending("A").notice == ""
    d.hold("A", payload(), cost=1, nbytes=1, images=1)
    clock.now += 61
    d.expire()
    assert d.take_refund_notice("A").startswith("1 credit refunded")
    assert d.take_refund_notice("A") == ""


def test_sent_result_is_never_refunded_and_stays_until_acked() -> None:
    d, refunds, clock = make()
    held = d.hold("A", payload(), cost=1, nbytes=10, images=1)
    assert held is not None and d.mark_sent(held.id)
    clock.now += 30
    again = d.pending("A")  # the browser died before storing it: delivered again
    assert [r["delivery"] for r in again.results] == [held.id]
    clock.now += 31
    assert d.expire() == 1
    assert refunds == []  # the client had it: no free images
    assert d.pending("A").results == []


def test_pending_counts_as_sent_so_recovered_images_are_not_also_refunded() -> None:
    d, refunds, clock = make()
    held = d.hold("A", payload(2), cost=2, nbytes=10, images=2)
    assert held is not None
    got = d.pending("A")
    assert got.notice == "2 images from your last session were recovered."
    assert got.results[0]["images"] == payload(2)["images"]
    assert got.results[0]["delivery"] == held.id
    clock.now += 120
    d.expire()
    d.shutdown(wait=0)
    assert refunds == []


def test_ack_frees_the_result_and_only_for_its_own_account() -> None:
    d, refunds, _ = make()
    held = d.hold("A", payload(), cost=1, nbytes=10, images=1)
    assert held is not None
    assert d.ack("B", held.id) is False  # another account: refused, nothing changes
    assert d.pending("B").results == []
    assert d.ack("A", "no-such-id") is False
    assert d.ack("A", held.id) is True
    assert d.stats() == {"held": 0, "bytes": 0, "unsent": 0, "running": 0}
    assert d.ack("A", held.id) is False
    d.shutdown(wait=0)
    assert refunds == []


def test_pending_gives_only_the_accounts_own_results() -> None:
    d, _, _ = make()
    d.hold("A", {"who": "a"}, cost=1, nbytes=1)
    d.hold("B", {"who": "b"}, cost=1, nbytes=1)
    assert [r["who"] for r in d.pending("A").results] == ["a"]
    assert [r["who"] for r in d.pending("B").results] == ["b"]


def test_shutdown_refunds_every_unsent_result_once_and_refuses_new_work() -> None:
    d, refunds, _ = make()
    d.hold("A", payload(), cost=1, nbytes=10)
    d.hold("B", payload(3), cost=3, nbytes=10)
    sent = d.hold("A", payload(), cost=5, nbytes=10)
    assert sent is not None and d.mark_sent(sent.id)
    assert d.shutdown(wait=0) == 2
    assert sorted(refunds) == [("A", 1), ("B", 3)]
    assert d.shutdown(wait=0) == 0
    assert sorted(refunds) == [("A", 1), ("B", 3)]
    # A generation that finishes after shutdown cannot be held: refunded at once.
    assert d.hold("C", payload(), cost=2, nbytes=10) is None
    assert refunds[-1] == ("C", 2)
    with pytest.raises(ShuttingDown), d.running("A"):  # a new one is refused before any charge
        pass
    with pytest.raises(Cancelled):
        d.check()


def test_shutdown_stops_running_generations_and_waits_for_them() -> None:
    d, _, _ = make()
    entered, stopped = threading.Event(), threading.Event()

    def generation() -> None:
        with d.running("A"):
            entered.set()
            try:
                while True:
                    d.check()
                    time.sleep(0.01)
            except Cancelled:
                stopped.set()

    worker = threading.Thread(target=generation)
    worker.start()
    assert entered.wait(5)
    assert d.running_count("A") == 1
    assert d.pending("A").running == 1
    assert "still running" in d.pending("A").notice
    d.shutdown(wait=5)
    assert stopped.is_set()
    worker.join(5)
    assert d.running_count("A") == 0


def test_count_bound_per_account_drops_sent_first_then_refunds_the_oldest_unsent() -> None:
    d, refunds, _ = make(max_per_account=2)
    first = d.hold("A", {"n": 1}, cost=1, nbytes=1)
    second = d.hold("A", {"n": 2}, cost=2, nbytes=1)
    assert first is not None and second is not None
    d.mark_sent(second.id)
    d.hold("A", {"n": 3}, cost=3, nbytes=1)  # the sent one goes, no refund
    assert refunds == []
    d.hold("A", {"n": 4}, cost=4, nbytes=1)  # then the oldest unsent, refunded
    assert refunds == [("A", 1)]
    d.hold("B", {"n": 5}, cost=5, nbytes=1)  # another account is not touched
    assert sorted(r["n"] for r in d.pending("A").results) == [3, 4]
    assert d.stats()["held"] == 3


def test_byte_bounds_per_account_and_in_total() -> None:
    d, refunds, _ = make(max_bytes_per_account=100, max_bytes_total=150)
    d.hold("A", {"n": 1}, cost=1, nbytes=60)
    d.hold("A", {"n": 2}, cost=2, nbytes=60)  # A over 100: its oldest goes
    assert refunds == [("A", 1)]
    d.hold("B", {"n": 3}, cost=3, nbytes=60)
    d.hold("C", {"n": 4}, cost=4, nbytes=60)  # total over 150: the oldest of all goes
    assert refunds == [("A", 1), ("A", 2)]
    assert d.stats()["bytes"] == 120
    # One result larger than a bound alone is not held: refunded at once.
    assert d.hold("D", {"n": 5}, cost=5, nbytes=101) is None
    assert refunds[-1] == ("D", 5)


def test_count_bound_in_total() -> None:
    d, refunds, _ = make(max_total=3)
    for n, account in enumerate("ABCD"):
        d.hold(account, {"n": n}, cost=n + 1, nbytes=1)
    assert refunds == [("A", 1)]
    assert d.stats()["held"] == 3


def test_delivery_ids_are_random_and_unguessable() -> None:
    d, _, _ = make(max_per_account=100, max_total=100)
    ids = {h.id for h in (d.hold("A", {}, cost=1, nbytes=1) for _ in range(50)) if h}
    assert len(ids) == 50 and all(len(i) >= 24 for i in ids)


def test_a_failing_refund_does_not_break_the_caller() -> None:
    def refund(account: str, credits: int) -> None:
        raise RuntimeError("store down")

    d = Deliveries(refund, ttl=1, clock=lambda: 0.0)
    d.hold("A", {}, cost=1, nbytes=1)
    assert d.shutdown(wait=0) == 1


# -- through the Studio: refunds by account id --------------------------------------


def test_studio_refunds_by_account_id_even_after_a_rename(studio: Studio, user: str) -> None:
    account_id = studio.account_id(user)
    studio.store.charge(user, 3)
    studio.deliveries.hold(account_id, payload(), cost=3, nbytes=1)
    studio.change_username(user, PASSWORD, "ada2")
    studio.signup("ada", "other@example.org", "another long password")  # the old name, reused
    assert studio.shutdown(wait=0) == 1
    assert studio.balance("ada2") == 10
    assert studio.balance("ada") == 10  # the newcomer with the old name got nothing extra


def test_studio_refund_of_a_deleted_account_is_dropped(studio: Studio, user: str) -> None:
    account_id = studio.account_id(user)
    studio.delete_account_now(user)
    # A generation that finishes after its account was deleted.
    studio.deliveries.hold(account_id, payload(), cost=3, nbytes=1)
    assert studio.shutdown(wait=0) == 1  # nothing to refund to, and no crash


def test_deleting_an_account_drops_what_is_held_for_it(studio: Studio, user: str) -> None:
    studio.signup("bob", "bob@example.org", "another long password")
    studio.deliveries.hold(studio.account_id(user), payload(), cost=1, nbytes=1)
    studio.deliveries.hold(studio.account_id("bob"), payload(), cost=1, nbytes=1)
    studio.delete_account("ada", "correct horse battery", "ada")
    assert studio.deliveries.stats()["held"] == 1
    studio.set_role("bob", "admin")
    studio.signup("cyd", "cyd@example.org", "another long password")
    cyd = studio.account_id("cyd")
    studio.deliveries.hold(cyd, payload(), cost=1, nbytes=1)
    studio.admin_delete("bob", "cyd")
    assert studio.deliveries.pending(cyd).results == []
    assert studio.deliveries.stats()["held"] == 1
