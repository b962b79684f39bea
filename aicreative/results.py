"""What a generation hands back, wherever it ran: images, PNG bytes, seeds and the bill.

Owns the part that a generation in this process
(:class:`aicreative.generation.GenerationResult`) and one on a server
(:class:`aicreative.client.RemoteResult`) share: the fields, the images as
``data:`` URLs, and their inline view in a notebook.
"""

from __future__ import annotations

import dataclasses
import html
from typing import TYPE_CHECKING

from . import images as imaging

if TYPE_CHECKING:
    from PIL import Image


@dataclasses.dataclass
class PaidImages:
    """Images with their PNG bytes and seeds, what they cost and the balance left."""

    images: list[Image.Image]
    png: list[bytes]
    seeds: list[int]
    cost: int
    balance: int
    backend: str

    def data_urls(self) -> list[str]:
        """Each PNG as a ``data:`` URL (what the web app sends to the browser)."""
        return [imaging.data_url(png) for png in self.png]

    def title_html(self) -> str:
        """The line above the images in a notebook: the bill and the backend."""
        return f"{self.cost} credit(s), balance {self.balance} &middot; {html.escape(self.backend)}"

    def _repr_html_(self) -> str:
        # Notebooks show the images inline, as data URLs (no file is written).
        tiles = "".join(
            f'<figure style="display:inline-block;margin:4px"><img src="{url}" '
            f'style="max-width:256px" alt="image {i + 1}"><figcaption>seed {seed}</figcaption></figure>'
            for i, (url, seed) in enumerate(zip(self.data_urls(), self.seeds, strict=True))
        )
        return f"<div><p>{self.title_html()}</p>{tiles}</div>"
