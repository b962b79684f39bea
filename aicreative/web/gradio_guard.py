"""Gradio's session hashes and event ids, each answering only its owner.

Owns :class:`GradioSessionGuard`, the middleware in front of
``/gradio_api/``: it binds each session hash and event id to the account
that used it first, refuses Gradio routes this app never uses, keeps
Gradio's JSON calls small and their function index real, and ends a Gradio
event stream that fails midway cleanly.
"""

from __future__ import annotations

import json
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger(__name__)

#: Gradio routes this app never uses and that write a session's values (the
#: prompt, the images) to disk: ``deep_link`` saves them under
#: GRADIO_TEMP_DIR/deep_links/ and any logged-in user may ask for any session.
GRADIO_REFUSED_PATHS = frozenset({"/gradio_api/deep_link", "/gradio_api/deep_link/"})


class GradioSessionGuard:
    """Binds Gradio's session hashes and event ids to the user who used them first.

    Gradio 6.31 checks that a caller is logged in, not that the session hash
    or event id named in a request is the caller's own: any logged-in user
    who learns another's event id reads that user's results (prompt and
    images) from ``/gradio_api/call/<api>/<event_id>``, and with a session
    hash from ``/gradio_api/queue/data``. This middleware remembers who owns
    each id (a session hash when first named by a logged-in user, an event
    id when Gradio hands it out) and answers 404 to anyone else.
    """

    PREFIX = "/gradio_api/"
    #: Larger request bodies are refused (Gradio's own inputs here are a few
    #: KB; uploads are multipart and off in this app).
    MAX_BODY = 1 << 20

    def __init__(
        self,
        app: ASGIApp,
        user_of: Callable[[Request], str | None],
        max_ids: int = 100_000,
        known_fn: Callable[[int], bool] | None = None,
    ) -> None:
        self.app = app
        self.user_of = user_of
        #: Whether Gradio has a function of this index (an unknown one made it answer 500).
        self.known_fn = known_fn
        self.max_ids = max_ids
        self._owners: OrderedDict[str, str] = OrderedDict()
        self._lock = threading.Lock()

    def _claim(self, key: str, user: str) -> bool:
        """True when ``user`` owns ``key`` (taking it when nobody does)."""
        with self._lock:
            owner = self._owners.get(key)
            if owner is None:
                self._owners[key] = user
                while len(self._owners) > self.max_ids:
                    self._owners.popitem(last=False)
                return True
            self._owners.move_to_end(key)
            return owner == user

    def _owns(self, key: str, user: str) -> bool:
        with self._lock:
            return self._owners.get(key) == user

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if not path.startswith(self.PREFIX):
            await self.app(scope, receive, send)
            return
        method = scope["method"]
        if path in GRADIO_REFUSED_PATHS:
            await JSONResponse({"detail": "Not Found"}, 404)(scope, receive, send)
            return
        request = Request(scope)
        parts = [p for p in path[len(self.PREFIX) :].split("/") if p]
        in_path, events = _ids_in_path(method, parts)
        sessions = [*request.query_params.getlist("session_hash"), *in_path]

        body: bytes | None = None
        content_type = request.headers.get("content-type", "").lower()
        form = content_type.startswith(("multipart/", "application/x-www-form-urlencoded"))
        if method == "POST" and form and parts[:1] == ["component_server"]:
            # A form body here could name any session; this app uploads nothing.
            await JSONResponse({"detail": "Unsupported"}, 415)(scope, receive, send)
            return
        if method == "POST" and not form:
            # FastAPI reads a body without a content type as JSON too.
            body = await _read_body(receive, self.MAX_BODY)
            refusal = self._judge_body(body)
            if refusal is not None:
                await refusal(scope, receive, send)
                return
            named = _ids_in_json(body)
            sessions += named.get("session_hash", [])
            events += named.get("event_id", [])

        user = self.user_of(request) if sessions or events or parts[:1] == ["call"] else None
        refusal = self._judge_ids(user, sessions, events)
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        downstream = _replaying(body, receive) if body is not None else receive
        hands_out_ids = method == "POST" and (
            parts[:1] == ["call"] or parts[:2] == ["queue", "join"]
        )
        if user is None or not hands_out_ids:
            await _ending_streams_cleanly(self.app, scope, downstream, send)
            return
        await self.app(scope, downstream, self._recording(send, user))

    def _judge_body(self, body: bytes) -> JSONResponse | None:
        """The refusal of a JSON body: too large, or naming a function Gradio lacks."""
        if len(body) > self.MAX_BODY:
            return JSONResponse({"detail": "Too large"}, 413)
        if self.known_fn is not None and not _fn_index_ok(body, self.known_fn):
            return JSONResponse({"detail": "No such API endpoint."}, 404)
        return None

    def _judge_ids(
        self, user: str | None, sessions: list[str], events: list[str]
    ) -> JSONResponse | None:
        """The refusal of a request naming ids: none without a user, 404 for another's."""
        if not (sessions or events):
            return None
        if user is None:
            return JSONResponse({"detail": "Not authenticated"}, 401)
        if not all(self._claim(s, user) for s in sessions) or not all(
            self._owns(e, user) for e in events
        ):
            return JSONResponse({"detail": "Not Found"}, 404)
        return None

    def _recording(self, send: Send, user: str) -> Send:
        """``send`` that holds the (small JSON) answer until its event id is
        recorded, so that the caller's next request already finds it."""
        start: Message | None = None
        chunks: list[bytes] = []

        async def record_then_send(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                start = message
                return
            if message["type"] != "http.response.body" or start is None:
                await send(message)
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body", False):
                return
            answer = b"".join(chunks)
            if start.get("status") == 200:
                for event_id in _ids_in_json(answer).get("event_id", []):
                    self._claim(event_id, user)
            await send(start)
            await send({"type": "http.response.body", "body": answer, "more_body": False})

        return record_then_send


def _ids_in_path(method: str, parts: list[str]) -> tuple[list[str], list[str]]:
    """The session hashes and event ids a Gradio path names (after ``/gradio_api/``)."""
    sessions: list[str] = []
    events: list[str] = []
    if parts and parts[0] in ("heartbeat", "stream") and len(parts) >= 2:
        # heartbeat/{session}, stream/{session}/... (GET), stream/{event_id} (POST)
        (events if method == "POST" else sessions).append(parts[1])
    if parts and parts[0] == "call" and method == "GET":
        # call/{api}/{event_id} and call/v2/{api}/{event_id}
        if len(parts) == 3 or (len(parts) == 4 and parts[1] == "v2"):
            events.append(parts[-1])
    return sessions, events


async def _read_body(receive: Receive, limit: int) -> bytes:
    """The request body, read until it ends or passes ``limit`` (then cut short)."""
    body, more = b"", True
    while more and len(body) <= limit:
        message = await receive()
        if message["type"] != "http.request":
            break
        body += message.get("body", b"")
        more = message.get("more_body", False)
    return body


def _replaying(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that hands the app the body already read, then the rest."""
    replayed = False

    async def receive_again() -> Message:
        nonlocal replayed
        if not replayed:
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return receive_again


async def _ending_streams_cleanly(app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
    """Run ``app``; when it fails after its answer began, end that answer properly.

    Gradio's event streams send an error event and then raise (for an
    unknown session hash, say). Raised that late, the exception can only
    cut the connection mid-stream, so the client loses the clean end of a
    message it already has. Failures before the answer began still raise.
    """
    started = finished = False

    async def tracking(message: Message) -> None:
        nonlocal started, finished
        if message["type"] == "http.response.start":
            started = True
        elif message["type"] == "http.response.body" and not message.get("more_body", False):
            finished = True
        await send(message)

    try:
        await app(scope, receive, tracking)
    except Exception as exc:
        if not started:
            raise
        # The type only: Gradio's messages can quote what a request held.
        log.warning("a Gradio stream at %s ended with %s", scope.get("path"), type(exc).__name__)
        if not finished:
            await send({"type": "http.response.body", "body": b"", "more_body": False})


def _fn_index_ok(raw: bytes, known_fn: Callable[[int], bool]) -> bool:
    """False when the JSON names a number ``fn_index`` that Gradio has no function for.

    Gradio looks the index up unchecked (``fns[body.fn_index]``), so -1 or a
    large number was a KeyError and a 500. Values that are not numbers are
    left to its own validation (a 422).
    """
    try:
        data = json.loads(raw or b"null")
    except ValueError:
        return True
    if not isinstance(data, dict) or "fn_index" not in data:
        return True
    value = data["fn_index"]
    if isinstance(value, str):
        try:
            value = int(value.strip())
        except ValueError:
            return True
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return True
    if isinstance(value, float) and not value.is_integer():
        return True
    return known_fn(int(value))


def _ids_in_json(raw: bytes) -> dict[str, list[str]]:
    """The ``session_hash`` and ``event_id`` strings at the top of a JSON object."""
    try:
        data = json.loads(raw or b"null")
    except ValueError:
        return {}
    if not isinstance(data, dict):
        return {}
    return {
        key: [data[key]]
        for key in ("session_hash", "event_id")
        if isinstance(data.get(key), str) and data[key]
    }
