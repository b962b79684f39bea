"""The web side of paid-result delivery: the generate handler's hand-over, the gallery's calls.

Owns what only the web layer can know: whether the browser that started a
Gradio event still listens for its answer, which account a server-function
call comes from (its session cookie), and the words shown at the next page
load. What is held, for how long, and what is refunded is
``aicreative/deliveries.py``'s business (issue 12, "never lose what was
paid for").
"""

from __future__ import annotations

import html
from typing import Any

import gradio as gr

from ..errors import StoreError
from ..studio import Studio
from .deps import account_of


def _client_connected() -> bool:
    """Whether the browser that started this Gradio event still listens for its answer.

    Gradio marks an event dead (``alive = False``) when its stream closes (a
    reload, a closed tab, a cut network) and then drops its answer, so an
    event seen dead here never delivers. Private API of Gradio 6.31, read in
    this one place (``tests/http/test_delivery_web.py`` fails if it stops working);
    when it cannot be read, the answer is "connected": the result is then
    still held for the next page load but not refunded on expiry, so the
    mistake can cost a refund, never give an image away.
    """
    try:
        from gradio.context import LocalContext

        blocks, event_id = LocalContext.blocks.get(None), LocalContext.event_id.get(None)
        queue = getattr(blocks, "_queue", None)
        for job in getattr(queue, "active_jobs", None) or ():
            for event in job or ():
                if getattr(event, "_id", None) == event_id:
                    return bool(event.alive)
    except Exception:  # noqa: S110 - see the docstring: default to "connected"
        pass
    return True


def deliver(studio: Studio, account_id: str, payload: dict[str, Any], cost: int) -> str | None:
    """Hold a paid result until the browser acknowledges it, and tag it with its id.

    Returns None when held (send the payload), else why it could not be held
    (the server is stopping, or the result is larger than the memory bound):
    its credits were refunded then, so it must not be sent.
    """
    images = payload.get("images") or []
    nbytes = sum(len(image["data_url"]) for image in images)
    nbytes += len(payload.get("prompt", "")) + len(payload.get("negative_prompt", ""))
    held = studio.deliveries.hold(account_id, payload, cost=cost, nbytes=nbytes, images=len(images))
    if held is None:
        if studio.deliveries.closed:
            return "The server is restarting; your credits were refunded. Please try again."
        return "These images are too large to hand over; your credits were refunded."
    payload["delivery"] = held.id
    if _client_connected():
        studio.deliveries.mark_sent(held.id)
    return None


def _session_account(studio: Studio, request: Any) -> tuple[str, str] | None:
    """(username, account id) of the request's session cookie, or None.

    Gradio hands server functions the bare HTTP request (no username), so the
    session is read here, from the app's one cookie, never from the call's data.
    """
    raw = getattr(request, "request", None) or request
    try:
        user = account_of(studio, raw)
    except StoreError:  # a server function answers "nothing here", not a 503
        return None
    return None if user is None else (user.username, user.account_id)


def delivery_functions(studio: Studio) -> list[Any]:
    """The gallery's server functions: ``ack_delivery(id)`` and ``pending_deliveries()``."""

    def ack_delivery(delivery_id: Any, request: gr.Request) -> bool:
        """The browser stored the result: the server forgets it (own account only)."""
        who = _session_account(studio, request)
        if who is None or not isinstance(delivery_id, str):
            return False
        return studio.deliveries.ack(who[1], delivery_id)

    def pending_deliveries(_: Any, request: gr.Request) -> dict[str, Any]:
        """Results held for this account: ``{"results", "notice", "running"}``."""
        who = _session_account(studio, request)
        if who is None:
            return {"results": [], "notice": "Please log in again.", "running": 0}
        pending = studio.deliveries.pending(who[1]).as_dict()
        balance = studio.balance(who[0])
        for result in pending["results"]:
            # As they are now: the balance moved on, the username may have changed.
            result["balance"], result["user"] = balance, who[0]
        return pending

    return [ack_delivery, pending_deliveries]


def delivery_notice(studio: Studio, username: str) -> str:
    """A refund of an undelivered result, said once at the next page load."""
    studio.deliveries.expire()  # so that the header's balance includes the refund
    message = studio.deliveries.take_refund_notice(studio.account_id(username))
    return (
        f'<div class="ac-notice" data-testid="delivery-notice">{html.escape(message)}</div>'
        if message
        else ""
    )
