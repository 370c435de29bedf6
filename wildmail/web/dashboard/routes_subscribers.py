"""Subscriber pages: the member list (search, keyset pages), a person's page with their history
and the actions on them, exports, the suppression list, and a list's public texts and form code.

Who may do what: every role reads (staff answer supporters' questions and subject access
requests: person page, person export); marketers and admins also unsubscribe, export whole
lists and edit a list's public texts; only admins forget a person or lift a suppression.
Queries and changes are the ``subscribers`` and ``tracking`` use-cases.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request, Response
from fastapi.responses import StreamingResponse

from subscribers import lifecycle, person, privacy
from subscribers.addresses import InvalidValue
from subscribers.members import Cursor, SearchBy, search_members
from subscribers.models import SubscriberStatus
from subscribers.queries import lists_by_name
from subscribers.signup_form import embed_html, form_url
from tracking.activity import activity
from tracking.models import Classification, EventKind
from wildmail.core.db import write_transaction
from wildmail.runtime.users import Role, User
from wildmail.web.dashboard.auth import CAN_ADMIN, CAN_EDIT, CAN_READ, ctx_of, require
from wildmail.web.dashboard.pages import DashboardRoute, done, error_page, form_of, render
from wildmail.web.path_params import DbInt

router = APIRouter(route_class=DashboardRoute)
MEMBERS = "/dashboard/subscribers"
SUPPRESSIONS = "/dashboard/subscribers/suppressions"
NOTICES = {
    "unsubscribed": "Unsubscribed: the address is suppressed and gets no more email.",
    "not-active": "They were not subscribed; the address stays suppressed.",
    "forgotten": "Forgotten: their personal data is erased; the address is kept only as a hash so "
    "they are never mailed again.",
    "lifted": "Suppression lifted; the note is in the person's consent history.",
    "described": "List texts saved: the public pages show them now.",
}
STATUSES = [s.value for s in SubscriberStatus]
REASONS = sorted(s.value for s in lifecycle.SUPPRESSED_STATUSES)
EVENT_COLUMNS = [
    (EventKind.OPEN, Classification.HUMAN, "Opens (people)"),
    (EventKind.OPEN, Classification.MACHINE, "Opens (machines)"),
    (EventKind.CLICK, Classification.HUMAN, "Clicks (people)"),
    (EventKind.CLICK, Classification.BOT, "Clicks (bots)"),
]


def _page(request: Request, template: str, user: User, status: int = 200, **values: Any) -> Response:
    notice = NOTICES.get(request.query_params.get("done", ""))
    return render(request, template, status, user=user, notice=notice, **values)


@router.get(MEMBERS)
def members_page(request: Request) -> Response:
    """The member list, overall or of one list (``?list=<slug>``), searchable, newest first."""
    user = require(request, CAN_READ)
    ctx = ctx_of(request)
    params = request.query_params
    query = params.get("q", "")[:320].strip()
    by = SearchBy.NAME if params.get("by") == SearchBy.NAME.value else SearchBy.EMAIL
    status = params.get("status") if params.get("status") in STATUSES else None
    slug = params.get("list", "")[:100]
    after = Cursor.decode(params.get("after", "")[:700])
    with ctx.session() as s:
        lists = lists_by_name(s)
        current = next((lst for lst in lists if lst.slug == slug), None)
        if slug and current is None:
            return error_page(request, 404, "List not found", f"There is no list {slug!r}.")
        page = search_members(
            s,
            query=query,
            by=by,
            list_id=current.id if current else None,
            status=status,
            after=after,
        )
    keep = {"q": query, "by": by.value, "list": slug, "status": status or ""}
    keep = {k: v for k, v in keep.items() if v and not (k == "by" and v == SearchBy.EMAIL.value)}
    next_url = (
        f"{MEMBERS}?{urlencode(keep | {'after': page.next_cursor.encode()})}" if page.next_cursor else ""
    )
    first_url = f"{MEMBERS}?{urlencode(keep)}" if after is not None else ""
    exported = {k: v for k, v in (("list", slug), ("status", status or "")) if v}
    export_url = f"{MEMBERS}/export.csv" + (f"?{urlencode(exported)}" if exported else "")
    signup = None
    if current is not None:
        base = ctx.settings.base_url
        signup = {"url": form_url(base, current.slug), "embed": embed_html(base, current.slug, current.name)}
    return _page(
        request,
        "members.html",
        user,
        page=page,
        lists=lists,
        current=current,
        query=query,
        by=by.value,
        status_filter=status or "",
        statuses=STATUSES,
        next_url=next_url,
        first_url=first_url,
        signup=signup,
        export_url=export_url,
        can_edit=Role(user.role) in CAN_EDIT,
    )


@router.post("/dashboard/subscribers/lists/{slug}")
async def describe_list(request: Request, slug: str) -> Response:
    """Save a list's display name and description (what subscribers read on the public pages)."""
    user = require(request, CAN_EDIT)
    form = await form_of(request)
    ctx = ctx_of(request)
    try:
        with write_transaction(ctx.engine) as s:
            lifecycle.describe_list(
                s, slug, str(form.get("name") or "")[:400], str(form.get("description") or "")[:4000]
            )
    except lifecycle.UnknownList:
        return error_page(request, 404, "List not found", f"There is no list {slug!r}.")
    except InvalidValue as exc:
        return _page(
            request, "subscriber_problem.html", user, 400, message=f"Not saved: {exc}.", back=_list_url(slug)
        )
    return done(_list_url(slug), "described")


