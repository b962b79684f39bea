"""Make the landing page's example pictures with the demo backend (no model, no network).

Run once after changing the prompts; the files are committed:
    python scripts/make_examples.py
"""

from __future__ import annotations

from pathlib import Path

from aicreative.backends.base import GenerationRequest
from aicreative.backends.demo import DemoBackend

OUT = Path(__file__).resolve().parent.parent / "aicreative" / "web" / "static" / "examples"
PROMPTS = (
    "A lighthouse on a cliff at dawn, watercolour",
    "A fox in a snowy forest, ink drawing",
    "A city of glass at night, neon",
)


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    backend = DemoBackend()
    for number, prompt in enumerate(PROMPTS, 1):
        request = GenerationRequest.from_dict(
            {"prompt": prompt, "width": 256, "height": 256, "seed": 7}
        )
        (image,) = backend.generate(request)
        image.save(OUT / f"example-{number}.webp", quality=80, method=6)
        print(OUT / f"example-{number}.webp")


if __name__ == "__main__":
    main()
