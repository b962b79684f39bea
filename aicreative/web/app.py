"""The app factory: one FastAPI app with the pages, the headers and the Gradio UI.

Owns how the parts are put together: security middleware first, the one
handler of our errors (:mod:`.refusals`), then the static files, the
module-level routers (:mod:`.pages`, :mod:`.account`, :mod:`.gallery`,
:mod:`.api`), and the Gradio Blocks mounted at ``/`` with
``auth_dependency`` so that the app keeps its one cookie and every Gradio
route asks for a valid session. ``serve`` runs it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import anyio
import gradio as gr
from fastapi import FastAPI, Request
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles

from ..config import Settings
from ..errors import StoreError
from ..studio import Studio
from . import account, gallery, pages
from .api import add_api
from .body_limits import BodyLimit
from .deps import account_of, csrf_binding
from .gradio_guard import GradioSessionGuard
from .refusals import add_refusals
from .security import LoginFirst, SecurityMiddleware, StoreUnavailable, TrustedHosts
from .ui import build_ui

log = logging.getLogger(__name__)
STATIC = Path(__file__).resolve().parent / "static"
HEAD = (
    '<meta name="referrer" content="no-referrer">'
    '<link rel="stylesheet" href="/ac-static/app.css">'
    '<link rel="stylesheet" href="/ac-static/gallery.css">'
    # ES modules (aicreative/web/static/gallery/), each served by the app itself.
    '<script type="module" src="/ac-static/gallery/main.js"></script>'
    '<script src="/ac-static/ui.js"></script>'
)


def _theme() -> gr.themes.Base:
    # System fonts only: a GoogleFont theme would make every page load
    # fetch from a third party.
    # The .set() colours meet WCAG 2.1 AA contrast (4.5:1 for text), which the
    # default's grey captions (2.56:1) and violet-500 buttons (4.23:1) do not.
    return gr.themes.Default(
        primary_hue="violet",
        neutral_hue="slate",
        font=["system-ui", "-apple-system", "Segoe UI", "Roboto", "sans-serif"],
        font_mono=["ui-monospace", "SFMono-Regular", "Menlo", "monospace"],
    ).set(
        body_text_color_subdued="*neutral_600",
        body_text_color_subdued_dark="*neutral_400",
        input_placeholder_color="*neutral_500",
        input_placeholder_color_dark="*neutral_400",
        color_accent="*primary_700",
        color_accent_soft="*primary_50",
        button_primary_background_fill="*primary_700",
        button_primary_background_fill_hover="*primary_800",
        button_primary_background_fill_dark="*primary_700",
        button_primary_background_fill_hover_dark="*primary_800",
        button_primary_text_color="white",
        button_primary_text_color_dark="white",
        button_cancel_background_fill="#b91c1c",
        button_cancel_background_fill_hover="#991b1b",
        button_cancel_background_fill_dark="#b91c1c",
        button_cancel_background_fill_hover_dark="#991b1b",
        button_cancel_text_color="white",
        button_cancel_text_color_dark="white",
    )


def create_app(studio: Studio | None = None, settings: Settings | None = None) -> FastAPI:
    """Build the web app. Tests call it with their own Studio and settings.

    With neither given, settings come from the environment and the Studio
    from the settings (account file, backend, mailer).
    """
    if settings is None:
        settings = studio.settings if studio is not None else Settings.from_env()
    if studio is None:
        studio = Studio.from_settings(settings)
    # Belt and braces: Blocks(analytics_enabled=False) already stops the
    # telemetry; the variable also covers code paths that read it directly.
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    # Gradio's queue rebuilds a pandas summary of all recent events after
    # each one, for a monitoring page this app turns off (~5-10 ms per
    # generate on 2 cores), and keeps 10,000 events' session hashes for it.
    os.environ.setdefault("GRADIO_ANALYTICS_CACHE_FREQUENCY", str(2**62))
    os.environ.setdefault("GRADIO_ANALYTICS_MAX_EVENTS", "1")

    app = FastAPI(
        title="AI Creative",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        lifespan=_deliveries_lifespan(studio),
    )
    app.state.studio = studio
    app.state.settings = settings
    # The REST API for scripts (/api/v1, /v1/images/generations): Bearer tokens only.
    add_api(app, studio)
    add_refusals(app)

    # Roles come from the store; the setting grants admin to accounts that
    # exist now, once, and the grant is stored (a later sign-up gets nothing).
    studio.apply_admin_setting()

    built: list[gr.Blocks] = []  # the UI, built below; its functions are read per request
    _add_middleware(app, studio, settings, built)
    app.mount("/ac-static", StaticFiles(directory=STATIC), name="ac-static")
    app.include_router(pages.router)
    app.include_router(account.router)
    app.include_router(gallery.router)
    built.append(_mount_ui(app, studio))
    _unknown_api_is_404(app)
    return app


def _add_middleware(
    app: FastAPI, studio: Studio, settings: Settings, built: list[gr.Blocks]
) -> None:
    """The middleware, in order. ``built`` will hold the Gradio UI (built after)."""

    def session_user(request: Request) -> str | None:
        account = account_of(studio, request)
        return account.username if account else None

    def session_identity(request: Request) -> str | None:
        """The account id of the session: what Gradio's ids are bound to."""
        account = account_of(studio, request)
        return account.account_id if account else None

    # Starlette runs the last added outermost: headers, then a failing
    # store's 503, then the host check, the session guard, the log-in redirect.
    app.add_middleware(LoginFirst, user_of=session_user, settings=settings, front="/welcome")
    # Each Gradio session hash and event id answers only the account that owns it.
    app.add_middleware(
        GradioSessionGuard,
        user_of=session_identity,
        known_fn=lambda index: bool(built) and index in built[0].fns,
    )
    app.add_middleware(TrustedHosts, settings=settings)
    app.add_middleware(StoreUnavailable)
    # Every body judged (size, no multipart, no uploads) before anything reads it.
    app.add_middleware(BodyLimit)
    app.add_middleware(SecurityMiddleware, settings=settings)