def _list_url(slug: str) -> str:
    return f"{MEMBERS}?{urlencode({'list': slug})}"


@router.get("/dashboard/subscribers/export.csv")
def export_list(request: Request) -> Response:
    """Every member of a list (or everyone) as formula-safe CSV, streamed in chunks."""
    require(request, CAN_EDIT)
    ctx = ctx_of(request)
    slug = request.query_params.get("list", "")[:100] or None
    status = request.query_params.get("status")
    status = status if status in STATUSES else None
    if slug is not None:
        with ctx.session() as s:
            if lifecycle.get_list(s, slug) is None:
                return error_page(request, 404, "List not found", f"There is no list {slug!r}.")

    def chunks() -> Iterator[str]:
        with ctx.session() as s:
            yield from person.export_chunks(s, slug, status)

    name = f"subscribers-{slug or 'all'}{'-' + status if status else ''}.csv"
    return StreamingResponse(
        chunks(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"},
    )


@router.get(SUPPRESSIONS)
def suppressions_page(request: Request) -> Response:
    """Suppressed people with the reason; admins lift a bounce's suppression with a note."""
    user = require(request, CAN_ADMIN)
    search = request.query_params.get("q", "")[:320]
    reason = request.query_params.get("reason", "")
    reason = reason if reason in REASONS else ""
    with ctx_of(request).session() as s:
        people = lifecycle.suppressed_people(s, search, reason=reason or None)
    return _page(
        request, "suppressions.html", user, people=people, search=search, reason=reason, reasons=REASONS
    )


@router.get("/dashboard/subscribers/{subscriber_id}")
def person_page(request: Request, subscriber_id: DbInt) -> Response:
    """One person: lists, consent history, deliveries with replies, opens and clicks, suppression."""
    user = require(request, CAN_READ)
    ctx = ctx_of(request)
    with ctx.session() as s:
        sub = person.get_person(s, subscriber_id)
        if sub is None:
            return _gone(request)
        prof = person.profile(s, sub)
        act = activity(s, sub.id)
        return _page(
            request,
            "person.html",
            user,
            p=prof,
            sub=sub,
            act=act,
            event_columns=EVENT_COLUMNS,
            paused=prof.paused(ctx.clock.now()),
            can_edit=Role(user.role) in CAN_EDIT,
            can_admin=Role(user.role) in CAN_ADMIN,
        )


def _gone(request: Request) -> Response:
    return error_page(
        request,
        404,
        "Person not found",
        "There is nobody with this number: they may have been forgotten (their data was erased).",
    )


def _person_url(subscriber_id: int) -> str:
    return f"{MEMBERS}/{subscriber_id}"


@router.get("/dashboard/subscribers/{subscriber_id}/export.json")
def export_person_json(request: Request, subscriber_id: DbInt) -> Response:
    """Everything stored about one person as JSON (a subject access request)."""
    require(request, CAN_READ)
    with ctx_of(request).session() as s:
        sub = person.get_person(s, subscriber_id)
        if sub is None:
            return _gone(request)
        body = privacy.person_json(s, sub)
    return _download(body, "application/json", f"person-{subscriber_id}.json")


@router.get("/dashboard/subscribers/{subscriber_id}/export.csv")
def export_person_csv(request: Request, subscriber_id: DbInt) -> Response:
    """Everything stored about one person as a field/value CSV (formula-safe)."""
    require(request, CAN_READ)
    with ctx_of(request).session() as s:
        sub = person.get_person(s, subscriber_id)
        if sub is None:
            return _gone(request)
        body = person.person_csv(s, sub)
    return _download(body, "text/csv; charset=utf-8", f"person-{subscriber_id}.csv")


def _download(body: str, media_type: str, filename: str) -> Response:
    return Response(
        body,
        media_type=media_type,
        headers={"Content-Disposition": f'attachment; filename="{filename}"', "Cache-Control": "no-store"},
    )


@router.post("/dashboard/subscribers/{subscriber_id}/unsubscribe")
async def unsubscribe(request: Request, subscriber_id: DbInt) -> Response:
    user = require(request, CAN_EDIT)
    await form_of(request)
    ctx = ctx_of(request)
    with write_transaction(ctx.engine) as s:
        sub = person.get_person(s, subscriber_id)
        if sub is None:
            return _gone(request)
        changed = person.unsubscribe_person(s, sub, ctx.clock.now(), by=f"{user.email} (dashboard)")
    return done(_person_url(subscriber_id), "unsubscribed" if changed else "not-active")


@router.post("/dashboard/subscribers/{subscriber_id}/forget")
async def forget(request: Request, subscriber_id: DbInt) -> Response:
    """Erase the person (GDPR); the form must repeat their address, as a safety catch."""
    user = require(request, CAN_ADMIN)
    form = await form_of(request)
    ctx = ctx_of(request)
    typed = str(form.get("confirm") or "").strip().lower()
    with write_transaction(ctx.engine) as s:
        sub = person.get_person(s, subscriber_id)
        if sub is None:
            return _gone(request)
        if typed != sub.email:
            return _page(
                request,
                "subscriber_problem.html",
                user,
                400,
                message="Nothing was erased: type the person's address exactly to confirm.",
                back=_person_url(subscriber_id),
            )
        person.forget_person(s, sub, ctx.clock.now())
    return done(MEMBERS, "forgotten")


@router.post("/dashboard/subscribers/{subscriber_id}/lift")
async def lift(request: Request, subscriber_id: DbInt) -> Response:
    """Lift a bounce's suppression with a note (kept in the consent history)."""
    user = require(request, CAN_ADMIN)
    form = await form_of(request)
    ctx = ctx_of(request)
    note = str(form.get("note") or "")[:2000]
    back = str(form.get("back") or "")
    try:
        with write_transaction(ctx.engine) as s:
            sub = person.get_person(s, subscriber_id)
            if sub is None:
                return _gone(request)
            lifecycle.lift_bounce(s, sub.email, note, ctx.clock.now(), by=f"{user.email} (dashboard)")
    except lifecycle.CannotLift as exc:
        target = SUPPRESSIONS if back == "suppressions" else _person_url(subscriber_id)
        return _page(
            request, "subscriber_problem.html", user, 400, message=f"Not lifted: {exc}.", back=target
        )
    return done(SUPPRESSIONS if back == "suppressions" else _person_url(subscriber_id), "lifted")
