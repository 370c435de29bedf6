"""Small helpers shared by the subscribers tests."""

from __future__ import annotations

import re
from email.message import EmailMessage

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from subscribers import lifecycle
from subscribers.models import ConsentEvent, SubscriberList

LINK = re.compile(r"https?://[^\s\"<>]+/confirm/[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+")


class Outbox(list[EmailMessage]):
    """A ``send`` callable that keeps the messages (the domain code's transport seam)."""

    def __call__(self, message: EmailMessage) -> None:
        self.append(message)


def confirm_link(message: EmailMessage) -> str:
    """The confirmation URL in the text part (and checks the HTML part has the same one)."""
    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert text is not None and html is not None
    links = LINK.findall(text.get_content())
    assert len(links) == 1, links
    assert links[0] in html.get_content()
    return str(links[0])


def make_list(session: Session, clock, slug: str = "news", double: bool = True) -> SubscriberList:
    return lifecycle.create_list(session, slug, slug.title(), double_opt_in=double, at=clock.now())


def history(session: Session, subscriber_id: int) -> list[tuple[str | None, str, str]]:
    """Status transitions in order (records of confirmation emails sent are asserted separately)."""
    from subscribers.optin import CONFIRMATION_SENT_DETAIL

    rows = session.execute(
        select(ConsentEvent.from_status, ConsentEvent.to_status, ConsentEvent.source)
        .where(
            ConsentEvent.subscriber_id == subscriber_id,
            ~ConsentEvent.detail.startswith(CONFIRMATION_SENT_DETAIL),
        )
        .order_by(ConsentEvent.id)
    )
    return [tuple(r) for r in rows]  # type: ignore[misc]


def count(session: Session, model) -> int:
    return int(session.scalar(select(func.count()).select_from(model)) or 0)
