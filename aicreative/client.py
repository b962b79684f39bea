"""The Python client of a deployed AI Creative server (its REST API, ``/api/v1``).

Owns talking to a server with a personal API token: ``generate`` (PIL
images, seeds, cost, balance) and ``balance``, the exceptions a script
catches, and which calls are retried. A ``GET`` is retried on connection
failures and 502/503/504; a ``POST`` (a generation, which charges) only when
the connection was refused before anything was sent. It is never sent a
second time once it may have reached the server: that could charge twice.
(The server refunds a generation whose caller hung up before the answer.)

>>> from aicreative import Client, Studio
>>> from aicreative.web.notebook import show
>>> studio = Studio.local()
>>> _ = studio.signup("ada", "ada@example.org", "correct horse battery")
>>> token = studio.create_api_token("ada", "doctest").token
>>> with show(studio) as server, Client(server.url, token) as client:
...     result = client.generate("a red kite", seed=7, count=2)
...     (len(result.images), result.images[0].size, result.seeds, result.balance, client.balance())
(2, (512, 512), [7, 8], 8, 8)

Errors are those of :mod:`aicreative.errors` where one fits
(:class:`~aicreative.errors.InsufficientCredits`,
:class:`~aicreative.errors.Throttled`,
:class:`~aicreative.errors.ValidationError`), plus :class:`InvalidToken` and
:class:`ServerUnavailable`.
"""

from __future__ import annotations

import base64
import io
import time
from types import TracebackType
from typing import Any

import httpx

from .errors import (
    AICreativeError,
    AuthError,
    InsufficientCredits,
    PermissionDenied,
    Throttled,
    ValidationError,
)
from .results import PaidImages

__all__ = ["Client", "InvalidToken", "RemoteResult", "ServerUnavailable"]

#: Statuses worth a second try of a GET (the server or its proxy is restarting).
RETRY_STATUSES = frozenset({502, 503, 504})


class InvalidToken(AuthError):
    """The token is missing, unknown, revoked or expired (HTTP 401)."""


class ServerUnavailable(AICreativeError):
    """The server could not be reached or could not do the work (try again later)."""

    status_code = 503


class RemoteResult(PaidImages):
    """What a generation on the server gave back (see :class:`~aicreative.results.PaidImages`)."""


class Client:
    """A server's API with one token: ``Client("https://host", "aic_...")``.

    ``timeout`` is for one generation (it waits its turn on the server);
    ``retries`` is how many more tries a safe call gets.
    """

    def __init__(
        self,
        url: str,
        token: str,
        *,
        timeout: float = 300.0,
        retries: int = 2,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if not isinstance(token, str) or not token.strip():
            raise InvalidToken("Give the client an API token (create one on the Account tab).")
        self.url = url.rstrip("/")
        self.retries = max(0, int(retries))
        self._http = httpx.Client(
            base_url=self.url,
            headers={"authorization": f"Bearer {token.strip()}", "accept": "application/json"},
            timeout=httpx.Timeout(timeout, connect=10.0),
            follow_redirects=False,
            transport=transport,
            # Cookies are never needed and never kept: the API reads the token only.
            cookies=None,
        )

    # -- calls ----------------------------------------------------------------

    def balance(self) -> int:
        """Credits left on the token's account."""
        return int(self._call("GET", "/api/v1/balance")["balance"])

    def generate(
        self,
        prompt: str,
        *,
        negative_prompt: str = "",
        size: str = "512x512",
        count: int = 1,
        steps: int = 1,
        guidance: float = 0.0,
        seed: int | None = None,
    ) -> RemoteResult:
        """Generate ``count`` images (charged to the token's account) and return them.

        Image *i* uses seed ``seed + i``; with ``seed=None`` the server picks one.
        """
        body: dict[str, Any] = {
            "prompt": prompt,
            "negative_prompt": negative_prompt,
            "size": size,
            "count": count,
            "steps": steps,
            "guidance": guidance,
            "seed": seed,
        }
        data = self._call("POST", "/api/v1/images", json=body)
        from PIL import Image

        pngs = [base64.b64decode(item["png_base64"]) for item in data["images"]]
        images = []
        for png in pngs:
            with Image.open(io.BytesIO(png)) as picture:
                picture.load()
                images.append(picture.copy())
        return RemoteResult(
            images=images,
            png=pngs,
            seeds=[int(s) for s in data["seeds"]],
            cost=int(data["cost"]),
            balance=int(data["balance"]),
            backend=str(data["backend"]),
        )

    # -- plumbing -----------------------------------------------------------------

    def _call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        safe = method == "GET"
        attempt = 0
        while True:
            try:
                response = self._http.request(method, path, **kwargs)
            except httpx.ConnectError as exc:
                # Refused or unreachable: nothing was sent, so even a POST may try again.
                if attempt < self.retries:
                    attempt += 1
                    time.sleep(0.5 * 2 ** (attempt - 1))
                    continue
                raise ServerUnavailable(f"Cannot reach {self.url}: {exc}.") from None
            except httpx.TransportError as exc:
                if safe and attempt < self.retries:
                    attempt += 1
                    time.sleep(0.5 * 2 ** (attempt - 1))
                    continue
                hint = (
                    ""
                    if safe
                    else " The request may have reached the server; it refunds a generation "
                    "whose caller left, so check balance() before trying again."
                )
                raise ServerUnavailable(
                    f"The connection to {self.url} failed ({type(exc).__name__}).{hint}"
                ) from None
            if safe and response.status_code in RETRY_STATUSES and attempt < self.retries:
                attempt += 1
                time.sleep(0.5 * 2 ** (attempt - 1))
                continue
            return self._answer(response)

    def _answer(self, response: httpx.Response) -> dict[str, Any]:
        try:
            data = response.json()
        except ValueError:
            data = None
        if response.status_code == 200 and isinstance(data, dict):
            return data
        error = data.get("error") if isinstance(data, dict) else None
        error = error if isinstance(error, dict) else {}
        message = str(error.get("message") or f"The server answered {response.status_code}.")
        status = response.status_code
        if status == 401:
            raise InvalidToken(message)
        if status == 402:
            needed, balance = error.get("needed"), error.get("balance")
            if isinstance(needed, int) and isinstance(balance, int):
                raise InsufficientCredits(needed, balance)
            raise InsufficientCredits(0, 0) from None
        if status == 403:
            raise PermissionDenied(message)
        if status == 429:
            wait = error.get("retry_after") or response.headers.get("retry-after") or 1
            try:
                seconds = float(wait)
            except (TypeError, ValueError):
                seconds = 1.0
            raise Throttled(seconds, "requests with this API token")
        if status in (400, 413, 422):
            raise ValidationError(message, error.get("field"))
        if status >= 500 or status == 404:
            raise ServerUnavailable(
                message if error else f"{self.url} answered {status}: is it an AI Creative server?"
            )
        raise AICreativeError(message)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        # Never the token.
        return f"Client({self.url!r})"
