"""Entry point for ``python app.py`` and Hugging Face Spaces (``app_file: app.py``).

Settings come from ``AICREATIVE_*`` environment variables (Spaces secrets);
with no model available the app starts on the offline demo backend.
"""

import importlib.util
import os

if os.environ.get("SPACES_ZERO_GPU") and importlib.util.find_spec("spaces"):
    # On ZeroGPU, `spaces` must be imported before torch touches CUDA.
    import spaces  # noqa: F401

from aicreative.config import Settings
from aicreative.web import serve

if __name__ == "__main__":
    serve(Settings.from_env())
