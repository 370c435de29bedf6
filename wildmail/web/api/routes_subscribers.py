"""``/api/v1/subscribers``: subscribe (double opt-in, or as confirmed), read with consent history,
update attributes, unsubscribe, forget. The use cases are the CLI's and the dashboard's."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from sqlalchemy.orm import Session

from subscribers import lifecycle, optin, person
from subscribers.addresses import InvalidValue
from subscribers.models import ConsentSource, Subscriber
from subscribers.records import add_confirmed, refreshed, subscribers_page, update_profile
from wildmail.core.db import write_transaction
from wildmail.runtime.api_tokens import Principal
from wildmail.runtime.mailer import MailError, send_one
from wildmail.web.api.idempotency import ApiRoute
from wildmail.web.api.pagination import Page, PageQuery, after_id, paged
from wildmail.web.api.problems import ProblemError
from wildmail.web.api.schemas import (
    ConsentEventOut,
    Slug,
    SubscribeOut,
    SubscriberDetail,
    SubscriberIn,
    SubscriberOut,
    SubscriberPatch,
    SuppressionState,
    UnsubscribeOut,
)
from wildmail.web.api.security import ctx_of, needs
from wildmail.web.path_params import DbInt

router = APIRouter(prefix="/api/v1/subscribers", tags=["subscribers"], route_class=ApiRoute)
Reader = Annotated[Principal, Depends(needs("subscribers", "read"))]
Writer = Annotated[Principal, Depends(needs("subscribers", "write"))]
Status = Literal["pending", "active", "unsubscribed", "bounced", "complained"]


def subscriber_out(sub: Subscriber) -> SubscriberOut:
    return SubscriberOut(
        id=sub.id, email=sub.email, name=sub.name, status=sub.status, timezone=sub.timezone,
        locale=sub.locale,
        attributes=dict(sub.attributes or {}), lists=sorted(lst.slug for lst in sub.lists),
        created_at=sub.created_at, updated_at=sub.updated_at, confirmed_at=sub.confirmed_at,
        unsubscribed_at=sub.unsubscribed_at, paused_until=sub.paused_until,
    )  # fmt: skip


def _by(principal: Principal) -> str:
    return f"API token {principal.name}"


@router.get("", summary="Subscribers, by id (forgotten people are gone)")
def get_subscribers(
    request: Request,
    _: Reader,
    page: Annotated[PageQuery, Depends()],
    list_slug: Annotated[Slug | None, Query(alias="list", description="Only members of this list.")] = None,
    status: Annotated[Status | None, Query(description="Only people in this status.")] = None,
    email: Annotated[str | None, Query(max_length=320, description="Only this address.")] = None,
) -> Page[SubscriberOut]:
    with ctx_of(request).session() as s:
        list_id = None
        if list_slug is not None:
            lst = lifecycle.get_list(s, list_slug)
            if lst is None:
                raise ProblemError(404, f"no list {list_slug!r}", kind="not-found")
            list_id = lst.id
        start = after_id(request, "subscribers", page)
        rows = subscribers_page(s, start, page.limit + 1, list_id=list_id, status=status, email=email)
        return paged(request, "subscribers", page, rows, lambda r: r.id, subscriber_out)


@router.post("", status_code=201, summary="Subscribe someone to a list")
def subscribe(request: Request, principal: Writer, body: SubscriberIn, response: Response) -> SubscribeOut:
    """With ``confirmed: false`` the list's opt-in applies: a double opt-in list sends the
    confirmation email (the person is ``pending`` until they confirm). With ``confirmed: true``
    the caller holds their consent and they are active at once; someone who unsubscribed, bounced
    or complained is refused (409), as in a CSV import."""
    ctx = ctx_of(request)
    now = ctx.clock.now()
    try:
        with write_transaction(ctx.engine) as s:
            lst = lifecycle.get_list(s, body.list)
            if lst is None:
                raise ProblemError(422, f"no list {body.list!r}", kind="unknown-list")
            if body.confirmed:
                sub, changed = add_confirmed(
                    s, lst, body.email, now, name=body.name, timezone=body.timezone, locale=body.locale,
                    attributes=body.attributes, source=ConsentSource.ADMIN,
                )  # fmt: skip
                outcome = "activated" if changed else "already_active"
            else:
                result = optin.subscribe(
                    s, ctx.settings, lst, body.email, now, lambda m: send_one(ctx.settings, m),
                    name=body.name, timezone=body.timezone, locale=body.locale, source=ConsentSource.ADMIN,
                )  # fmt: skip
                sub, outcome = result.subscriber, result.outcome.value
                if body.attributes:
                    update_profile(s, sub, now, attributes=body.attributes)
            out = SubscribeOut(outcome=outcome, subscriber=subscriber_out(refreshed(s, sub)))  # type: ignore[arg-type]
    except InvalidValue as exc:
        left = "only their own confirmation" in str(exc)
        raise ProblemError(
            409 if left else 422, str(exc), kind="consent" if left else "invalid-subscriber"
        ) from None
    except MailError as exc:
        raise ProblemError(502, f"{exc} (nothing was saved)", kind="mail-failed") from None
    response.headers["Location"] = f"/api/v1/subscribers/{out.subscriber.id}"
    return out


def _person(s: Session, subscriber_id: int) -> Subscriber:
    sub = person.get_person(s, subscriber_id)
    if sub is None:
        raise ProblemError(404, f"no subscriber {subscriber_id}", kind="not-found")
    return sub


@router.get("/{subscriber_id}", summary="One subscriber with their consent history")
def get_subscriber(request: Request, _: Reader, subscriber_id: DbInt) -> SubscriberDetail:
    with ctx_of(request).session() as s:
        sub = _person(s, subscriber_id)
        profile = person.profile(s, sub)
        suppression = (
            SuppressionState(reason=profile.suppression.reason, since=profile.suppression.since)
            if profile.suppression
            else None
        )
        history = [
            ConsentEventOut(
                at=e.at, from_status=e.from_status, to_status=e.to_status, source=e.source, detail=e.detail
            )
            for e in profile.history
        ]
        return SubscriberDetail(**subscriber_out(sub).model_dump(), history=history, suppression=suppression)


@router.patch("/{subscriber_id}", summary="Change name, time zone, locale or attributes")
def patch_subscriber(
    request: Request, _: Writer, subscriber_id: DbInt, body: SubscriberPatch
) -> SubscriberOut:
    ctx = ctx_of(request)
    try:
        with write_transaction(ctx.engine) as s:
            sub = _person(s, subscriber_id)
            update_profile(
                s, sub, ctx.clock.now(), name=body.name, timezone=body.timezone, locale=body.locale,
                attributes=body.attributes,
            )  # fmt: skip
            return subscriber_out(sub)
    except InvalidValue as exc:
        raise ProblemError(422, str(exc), kind="invalid-subscriber") from None


@router.post("/{subscriber_id}/unsubscribe", summary="Unsubscribe from everything (and suppress)")
def unsubscribe(request: Request, principal: Writer, subscriber_id: DbInt) -> UnsubscribeOut:
    ctx = ctx_of(request)
    with write_transaction(ctx.engine) as s:
        sub = _person(s, subscriber_id)
        changed = person.unsubscribe_person(s, sub, ctx.clock.now(), by=_by(principal))
        return UnsubscribeOut(changed=changed, subscriber=subscriber_out(sub))


@router.delete("/{subscriber_id}", status_code=204, summary="Forget someone (GDPR erasure)")
def forget(request: Request, _: Writer, subscriber_id: DbInt) -> Response:
    """Everything about the person is erased; their address stays suppressed as a hash only."""
    ctx = ctx_of(request)
    with write_transaction(ctx.engine) as s:
        sub = _person(s, subscriber_id)
        person.forget_person(s, sub, ctx.clock.now())
    return Response(status_code=204)
