"""The throttle counters and the limits built on them (aicreative/limits.py)."""

from __future__ import annotations

import pytest

from aicreative.errors import Throttled
from aicreative.limits import LoginThrottle, MemoryCounters, RateLimit, seconds_left


class Clock:
    """A clock the test moves by hand (starts at the start of a 300 s window)."""

    def __init__(self) -> None:
        self.now = 3000.0

    def __call__(self) -> float:
        return self.now


def test_counts_per_key_and_window() -> None:
    clock = Clock()
    counters = MemoryCounters(clock=clock)
    assert [counters.add("k", 60) for _ in range(3)] == [1, 2, 3]
    assert counters.get("k", 60) == 3
    assert counters.get("other", 60) == 0
    clock.now += 60  # the next window starts at zero
    assert counters.get("k", 60) == 0
    assert counters.add("k", 60) == 1
    counters.reset("k")
    assert counters.get("k", 60) == 0


def test_windows_are_aligned_on_the_epoch() -> None:
    # Every process reads the same window from the same time.
    assert seconds_left(3000.0, 300) == 300
    assert seconds_left(3299.5, 300) == pytest.approx(0.5)


def test_the_table_is_bounded_and_evicts_the_oldest_key() -> None:
    clock = Clock()
    counters = MemoryCounters(max_keys=100, clock=clock)
    for n in range(10_000):  # one key for every name or address ever tried
        counters.add(f"client:{n}", 3600)
    assert len(counters) == 100
    assert counters.get("client:9999", 3600) == 1
    assert counters.get("client:0", 3600) == 0  # evicted, the oldest first


def test_ended_windows_are_dropped_before_live_ones() -> None:
    clock = Clock()
    counters = MemoryCounters(max_keys=3, clock=clock)
    counters.add("short", 10)
    counters.add("long", 3600)
    counters.add("long", 3600)
    clock.now += 20  # "short"'s window ended
    counters.add("new", 3600)
    assert len(counters) == 2
    assert counters.get("long", 3600) == 2


def test_rate_limit_says_how_long_to_wait() -> None:
    clock = Clock()
    limit = RateLimit(MemoryCounters(clock=clock), 2, 60.0, "test", clock=clock)
    limit.hit("k")
    limit.hit("k")
    clock.now += 15
    with pytest.raises(Throttled) as info:
        limit.hit("k")
    assert info.value.retry_after == 45
    limit.hit("other")
    clock.now += 45
    limit.hit("k")


def test_others_failures_do_not_lock_the_owner_out() -> None:
    clock = Clock()
    throttle = LoginThrottle(clock=clock, window=300)
    for n in range(10):  # wrong passwords for "ada" from ten other addresses
        throttle.check("ada", f"203.0.113.{n}")
        throttle.failure("ada", f"203.0.113.{n}")
    throttle.check("ada", "192.0.2.1")  # the owner's own address: not held up


def test_the_attackers_own_address_is_slowed() -> None:
    clock = Clock()
    throttle = LoginThrottle(clock=clock, per_pair=5, per_client=20, window=300)
    for _ in range(5):
        throttle.check("ada", "203.0.113.9")
        throttle.failure("ada", "203.0.113.9")
    with pytest.raises(Throttled) as info:
        throttle.check("ada", "203.0.113.9")
    assert info.value.retry_after == 300
    # Many usernames from one address spend that address's budget.
    for n in range(15):
        throttle.failure(f"user{n}", "203.0.113.9")
    with pytest.raises(Throttled):
        throttle.check("someone-new", "203.0.113.9")
    throttle.check("someone-new", "192.0.2.1")
    clock.now += 300
    throttle.check("ada", "203.0.113.9")


def test_a_success_clears_the_pair() -> None:
    throttle = LoginThrottle(per_pair=2)
    throttle.failure("ada", "192.0.2.1")
    throttle.success("ada", "192.0.2.1")
    throttle.failure("ada", "192.0.2.1")
    throttle.check("ada", "192.0.2.1")


def test_login_throttle_memory_is_bounded() -> None:
    counters = MemoryCounters(max_keys=50)
    throttle = LoginThrottle(counters)
    for n in range(5000):
        throttle.failure(f"name{n}", f"10.0.{n // 256}.{n % 256}")
    assert len(counters) == 50
