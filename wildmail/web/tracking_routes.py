"""Routes for the tracking part of the web app (filled by its issue)."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI

router = APIRouter()


async def startup(app: FastAPI) -> None:
    """Called once when the app starts."""


async def shutdown(app: FastAPI) -> None:
    """Called once when the app stops (flush buffers here)."""
