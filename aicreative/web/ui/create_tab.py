"""The Create tab: the form, the cost line, Generate and Stop, the latest images.

Generated images leave the server only as data in a ``gr.HTML`` value (the
payload of :meth:`~aicreative.studio.GenerationResult.payload`, base64 PNG
in a dict), never as a file component, so Gradio writes nothing to its
cache; the browser modules (``static/gallery/``) store them in IndexedDB.
"""

from __future__ import annotations

import html
import logging
from typing import Any

import gradio as gr

from ... import pricing
from ...backends.base import MAX_GUIDANCE, MAX_IMAGES, MAX_SEED, MAX_STEPS, GenerationRequest
from ...errors import AICreativeError
from ...studio import GenerationResult
from ..account import credits_help_html
from ..delivery import deliver, delivery_functions
from ..pages import public_message
from .parts import Page, UIContext, plural, status_html, user_of, with_gallery

log = logging.getLogger(__name__)

#: Generation events Gradio lets into the handler at once; the rest wait in
#: Gradio's queue. Each user's share is capped by the scheduler (max_waiting).
QUEUE_LIMIT = 64
SIZES = ["512x512", "768x768", "1024x1024", "512x768", "768x512", "384x384", "256x256"]
#: The Generate button: ready, or busy while an image is being made.
GENERATE, GENERATING, NOT_ENOUGH = "Generate", "Generating…", "Not enough credits"


def parse_size(value: str) -> tuple[int, int]:
    """``"768x512"`` as (width, height); a size off the list is refused in words."""
    try:
        width, height = (int(part) for part in str(value).lower().split("x"))
    except ValueError:
        raise AICreativeError("Please choose a size from the list.") from None
    return width, height


def _cost_request(size: str, count: float) -> GenerationRequest:
    width, height = parse_size(size)
    return GenerationRequest.from_dict(
        {"prompt": "cost", "width": width, "height": height, "num_images": count}
    )


def cost_text(size: str, count: float, balance: int | None = None, credits_help: str = "") -> str:
    """The cost line above Generate: the cost, the balance, and what to do when short.

    >>> cost_text("512x512", 1, 10)
    '<p class="ac-cost" data-testid="cost-line">This costs <b>1 credit</b> (1 per image); you have 10.</p>'
    """
    try:
        request = _cost_request(size, count)
    except AICreativeError as exc:
        return (
            f'<p class="ac-cost ac-cost-short" data-testid="cost-line">{html.escape(str(exc))}</p>'
        )
    cost, per_image = pricing.cost(request), pricing.cost_per_image(request)
    line = f"This costs <b>{plural(cost, 'credit')}</b> ({per_image} per image)"
    if balance is None:
        return f'<p class="ac-cost" data-testid="cost-line">{line}.</p>'
    if cost <= balance:
        return f'<p class="ac-cost" data-testid="cost-line">{line}; you have {balance}.</p>'
    fewer = " Choose fewer or smaller images, or get more credits." if balance else ""
    return (
        f'<div class="ac-cost ac-cost-short" data-testid="cost-line" role="status">'
        f"<p>{line}; you have only {balance}: <b>not enough</b>.{fewer}</p>"
        f'<p class="ac-credits-help" data-testid="credits-help">{credits_help_html(credits_help)}</p></div>'
    )


def can_afford(size: str, count: float, balance: int) -> bool:
    """Whether the balance covers the request's cost (False for a size off the list)."""
    try:
        return pricing.cost(_cost_request(size, count)) <= balance
    except AICreativeError:
        return False


def waiting_text(place: int, seconds: float | None) -> str:
    """What a request in line shows: its place and, once measured, the wait.

    >>> waiting_text(1, None)
    'Next in line'
    >>> waiting_text(3, 4.26)
    'In line: 3rd, about 4 s'
    """
    if place <= 1 and not seconds:
        return "Next in line"
    suffix = {1: "st", 2: "nd", 3: "rd"}.get(place if place < 20 else place % 10, "th")
    wait = f", about {max(1, round(seconds))} s" if seconds else ""
    return f"In line: {place}{suffix}{wait}"


def done_text(result: GenerationResult) -> str:
    """The status line after a generation: what it made, cost and left."""
    made = len(result.png)
    return (
        f"Made {made} image{'s' if made != 1 else ''} for "
        f"{result.cost} credit{'s' if result.cost != 1 else ''} in {result.seconds:.1f} s; "
        f"{result.balance} left. Saved in this browser's gallery."
    )


