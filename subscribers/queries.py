"""Read-only queries the CLI and the dashboard show: lists with member counts, consent history."""

from __future__ import annotations

from typing import Literal, NamedTuple

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from subscribers.models import ConsentEvent, ListMembership, SubscriberList
from wildmail.core.store import Store


def lists_with_counts(
    session: Session, order_by: Literal["name", "slug"] = "name"
) -> list[tuple[SubscriberList, int]]:
    """Every list with its number of members (any status), ordered by name or slug."""
    counts = dict(
        session.execute(select(ListMembership.list_id, func.count()).group_by(ListMembership.list_id))
        .tuples()
        .all()
    )
    key = SubscriberList.name if order_by == "name" else SubscriberList.slug
    return [(lst, counts.get(lst.id, 0)) for lst in session.scalars(select(SubscriberList).order_by(key))]


def inactive_counts(session: Session) -> dict[int, int]:
    """Members sunset on each list (``ListMembership.inactive_at``), by list id; lists without any
    are left out. They are still members (counted in :func:`lists_with_counts`) but get no mail."""
    query = (
        select(ListMembership.list_id, func.count())
        .where(ListMembership.inactive_at.is_not(None))
        .group_by(ListMembership.list_id)
    )
    return dict(session.execute(query).tuples().all())


def lists_by_name(session: Session) -> list[SubscriberList]:
    """Every list, ordered by name (for pickers)."""
    return list(session.scalars(select(SubscriberList).order_by(SubscriberList.name)))


def list_name(session: Session, slug: str) -> str | None:
    """The display name of the list ``slug``, or None when there is none."""
    return session.scalar(select(SubscriberList.name).where(SubscriberList.slug == slug))


def consent_history(session: Session, subscriber_id: int) -> list[ConsentEvent]:
    """A subscriber's consent events, oldest first."""
    return list(
        session.scalars(
            select(ConsentEvent).where(ConsentEvent.subscriber_id == subscriber_id).order_by(ConsentEvent.id)
        )
    )


class ListChoice(NamedTuple):
    """A subscriber list a campaign can be sent to, as a form offers it."""

    slug: str
    name: str


def list_choices(store: Store) -> list[ListChoice]:
    """Every subscriber list by name, for the campaign forms."""
    with store.session() as s:
        rows = s.execute(select(SubscriberList.slug, SubscriberList.name).order_by(SubscriberList.name))
        return [ListChoice(slug, name) for slug, name in rows]
