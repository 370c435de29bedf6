"""Rows for delivery and timetable tests, created directly (campaign rendering is another package)."""

from __future__ import annotations

from datetime import date

from sqlalchemy import literal

from campaigns.models import Campaign, Email, Link
from subscribers.models import ListMembership, Subscriber, SubscriberList
from wildmail.runtime.context import AppContext

PADDING = "<p>" + "Leopards need room to roam across the forest. " * 40 + "</p>\n"

HTML = (
    "<html><body><p>Hello %%WM_NAME%%,</p>\n"
    '<p><a href="%%WM_LINK_1%%">Read more</a></p>\n'
    '<!--%%WM_IF_DONATION%%--><p><a href="%%WM_LINK_2%%">Donate</a></p><!--%%WM_END_DONATION%%-->\n'
    "{padding}"
    '<img src="%%WM_OPEN_URL%%" width="1" height="1" alt="">\n'
    '<p><a href="%%WM_UNSUBSCRIBE_URL%%">Unsubscribe</a></p></body></html>'
)
TEXT = (
    "Hello %%WM_NAME%%,\n\nRead more: %%WM_LINK_1%%\n"
    "%%WM_IF_DONATION%%\nDonate: %%WM_LINK_2%%\n%%WM_END_DONATION%%\n\n"
    "Unsubscribe: %%WM_UNSUBSCRIBE_URL%%\n"
)


def make_campaign(
    ctx: AppContext,
    *,
    slug: str = "leopard",
    emails: int = 3,
    mode: str = "drip",
    weekday: int = 0,
    hour: int = 9,
    tz: str = "UTC",
    cadence_days: int = 7,
    grace_hours: int = 24,
    min_gap_hours: int = 72,
    start_date: date | None = None,
    padding: int = 1,
    list_slug: str = "main",
    stop_donation_after_click: bool = False,
) -> Campaign:
    """A campaign with ``emails`` compiled emails (two tracked links each, the second one the
    donation ask inside its optional block) and an empty list."""
    now = ctx.clock.now()
    with ctx.session() as s:
        lst = s.query(SubscriberList).filter_by(slug=list_slug).one_or_none()
        if lst is None:
            lst = SubscriberList(slug=list_slug, name="Main list", created_at=now)
            s.add(lst)
            s.flush()
        c = Campaign(
            slug=slug,
            title="Amur leopard: a series",
            list_id=lst.id,
            mode=mode,
            send_weekday=weekday,
            send_hour=hour,
            timezone=tz,
            cadence_days=cadence_days,
            grace_hours=grace_hours,
            min_gap_hours=min_gap_hours,
            start_date=start_date,
            stop_donation_after_click=stop_donation_after_click,
            created_at=now,
            updated_at=now,
            segment={},
        )
        s.add(c)
        s.flush()
        for n in range(1, emails + 1):
            e = Email(
                campaign_id=c.id,
                position=n,
                title=f"Part {n}",
                subject=f"Part {n}: the leopard's forest",
                compiled_html=HTML.replace("{padding}", PADDING * padding),
                compiled_text=TEXT,
                compiled_at=now,
                paragraphs=[],
            )
            s.add(e)
            s.flush()
            s.add_all(
                [
                    Link(email_id=e.id, position=1, url="https://example.org/read", kind="content"),
                    Link(email_id=e.id, position=2, url="https://example.org/give", kind="donation"),
                ]
            )
        s.commit()
        s.refresh(c)
        return c


def add_subscribers(
    ctx: AppContext,
    people: list[tuple[str, str, str | None]] | int,
    *,
    list_slug: str = "main",
    status: str = "active",
) -> list[int]:
    """Subscribers (email, name, timezone) on the list; an int makes that many numbered ones."""
    now = ctx.clock.now()
    if isinstance(people, int):
        people = [(f"reader{i}@example.org", f"Reader {i}", None) for i in range(people)]
    with ctx.session() as s:
        lst = s.query(SubscriberList).filter_by(slug=list_slug).one()
        subs = [
            Subscriber(email=e, name=n, timezone=tz, status=status, created_at=now, updated_at=now)
            for e, n, tz in people
        ]
        s.add_all(subs)
        s.flush()
        s.add_all([ListMembership(subscriber_id=x.id, list_id=lst.id, created_at=now) for x in subs])
        s.commit()
        return [x.id for x in subs]


def set_status(ctx: AppContext, subscriber_id: int, status: str) -> None:
    """Change a subscriber's status directly (stands in for subscribers' own transitions)."""
    with ctx.session() as s:
        sub = s.get(Subscriber, subscriber_id)
        assert sub is not None
        sub.status = status
        s.commit()


def add_many_subscribers(
    ctx: AppContext, count: int, *, list_slug: str = "main", domain: str = "example.org"
) -> None:
    """``count`` active subscribers on the list, inserted in bulk (for the large tests)."""
    from sqlalchemy import insert, select

    now = ctx.clock.now()
    with ctx.engine.begin() as conn:
        list_id = conn.execute(select(SubscriberList.id).where(SubscriberList.slug == list_slug)).scalar_one()
        conn.execute(
            insert(Subscriber),
            [
                dict(
                    email=f"bulk{i}@{domain}",
                    name=f"Bulk {i}",
                    status="active",
                    locale="en",
                    attributes={},
                    consent_source="import",
                    created_at=now,
                    updated_at=now,
                )
                for i in range(count)
            ],
        )
        conn.execute(
            insert(ListMembership).from_select(
                ["subscriber_id", "list_id", "created_at"],
                select(Subscriber.id, literal(list_id), literal(now, ListMembership.created_at.type)).where(
                    Subscriber.email.like(f"bulk%@{domain}")
                ),
            )
        )
