"""The backend contract: what a generation request is and what a backend does.

A backend turns a validated :class:`GenerationRequest` into PIL images and
reports progress step by step. Nothing here imports a model library.
"""

from __future__ import annotations

import dataclasses
import math
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from ..errors import ValidationError

if TYPE_CHECKING:
    from PIL import Image

#: ``on_progress(step, total)``; it may raise :class:`~aicreative.errors.Cancelled`.
ProgressCallback = Callable[[int, int], None]

MAX_PROMPT = 1000
MIN_SIDE, MAX_SIDE, SIDE_STEP = 256, 1024, 64
MAX_STEPS = 50
MAX_GUIDANCE = 20.0
MAX_SEED = 2**32 - 1
MAX_IMAGES = 4


@dataclasses.dataclass(frozen=True)
class GenerationRequest:
    """What to generate. Validated on creation; raises ValidationError.

    What it costs is the studio's rule, in :mod:`aicreative.pricing`.

    >>> GenerationRequest("a red fox", seed=7).image_seeds()
    [7]
    >>> GenerationRequest("a red fox", width=100)
    Traceback (most recent call last):
    ...
    aicreative.errors.ValidationError: The width must be a multiple of 64 from 256 to 1024 pixels (got 100).
    """

    prompt: str
    negative_prompt: str = ""
    width: int = 512
    height: int = 512
    steps: int = 1
    guidance: float = 0.0
    #: None means "pick a random seed" (see :meth:`with_seed`).
    seed: int | None = None
    num_images: int = 1
    #: Write prompt and settings into the PNG text chunks (off: privacy).
    embed_metadata: bool = False

    def __post_init__(self) -> None:
        prompt = self.prompt.strip() if isinstance(self.prompt, str) else None
        if not prompt:
            raise ValidationError("Please enter a prompt.", "prompt")
        if len(prompt) > MAX_PROMPT:
            raise ValidationError(
                f"The prompt is {len(prompt)} characters; the limit is {MAX_PROMPT}.",
                "prompt",
            )
        object.__setattr__(self, "prompt", prompt)
        if not isinstance(self.negative_prompt, str):
            raise ValidationError("The negative prompt must be text.", "negative_prompt")
        negative = self.negative_prompt.strip()
        if len(negative) > MAX_PROMPT:
            raise ValidationError(
                f"The negative prompt is {len(negative)} characters; the limit is {MAX_PROMPT}.",
                "negative_prompt",
            )
        object.__setattr__(self, "negative_prompt", negative)
        for name in ("width", "height"):
            value = _as_int(getattr(self, name), name)
            if not (MIN_SIDE <= value <= MAX_SIDE) or value % SIDE_STEP:
                raise ValidationError(
                    f"The {name} must be a multiple of {SIDE_STEP} from "
                    f"{MIN_SIDE} to {MAX_SIDE} pixels (got {value}).",
                    name,
                )
            object.__setattr__(self, name, value)
        steps = _as_int(self.steps, "steps")
        if not 1 <= steps <= MAX_STEPS:
            raise ValidationError(f"Steps must be from 1 to {MAX_STEPS} (got {steps}).", "steps")
        object.__setattr__(self, "steps", steps)
        try:
            guidance = float(self.guidance)
        except (TypeError, ValueError):
            raise ValidationError("Guidance must be a number.", "guidance") from None
        if not (0.0 <= guidance <= MAX_GUIDANCE) or math.isnan(guidance):
            raise ValidationError(
                f"Guidance must be from 0 to {MAX_GUIDANCE:g} (got {guidance:g}).", "guidance"
            )
        object.__setattr__(self, "guidance", guidance)
        if self.seed is not None:
            seed = _as_int(self.seed, "seed")
            if not 0 <= seed <= MAX_SEED:
                raise ValidationError(f"The seed must be from 0 to {MAX_SEED}, or random.", "seed")
            object.__setattr__(self, "seed", seed)
        count = _as_int(self.num_images, "num_images")
        if not 1 <= count <= MAX_IMAGES:
            raise ValidationError(
                f"You can make from 1 to {MAX_IMAGES} images at a time (got {count}).",
                "num_images",
            )
        object.__setattr__(self, "num_images", count)
        object.__setattr__(self, "embed_metadata", bool(self.embed_metadata))

    def with_seed(self) -> GenerationRequest:
        """This request with a concrete seed (a random one when unset)."""
        if self.seed is not None:
            return self
        return dataclasses.replace(self, seed=secrets.randbelow(MAX_SEED + 1))

    def image_seeds(self) -> list[int]:
        """The seed of each image: the request's seed, then +1, +2..."""
        base = self.with_seed().seed or 0
        return [(base + i) % (MAX_SEED + 1) for i in range(self.num_images)]

    def settings(self) -> dict[str, Any]:
        """The request as plain data (for the browser's gallery, never the server's disk)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GenerationRequest:
        """Build from loosely typed input (a form, JSON); unknown keys are refused."""
        fields = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - fields
        if unknown:
            raise ValidationError(f"Unknown setting: {', '.join(sorted(unknown))}.")
        values = dict(data)
        seed = values.get("seed")
        if seed in ("", "random", -1):
            values["seed"] = None
        if "prompt" not in values:
            raise ValidationError("Please enter a prompt.", "prompt")
        return cls(**values)


def _as_int(value: object, name: str) -> int:
    if isinstance(value, bool):
        raise ValidationError(f"The {name.replace('_', ' ')} must be a whole number.", name)
    if isinstance(value, float):
        if not value.is_integer():
            raise ValidationError(f"The {name.replace('_', ' ')} must be a whole number.", name)
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            pass
    raise ValidationError(f"The {name.replace('_', ' ')} must be a whole number.", name)


def short_model_name(model_id: str) -> str:
    """How a model is named on screen and in exports: a hub id as it is, a
    local folder by its name only (its full path says where the server keeps
    files)."""
    path = Path(model_id)
    return path.name if path.is_dir() else model_id


@runtime_checkable
class Backend(Protocol):
    """An image generator. ``generate`` returns ``request.num_images`` images.

    The request passed in always has a concrete seed; image ``i`` uses
    ``request.image_seeds()[i]`` so one image can be reproduced alone.
    """

    #: Registry name ("demo", "diffusers", ...).
    name: str
    #: What to show people: "Demo generator (not an AI model)", a model id...
    label: str

    def generate(
        self, request: GenerationRequest, on_progress: ProgressCallback | None = None
    ) -> list[Image.Image]:
        """Make the images; call ``on_progress(step, total)`` as work advances."""
        ...