def _mount_ui(app: FastAPI, studio: Studio) -> gr.Blocks:
    """Mount the Gradio UI at ``/``, behind the app's session cookie."""

    def gradio_user(request: Request) -> str | None:
        # Inside Gradio nothing may raise: its error answers could quote the message.
        try:
            account = account_of(studio, request)
        except StoreError as exc:
            log.error("the account store failed: %s", exc)
            return None
        return account.username if account else None

    def csrf_for(request: gr.Request) -> str:
        return studio.tokens.csrf(csrf_binding(request.request, studio.tokens))

    blocks = build_ui(studio, csrf_for)
    gr.mount_gradio_app(
        app,
        blocks,
        path="/",
        auth_dependency=gradio_user,
        run_history=False,
        footer_links=[],
        enable_monitoring=False,
        ssr_mode=False,
        show_error=False,
        pwa=False,
        mcp_server=False,
        max_file_size=1,  # no uploads anywhere in this app
        # Gradio's inner FastAPI app would publish its own /openapi.json to anyone.
        app_kwargs={"openapi_url": None},
        theme=_theme(),
        head=HEAD,
        favicon_path=str(STATIC / "favicon.svg"),
    )
    return blocks


#: Seconds between sweeps of held results past their time (refunds happen then).
SWEEP_SECONDS = 30.0


def _deliveries_lifespan(studio: Studio) -> Callable[[FastAPI], Any]:
    """Sweep expired held results while serving; at the end, refund every undelivered one.

    Held results live in this process's memory only, so a restart cannot keep
    them: at shutdown running generations are stopped (and refunded) and
    every result that never reached a browser is refunded (issue 12).
    """

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async def sweep() -> None:
            while True:
                await asyncio.sleep(SWEEP_SECONDS)
                await anyio.to_thread.run_sync(studio.deliveries.expire)

        task = asyncio.create_task(sweep())
        try:
            yield
        finally:
            task.cancel()
            # In a thread: running generations report progress through the loop.
            await anyio.to_thread.run_sync(studio.shutdown)

    return lifespan


def _unknown_api_is_404(app: FastAPI) -> None:
    """An unknown API name is a caller's mistake: 404, not Gradio's 500."""
    from fastapi.responses import JSONResponse
    from gradio.route_utils import FnIndexInferError
    from starlette.routing import Mount

    async def not_found(request: Request, exc: Exception) -> Response:
        return JSONResponse({"detail": "No such API endpoint."}, status_code=404)

    # The handler must sit on the mounted Gradio app: its own error
    # middleware answers before the outer app's handlers see the error.
    for route in app.routes:
        if isinstance(route, Mount) and isinstance(route.app, gr.routes.App):
            route.app.add_exception_handler(FnIndexInferError, not_found)


def serve(settings: Settings) -> None:
    """Run the app with uvicorn as the settings say (HTTPS when given a cert)."""
    import uvicorn

    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    studio = Studio.from_settings(settings)
    log.info("backend: %s (%s)", studio.backend_label, studio.backend_reason)
    app = create_app(studio, settings)
    scheme = "https" if settings.https else "http"
    log.info("AI Creative on %s://%s:%d", scheme, settings.listen_host, settings.port)
    if not settings.public_base_url:
        log.warning(
            "AICREATIVE_PUBLIC_URL is not set: password reset emails carry no link. "
            "Set it to the site's public address (https://...)."
        )
    log.info("answering requests for hosts: %s", ", ".join(settings.trusted_hosts))
    uvicorn.run(
        app,
        host=settings.listen_host,
        port=settings.port,
        ssl_certfile=settings.ssl_certfile or None,
        ssl_keyfile=settings.ssl_keyfile or None,
        # The app reads forwarded headers itself, only when trust_proxy is set.
        proxy_headers=False,
        # Access logs would keep client addresses and reset-link tokens.
        access_log=False,
        log_level=settings.log_level.lower(),
    )