class CreateEvents(UIContext):
    """The Create tab's handlers (see :class:`~aicreative.web.ui.Handlers`)."""

    def cost_state(self, size: str, count: float, request: gr.Request) -> tuple[Any, ...]:
        """The cost line and the Generate button: disabled, with the reason, when short."""
        username = getattr(request, "username", None)
        if not username:  # the session ended: the page's script says so
            return gr.update(), gr.update()
        balance = self.studio.balance(str(username))
        affordable = can_afford(size, count, balance)
        return (
            cost_text(size, count, balance, self.studio.settings.credits_help),
            # The reason on the button itself, as well as in the line above it.
            gr.update(interactive=affordable, value=GENERATE if affordable else NOT_ENOUGH),
        )

    def busy(self) -> tuple[Any, ...]:
        """While a generation runs: Generate busy, Stop enabled, the old status gone."""
        return gr.update(interactive=False, value=GENERATING), gr.update(interactive=True), ""

    def ready(self, size: str, count: float, request: gr.Request) -> tuple[Any, ...]:
        """After a generation: Generate as the balance allows, Stop disabled."""
        return (*self.cost_state(size, count, request), gr.update(interactive=False))

    def generate(
        self,
        prompt: str,
        negative: str,
        size: str,
        steps: float,
        guidance: float,
        seed: float | None,
        random_seed: bool,
        count: float,
        request: gr.Request,
        progress: gr.Progress = gr.Progress(),  # noqa: B008 - Gradio's documented idiom
    ) -> tuple[Any, ...]:
        """Generate: (latest images' payload, status line, header)."""
        studio = self.studio
        username = user_of(request)
        self.cancels.clear(username)
        try:
            width, height = parse_size(size)
            gen = GenerationRequest.from_dict(
                {
                    "prompt": prompt or "",
                    "negative_prompt": negative or "",
                    "width": width,
                    "height": height,
                    # Raw values: the request's own checks word every refusal
                    # (int() here would turn NaN into a crash, not a message).
                    "steps": steps,
                    "guidance": guidance,
                    "seed": None if random_seed or seed is None else seed,
                    "num_images": count,
                }
            )
            progress(0, desc="Starting")
            studio.record_use(username)
            account_id = studio.account_id(username)
            result = self._run(username, account_id, gen, progress)
        except AICreativeError as exc:
            return self._failed(public_message(exc), username, request)
        except Exception as exc:  # a bug of ours: say so plainly, no trace to the user
            log.error("generate failed: %s", type(exc).__name__)
            return self._failed(
                "Something went wrong on our side. No credits were taken.", username, request
            )
        payload = result.payload(username)
        refused = deliver(studio, account_id, payload, result.cost)
        if refused:
            return self._failed(refused, username, request)
        return payload, status_html(done_text(result), "ok"), self.header(username, request)

    def _run(
        self, username: str, account_id: str, gen: GenerationRequest, progress: gr.Progress
    ) -> GenerationResult:
        """Run the generation, reporting its place in line and its steps; Stop cancels it."""
        studio = self.studio

        def on_progress(step: int, total: int) -> None:
            self.cancels.check(username)
            studio.deliveries.check()  # the server is stopping: cancel, refund
            progress((step, total), desc="Generating", unit="steps")

        def on_wait(place: int, seconds: float | None) -> None:
            self.cancels.check(username)
            studio.deliveries.check()
            progress(0, desc=waiting_text(place, seconds))

        with studio.deliveries.running(account_id):
            return studio.generate(username, gen, on_progress=on_progress, on_wait=on_wait)

    def _failed(self, message: str, username: str, request: gr.Request) -> tuple[Any, ...]:
        """No new images: the reason in the status line, the header as it is now."""
        return gr.update(), status_html(message, "error"), self.header(username, request)

    def stop(self, request: gr.Request) -> tuple[Any, ...]:
        """Stop: flag the running generation (Stop is enabled only while one runs)."""
        self.cancels.request(user_of(request))
        return (
            status_html("Stopping… the credits of this run will be refunded.", "info"),
            gr.update(interactive=False),
        )


