"""The scheduler: fair turns between users, batches across users, exact credits.

The backends here are the demo backend (real, deterministic) wrapped to be
slow or to record their calls; the batch-versus-alone check at the end runs
the real diffusers backend on the tiny pipeline that tests build offline.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import numpy as np
import pytest

from aicreative.backends.base import GenerationRequest
from aicreative.backends.demo import DemoBackend
from aicreative.errors import BackendError, Cancelled
from aicreative.scheduler import BatchBackend, QueueFull, Scheduler
from aicreative.studio import Studio

PASSWORD = "a long enough password"


class SlowDemo(DemoBackend):
    """The demo backend, one worker, a fixed time per call, and a log of calls."""

    parallel = 1

    def __init__(self, seconds: float = 0.03) -> None:
        self.seconds = seconds
        self.calls: list[list[str]] = []
        self.lock = threading.Lock()

    def generate(self, request: GenerationRequest, on_progress: Any = None) -> list[Any]:
        with self.lock:
            self.calls.append([request.prompt])
        time.sleep(self.seconds)
        return super().generate(request, on_progress)


class BatchingDemo(SlowDemo):
    """Adds ``generate_batch``: one call for several one-image requests."""

    def __init__(self, seconds: float = 0.03, fail: bool = False) -> None:
        super().__init__(seconds)
        self.fail = fail

    def generate_batch(self, requests: list[GenerationRequest], on_step: Any = None) -> list[Any]:
        with self.lock:
            self.calls.append([r.prompt for r in requests])
        steps = requests[0].steps
        for step in range(1, steps + 1):
            time.sleep(self.seconds / steps)
            if on_step is not None:
                on_step(step, steps)
        if self.fail:
            raise BackendError("The image model failed; your credits were refunded.")
        return [DemoBackend().generate(r)[0] for r in requests]


def studio_on(backend: Any, users: list[str], **settings: Any) -> Studio:
    studio = Studio.local(backend, signup_credits=50)
    for name, value in settings.items():
        setattr(studio.settings, name, value)
    studio.scheduler = Scheduler(
        backend,
        max_batch=settings.get("max_batch", 1),
        gather_ms=settings.get("batch_gather_ms", 10.0),
        max_waiting=settings.get("max_waiting", 3),
    )
    for user in users:
        studio.signup(user, f"{user}@example.org", PASSWORD)
    return studio


def test_a_batch_backend_is_recognised() -> None:
    assert isinstance(BatchingDemo(), BatchBackend)
    assert not isinstance(SlowDemo(), BatchBackend)
    # A backend that cannot batch is never handed more than one image.
    assert Scheduler(SlowDemo(), max_batch=8).max_batch == 1


def test_round_robin_b_before_a_third(hasher: Any) -> None:
    """User A queues 10 requests, then user B queues 1: B's image arrives before A's third."""
    backend = SlowDemo(0.05)
    studio = studio_on(backend, ["ann", "bob"], max_waiting=10)
    finished: list[str] = []
    lock = threading.Lock()

    def ask(user: str, n: int) -> None:
        studio.generate(user, GenerationRequest(f"{user}{n}", seed=n))
        with lock:
            finished.append(f"{user}{n}")

    threads = []
    for n in range(10):
        threads.append(threading.Thread(target=ask, args=("ann", n)))
        threads[-1].start()
        time.sleep(0.005)  # A's requests are all in line, in order, before B's
    time.sleep(0.02)
    threads.append(threading.Thread(target=ask, args=("bob", 0)))
    threads[-1].start()
    for thread in threads:
        thread.join(30)
    assert "bob0" in finished and len(finished) == 11
    a_done = [name for name in finished if name.startswith("ann")]
    assert finished.index("bob0") < finished.index(a_done[2]), finished


def test_four_image_request_does_not_hold_the_next_user() -> None:
    backend = SlowDemo(0.05)
    studio = studio_on(backend, ["ann", "bob"])
    order: list[str] = []
    first = threading.Thread(
        target=lambda: studio.generate("ann", GenerationRequest("big", seed=1, num_images=4))
    )
    first.start()
    time.sleep(0.02)
    studio.generate("bob", GenerationRequest("small", seed=1))
    order.append("b done")
    calls_before_b = [c[0] for c in backend.calls].index("small")
    first.join(10)
    # A's 4 images were split: B ran after at most 2 of them, not after all 4.
    assert calls_before_b <= 2, backend.calls


def test_batches_across_users_and_each_image_is_its_own() -> None:
    backend = BatchingDemo(0.05)
    studio = studio_on(backend, ["usr0", "usr1", "usr2", "usr3"], max_batch=4, batch_gather_ms=100)
    results: dict[str, Any] = {}

    def ask(user: str) -> None:
        results[user] = studio.generate(user, GenerationRequest(f"p-{user}", seed=7))

    threads = [threading.Thread(target=ask, args=(f"usr{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert max(len(call) for call in backend.calls) >= 2, backend.calls
    for user, result in results.items():
        alone = DemoBackend().generate(GenerationRequest(f"p-{user}", seed=7))[0]
        assert np.array_equal(np.asarray(result.images[0]), np.asarray(alone))
        assert studio.balance(user) == 49


def test_different_shapes_are_not_batched_together() -> None:
    backend = BatchingDemo(0.05)
    studio = studio_on(backend, ["usr0", "usr1"], max_batch=4, batch_gather_ms=100)
    threads = [
        threading.Thread(
            target=studio.generate, args=("usr0", GenerationRequest("p", seed=1, steps=2))
        ),
        threading.Thread(
            target=studio.generate, args=("usr1", GenerationRequest("q", seed=1, steps=3))
        ),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert sorted(len(call) for call in backend.calls) == [1, 1]


def test_cancel_one_request_of_a_batch_refunds_only_it() -> None:
    backend = BatchingDemo(0.3)
    studio = studio_on(backend, ["keep", "quit"], max_batch=4, batch_gather_ms=100)
    outcome: dict[str, Any] = {}

    def keep() -> None:
        outcome["keep"] = studio.generate("keep", GenerationRequest("k", seed=1, steps=3))

    def quit_() -> None:
        def cancel(step: int, total: int) -> None:
            raise Cancelled()

        try:
            studio.generate("quit", GenerationRequest("q", seed=1, steps=3), on_progress=cancel)
        except Cancelled as exc:
            outcome["quit"] = exc

    threads = [threading.Thread(target=keep), threading.Thread(target=quit_)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert [len(call) for call in backend.calls] == [2]  # they did share the batch
    assert isinstance(outcome["quit"], Cancelled)
    assert len(outcome["keep"].images) == 1
    assert studio.balance("quit") == 50 and studio.balance("keep") == 49


def test_a_failed_batch_refunds_each_request() -> None:
    backend = BatchingDemo(0.05, fail=True)
    studio = studio_on(backend, ["usr0", "usr1", "usr2"], max_batch=4, batch_gather_ms=100)
    errors: list[BaseException] = []

    def ask(user: str) -> None:
        try:
            studio.generate(user, GenerationRequest("p", seed=1, num_images=2))
        except BackendError as exc:
            errors.append(exc)

    threads = [threading.Thread(target=ask, args=(f"usr{i}",)) for i in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert len(errors) == 3 and all("refunded" in str(e) for e in errors)
    assert [studio.balance(f"usr{i}") for i in range(3)] == [50, 50, 50]


def test_too_many_waiting_is_refused_and_not_charged() -> None:
    backend = SlowDemo(0.2)
    studio = studio_on(backend, ["ann"], max_waiting=2)
    threads = [
        threading.Thread(target=studio.generate, args=("ann", GenerationRequest("x", seed=i)))
        for i in range(2)
    ]
    for thread in threads:
        thread.start()
    time.sleep(0.05)
    with pytest.raises(QueueFull, match="nothing was charged"):
        studio.generate("ann", GenerationRequest("x", seed=9))
    assert studio.balance("ann") == 48  # the two in line, not the third
    for thread in threads:
        thread.join(10)
    assert studio.balance("ann") == 48


def test_a_waiting_request_sees_its_place_then_its_progress() -> None:
    backend = SlowDemo(0.1)
    studio = studio_on(backend, ["ann", "bob", "cyd"])
    seen: list[tuple[str, Any]] = []
    busy = [
        threading.Thread(target=studio.generate, args=(u, GenerationRequest("x", seed=1)))
        for u in ("ann", "bob")
    ]
    for thread in busy:
        thread.start()
        time.sleep(0.01)
    studio.generate(
        "cyd",
        GenerationRequest("y", seed=1, steps=2),
        on_progress=lambda s, t: seen.append(("progress", (s, t))),
        on_wait=lambda place, secs: seen.append(("wait", place)),
    )
    for thread in busy:
        thread.join(10)
    waits = [value for kind, value in seen if kind == "wait"]
    assert waits and waits[0] >= 2 and waits == sorted(waits, reverse=True)
    assert [value for kind, value in seen if kind == "progress"] == [(1, 2), (2, 2)]
    first_progress = next(i for i, (kind, _) in enumerate(seen) if kind == "progress")
    assert all(kind == "progress" for kind, _ in seen[first_progress:])


def test_credits_spent_equal_images_delivered_under_load() -> None:
    backend = BatchingDemo(0.01)
    users = [f"usr{i}" for i in range(8)]
    studio = studio_on(backend, users, max_batch=4, batch_gather_ms=5, max_waiting=3)
    delivered: dict[str, int] = dict.fromkeys(users, 0)
    lock = threading.Lock()

    def client(user: str, index: int) -> None:
        for n in range(6):
            cancel = (n + index) % 4 == 0

            def on_progress(step: int, total: int, cancel: bool = cancel) -> None:
                if cancel:
                    raise Cancelled()

            try:
                result = studio.generate(
                    user,
                    GenerationRequest("p", seed=n, num_images=1 + n % 2),
                    on_progress=on_progress,
                )
            except (Cancelled, QueueFull):
                continue
            with lock:
                delivered[user] += len(result.images)

    threads = [threading.Thread(target=client, args=(u, i)) for i, u in enumerate(users)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    for user in users:
        assert 50 - studio.balance(user) == delivered[user], user
    assert studio.scheduler.waiting() == 0


def test_close_fails_waiting_requests_cleanly() -> None:
    scheduler = Scheduler(SlowDemo(0.2))
    first = scheduler.reserve("a", GenerationRequest("x", seed=1))
    runner = threading.Thread(target=scheduler.run, args=(first,))
    runner.start()
    time.sleep(0.05)
    waiting = scheduler.reserve("b", GenerationRequest("y", seed=1))
    scheduler.close()
    with pytest.raises(BackendError, match="shutting down"):
        scheduler.run(waiting)
    runner.join(5)


# -- the real diffusers backend on the tiny pipeline ------------------------


@pytest.mark.slow
def test_tiny_pipeline_batch_is_identical_to_alone(
    tiny_pipeline_dir: Any, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("diffusers")
    from aicreative.backends import load_backend
    from aicreative.config import Settings
    from tests.model_backend_contract import offline

    offline(monkeypatch)
    settings = Settings(
        data_dir=tmp_path,
        backend="diffusers",
        model_id=str(tiny_pipeline_dir),
        tiny_autoencoder="off",
        device="cpu",
    )
    backend = load_backend("diffusers", settings)
    assert isinstance(backend, BatchBackend)
    requests = [
        GenerationRequest(p, negative_prompt=n, width=256, height=256, steps=2, guidance=g, seed=s)
        for p, n, g, s in [
            ("a red kite", "", 0.0, 11),
            ("a blue boat", "fog", 0.0, 12),
            ("a green hill", "", 0.0, 13),
        ]
    ]
    steps: list[tuple[int, int]] = []
    batch = backend.generate_batch(requests, lambda s, t: steps.append((s, t)))
    alone = [backend.generate(r)[0] for r in requests]
    assert steps == [(1, 2), (2, 2)]
    for together, single in zip(batch, alone, strict=True):
        a, b = np.asarray(together, dtype=np.int16), np.asarray(single, dtype=np.int16)
        # Same seed, same generator: the same pixels (CPU kernels may round a
        # batched matmul differently by a hair; more than 1/255 is a real bug).
        assert np.abs(a - b).max() <= 1
    # With guidance (classifier-free), each image keeps its own negative prompt.
    guided = [
        GenerationRequest("a cat", negative_prompt=n, width=256, height=256, guidance=3.0, seed=5)
        for n in ("", "blurry")
    ]
    together = backend.generate_batch(guided)
    for request, image in zip(guided, together, strict=True):
        single = backend.generate(request)[0]
        assert np.abs(np.asarray(image, np.int16) - np.asarray(single, np.int16)).max() <= 1


# -- in the browser: the place in line is shown before the progress ---------


@pytest.mark.browser
def test_create_tab_shows_the_place_in_line(chromium: Any, web: Any) -> None:
    pytest.importorskip("playwright")
    import re

    from playwright.sync_api import expect

    from tests.fixtures_browser import WAIT_MS, new_context, set_number, signup_in_browser

    # One worker, as with a real model, so that the second user waits.
    web.studio.scheduler = Scheduler(web.studio.backend, workers=1)
    first, second = new_context(chromium), new_context(chromium)
    try:
        busy, waiting = first.new_page(), second.new_page()
        signup_in_browser(busy, web.url, "busy")
        signup_in_browser(waiting, web.url, "waiting")
        for page in (busy, waiting):
            page.get_by_text("Advanced", exact=True).click()
            set_number(page, "steps", 20)
        set_number(busy, "count", 4)
        busy.fill("#prompt textarea", "four slow kites")
        waiting.fill("#prompt textarea", "one kite")
        busy.click("#generate")
        expect(busy.get_by_text(re.compile("Generating")).first).to_be_visible(timeout=WAIT_MS)
        waiting.click("#generate")
        # The busy user's other images wait their turn; this user is next.
        expect(waiting.get_by_text(re.compile(r"In line: 2nd|Next in line")).first).to_be_visible(
            timeout=WAIT_MS
        )
        expect(waiting.get_by_test_id("latest-image")).to_have_count(1, timeout=WAIT_MS)
        # Round robin: the waiting user's one image came before all 4 of the first user's.
        assert busy.get_by_test_id("latest-image").count() == 0
    finally:
        first.close()
        second.close()
