"""``/webhooks/ses|postmark|sendgrid|mailgun``: provider bounce and complaint events.

Each request is verified by :mod:`inbound.webhooks` (signature or credentials, freshness) before
anything is read into the intake: a refused request gets 403 and one log line, a provider whose
secret is not set gets 404. Replayed events are acknowledged (200) and change nothing.
"""

from __future__ import annotations

import logging

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from starlette.concurrency import run_in_threadpool

from inbound import webhooks
from inbound.intake import Intake
from wildmail.runtime.context import AppContext

router = APIRouter()
log = logging.getLogger("wildmail.inbound")


async def startup(app: FastAPI) -> None:
    """Nothing to start: the SNS fetcher is wired by ``create_app``."""


async def shutdown(app: FastAPI) -> None:
    """Nothing to stop."""


def _answer(request: Request, provider: str, read: webhooks.Reader) -> Response:
    ctx: AppContext = request.app.state.ctx
    config = webhooks.WebhookConfig.from_settings(ctx.settings)
    now = ctx.clock.now()
    try:
        events = read(config, now)
    except webhooks.NotConfigured as exc:
        return PlainTextResponse(f"not configured: {exc}", status_code=404)
    except webhooks.Refused as exc:
        client = request.client.host if request.client else "?"
        log.warning("webhook %s from %s refused: %s", provider, client, exc)
        return PlainTextResponse("refused", status_code=403)
    decisions = webhooks.handle(ctx.engine, Intake.from_settings(ctx.settings), provider, events, now)
    return JSONResponse({"events": len(decisions), "acted": sum(d.action != "ignored" for d in decisions)})


@router.post("/webhooks/ses", include_in_schema=False)
async def ses(request: Request) -> Response:
    body = await request.body()
    fetch: webhooks.Fetch = request.app.state.sns_fetch
    return await _threaded(request, "ses", lambda c, now: webhooks.ses_events(body, c, fetch, now))


@router.post("/webhooks/postmark", include_in_schema=False)
async def postmark(request: Request) -> Response:
    body, auth = await request.body(), request.headers.get("authorization", "")
    return await _threaded(request, "postmark", lambda c, now: webhooks.postmark_events(body, auth, c, now))


@router.post("/webhooks/sendgrid", include_in_schema=False)
async def sendgrid(request: Request) -> Response:
    body = await request.body()
    signature = request.headers.get("x-twilio-email-event-webhook-signature", "")
    stamp = request.headers.get("x-twilio-email-event-webhook-timestamp", "")
    return await _threaded(
        request, "sendgrid", lambda c, now: webhooks.sendgrid_events(body, signature, stamp, c, now)
    )


@router.post("/webhooks/mailgun", include_in_schema=False)
async def mailgun(request: Request) -> Response:
    body = await request.body()
    return await _threaded(request, "mailgun", lambda c, now: webhooks.mailgun_events(body, c, now))


async def _threaded(request: Request, provider: str, read: webhooks.Reader) -> Response:
    """Verification may fetch a certificate and the intake writes: off the event loop."""
    return await run_in_threadpool(_answer, request, provider, read)
