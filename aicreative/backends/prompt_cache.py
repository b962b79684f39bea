"""The text encoder's output for recent prompts, kept in memory only.

"Generate again", a 4-image request (four one-image jobs in the scheduler)
and a negative prompt used over and over all encode the same text: on a
2-core CPU that is a CLIP forward pass per image. A small LRU of encodings
skips it. It is bounded (``size`` entries: sd-turbo's 77x1024 float32 is
about 0.3 MB each), keyed by a hash of the text, never written to disk and
never logged; it dies with the process.

>>> cache = PromptCache(size=2)
>>> calls = []
>>> encode = lambda text: calls.append(text) or len(text)
>>> cache.get("kite", encode), cache.get("kite", encode), calls
(4, 4, ['kite'])
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class PromptCache(Generic[T]):
    """An LRU of ``encode(text)`` results, at most ``size`` of them."""

    def __init__(self, size: int = 32) -> None:
        self.size = size
        self._items: OrderedDict[bytes, T] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def get(self, text: str, encode: Callable[[str], T]) -> T:
        """The encoding of ``text``: from memory, or made now and kept."""
        key = hashlib.sha256(text.encode()).digest()
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                self.hits += 1
                return self._items[key]
        value = encode(text)
        with self._lock:
            self.misses += 1
            self._items[key] = value
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return value

    def __len__(self) -> int:
        return len(self._items)

    def clear(self) -> None:
        """Forget every encoding, and the hit and miss counts."""
        with self._lock:
            self._items.clear()
            self.hits = self.misses = 0
