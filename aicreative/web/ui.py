"""The Gradio interface: Create, Gallery, Account, Privacy and Admin tabs.

Owns the Blocks that people use after logging in. Generated images leave
the server only as data in a ``gr.HTML`` value (base64 PNG in a dict),
never as a file component, so Gradio writes nothing to its cache; the
browser modules (``static/gallery/``) store them in IndexedDB. Every
event reads the user from the session (``gr.Request.username``, set by
the app's ``auth_dependency``), never from an input.

Layout: one builder function per tab (``build_create_tab`` ...) that
makes its components and wires its events; the event handlers are the
methods of :class:`Handlers`, which a test can call without any Blocks.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import html
import logging
import threading
import uuid
from collections.abc import Callable
from typing import Any

import gradio as gr

from .. import pricing
from ..backends.base import MAX_GUIDANCE, MAX_IMAGES, MAX_SEED, MAX_STEPS, GenerationRequest
from ..errors import AICreativeError, Cancelled, PermissionDenied
from ..policy import format_date
from ..studio import Studio
from .account import DONE, account_forms, credits_help_html
from .delivery import deliver, delivery_functions, delivery_notice
from .pages import public_message
from .tokens_ui import build_token_section

log = logging.getLogger(__name__)

ADMIN_PAGE = 20
#: Generation events Gradio lets into the handler at once; the rest wait in
#: Gradio's queue. Each user's share is capped by the scheduler (max_waiting).
QUEUE_LIMIT = 64
SIZES = ["512x512", "768x768", "1024x1024", "512x768", "768x512", "384x384", "256x256"]
#: Runs when a component mounts; waits for gallery.js (loaded from the head).
_WITH_GALLERY = (
    "(function go(){{ if (window.AICreative) {{ {body} }} else setTimeout(go, 30); }})();"
)


def _js(body: str) -> str:
    return _WITH_GALLERY.format(body=body)


def _size(value: str) -> tuple[int, int]:
    try:
        width, height = (int(part) for part in str(value).lower().split("x"))
    except ValueError:
        raise AICreativeError("Please choose a size from the list.") from None
    return width, height


def plural(count: int, noun: str) -> str:
    """``1 credit``, ``2 credits``, ``0 credits``."""
    return f"{count} {noun}{'' if count == 1 else 's'}"


class _Cancels:
    """Per-user stop flags: Gradio cannot stop a running thread, so the
    backend's progress callback checks the flag and raises Cancelled."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._flags: set[str] = set()

    def request(self, username: str) -> None:
        with self._lock:
            self._flags.add(username.lower())

    def clear(self, username: str) -> None:
        with self._lock:
            self._flags.discard(username.lower())

    def check(self, username: str) -> None:
        with self._lock:
            if username.lower() in self._flags:
                self._flags.discard(username.lower())
                raise Cancelled()


def header_html(studio: Studio, username: str, csrf_token: str) -> str:
    """The top bar: name, backend, user, balance and a log-out form."""
    account = studio.account(username)
    backend = studio.backend_label
    demo = (
        ' <span class="ac-demo-badge" data-testid="demo-badge">demo</span>'
        if studio.is_demo
        else ""
    )
    admin = ' <span class="ac-role">admin</span>' if account.is_admin else ""
    # Until the email is confirmed the account has no sign-up credits; say so,
    # with a way to have the link sent again (throttled in the Studio).
    unconfirmed = (
        ""
        if account.email_confirmed
        else '<form method="post" action="/account/confirm" class="ac-logout" '
        'data-testid="email-unconfirmed"><span>Email not confirmed yet (your free credits '
        "come with it)</span>"
        f'<input type="hidden" name="csrf_token" value="{html.escape(csrf_token)}">'
        '<button type="submit" data-testid="resend-confirmation">Resend link</button></form>'
    )
    return (
        f'<div class="ac-header" data-user="{html.escape(account.username)}">'
        # The page's one h1: the app's name, as on every other page.
        '<h1 class="ac-header-brand"><span class="ac-logo" aria-hidden="true">◆</span> AI Creative</h1>'
        f'<div class="ac-header-backend" data-testid="backend-label" title="{html.escape(studio.backend_reason)}">'
        f"{html.escape(backend)}{demo}</div>"
        '<div class="ac-header-user">'
        f'<span class="ac-username" data-testid="header-username">{html.escape(account.username)}</span>{admin}'
        f'<span class="ac-balance" data-testid="balance"><b>{account.credits}</b> '
        f"credit{'' if account.credits == 1 else 's'}</span>"
        f"{unconfirmed}"
        '<form method="post" action="/logout" class="ac-logout">'
        f'<input type="hidden" name="csrf_token" value="{html.escape(csrf_token)}">'
        '<button type="submit" data-testid="logout">Log out</button></form>'
        "</div></div>"
    )


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


