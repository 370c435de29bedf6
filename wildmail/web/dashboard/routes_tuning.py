"""Marketer pages for one email's subject test and resend to non-openers: the figures per
variant (rate, interval, P(best), verdict) and who a resend reached or left out, with the forms
to start or stop a test and to set or remove a resend. The work is done by ``optimise``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from campaigns.variant_models import Criterion
from delivery.lifecycle import USER_ERRORS, CampaignNotFound, get_campaign
from optimise import resend, subject_tests
from optimise.errors import OptimiseError
from optimise.figures import campaign_tuning, percent
from wildmail.core.db import write_transaction
from wildmail.web.dashboard.auth import CAN_EDIT, ctx_of, require
from wildmail.web.dashboard.pages import DashboardRoute, done, error_page, form_of, render
from wildmail.web.dashboard.routes_stats import not_found
from wildmail.web.path_params import DbInt

router = APIRouter(route_class=DashboardRoute)
MISTAKES: tuple[type[ValueError], ...] = (OptimiseError, *USER_ERRORS)


def _text(form: dict[str, Any], key: str) -> str:
    value = form.get(key)
    return value.strip() if isinstance(value, str) else ""


def _page(
    request: Request, slug: str, position: int, typed: dict[str, str] | None = None, error: str = ""
) -> Response:
    user = require(request, CAN_EDIT)
    ctx = ctx_of(request)
    try:
        with ctx.session() as s:
            campaign = get_campaign(s, slug)
            email = subject_tests.email_of(campaign, position)
            title, subject, preheader, campaign_id = (
                campaign.title,
                email.subject,
                email.preheader,
                campaign.id,
            )
    except CampaignNotFound:
        return not_found(request, slug)
    except OptimiseError as exc:
        return error_page(request, 404, "No such email", str(exc))
    tuning = campaign_tuning(ctx, campaign_id)
    return render(
        request,
        "email_tuning.html",
        400 if error else 200,
        user=user,
        slug=slug,
        title=title,
        position=position,
        subject=subject,
        preheader=preheader,
        test=next((t for t in tuning.tests if t.position == position), None),
        again=next((r for r in tuning.resends if r.position == position), None),
        criteria=[c.value for c in Criterion],
        values=typed or {},
        error=error or None,
        pct=percent,
    )


@router.get("/dashboard/campaigns/{slug}/emails/{position}/tuning")
def tuning_page(request: Request, slug: str, position: DbInt) -> Response:
    return _page(request, slug, position)


def _number(form: dict[str, Any], key: str, kind: type[float] | type[int], default: str) -> Any:
    raw = _text(form, key) or default
    try:
        return kind(raw)
    except ValueError:
        raise OptimiseError(f"{key.replace('_', ' ')} {raw!r} is not a number") from None


@router.post("/dashboard/campaigns/{slug}/emails/{position}/subject-test")
async def start(request: Request, slug: str, position: DbInt) -> Response:
    """Start a test of the variants typed (empty rows are skipped)."""
    require(request, CAN_EDIT)
    form = await form_of(request)
    typed = {k: _text(form, k) for k in form if isinstance(form.get(k), str) and k != "csrf"}
    ctx = ctx_of(request)
    try:
        variants = []
        for i in range(1, subject_tests.MAX_VARIANTS + 1):
            subject, preheader = typed.get(f"subject_{i}", ""), typed.get(f"preheader_{i}", "")
            if subject or preheader:
                variants.append(subject_tests.parse_variant(f"{subject}|{preheader}".replace("\n", " ")))
        with write_transaction(ctx.engine) as s:
            subject_tests.start_test(
                s,
                ctx.settings,
                get_campaign(s, slug),
                position,
                variants,
                criterion=typed.get("criterion", Criterion.HUMAN_OPENS.value),
                confidence=_number(form, "confidence", float, "0.95"),
                max_sample=_number(form, "max_sample", int, "2000"),
                now=ctx.clock.now(),
            )
    except CampaignNotFound:
        return not_found(request, slug)
    except MISTAKES as exc:
        return _page(request, slug, position, typed, f"Not started: {exc}")
    return done(f"/dashboard/campaigns/{slug}/emails/{position}/tuning", "test-started")


@router.post("/dashboard/campaigns/{slug}/emails/{position}/subject-test/stop")
async def stop(request: Request, slug: str, position: DbInt) -> Response:
    """End the running test; the chosen variant (default the first) goes to everyone."""
    require(request, CAN_EDIT)
    form = await form_of(request)
    ctx = ctx_of(request)
    try:
        winner = _number(form, "winner", int, "1")
        with write_transaction(ctx.engine) as s:
            subject_tests.stop_test(s, get_campaign(s, slug), position, ctx.clock.now(), winner)
    except CampaignNotFound:
        return not_found(request, slug)
    except MISTAKES as exc:
        return _page(request, slug, position, error=f"Not stopped: {exc}")
    return done(f"/dashboard/campaigns/{slug}/emails/{position}/tuning", "test-stopped")


@router.post("/dashboard/campaigns/{slug}/emails/{position}/resend")
async def set_resend(request: Request, slug: str, position: DbInt) -> Response:
    """Set (or with ``off``, remove) the email's resend to non-openers."""
    require(request, CAN_EDIT)
    form = await form_of(request)
    typed = {k: _text(form, k) for k in form if isinstance(form.get(k), str) and k != "csrf"}
    ctx = ctx_of(request)
    try:
        with write_transaction(ctx.engine) as s:
            campaign = get_campaign(s, slug)
            if typed.get("off"):
                resend.remove_resend(s, campaign, position)
            else:
                resend.set_resend(
                    s,
                    ctx.settings,
                    campaign,
                    position,
                    f"{typed.get('resend_subject', '')}|{typed.get('resend_preheader', '')}",
                    after_days=_number(form, "after_days", int, "3"),
                    include_unknown=bool(typed.get("include_unknown")),
                    now=ctx.clock.now(),
                )
    except CampaignNotFound:
        return not_found(request, slug)
    except MISTAKES as exc:
        return _page(request, slug, position, typed, f"Resend not saved: {exc}")
    return done(f"/dashboard/campaigns/{slug}/emails/{position}/tuning", "resend-saved")
