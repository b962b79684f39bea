"""The Gradio interface: Create, Gallery, Account, Privacy and Admin tabs.

Owns the Blocks that people use after logging in, one module per tab:
``create_tab``, ``gallery_tab``, ``account_tab``, ``privacy_tab`` and
``admin_tab``, with ``page`` (header, notices, page load) and ``parts``
(what the tabs share). Each tab module has a builder that makes its
components and wires its events, and a class of handlers; the handlers are
gathered in :class:`Handlers`, which a test calls without any Blocks.
The rules (prices, notices, payloads, who may do what) are the Studio's:
this package only lays them out.
"""

from __future__ import annotations

from typing import Any

import gradio as gr

from ...studio import Studio
from .account_tab import AccountEvents, build_account_tab
from .admin_tab import ADMIN_PAGE, AdminEvents, admin_rows, build_admin_tab
from .create_tab import (
    GENERATE,
    GENERATING,
    NOT_ENOUGH,
    QUEUE_LIMIT,
    SIZES,
    CreateEvents,
    build_create_tab,
    can_afford,
    cost_text,
    waiting_text,
)
from .gallery_tab import build_gallery_tab
from .page import PageEvents, build_header
from .parts import Page, header_html, plural, status_html, user_of
from .privacy_tab import build_privacy_tab

__all__ = [
    "ADMIN_PAGE",
    "GENERATE",
    "GENERATING",
    "NOT_ENOUGH",
    "QUEUE_LIMIT",
    "SIZES",
    "Handlers",
    "admin_rows",
    "build_ui",
    "can_afford",
    "cost_text",
    "header_html",
    "plural",
    "status_html",
    "user_of",
    "waiting_text",
]


class Handlers(PageEvents, CreateEvents, AccountEvents, AdminEvents):
    """Every event handler of the UI, over one Studio; callable from tests.

    ``Handlers(studio, csrf_for)``: ``csrf_for(request)`` gives the form
    token for a request's session. The handlers are bound methods (Gradio
    reads their ``gr.Request`` parameter from the signature), each defined
    in its tab's module.
    """


def build_ui(studio: Studio, csrf_for: Any) -> gr.Blocks:
    """The Blocks for ``studio``; ``csrf_for(request)`` gives a form token."""
    handlers = Handlers(studio, csrf_for)
    with gr.Blocks(title="AI Creative", analytics_enabled=False, delete_cache=None) as demo:
        page: Page = build_header()
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