def status_html(message: str, kind: str = "info") -> str:
    """A status line (kind: info, ok or error)."""
    return (
        f'<div class="ac-status ac-status-{kind}" data-testid="status">{html.escape(message)}</div>'
    )


_status = status_html


def user_of(request: gr.Request) -> str:
    """The logged-in user of an event (set by the app's auth dependency)."""
    username = getattr(request, "username", None)
    if not username:
        raise AICreativeError("Your session has ended. Please log in again.")
    return str(username)


def cost_text(size: str, count: float, balance: int | None = None, credits_help: str = "") -> str:
    """The cost line above Generate: the cost, the balance, and what to do when short.

    >>> cost_text("512x512", 1, 10)
    '<p class="ac-cost" data-testid="cost-line">This costs <b>1 credit</b> (1 per image); you have 10.</p>'
    """
    try:
        width, height = _size(size)
        request = GenerationRequest.from_dict(
            {"prompt": "cost", "width": width, "height": height, "num_images": count}
        )
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
        width, height = _size(size)
        request = GenerationRequest.from_dict(
            {"prompt": "cost", "width": width, "height": height, "num_images": count}
        )
        cost = pricing.cost(request)
    except AICreativeError:
        return False
    return cost <= balance


#: The Generate button: ready, or busy while an image is being made.
GENERATE, GENERATING, NOT_ENOUGH = "Generate", "Generating…", "Not enough credits"


