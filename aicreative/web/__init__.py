"""The web layer: the only package that imports Gradio.

``create_app(studio, settings)`` builds the FastAPI app; ``serve(settings)``
runs it. Importing this package does no work beyond imports.
"""

from .app import create_app, serve

__all__ = ["create_app", "serve"]
