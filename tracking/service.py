"""What the tracking endpoints do, without any web framework.

:class:`Tracker` verifies tokens (HMAC, constant time), hands opens and clicks to the batching
:class:`~tracking.writer.EventWriter` and performs unsubscribes synchronously. The web layer
only translates HTTP to these calls; the demo can call them directly too.
"""

from __future__ import annotations

from typing import NamedTuple

from sqlalchemy import Engine, select

from campaigns.models import Campaign, Email
from tracking.batch import CLICK, OPEN
from tracking.ip_hash import IpHasher
from tracking.links import destination
from tracking.lookup import DeliveryMeta, MetaCache
from tracking.unsubscribe import UnsubscribePage, page_for, unsubscribe_committed
from tracking.writer import EventWriter
from tracking.writer_process import ProcessEventWriter
from wildmail.core import tokens
from wildmail.core.clock import Clock, nanos_of
from wildmail.core.db import session_factory
from wildmail.core.settings import Settings


class RequestInfo(NamedTuple):
    """The parts of an HTTP request the rules look at (the raw IP is hashed, never stored;
    ``purpose`` holds the prefetch headers, judged by the writer: see :mod:`tracking.wire`)."""

    method: str = "GET"
    user_agent: str = ""
    purpose: str = ""
    ip: str = ""


def new_writer(settings: Settings, engine: Engine, cache: MetaCache) -> EventWriter:
    """The event writer ``settings.event_writer`` asks for (see :mod:`tracking.writer_process`)."""
    if settings.event_writer == "process":
        url = engine.url.render_as_string(hide_password=False)
        return ProcessEventWriter(engine, url, cache, ip_key=settings.secret)
    return EventWriter(engine, cache, ip_key=settings.secret)


class Tracker:
    """Token checks, event recording and unsubscribes for one process."""

    def __init__(
        self, settings: Settings, engine: Engine, clock: Clock, *, writer: EventWriter | None = None
    ) -> None:
        self.settings = settings
        self.key = settings.secret
        self._verify_open = tokens.open_verifier(self.key)
        self.engine = engine
        self.clock = clock
        self._nanos = nanos_of(clock)
        self.cache = writer.cache if writer is not None else MetaCache(engine)
        self.writer = writer or new_writer(settings, engine, self.cache)
        self._ip = IpHasher(self.key)
        self._sessions = session_factory(engine)

    def start(self) -> Tracker:
        """Start the background writer."""
        self.writer.start()
        return self

    def stop(self) -> None:
        """Write every queued event, then stop the writer."""
        self.writer.stop()

    def hash_ip(self, ip: str) -> str:
        """Keyed hash of an IP address (memoised: a busy proxy sends many requests)."""
        return self._ip.hash(ip)

    def record_open(self, token: str, request: RequestInfo) -> bool:
        """Queue an open for a pixel token; False (nothing recorded) when the token is bad."""
        return self.record_pixel(token, request.user_agent, request.purpose, request.method, request.ip)

    def record_pixel(
        self, token: str, user_agent: str | bytes, purpose: str | bytes, method: str, ip: str
    ) -> bool:
        """:meth:`record_open` for the hot path, with the request's parts as they arrive (header
        values may be bytes). No database access and nothing computed that the writer can do
        (see :mod:`tracking.wire`): a validly signed id whose delivery no longer exists is
        dropped by the writer."""
        try:
            (delivery_id,) = self._verify_open(token.removesuffix(".gif"))
        except tokens.BadToken:
            return False
        self.writer.record(OPEN, delivery_id, None, self._nanos(), user_agent, purpose, method, ip)
        return True

    def record_click(self, token: str, request: RequestInfo) -> str | None:
        """Queue a click and return where to redirect, or None (nothing recorded) for a bad
        token, an unknown delivery or link, a link of another email, or an unsafe stored URL.
        A forgotten person's link still redirects, and records nothing."""
        try:
            delivery_id, link_id = tokens.parse_click(self.key, token)
        except tokens.BadToken:
            return None
        if delivery_id == tokens.TEST_DELIVERY:
            return self.test_click(link_id)
        link = self.cache.link(link_id)
        meta = self.cache.delivery(delivery_id) if link is not None else None
        if link is None or meta is None or link.email_id != meta.email_id:
            return None
        url = destination(
            link,
            campaign_slug=meta.campaign_slug,
            utm_source=self.settings.utm_source,
            utm_medium=self.settings.utm_medium,
        )
        if url is not None and not meta.forgotten:
            self.writer.record(
                CLICK,
                delivery_id,
                link_id,
                self._nanos(),
                request.user_agent,
                request.purpose,
                request.method,
                request.ip,
            )
        return url

    def test_click(self, link_id: int) -> str | None:
        """Where a test send's link goes (its signed token carries delivery id 0): the link's
        destination, UTM-tagged like a real click; nothing is recorded."""
        link = self.cache.link(link_id)
        if link is None:
            return None
        with self._sessions() as session:
            slug = session.scalar(
                select(Campaign.slug)
                .join(Email, Email.campaign_id == Campaign.id)
                .where(Email.id == link.email_id)
            )
        return destination(
            link,
            campaign_slug=slug or "",
            utm_source=self.settings.utm_source,
            utm_medium=self.settings.utm_medium,
        )

    def is_test_unsubscribe(self, token: str) -> bool:
        """True for the validly signed unsubscribe token of a test send (delivery id 0)."""
        try:
            return tokens.parse_unsubscribe(self.key, token) == tokens.TEST_DELIVERY
        except tokens.BadToken:
            return False

    def unsubscribe_target(self, token: str) -> DeliveryMeta | None:
        """The delivery an unsubscribe token points at, or None when bad or unknown."""
        try:
            delivery_id = tokens.parse_unsubscribe(self.key, token)
        except tokens.BadToken:
            return None
        return self.cache.delivery(delivery_id)

    def unsubscribe_page(self, meta: DeliveryMeta) -> UnsubscribePage | None:
        """Content of the confirmation page (reads only)."""
        with self._sessions() as session:
            return page_for(session, meta)

    def unsubscribe(self, meta: DeliveryMeta, request: RequestInfo) -> bool:
        """Unsubscribe now; committed when this returns. True if the status changed."""
        return unsubscribe_committed(
            self.engine,
            meta,
            self.clock.now(),
            user_agent=request.user_agent,
            ip_hash=self.hash_ip(request.ip),
        )