@dataclasses.dataclass
class Handlers:
    """Every event handler of the UI, over one Studio; callable from tests.

    ``csrf_for(request)`` gives the form token for a request's session.
    """

    studio: Studio
    csrf_for: Callable[[Any], str]
    cancels: _Cancels = dataclasses.field(default_factory=_Cancels)

    # -- the page as a whole ----------------------------------------------------

    def on_load(self, request: gr.Request) -> tuple[Any, ...]:
        studio = self.studio
        username = user_of(request)
        delivered = delivery_notice(studio, username)
        account = studio.account(username)
        # Notices are worked out before this visit records acceptance, so
        # the first visit after a change still says what changed.
        notices = studio.policy.notices(studio.policy.today(), account.policy_version)
        studio.record_use(username)
        parts = [
            f'<div class="ac-notice" data-testid="policy-notice">{html.escape(n.message)} '
            f'<a href="/privacy/v{n.version}" target="_blank">Read version {n.version}</a></div>'
            for n in notices
        ]
        if delivered:
            parts.insert(0, delivered)
        params = getattr(request, "query_params", None) or {}
        # An Account action's result is shown on the Account tab, which opens.
        done = DONE.get(str(params.get("done", "")), "")
        csrf = self.csrf_for(request)
        is_admin = account.is_admin
        rows, info = self.admin_rows(username, "", 1) if is_admin else ([], "")
        return (
            header_html(studio, username, csrf),
            "".join(parts),
            account_forms(studio, account, csrf),
            gr.update(visible=is_admin),
            rows,
            info,
            # Appended, so that API callers' indices of the ones above stay.
            gr.update(selected="account") if done else gr.update(),
            (
                f'<p class="ac-result ac-result-ok" role="status" data-testid="done">{html.escape(done)}</p>'
                if done
                else ""
            ),
        )

    # -- Create -------------------------------------------------------------------

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
        studio = self.studio
        username = user_of(request)
        self.cancels.clear(username)
        try:
            width, height = _size(size)
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

            def on_progress(step: int, total: int) -> None:
                self.cancels.check(username)
                studio.deliveries.check()  # the server is stopping: cancel, refund
                progress((step, total), desc="Generating", unit="steps")

            def on_wait(place: int, seconds: float | None) -> None:
                self.cancels.check(username)
                studio.deliveries.check()
                progress(0, desc=waiting_text(place, seconds))

            progress(0, desc="Starting")
            studio.record_use(username)
            account_id = studio.account_id(username)
            with studio.deliveries.running(account_id):
                result = studio.generate(username, gen, on_progress=on_progress, on_wait=on_wait)
        except AICreativeError as exc:
            return (
                gr.update(),
                _status(public_message(exc), "error"),
                header_html(studio, username, self.csrf_for(request)),
            )
        except Exception as exc:  # a bug of ours: say so plainly, no trace to the user
            log.error("generate failed: %s", type(exc).__name__)
            return (
                gr.update(),
                _status("Something went wrong on our side. No credits were taken.", "error"),
                header_html(studio, username, self.csrf_for(request)),
            )
        payload = {
            "kind": "generation",
            "user": username,
            "batch": uuid.uuid4().hex,
            # Milliseconds: two generations in one second keep their order in the gallery.
            "created": dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")[:-6] + "Z",
            "prompt": result.request.prompt,
            "negative_prompt": result.request.negative_prompt,
            "settings": {
                "width": result.request.width,
                "height": result.request.height,
                "steps": result.request.steps,
                "guidance": result.request.guidance,
                "num_images": result.request.num_images,
                "backend": result.backend,
            },
            "images": [
                {"seed": seed_, "data_url": url}
                for seed_, url in zip(result.seeds, result.data_urls(), strict=True)
            ],
            "balance": result.balance,
        }
        refused = deliver(studio, account_id, payload, result.cost)
        if refused:
            return (
                gr.update(),
                _status(refused, "error"),
                header_html(studio, username, self.csrf_for(request)),
            )
        done = (
            f"Made {len(result.png)} image{'s' if len(result.png) != 1 else ''} for "
            f"{result.cost} credit{'s' if result.cost != 1 else ''} in {result.seconds:.1f} s; "
            f"{result.balance} left. Saved in this browser's gallery."
        )
        return payload, _status(done, "ok"), header_html(studio, username, self.csrf_for(request))

    def stop(self, request: gr.Request) -> tuple[Any, ...]:
        # Stop is enabled only while a generation runs (see busy/ready).
        self.cancels.request(user_of(request))
        return (
            _status("Stopping… the credits of this run will be refunded.", "info"),
            gr.update(interactive=False),
        )

    # -- Account --------------------------------------------------------------------

    def account_view(self, request: gr.Request) -> str:
        username = user_of(request)
        return account_forms(self.studio, self.studio.account(username), self.csrf_for(request))

    # -- Admin ------------------------------------------------------------------------

    def admin_rows(self, actor: str, query: str, page: float | None) -> tuple[list[list[Any]], str]:
        number = max(1, int(page or 1))
        rows, total = self.studio.admin_accounts(actor, query or "", number, ADMIN_PAGE)
        pages = max(1, -(-total // ADMIN_PAGE))
        table = [
            [r["username"], r["email"], r["credits"], "yes" if r["objected"] else "no"]
            for r in rows
        ]
        return table, f"{total} account(s) · page {min(number, pages)} of {pages}"

    def admin_list(self, query: str, page: float | None, request: gr.Request) -> tuple[Any, ...]:
        try:
            return self.admin_rows(user_of(request), query, page)
        except PermissionDenied as exc:
            raise gr.Error(str(exc)) from None

    def admin_credit(
        self,
        target: str,
        amount: float | None,
        query: str,
        page: float | None,
        request: gr.Request,
    ) -> tuple[Any, ...]:
        actor = user_of(request)
        try:
            self.studio.require_admin(actor)
            balance = self.studio.admin_grant(actor, (target or "").strip(), int(amount or 0))
            message = _status(f"{target.strip()} now has {balance} credits.", "ok")
        except PermissionDenied as exc:
            raise gr.Error(str(exc)) from None
        except (AICreativeError, ValueError) as exc:
            message = _status(str(exc), "error")
        return (message, *self.admin_rows(actor, query, page))

    def admin_remove(
        self, target: str, sure: bool, query: str, page: float | None, request: gr.Request
    ) -> tuple[Any, ...]:
        actor = user_of(request)
        try:
            self.studio.require_admin(actor)
            name = (target or "").strip()
            if not sure:
                raise AICreativeError("Tick “I am sure” to delete an account.")
            if name.lower() == actor.lower():
                raise AICreativeError("Delete your own account from the Account tab.")
            self.studio.admin_delete(actor, name)
            message = _status(f"Deleted {name}; every session of it has ended.", "ok")
        except PermissionDenied as exc:
            raise gr.Error(str(exc)) from None
        except AICreativeError as exc:
            message = _status(str(exc), "error")
        return (message, *self.admin_rows(actor, query, page))


# -- the builders: one per part of the page ------------------------------------------


@dataclasses.dataclass
class Page:
    """The components that events of more than one tab read or write."""

    header: Any
    notice: Any
    account_info: Any = None
    admin_tab: Any = None
    admin_table: Any = None
    admin_info: Any = None
    tabs: Any = None
    account_done: Any = None
    cost: Any = None
    size: Any = None
    count: Any = None
    generate: Any = None


def build_header() -> tuple[Any, Any]:
    """The top bar and the notices line under it."""
    # Our own markup and CSS (app.css, gallery.css): without Gradio's "prose"
    # styles, whose `.prose *` colour and button rules outrank ours.
    header = gr.HTML(
        elem_id="ac-header",
        apply_default_css=False,
        js_on_load=_js(
            # The gallery is keyed by account id: a new username moves nothing
            # (a link can no longer move or wipe a gallery, issue 11 item 8).
            "const sync = () => { const h = element.querySelector('[data-user]'); "
            "if (h) AICreative.setUser(h.dataset.user); }; sync(); watch('value', sync);"
        ),
    )
    notice = gr.HTML(elem_id="ac-notices")
    return header, notice


def build_create_tab(handlers: Handlers, page: Page) -> None:
    """The Create tab: the form, cost, Generate and Stop, and the latest images.

    Generate and its status sit right under the prompt (Advanced below
    them), so the answer appears where the eye is.
    """
    with gr.Tab("Create", id="create", elem_id="tab-create"):
        with gr.Row(equal_height=False):
            with gr.Column(scale=2, min_width=300):
                prompt = gr.Textbox(
                    label="Prompt",
                    info="Ctrl+Enter (⌘+Enter on a Mac) generates; Enter starts a new line.",
                    lines=3,
                    max_length=1000,
                    placeholder="A lighthouse on a cliff at dawn, watercolour",
                    elem_id="prompt",
                )
                negative = gr.Textbox(
                    label="Negative prompt (optional)",
                    max_length=1000,
                    placeholder="blurry, text",
                    elem_id="negative",
                )
                with gr.Row():
                    size = gr.Dropdown(SIZES, value="512x512", label="Size", elem_id="size")
                    count = gr.Slider(
                        1, MAX_IMAGES, value=1, step=1, label="Images", elem_id="count"
                    )
                cost = gr.HTML(cost_text("512x512", 1), elem_id="cost", apply_default_css=False)
                with gr.Row(elem_id="ac-actions"):
                    go = gr.Button(GENERATE, variant="primary", elem_id="generate")
                    halt = gr.Button("Stop", variant="secondary", elem_id="stop", interactive=False)
                status = gr.HTML(elem_id="status", apply_default_css=False)
                with gr.Accordion("Advanced", open=False):
                    steps = gr.Slider(1, MAX_STEPS, value=1, step=1, label="Steps", elem_id="steps")
                    guidance = gr.Slider(
                        0, MAX_GUIDANCE, value=0, step=0.5, label="Guidance", elem_id="guidance"
                    )
                    with gr.Row():
                        seed = gr.Number(
                            label="Seed",
                            value=0,
                            precision=0,
                            minimum=0,
                            maximum=MAX_SEED,
                            elem_id="seed",
                        )
                        random_seed = gr.Checkbox(
                            value=True, label="Random seed", elem_id="random-seed"
                        )
            with gr.Column(scale=3, min_width=300):
                latest = gr.HTML(
                    value=None,
                    html_template='<div class="ac-latest" data-testid="latest"></div>',
                    js_on_load=_js(
                        "AICreative.connect(server); "
                        "watch('value', () => AICreative.receive(props.value, "
                        "element.querySelector('.ac-latest')));"
                    ),
                    elem_id="latest",
                    apply_default_css=False,
                    # Also here: the Gallery tab mounts only when opened.
                    server_functions=delivery_functions(handlers.studio),
                )
    page.cost, page.size, page.count, page.generate = cost, size, count, go

    # One event for both controls, always its last trigger: two answers in
    # flight could otherwise land out of order and show a stale cost.
    gr.on(
        [size.change, count.change],
        handlers.cost_state,
        [size, count],
        [cost, go],
        queue=False,
        show_progress="hidden",
        api_visibility="private",
        trigger_mode="always_last",
    )
    running = go.click(
        handlers.busy,
        None,
        [go, halt, status],
        queue=False,
        show_progress="hidden",
        api_visibility="private",
    )
    run = running.then(
        handlers.generate,
        [prompt, negative, size, steps, guidance, seed, random_seed, count],
        [latest, status, page.header],
        api_name="generate",
        # The scheduler (aicreative/scheduler.py) orders and batches the
        # requests fairly; Gradio's own FIFO in front of it would undo that.
        concurrency_limit=QUEUE_LIMIT,
        # One progress display, where the images will appear (not over the
        # header, which would hide the balance and the log-out button).
        show_progress_on=[latest],
    )
    run.then(
        handlers.ready,
        [size, count],
        [cost, go, halt],
        queue=False,
        show_progress="hidden",
        api_visibility="private",
    )
    halt.click(handlers.stop, None, [status, halt], api_name="stop", queue=False)


def build_gallery_tab(studio: Studio) -> None:
    """The Gallery tab: a mount point for gallery.js (the gallery lives in the browser)."""
    with gr.Tab("Gallery", id="gallery", elem_id="tab-gallery"):
        gr.HTML(
            elem_id="ac-gallery",
            html_template='<div class="ac-gallery-root" data-testid="gallery"></div>',
            js_on_load=_js(
                "AICreative.connect(server); "
                "AICreative.mountGallery(element.querySelector('.ac-gallery-root'));"
            ),
            apply_default_css=False,
            server_functions=delivery_functions(studio),
        )


def build_account_tab(handlers: Handlers, page: Page) -> None:
    """The Account tab: what this browser holds, and the stored data with its forms."""
    with gr.Tab("Account", id="account", elem_id="tab-account") as account_tab:
        # The result of the change just made (set on load, kept when the forms re-render).
        page.account_done = gr.HTML(elem_id="account-done", apply_default_css=False)
        gr.HTML(
            html_template=(
                '<div class="ac-section"><h3>What this browser holds</h3>'
                '<p class="ac-usage" data-testid="usage"></p>'
                "<p>Your gallery (images, prompts, settings) is stored here only, "
                "encrypted with a key only your logged-in session gets: after you log "
                "out nothing of it is readable in this browser. "
                "Delete it from the Gallery tab.</p></div>"
            ),
            js_on_load=_js("AICreative.mountUsage(element.querySelector('.ac-usage'));"),
        )
        page.account_info = gr.HTML(elem_id="account-info")
        build_token_section(handlers.studio)  # issue 15: API tokens
    # The stored data changes with every generation and admin grant: show
    # it as stored now whenever the tab is opened.
    account_tab.select(
        handlers.account_view,
        None,
        page.account_info,
        api_visibility="private",
        show_progress="hidden",
    )


def build_privacy_tab(studio: Studio) -> None:
    """The Privacy tab: the policy in force, with a link to every version."""
    current_policy = studio.policy.current() or studio.policy.latest()
    with gr.Tab("Privacy", id="privacy", elem_id="tab-privacy"):
        gr.HTML(
            f'<div class="ac-policy"><p class="ac-meta">Version {current_policy.version} · effective '
            f"{html.escape(format_date(current_policy.effective))} · "
            '<a href="/privacy" target="_blank">open as a page, with earlier versions</a></p>'
            f"{current_policy.html(studio.settings.contact_email)}</div>"
        )


def build_admin_tab(handlers: Handlers, page: Page) -> None:
    """The Admin tab (shown to admins only; the server refuses the rest anyway)."""
    with gr.Tab("Admin", id="admin", elem_id="tab-admin", visible=False) as admin_tab:
        gr.Markdown(
            "Accounts, as admins may see them: username, email, credits and the "
            "objection flag. Nothing else is shown or stored."
        )
        with gr.Row():
            search = gr.Textbox(label="Search username or email", elem_id="admin-search")
            number = gr.Number(value=1, label="Page", precision=0, minimum=1, elem_id="admin-page")
            find = gr.Button("Search", elem_id="admin-find")
        table = gr.Dataframe(
            headers=["username", "email", "credits", "objected"],
            datatype=["str", "str", "number", "str"],
            interactive=False,
            elem_id="admin-table",
        )
        table_info = gr.Markdown(elem_id="admin-info")
        with gr.Row():
            target = gr.Textbox(label="Username", elem_id="admin-target")
            amount = gr.Number(
                label="Credits (+ give, − remove)", precision=0, value=10, elem_id="admin-amount"
            )
            apply = gr.Button("Apply credits", elem_id="admin-apply")
        with gr.Row():
            doomed = gr.Textbox(label="Username to delete", elem_id="admin-doomed")
            sure = gr.Checkbox(label="I am sure", elem_id="admin-sure")
            remove = gr.Button("Delete account", variant="stop", elem_id="admin-delete")
        admin_status = gr.HTML(elem_id="admin-status")
    page.admin_tab, page.admin_table, page.admin_info = admin_tab, table, table_info

    find.click(handlers.admin_list, [search, number], [table, table_info], api_name="admin_list")
    search.submit(
        handlers.admin_list, [search, number], [table, table_info], api_visibility="private"
    )
    apply.click(
        handlers.admin_credit,
        [target, amount, search, number],
        [admin_status, table, table_info],
        api_name="admin_grant",
    )
    remove.click(
        handlers.admin_remove,
        [doomed, sure, search, number],
        [admin_status, table, table_info],
        api_name="admin_delete",
    )


def build_ui(studio: Studio, csrf_for: Any) -> gr.Blocks:
    """The Blocks for ``studio``; ``csrf_for(request)`` gives a form token."""
    handlers = Handlers(studio, csrf_for)
    with gr.Blocks(title="AI Creative", analytics_enabled=False, delete_cache=None) as demo:
        page = Page(*build_header())
        with gr.Tabs(elem_id="ac-tabs") as page.tabs:
            build_create_tab(handlers, page)
            build_gallery_tab(studio)
            build_account_tab(handlers, page)
            build_privacy_tab(studio)
            build_admin_tab(handlers, page)
        demo.load(
            handlers.on_load,
            None,
            [
                page.header,
                page.notice,
                page.account_info,
                page.admin_tab,
                page.admin_table,
                page.admin_info,
                page.tabs,
                page.account_done,
            ],
            api_name="session",
        ).then(
            handlers.cost_state,
            [page.size, page.count],
            [page.cost, page.generate],
            queue=False,
            show_progress="hidden",
            api_visibility="private",
        )
    return demo
