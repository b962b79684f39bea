"""AI Creative: a privacy-first text-to-image engine and web app.

The public API for notebooks and scripts::

    >>> from aicreative import Studio, GenerationRequest
    >>> studio = Studio.local()
    >>> _ = studio.signup("ada", "ada@example.org", "correct horse battery")
    >>> result = studio.generate("ada", GenerationRequest("a lighthouse at dawn", seed=1))
    >>> result.balance
    9
"""

from .backends.base import GenerationRequest
from .client import Client, InvalidToken, RemoteResult, ServerUnavailable
from .config import Settings
from .errors import (
    AICreativeError,
    AuthError,
    BackendError,
    Cancelled,
    Conflict,
    InsufficientCredits,
    NotFound,
    PermissionDenied,
    Throttled,
    ValidationError,
)
from .studio import GenerationResult, Studio

__all__ = [
    "AICreativeError",
    "AuthError",
    "BackendError",
    "Cancelled",
    "Client",
    "Conflict",
    "GenerationRequest",
    "GenerationResult",
    "InsufficientCredits",
    "InvalidToken",
    "NotFound",
    "PermissionDenied",
    "RemoteResult",
    "ServerUnavailable",
    "Settings",
    "Studio",
    "Throttled",
    "ValidationError",
]
__version__ = "0.1.0"
