"""The scheduler: who runs next on the image backend, and with whom.

Owns the queue between :class:`~aicreative.studio.Studio` and the backend:

- **Fair.** A request for N images becomes N one-image jobs, and users are
  served round-robin, one job each per turn: a user's 4-image request does
  not make the next user wait for all 4 (InvokeAI's multi-user queue works
  the same way). A user may have at most ``max_waiting`` requests queued;
  the next is refused with :class:`QueueFull` before anything is charged.
- **Batched.** Jobs of the same shape (size, steps, guidance) from any users
  run together in one backend call of up to ``max_batch`` images, after a
  short gathering delay. Each image keeps its own seed (the backend uses one
  generator per image), so an image is the same alone or in a batch.
- **Visible.** A waiting request knows its place in line and an estimate of
  its wait, from the measured time per image.
- **Exact with credits.** The scheduler never charges or refunds; the Studio
  does, per request. A cancelled request leaves its batch without disturbing
  the others (its images are dropped); a failed batch fails each of its
  requests, and the Studio refunds each one.

Callbacks (progress, place in line) run in the caller's thread, never in the
worker's: a slow or cancelling caller cannot stall a batch that others share.
Nothing here is written to disk or logged about a prompt.

>>> from aicreative.backends.demo import DemoBackend
>>> from aicreative.backends.base import GenerationRequest
>>> scheduler = Scheduler(DemoBackend())
>>> ticket = scheduler.reserve("ada", GenerationRequest("a kite", seed=1, num_images=2))
>>> [image.size for image in scheduler.run(ticket)]
[(512, 512), (512, 512)]
>>> scheduler.close()
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from .backends.base import Backend, GenerationRequest, ProgressCallback
from .errors import AICreativeError, BackendError, Cancelled

if TYPE_CHECKING:
    from PIL import Image

log = logging.getLogger(__name__)

#: ``on_wait(place, seconds)``: place 1 is next; ``seconds`` is an estimate
#: (None before anything was measured). It may raise Cancelled.
WaitCallback = Callable[[int, "float | None"], None]

#: How often a waiting caller looks at its ticket (its callbacks run then).
POLL_S = 0.1


class QueueFull(AICreativeError):
    """The user already has as many requests waiting as allowed; nothing was charged."""

    def __init__(self, waiting: int) -> None:
        super().__init__(
            f"You already have {waiting} request{'s' if waiting != 1 else ''} waiting. "
            "Please wait for one to finish; nothing was charged for this one."
        )


@runtime_checkable
class BatchBackend(Protocol):
    """A backend that can run several one-image requests of one shape in one call."""

    name: str
    label: str

    def generate_batch(
        self, requests: list[GenerationRequest], on_step: ProgressCallback | None = None
    ) -> list[Image.Image]:
        """One image per request (each has ``num_images == 1`` and a seed), in order.

        ``on_step(step, total)`` reports the batch's denoising steps.
        """
        ...


def shape_of(request: GenerationRequest) -> tuple[Any, ...]:
    """What jobs must share to run in one pipeline call."""
    return (request.width, request.height, request.steps, request.guidance)


@dataclasses.dataclass(eq=False)
class _Job:
    ticket: Ticket
    index: int
    request: GenerationRequest  # one image, its own seed
    #: Handed to a worker (it stays in its ticket until the image is there).
    taken: bool = False
    #: Denoising steps done so far.
    step: int = 0


class Ticket:
    """One request in the queue: its jobs, its results and what its caller sees."""

    def __init__(self, user: str, request: GenerationRequest, serial: int) -> None:
        self.user = user
        self.request = request.with_seed()
        self.serial = serial
        seeds = self.request.image_seeds()
        self.jobs = [
            _Job(self, i, dataclasses.replace(self.request, seed=seed, num_images=1))
            for i, seed in enumerate(seeds)
        ]
        self.images: list[Image.Image | None] = [None] * len(seeds)
        self.total_steps = self.request.steps * len(seeds)
        self.running = False
        self.released = False
        self.cancelled = False
        self.error: BaseException | None = None
        self.finished = threading.Event()
        #: Bumped on every change the caller may want to show.
        self.version = 0
        #: Progress ``(done, total)`` for the caller to report, in order (at
        #: most one per step of the request, so it stays small).
        self.events: deque[tuple[int, int]] = deque()
        self.wake = threading.Event()

    def note_progress(self) -> None:
        """Queue the current progress for the caller (called under the scheduler's lock)."""
        done = self.steps_done
        last = self.events[-1][0] if self.events else self.reported
        if done > last:
            self.events.append((done, self.total_steps))
        self.version += 1
        self.wake.set()

    #: The last progress the caller reported.
    reported = 0

    def finish(self) -> None:
        self.finished.set()
        self.wake.set()

    @property
    def steps_done(self) -> int:
        return sum(job.step for job in self.jobs)

    @property
    def pending_jobs(self) -> int:
        return sum(image is None for image in self.images)


class Scheduler:
    """A fair, batching queue in front of one backend.

    ``workers`` threads run batches; a model backend holds one pipeline, so
    one worker (the default) is right for it. The demo and remote backends
    can run several at once and say so with a ``parallel`` attribute.
    """

    def __init__(
        self,
        backend: Backend,
        *,
        max_batch: int = 1,
        gather_ms: float = 10.0,
        max_waiting: int = 3,
        workers: int | None = None,
    ) -> None:
        self.backend = backend
        batching = isinstance(backend, BatchBackend)
        self.max_batch = max(1, int(max_batch)) if batching else 1
        self.gather_s = max(0.0, float(gather_ms)) / 1000.0
        self.max_waiting = max(1, int(max_waiting))
        self.workers = workers or int(getattr(backend, "parallel", 1) or 1)
        self._cond = threading.Condition()
        # user -> their tickets in arrival order.
        self._queues: OrderedDict[str, deque[Ticket]] = OrderedDict()
        # user -> the turn in which they were last served; a user who was not
        # served yet goes first. Forgotten when their queue empties (bounded).
        self._served_at: dict[str, int] = {}
        self._turns = itertools.count(1)
        self._serial = itertools.count(1)
        self._threads: list[threading.Thread] = []
        self._closed = False
        #: Measured seconds per image, smoothed (None until the first batch).
        self.seconds_per_image: float | None = None
        self.batches_run = 0
        self.images_run = 0

    # -- the caller's side ------------------------------------------------

    def reserve(self, user: str, request: GenerationRequest) -> Ticket:
        """A place in line for ``request``, not yet runnable; QueueFull when over the cap.

        Reserve before charging, so that a refused request costs nothing;
        then :meth:`run` it, or :meth:`withdraw` it if the charge failed.
        """
        with self._cond:
            if self._closed:
                raise BackendError("The server is shutting down; please try again shortly.")
            waiting = self._queues.get(user, deque())
            if len(waiting) >= self.max_waiting:
                raise QueueFull(len(waiting))
            ticket = Ticket(user, request, next(self._serial))
            self._queues.setdefault(user, deque()).append(ticket)
            return ticket

    def withdraw(self, ticket: Ticket) -> None:
        """Take a ticket out of line (its charge failed, or its caller gave up)."""
        with self._cond:
            ticket.cancelled = True
            self._drop(ticket)
            self._cond.notify_all()

    def run(
        self,
        ticket: Ticket,
        on_progress: ProgressCallback | None = None,
        on_wait: WaitCallback | None = None,
    ) -> list[Image.Image]:
        """Release the ticket to the workers and wait for its images.

        Callbacks run here, in the caller's thread. One that raises (a
        Cancelled) takes the ticket out of line, or out of its batch, and the
        exception passes through; the other requests are not disturbed.
        """
        with self._cond:
            ticket.released = True
            self._start_workers()
            self._cond.notify_all()
        shown: tuple[int, float | None] | None = None
        try:
            while True:
                finished = ticket.finished.is_set()
                self._report(ticket, on_progress)
                if finished:
                    break
                if on_wait is not None and not ticket.running and not ticket.steps_done:
                    where = self.place_of(ticket)
                    if where != shown:
                        shown = where
                        on_wait(*where)
                ticket.wake.wait(POLL_S)
                ticket.wake.clear()
            if ticket.error is not None:
                raise ticket.error
        except BaseException:
            self.withdraw(ticket)
            raise
        images = [image for image in ticket.images if image is not None]
        if len(images) != len(ticket.images):  # pragma: no cover - a worker bug
            raise BackendError("The image backend returned too few images.")
        return images

    def _report(self, ticket: Ticket, on_progress: ProgressCallback | None) -> None:
        while True:
            with self._cond:
                if not ticket.events:
                    return
                done, total = ticket.events.popleft()
                ticket.reported = done
            if on_progress is not None:
                on_progress(done, total)

    def place_of(self, ticket: Ticket) -> tuple[int, float | None]:
        """(place in line, estimated seconds until it starts) for a waiting ticket.

        The place counts the images that will run before this ticket's first
        one under the round-robin order, so it is what the user will see.
        """
        with self._cond:
            ahead = self._images_ahead(ticket)
        per_image = self.seconds_per_image
        return ahead + 1, None if per_image is None else round(ahead * per_image / self.workers, 1)

    def waiting(self) -> int:
        """Requests in line or running, over all users."""
        with self._cond:
            return sum(len(q) for q in self._queues.values())

    def close(self, wait: float = 30.0) -> None:
        """Stop the workers after the batches in flight (up to ``wait`` s); waiting tickets fail."""
        with self._cond:
            self._closed = True
            for queue in self._queues.values():
                for ticket in queue:
                    if not ticket.running and not ticket.finished.is_set():
                        ticket.error = BackendError(
                            "The server is shutting down; please try again shortly."
                        )
                        ticket.finish()
            self._cond.notify_all()
        for thread in self._threads:
            thread.join(timeout=wait)

    # -- the workers' side ------------------------------------------------

    def _start_workers(self) -> None:
        # Started on first use, not at construction: no threads at import or
        # for a Studio that never generates.
        self._threads = [t for t in self._threads if t.is_alive()]
        while len(self._threads) < self.workers:
            thread = threading.Thread(
                target=self._work, name=f"aicreative-scheduler-{len(self._threads)}", daemon=True
            )
            self._threads.append(thread)
            thread.start()

    def _runnable(self, user: str) -> list[_Job]:
        jobs: list[_Job] = []
        for ticket in self._queues.get(user, ()):
            if ticket.released and not ticket.cancelled:
                jobs.extend(j for j in ticket.jobs if ticket.images[j.index] is None)
        return [j for j in jobs if not j.taken]

    def _images_ahead(self, ticket: Ticket) -> int:
        # Round-robin: each other user gets up to as many turns as the
        # ticket's own user has images queued before it, plus one.
        own = 0
        for earlier in self._queues.get(ticket.user, ()):
            if earlier is ticket:
                break
            own += earlier.pending_jobs
        ahead = own
        for user in self._queues:
            if user != ticket.user:
                ahead += min(len(self._runnable(user)), own + 1)
        return ahead

    def _next_batch(self) -> list[_Job]:
        """The next jobs to run (waits for work); [] when closed."""
        with self._cond:
            while True:
                if self._closed:
                    return []
                first = self._first_in_turn()
                if first is not None:
                    break
                self._cond.wait()
            key = shape_of(first.request)
            if self.max_batch > 1 and self.gather_s > 0:
                deadline = time.monotonic() + self.gather_s
                while self._count_compatible(key) < self.max_batch:
                    left = deadline - time.monotonic()
                    if left <= 0 or self._closed:
                        break
                    self._cond.wait(left)
            batch = self._take_compatible(key)
            for job in batch:
                job.ticket.running = True
                job.ticket.version += 1
            return batch

    def _turn_order(self) -> list[str]:
        """Users with work, least recently served first (arrival order breaks ties)."""
        return sorted(self._queues, key=lambda user: self._served_at.get(user, 0))

    def _first_in_turn(self) -> _Job | None:
        for user in self._turn_order():
            jobs = self._runnable(user)
            if jobs:
                return jobs[0]
        return None

    def _count_compatible(self, key: tuple[Any, ...]) -> int:
        return sum(
            1
            for user in self._queues
            for job in self._runnable(user)
            if shape_of(job.request) == key
        )

    def _take_compatible(self, key: tuple[Any, ...]) -> list[_Job]:
        # Round-robin passes over the users in turn order, one job per user
        # per pass, until the batch is full; served users go to the back.
        batch: list[_Job] = []
        served: list[str] = []
        while len(batch) < self.max_batch:
            took = False
            for user in self._turn_order():
                if len(batch) >= self.max_batch:
                    break
                job = next((j for j in self._runnable(user) if shape_of(j.request) == key), None)
                if job is None:
                    continue
                job.taken = True
                batch.append(job)
                took = True
                if user not in served:
                    served.append(user)
            if not took:
                break
        for user in served:
            self._served_at[user] = next(self._turns)
        return batch

    def _work(self) -> None:
        while True:
            batch = self._next_batch()
            if not batch:
                return
            self._run_batch(batch)

    def _run_batch(self, batch: list[_Job]) -> None:
        tickets = list(dict.fromkeys(job.ticket for job in batch))
        steps = batch[0].request.steps

        def on_step(step: int, total: int) -> None:
            # Every job of the batch is at the batch's step; the caller reads
            # its own ticket's progress from there, in its own thread.
            with self._cond:
                for job in batch:
                    job.step = max(job.step, min(step, steps))
                for ticket in tickets:
                    ticket.note_progress()
                # Stop the work only when nobody in the batch still wants it.
                if all(ticket.cancelled for ticket in tickets):
                    raise Cancelled()

        started = time.perf_counter()
        try:
            if len(batch) > 1 and isinstance(self.backend, BatchBackend):
                images = self.backend.generate_batch([job.request for job in batch], on_step)
            else:  # max_batch is 1 for a backend that cannot batch
                images = self.backend.generate(batch[0].request, on_step)
            if len(images) != len(batch):
                raise BackendError(
                    f"The image backend returned {len(images)} images instead of {len(batch)}."
                )
            error: BaseException | None = None
        except BaseException as exc:  # every request of the batch fails alike
            images, error = [], exc
        elapsed = time.perf_counter() - started
        with self._cond:
            if error is None:
                self._measure(elapsed, len(batch))
                for job, image in zip(batch, images, strict=True):
                    job.ticket.images[job.index] = image
                    job.step = steps
            for ticket in tickets:
                ticket.running = False
                ticket.note_progress()
                if error is not None and not ticket.finished.is_set():
                    ticket.error = error if isinstance(error, Exception) else Cancelled()
                    self._drop(ticket)
                    ticket.finish()
                elif ticket.pending_jobs == 0 and not ticket.finished.is_set():
                    self._drop(ticket)
                    ticket.finish()
                elif ticket.cancelled:
                    self._drop(ticket)
            self._cond.notify_all()

    def _measure(self, seconds: float, images: int) -> None:
        per_image = seconds / images
        previous = self.seconds_per_image
        self.seconds_per_image = per_image if previous is None else 0.7 * previous + 0.3 * per_image
        self.batches_run += 1
        self.images_run += images

    def _drop(self, ticket: Ticket) -> None:
        queue = self._queues.get(ticket.user)
        if queue is None:
            return
        try:
            queue.remove(ticket)
        except ValueError:
            pass
        if not queue:
            del self._queues[ticket.user]
            self._served_at.pop(ticket.user, None)
