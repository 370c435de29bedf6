"""The public web archive: ``/archive/``, ``/archive/<slug>/``, ``/archive/<slug>/<n>-<title>``
and ``/archive/<slug>/feed.xml``.

Only campaigns a marketer made public are shown (:mod:`delivery.archive`); any other slug, a
private campaign included, gets the same 404. Slugs are matched against the database after a
shape check; nothing in a URL names a file or a template. An email's page is its neutral web
version (greeting "friend", untracked links, no pixel) with Open Graph tags in its head and
the list's subscribe form (the public sign-up form: CSRF token and cookie, double opt-in as the
list says) at the end. Its policy is the web version's, without the sandbox (the form must post
with the CSRF cookie) and with ``form-action 'self'``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from fastapi import APIRouter, FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from delivery import archive
from wildmail.runtime.context import AppContext
from wildmail.web import csrf
from wildmail.web.archive_feed import campaign_url, email_url, item_date, rss
from wildmail.web.templating import templates

router = APIRouter()
EMAIL_POLICY = (
    "default-src 'none'; script-src 'none'; style-src 'unsafe-inline'; img-src https: http: data:; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
CACHE = {"Cache-Control": "private, max-age=300"}  # the pages carry a CSRF token for this browser
NOT_FOUND = "Not found: there is no page at this address.\n"


def _ctx(request: Request) -> AppContext:
    ctx: AppContext = request.app.state.ctx
    return ctx


def _not_found() -> Response:
    return PlainTextResponse(NOT_FOUND, status_code=404, headers={"Cache-Control": "no-store"})


def _form(request: Request, ctx: AppContext, campaign: archive.PublicCampaign) -> dict[str, Any]:
    """What the subscribe form needs (nothing when the campaign has no list)."""
    if not campaign.list_slug:
        return {}
    return {"list_slug": campaign.list_slug, "list_name": campaign.list_name,
            "csrf": csrf.token(ctx.settings.secret, request, ctx.clock.now())}  # fmt: skip


def _with_cookie(request: Request, ctx: AppContext, response: Response) -> Response:
    csrf.set_cookie(request, response, ctx.settings.base_url.startswith("https://"))
    return response


T = TypeVar("T")


def _noting(ctx: AppContext, look: Callable[[Session], T]) -> T:
    """Run ``look`` in a read session; when it notes a publication time (once per email, the first
    look after its first send), run it again in a write transaction, which on SQLite holds the
    writer lock from the start (a read session cannot safely turn into a writer)."""
    with ctx.session() as session, session.no_autoflush:
        found = look(session)
        if not (session.dirty or session.new):
            return found
        session.rollback()
    with ctx.write() as session:
        return look(session)


def _index(ctx: AppContext) -> list[archive.PublicCampaign]:
    return _noting(ctx, archive.public_campaigns)


def _campaign(ctx: AppContext, slug: str) -> archive.PublicCampaign | None:
    return _noting(ctx, lambda session: archive.public_campaign(session, slug))


Found = tuple[archive.PublicCampaign, archive.ArchiveEmail, str]


def _email(ctx: AppContext, slug: str, part: str) -> Found | None:
    def look(session: Session) -> Found | None:
        found = archive.public_email(session, slug, part)
        if found is None:
            return None
        campaign, item = found
        page = archive.email_html(session, item, email_url(ctx.settings.base_url, campaign, item))
        return (campaign, item, page) if page is not None else None

    return _noting(ctx, look)


@router.get("/archive", include_in_schema=False)
def archive_root() -> Response:
    return RedirectResponse("/archive/", status_code=308)


@router.get("/archive/", response_class=HTMLResponse)
async def archive_index(request: Request) -> Response:
    """Every public campaign."""
    ctx = _ctx(request)
    found = await run_in_threadpool(_index, ctx)
    values = {"campaigns": found, "base_url": ctx.settings.base_url.rstrip("/")}
    return templates.TemplateResponse(request, "archive/index.html", values, headers=CACHE)


@router.get("/archive/{slug}", include_in_schema=False)
def campaign_without_slash(slug: str) -> Response:
    if not archive.SLUG.fullmatch(slug):
        return _not_found()
    return RedirectResponse(f"/archive/{slug}/", status_code=308)


@router.get("/archive/{slug}/", response_class=HTMLResponse)
async def campaign_archive(request: Request, slug: str) -> Response:
    """A public campaign's published emails, its feed and its subscribe form."""
    ctx = _ctx(request)
    found = await run_in_threadpool(_campaign, ctx, slug)
    if found is None:
        return _not_found()
    base = ctx.settings.base_url
    values = {
        "campaign": found,
        "url": campaign_url(base, found),
        "feed_url": f"{campaign_url(base, found)}feed.xml",
        "description": _description(found),
        "image": next((e.image for e in found.emails if e.image), ""),
        "dated": [(e, item_date(found, e)) for e in found.emails],
        **_form(request, ctx, found),
    }
    response = templates.TemplateResponse(request, "archive/campaign.html", values, headers=CACHE)
    return _with_cookie(request, ctx, response)


@router.get("/archive/{slug}/feed.xml")
async def campaign_feed(request: Request, slug: str) -> Response:
    """The campaign's RSS 2.0 feed."""
    ctx = _ctx(request)
    found = await run_in_threadpool(_campaign, ctx, slug)
    if found is None:
        return _not_found()
    body = rss(ctx.settings.base_url, found, _description(found))
    return Response(body, media_type="application/rss+xml; charset=utf-8", headers=CACHE)


@router.get("/archive/{slug}/{part}", response_class=HTMLResponse)
async def email_archive(request: Request, slug: str, part: str) -> Response:
    """One published email: its neutral web version with Open Graph tags and the subscribe form."""
    ctx = _ctx(request)
    base = ctx.settings.base_url
    found = await run_in_threadpool(_email, ctx, slug, part)
    if found is None:
        return _not_found()
    campaign, item, page = found
    if part != item.stem:  # an old title's address: the current one (built from the database)
        return RedirectResponse(f"/archive/{campaign.slug}/{item.stem}", status_code=301)
    values = {
        "campaign": campaign,
        "email": item,
        "url": email_url(base, campaign, item),
        "campaign_url": campaign_url(base, campaign),
        "feed_url": f"{campaign_url(base, campaign)}feed.xml",
        **_form(request, ctx, campaign),
    }
    head = templates.get_template("archive/email_head.html").render(values)
    foot = templates.get_template("archive/email_foot.html").render(values)
    headers = {**CACHE, "Content-Security-Policy": EMAIL_POLICY}
    return _with_cookie(request, ctx, HTMLResponse(_splice(page, head, foot), headers=headers))


def _splice(page: str, head: str, foot: str) -> str:
    """``head`` at the end of the email's ``<head>``, ``foot`` at the end of its ``<body>``."""
    if "</head>" not in page or "</body>" not in page:
        return page + foot
    before, _, after = page.partition("</head>")
    body, _, end = after.rpartition("</body>")
    return f"{before}{head}</head>{body}{foot}</body>{end}"


def _description(campaign: archive.PublicCampaign) -> str:
    """The campaign's summary for its page and feed: the first email's preheader, else its title."""
    return next((e.preheader for e in campaign.emails if e.preheader), campaign.title)


async def startup(app: FastAPI) -> None:
    """Nothing to start."""


async def shutdown(app: FastAPI) -> None:
    """Nothing to stop."""
