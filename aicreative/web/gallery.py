"""The gallery's one server route: ``GET /gallery-key`` (issue 12, "encrypted at rest").

Owns the hand-over of an account's gallery key to the page: only to a
logged-in session of that account (its session cookie, never a name in the
request), only to the site's own pages (Fetch Metadata / Origin), never
cached (``Cache-Control: no-store``). The page imports it as a
non-extractable WebCrypto key and keeps it in memory only. How the key is
made is ``aicreative/gallery_keys.py``'s business.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from ..errors import AICreativeError
from .deps import StudioDep, current_account
from .security import same_origin

NO_STORE = {"cache-control": "no-store", "pragma": "no-cache"}
router = APIRouter()


@router.get("/gallery-key")
async def gallery_key(request: Request, studio: StudioDep) -> JSONResponse:
    if not same_origin(request, studio.settings, require=True):
        return JSONResponse({"detail": "Not from this site."}, 403, headers=NO_STORE)
    try:
        # Any failure, a failing store's too, is "log in again": the page retries later.
        key = studio.gallery_key(current_account(request).username)
    except AICreativeError:
        return JSONResponse({"detail": "Please log in again."}, 401, headers=NO_STORE)
    return JSONResponse(key.as_dict(), headers=NO_STORE)
