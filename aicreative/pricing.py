"""Prices: what a generation costs in credits. The one place for prices.

A rule of the studio (it charges and refunds), not of the backend contract:
a backend makes images and knows nothing of credits. One credit buys one
image of up to 512x512 pixels; a larger image costs one credit per started
512x512 area, and a request costs its images' sum.

>>> from aicreative.backends.base import GenerationRequest
>>> cost(GenerationRequest("a red fox", seed=7))
1
>>> cost(GenerationRequest("a red fox", width=1024, height=1024, num_images=2))
8
>>> cost_per_image(GenerationRequest("a red fox", width=576, height=512))
2
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .backends.base import GenerationRequest

#: One credit buys this many pixels of one image (a started area counts whole).
CREDIT_AREA = 512 * 512


def cost_per_image(request: GenerationRequest) -> int:
    """Credits for one image of ``request``: one per started 512x512 area."""
    return -(-(request.width * request.height) // CREDIT_AREA)


def cost(request: GenerationRequest) -> int:
    """Credits for the whole request (every image of it)."""
    return cost_per_image(request) * request.num_images
