"""``POST /webhooks/donations`` (wildmail's JSON shape) and ``POST /webhooks/stripe`` (Stripe's
``checkout.session.completed``): donations in, verified by :mod:`donations.webhooks`.

Answers: 200 with the donation's id, whether it is new and how it was matched (a retried
webhook gets the same answer and changes nothing); 200 ``ignored`` for a Stripe event we do not
act on; 401 for a bad or stale signature and 400 for a signed body with a bad field (a JSON
error naming the field), both storing nothing; 404 while the endpoint's secret is not set.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from donations import webhooks
from donations.intake import Attribution, DonationError, DonationIn, record_committed
from wildmail.runtime.context import AppContext

router = APIRouter()
log = logging.getLogger("wildmail.donations")

Reader = Callable[[bytes], DonationIn | None]


async def startup(app: FastAPI) -> None:
    """Nothing to start."""


async def shutdown(app: FastAPI) -> None:
    """Nothing to stop."""


def _answer(request: Request, body: bytes, header: str, secret: str, read: Reader, what: str) -> Response:
    ctx: AppContext = request.app.state.ctx
    now = ctx.clock.now()
    try:
        webhooks.verify(header, body, secret, now)
    except webhooks.NotConfigured:
        return JSONResponse({"error": f"{what} is not configured"}, status_code=404)
    except webhooks.Refused as exc:
        client = request.client.host if request.client else "?"
        log.warning("%s webhook from %s refused: %s", what, client, exc)
        return JSONResponse({"error": "signature refused"}, status_code=401)
    try:
        item = read(body)
    except DonationError as exc:
        log.warning("%s webhook refused: %s", what, exc)  # the sender retries: say why here too
        return JSONResponse({"error": exc.reason, "field": exc.field}, status_code=400)
    if item is None:
        return JSONResponse({"ignored": True})
    recorded = record_committed(ctx.engine, item, Attribution.from_settings(ctx.settings), now)
    return JSONResponse(
        {"donation": recorded.donation_id, "created": recorded.created, "match": recorded.match}
    )


@router.post("/webhooks/donations", include_in_schema=False)
async def donation_webhook(request: Request) -> Response:
    body = await request.body()
    header = request.headers.get(webhooks.SIGNATURE_HEADER, "")
    secret = request.app.state.ctx.settings.donation_webhook_secret
    return await run_in_threadpool(_answer, request, body, header, secret, webhooks.read_json, "donation")


@router.post("/webhooks/stripe", include_in_schema=False)
async def stripe_webhook(request: Request) -> Response:
    body = await request.body()
    header = request.headers.get(webhooks.STRIPE_HEADER, "")
    secret = request.app.state.ctx.settings.stripe_webhook_secret
    return await run_in_threadpool(_answer, request, body, header, secret, webhooks.read_stripe, "stripe")
