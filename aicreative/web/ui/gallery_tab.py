"""The Gallery tab: a mount point for gallery.js (the gallery lives in the browser).

The images, prompts and settings are stored in the browser only, encrypted
(``static/gallery/``); the server's part is the delivery functions that
hand over paid results (:mod:`aicreative.web.delivery`).
"""

from __future__ import annotations

import gradio as gr

from ...studio import Studio
from ..delivery import delivery_functions
from .parts import with_gallery


def build_gallery_tab(studio: Studio) -> None:
    """The Gallery tab (no events of its own: gallery.js talks to the server)."""
    with gr.Tab("Gallery", id="gallery", elem_id="tab-gallery"):
        gr.HTML(
            elem_id="ac-gallery",
            html_template='<div class="ac-gallery-root" data-testid="gallery"></div>',
            js_on_load=with_gallery(
                "AICreative.connect(server); "
                "AICreative.mountGallery(element.querySelector('.ac-gallery-root'));"
            ),
            apply_default_css=False,
            server_functions=delivery_functions(studio),
        )
