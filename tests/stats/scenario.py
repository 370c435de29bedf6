"""Hand-built campaigns, deliveries and events whose figures are worked out in the tests."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session

from campaigns.models import Campaign, Email, Link
from delivery.models import Delivery
from subscribers.models import Subscriber
from tracking.models import Event

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
KINDS = ("content", "donation", "honeypot", "unsubscribe")
__all__ = ["T0", "Campaign", "Delivery", "Email", "Event", "Link", "Subscriber"]


def campaign(s: Session, slug: str, emails: int, *, identity: bool = True) -> Campaign:
    """A campaign with ``emails`` emails, each with links 1..4 of KINDS."""
    c = Campaign(slug=slug, title=slug.title(), created_at=T0, updated_at=T0, track_identity=identity)
    s.add(c)
    for pos in range(1, emails + 1):
        e = Email(campaign=c, position=pos, title=f"Part {pos}", subject=f"Subject {pos}")
        for i, kind in enumerate(KINDS, start=1):
            e.links.append(Link(position=i, url=f"https://example.org/{slug}/{pos}/{kind}", kind=kind))
        s.add(e)
    s.flush()
    return c


def subscribers(s: Session, n: int, prefix: str = "s") -> list[Subscriber]:
    subs = [
        Subscriber(email=f"{prefix}{i}@example.org", status="active", created_at=T0, updated_at=T0)
        for i in range(1, n + 1)
    ]
    s.add_all(subs)
    s.flush()
    return subs


def deliver(s: Session, c: Campaign, pos: int, sub: Subscriber, state: str = "sent") -> Delivery:
    email = c.emails[pos - 1]
    d = Delivery(
        subscriber_id=sub.id,
        email_id=email.id,
        campaign_id=c.id,
        position=pos,
        state=state,
        next_attempt_at=T0,
        message_id=f"<{uuid.uuid4().hex}@test>",
        queued_at=T0,
        sent_at=T0 if state == "sent" else None,
        updated_at=T0,
    )
    s.add(d)
    s.flush()
    return d


def link(c: Campaign, pos: int, kind: str) -> Link:
    return next(lk for lk in c.emails[pos - 1].links if lk.kind == kind)


def event(
    s: Session,
    c: Campaign,
    pos: int,
    kind: str,
    *,
    delivery: Delivery | None = None,
    cls: str = "human",
    link_kind: str | None = None,
    implied: bool = False,
    hours: float = 1.0,
) -> Event:
    """One event ``hours`` after T0 (click events name the kind of link clicked)."""
    ev = Event(
        uid=uuid.uuid4().hex,
        kind=kind,
        classification=cls,
        delivery_id=delivery.id if delivery else None,
        campaign_id=c.id,
        email_id=c.emails[pos - 1].id,
        link_id=link(c, pos, link_kind).id if link_kind else None,
        at=T0 + timedelta(hours=hours),
        implied=implied,
    )
    s.add(ev)
    s.flush()
    return ev


def build_leopard(s: Session) -> Campaign:
    """The identified three-email scenario the stats tests check figure by figure."""
    c = campaign(s, "leopard", 3)
    s1, s2, s3, s4, s5, s6 = subscribers(s, 6)
    d1 = {sub: deliver(s, c, 1, sub) for sub in (s1, s2, s3, s4)}
    deliver(s, c, 1, s5, "bounced")
    d1[s6] = deliver(s, c, 1, s6, "unknown")
    d2 = {sub: deliver(s, c, 2, sub) for sub in (s1, s2, s3, s4)}
    deliver(s, c, 2, s6, "queued")
    d3 = {sub: deliver(s, c, 3, sub) for sub in (s1, s2)}
    deliver(s, c, 3, s3, "suppressed")
    # email 1
    event(s, c, 1, "open", delivery=d1[s1], hours=1)
    event(s, c, 1, "open", delivery=d1[s1], hours=2)
    event(s, c, 1, "click", delivery=d1[s1], link_kind="content", hours=2)
    event(s, c, 1, "open", delivery=d1[s1], implied=True, hours=2)
    event(s, c, 1, "open", delivery=d1[s2], cls="machine", hours=0)
    event(s, c, 1, "open", delivery=d1[s3], cls="machine", hours=0)
    event(s, c, 1, "open", delivery=d1[s3], hours=5)
    event(s, c, 1, "click", delivery=d1[s4], cls="bot", link_kind="content", hours=0)
    event(s, c, 1, "click", delivery=d1[s4], cls="bot", link_kind="honeypot", hours=0)
    event(s, c, 1, "click", delivery=d1[s6], link_kind="donation", hours=26)
    event(s, c, 1, "open", delivery=d1[s6], implied=True, hours=26)
    event(s, c, 1, "click", delivery=d1[s6], link_kind="donation", hours=27)
    # email 2: a click with no open event still makes an opener
    event(s, c, 2, "click", delivery=d2[s1], link_kind="content", hours=170)
    event(s, c, 2, "open", delivery=d2[s2], hours=170)
    event(s, c, 2, "unsubscribe", delivery=d2[s2], hours=171)
    # email 3
    event(s, c, 3, "open", delivery=d3[s1], hours=340)
    s.commit()
    return c


def build_anonymous(s: Session) -> Campaign:
    """A one-email campaign tracked without identity (events carry no delivery)."""
    c = campaign(s, "anon", 1, identity=False)
    for sub in subscribers(s, 4, prefix="a"):
        deliver(s, c, 1, sub)
    event(s, c, 1, "open")
    event(s, c, 1, "open")
    event(s, c, 1, "open", cls="machine", hours=0)
    event(s, c, 1, "click", link_kind="content")
    event(s, c, 1, "open", implied=True)
    event(s, c, 1, "click", link_kind="donation")
    event(s, c, 1, "open", implied=True)
    event(s, c, 1, "click", cls="bot", link_kind="content", hours=0)
    event(s, c, 1, "unsubscribe", hours=3)
    s.commit()
    return c
