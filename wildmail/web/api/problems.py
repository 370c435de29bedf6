"""Errors under ``/api`` in one shape: RFC 9457 problem details (``application/problem+json``).

Every error the API answers, its own (:class:`ProblemError`), the router's 404/405, FastAPI's
request validation (422, with ``errors`` naming each field) and an unexpected failure (500), goes
through :func:`problem_response`.
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

MEDIA_TYPE = "application/problem+json"
TYPE_BASE = "urn:wildmail:problem:"
log = logging.getLogger(__name__)


class FieldError(BaseModel):
    """One invalid field: where it is (``body.email``, ``query.limit``) and what is wrong."""

    field: str
    message: str


class Problem(BaseModel):
    """RFC 9457 problem details."""

    type: str = Field("about:blank", description="A URI naming the kind of problem.")
    title: str = Field(description="A short summary of the kind of problem.")
    status: int = Field(description="The HTTP status code.")
    detail: str = Field("", description="What went wrong with this request.")
    instance: str = Field("", description="The path of the request.")
    errors: list[FieldError] | None = Field(None, description="Invalid fields (validation problems only).")


class ProblemError(Exception):
    """Raised by API code to answer with a problem."""

    def __init__(
        self,
        status: int,
        detail: str = "",
        *,
        kind: str = "",
        title: str = "",
        errors: list[FieldError] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status, self.detail, self.kind = status, detail, kind
        self.title = title or HTTPStatus(status).phrase
        self.errors, self.headers = errors, headers or {}


def problem_response(
    request: Request,
    status: int,
    detail: str = "",
    *,
    kind: str = "",
    title: str = "",
    errors: list[FieldError] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    """The problem document for ``request``."""
    body: dict[str, Any] = {
        "type": TYPE_BASE + kind if kind else "about:blank",
        "title": title or HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "instance": request.url.path,
    }
    if errors is not None:
        body["errors"] = [e.model_dump() for e in errors]
    return JSONResponse(body, status_code=status, media_type=MEDIA_TYPE, headers=headers)


async def _own(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ProblemError)
    return problem_response(
        request,
        exc.status,
        exc.detail,
        kind=exc.kind,
        title=exc.title,
        errors=exc.errors,
        headers=exc.headers,
    )


async def _http(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    phrase = HTTPStatus(exc.status_code).phrase
    detail = str(exc.detail).strip() if exc.detail and str(exc.detail) != phrase else ""
    if exc.status_code == 404 and not detail:
        detail = "there is no such resource at this address"
    return problem_response(request, exc.status_code, detail, headers=dict(exc.headers or {}))


def field_of(loc: tuple[Any, ...] | list[Any]) -> str:
    """``("body", "email")`` -> ``body.email``."""
    return ".".join(str(part) for part in loc)


async def _validation(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = [
        FieldError(field=field_of(e.get("loc", ())), message=str(e.get("msg", ""))) for e in exc.errors()
    ]
    shown = "; ".join(f"{e.field}: {e.message}" for e in errors[:5])
    return problem_response(request, 422, shown, kind="validation", title="Invalid request", errors=errors)


async def _unexpected(request: Request, exc: Exception) -> Response:
    log.error("API request %s %s failed", request.method, request.url.path, exc_info=exc)
    return problem_response(request, 500, "the server failed to answer this request; it was logged")


def install(app: FastAPI) -> None:
    """Answer every error of ``app`` with a problem document."""
    app.add_exception_handler(ProblemError, _own)
    app.add_exception_handler(StarletteHTTPException, _http)
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(Exception, _unexpected)


def documented(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries for problem answers with these statuses."""
    return {
        status: {
            "model": Problem,
            "description": HTTPStatus(status).phrase,
            "content": {MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
        for status in statuses
    }
