"""``Idempotency-Key`` on POST: the same key with the same request replays the stored answer; the
same key with another request is a 422 problem; a retry while the first is running is a 409.

Keys are kept per token for 24 hours (:mod:`wildmail.runtime.api_tokens`). A request is compared
by method, path, query and body; a multipart body by its fields and files' contents (a client
library picks a new boundary for every attempt). Answers of 500 and above are not kept, so a retry
after a failure on our side runs again.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi.concurrency import run_in_threadpool
from fastapi.routing import APIRoute
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import Response

from wildmail.runtime.api_tokens import claim_key, release_key, store_answer
from wildmail.web.api.problems import FieldError, ProblemError
from wildmail.web.api.security import ctx_of, principal_of

HEADER = "idempotency-key"
MAX_KEY = 255


def plain_digest(method: str, path: str, query: str, body: bytes) -> str:
    """SHA-256 of a request with a plain (not multipart) body."""
    return hashlib.sha256(f"{method} {path}?{query}\n".encode() + body).hexdigest()


async def request_digest(request: Request) -> str:
    """SHA-256 of what makes two requests the same one."""
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith("multipart/form-data"):
        return plain_digest(request.method, request.url.path, request.url.query, await request.body())
    digest = hashlib.sha256(f"{request.method} {request.url.path}?{request.url.query}\n".encode())
    form = await request.form()
    for name, value in sorted(form.multi_items(), key=lambda item: item[0]):
        digest.update(name.encode() + b"\0")
        if isinstance(value, UploadFile):
            data = await value.read()
            await value.seek(0)
            digest.update(f"{value.filename}\0".encode() + hashlib.sha256(data).digest())
        else:
            digest.update(value.encode() + b"\0")
    return digest.hexdigest()


def _checked(key: str) -> str:
    if not 1 <= len(key) <= MAX_KEY or not key.isprintable() or not key.isascii():
        raise ProblemError(
            400,
            f"Idempotency-Key must be 1..{MAX_KEY} printable ASCII characters",
            kind="invalid-idempotency-key",
            errors=[FieldError(field="header.Idempotency-Key", message="1..255 printable ASCII characters")],
        )
    return key


class ApiRoute(APIRoute):
    """The API's routes: POSTs honour ``Idempotency-Key``."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            raw = request.headers.get(HEADER)
            if request.method != "POST" or raw is None:
                return await handler(request)
            key = _checked(raw)
            principal = await principal_of(request)
            ctx = ctx_of(request)
            digest = await request_digest(request)
            stored = await run_in_threadpool(
                claim_key, ctx.engine, principal.token_id, key, digest, ctx.clock.now()
            )
            if stored is not None:
                if stored.request_hash != digest:
                    raise ProblemError(
                        422,
                        "this Idempotency-Key was used for a different request; use a new key",
                        kind="idempotency-key-reused",
                    )
                if stored.status == 0:
                    raise ProblemError(
                        409,
                        "a request with this Idempotency-Key is still running",
                        kind="idempotency-in-progress",
                    )
                headers = {"Idempotency-Replayed": "true"}
                if stored.location:
                    headers["Location"] = stored.location
                return Response(stored.body, stored.status, headers=headers, media_type=stored.media_type)
            try:
                response = await handler(request)
            except BaseException:
                await run_in_threadpool(release_key, ctx.engine, principal.token_id, key)
                raise
            if response.status_code >= 500 or not hasattr(response, "body"):
                await run_in_threadpool(release_key, ctx.engine, principal.token_id, key)
                return response
            await run_in_threadpool(
                store_answer,
                ctx.engine,
                principal.token_id,
                key,
                response.status_code,
                response.headers.get("content-type", ""),
                bytes(response.body).decode("utf-8", "replace"),
                response.headers.get("location", ""),
            )
            return response

        return route
