"""The web layer: the only package that imports Gradio.

``create_app(studio, settings)`` builds the FastAPI app; ``serve(settings)``
runs it. Importing this package does no work beyond imports.

Where things are: :mod:`.deps` (the studio, the session's account, a checked
form, as typed FastAPI dependencies), :mod:`.refusals` (our errors as pages
or API JSON), :mod:`.rendering` and ``templates/`` (pages and fragments, autoescaped),
:mod:`.pages`, :mod:`.account`, :mod:`.gallery` and :mod:`.api` (routes on a
module-level ``router``; the API's bodies and error shapes in
:mod:`.api_shapes`, its reference in :mod:`.api_docs`), :mod:`.security`,
:mod:`.body_limits` and :mod:`.gradio_guard` (the middleware), :mod:`.ui`
(the Gradio page) and :mod:`.notebook` (the app inline in Jupyter).
"""

from .app import create_app, serve

__all__ = ["create_app", "serve"]
