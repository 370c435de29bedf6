"""Path parameters that name database rows: whole numbers within the database's integer range.

A number outside ``1..2**63-1`` (``99999999999999999999``, ``-1``) or text where a number is
expected names no row: the answer is 404, never a database overflow (500).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Request
from fastapi.exception_handlers import request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import PlainTextResponse, Response

from wildmail.core.db import MAX_ROW_ID

DbInt = Annotated[int, Path(ge=1, le=MAX_ROW_ID)]
NOT_FOUND_TEXT = "Not found: there is no page at this address.\n"


async def path_errors_as_404(request: Request, exc: Exception) -> Response:
    """A path parameter that fails validation means no such page (404); other errors stay 422."""
    assert isinstance(exc, RequestValidationError)
    if any(tuple(error.get("loc", ()))[:1] == ("path",) for error in exc.errors()):
        return PlainTextResponse(NOT_FOUND_TEXT, status_code=404, headers={"Cache-Control": "no-store"})
    return await request_validation_exception_handler(request, exc)
