"""``GET /media/<sha256>.<ext>``: the pictures of articles, stored by :mod:`campaigns.images`.

Only a name of 64 lowercase hex digits and a picture extension is looked up, in the media folder
(the ``media_dir`` setting): the name is the hash of the content, so a request can neither name
a path nor guess another file. Responses are immutable (the content never changes under a name).
"""

from __future__ import annotations

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import FileResponse, PlainTextResponse, Response

from campaigns.images import CONTENT_TYPES, MediaStore
from wildmail.runtime.context import AppContext

router = APIRouter()
IMMUTABLE = "public, max-age=31536000, immutable"


@router.get("/media/{name}")
def media(request: Request, name: str) -> Response:
    """A stored picture, or 404."""
    ctx: AppContext = request.app.state.ctx
    path = MediaStore(ctx.settings.media_dir).path(name)
    if path is None:
        return PlainTextResponse("Not found", status_code=404)
    return FileResponse(
        path,
        media_type=CONTENT_TYPES[name.rsplit(".", 1)[1]],
        headers={"Cache-Control": IMMUTABLE, "X-Content-Type-Options": "nosniff"},
    )


async def startup(app: FastAPI) -> None:
    """Nothing to start."""


async def shutdown(app: FastAPI) -> None:
    """Nothing to stop."""
