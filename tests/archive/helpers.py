"""Shared by the web-version and archive tests: a campaign compiled from a Markdown article, sent
over real SMTP by the worker, and ``wildmail serve``'s app on a real uvicorn server on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email.message import EmailMessage

from delivery.enqueue import tick
from delivery.lifecycle import CampaignOptions, create_campaign_from_text, schedule_campaign
from delivery.smtp_transport import SmtpTransport
from delivery.worker import WorkerConfig, run_worker_once
from subscribers.models import ListMembership, Subscriber, SubscriberList
from wildmail.runtime.context import AppContext
from wildmail.runtime.smtp_sink import RecordingSMTPServer
from wildmail.web.app import WebApp, create_app
from wildmail.web.serving import ServerThread

ARTICLE = """---
title: Otters of the river
---

# Back on the river

Otters came back to the Wye after forty years. ![An otter on a stone](https://pictures.example/otter.jpg)
Read [the survey](https://example.org/survey) and the [river map](https://example.org/map).

# Where they sleep

Holts are dens dug in the bank under the roots of old trees, and [we map them](https://example.org/holts).

# How you can help

Keep dogs on a lead near the water in spring, and [report a sighting](https://example.org/sightings).
"""
PEOPLE = [("ada@example.org", "Ada Lovelace"), ("bo@example.org", "Bo Chen")]


def make_list(ctx: AppContext, slug: str = "river-news", people: list[tuple[str, str]] = PEOPLE) -> list[int]:
    """A single opt-in list with ``people`` active on it; their subscriber ids."""
    now = ctx.clock.now()
    with ctx.session() as s:
        lst = SubscriberList(slug=slug, name="River news", double_opt_in=False, created_at=now)
        s.add(lst)
        s.flush()
        subs = [
            Subscriber(email=e, name=n, status="active", created_at=now, updated_at=now) for e, n in people
        ]
        s.add_all(subs)
        s.flush()
        s.add_all([ListMembership(subscriber_id=x.id, list_id=lst.id, created_at=now) for x in subs])
        s.commit()
        return [x.id for x in subs]


def make_campaign(ctx: AppContext, name: str = "otters", list_slug: str = "river-news") -> str:
    """The article as a draft campaign (compiled by the real renderer); its slug."""
    with ctx.session() as s:
        options = CampaignOptions(name=name, list_slug=list_slug, donation_url="https://give.example/otters")
        campaign = create_campaign_from_text(s, ctx.settings, ARTICLE, options, ctx.clock.now())
        s.commit()
        return campaign.slug


def send_first_email(ctx: AppContext, slug: str, smtp_server: RecordingSMTPServer) -> list[EmailMessage]:
    """Schedule ``slug`` now, queue email 1 and let the worker send it; the messages received."""
    schedule_campaign(ctx, slug, ctx.clock.now())
    assert tick(ctx, ctx.message_ids).queued > 0
    transport = SmtpTransport("127.0.0.1", smtp_server.port, timeout=5)
    try:
        assert run_worker_once(ctx, transport, ctx.sender(), WorkerConfig()) > 0
    finally:
        transport.close()
    return [m.message for m in smtp_server.messages]


def html_of(message: EmailMessage) -> str:
    part = next(p for p in message.walk() if p.get_content_type() == "text/html")
    return str(part.get_content())  # type: ignore[attr-defined]


@dataclass
class Live:
    """A running server: its base URL and the app (for the tracker's writer)."""

    base: str
    app: WebApp

    def flush(self) -> None:
        assert self.app.state.tracker.writer.flush(timeout=10)


@contextmanager
def live_server(ctx: AppContext) -> Iterator[Live]:
    """``wildmail serve``'s app under uvicorn on a free loopback port (the project's ServerThread;
    a long start timeout: the event writer's child process starts first on a busy machine)."""
    app = create_app(ctx)
    server = ServerThread(app, port=0).start(timeout=60)
    try:
        yield Live(server.url, app)
    finally:
        server.stop()