def _create_form(events: CreateEvents, page: Page) -> dict[str, Any]:
    """The tab's components, by name: the form on the left, the latest images on the right.

    Generate and its status sit right under the prompt (Advanced below
    them), so the answer appears where the eye is.
    """
    c: dict[str, Any] = {}
    with gr.Row(equal_height=False):
        with gr.Column(scale=2, min_width=300):
            c["prompt"] = gr.Textbox(
                label="Prompt",
                info="Ctrl+Enter (⌘+Enter on a Mac) generates; Enter starts a new line.",
                lines=3,
                max_length=1000,
                placeholder="A lighthouse on a cliff at dawn, watercolour",
                elem_id="prompt",
            )
            c["negative"] = gr.Textbox(
                label="Negative prompt (optional)",
                max_length=1000,
                placeholder="blurry, text",
                elem_id="negative",
            )
            with gr.Row():
                c["size"] = gr.Dropdown(SIZES, value="512x512", label="Size", elem_id="size")
                c["count"] = gr.Slider(
                    1, MAX_IMAGES, value=1, step=1, label="Images", elem_id="count"
                )
            c["cost"] = gr.HTML(cost_text("512x512", 1), elem_id="cost", apply_default_css=False)
            with gr.Row(elem_id="ac-actions"):
                c["go"] = gr.Button(GENERATE, variant="primary", elem_id="generate")
                c["halt"] = gr.Button(
                    "Stop", variant="secondary", elem_id="stop", interactive=False
                )
            c["status"] = gr.HTML(elem_id="status", apply_default_css=False)
            _advanced(c)
        with gr.Column(scale=3, min_width=300):
            c["latest"] = gr.HTML(
                value=None,
                html_template='<div class="ac-latest" data-testid="latest"></div>',
                js_on_load=with_gallery(
                    "AICreative.connect(server); "
                    "watch('value', () => AICreative.receive(props.value, "
                    "element.querySelector('.ac-latest')));"
                ),
                elem_id="latest",
                apply_default_css=False,
                # Also here: the Gallery tab mounts only when opened.
                server_functions=delivery_functions(events.studio),
            )
    page.cost, page.size, page.count, page.generate = c["cost"], c["size"], c["count"], c["go"]
    return c


def _advanced(c: dict[str, Any]) -> None:
    """The Advanced accordion: steps, guidance and the seed."""
    with gr.Accordion("Advanced", open=False):
        c["steps"] = gr.Slider(1, MAX_STEPS, value=1, step=1, label="Steps", elem_id="steps")
        c["guidance"] = gr.Slider(
            0, MAX_GUIDANCE, value=0, step=0.5, label="Guidance", elem_id="guidance"
        )
        with gr.Row():
            c["seed"] = gr.Number(
                label="Seed", value=0, precision=0, minimum=0, maximum=MAX_SEED, elem_id="seed"
            )
            c["random_seed"] = gr.Checkbox(value=True, label="Random seed", elem_id="random-seed")


def build_create_tab(events: CreateEvents, page: Page) -> None:
    """The Create tab: its components, then its events."""
    with gr.Tab("Create", id="create", elem_id="tab-create"):
        c = _create_form(events, page)
    # One event for both controls, always its last trigger: two answers in
    # flight could otherwise land out of order and show a stale cost.
    gr.on(
        [c["size"].change, c["count"].change],
        events.cost_state,
        [c["size"], c["count"]],
        [c["cost"], c["go"]],
        queue=False,
        show_progress="hidden",
        api_visibility="private",
        trigger_mode="always_last",
    )
    running = c["go"].click(
        events.busy,
        None,
        [c["go"], c["halt"], c["status"]],
        queue=False,
        show_progress="hidden",
        api_visibility="private",
    )
    form = ["prompt", "negative", "size", "steps", "guidance", "seed", "random_seed", "count"]
    run = running.then(
        events.generate,
        [c[name] for name in form],
        [c["latest"], c["status"], page.header],
        api_name="generate",
        # The scheduler (aicreative/scheduler.py) orders and batches the
        # requests fairly; Gradio's own FIFO in front of it would undo that.
        concurrency_limit=QUEUE_LIMIT,
        # One progress display, where the images will appear (not over the
        # header, which would hide the balance and the log-out button).
        show_progress_on=[c["latest"]],
    )
    run.then(
        events.ready,
        [c["size"], c["count"]],
        [c["cost"], c["go"], c["halt"]],
        queue=False,
        show_progress="hidden",
        api_visibility="private",
    )
    c["halt"].click(events.stop, None, [c["status"], c["halt"]], api_name="stop", queue=False)
