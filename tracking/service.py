"""What the tracking endpoints do, without any web framework.

:class:`Tracker` verifies tokens (HMAC, constant time), hands opens and clicks to the batching
:class:`~tracking.writer.EventWriter` (no database access per hit; a click's destination comes
from a per-process cache of link id -> URL) and performs unsubscribes synchronously. The web layer
only translates HTTP to these calls; the demo can call them directly too.
"""

from __future__ import annotations

from collections.abc import Callable
from time import time_ns
from typing import NamedTuple

from sqlalchemy import Engine

from campaigns.models import LinkKind
from tracking.batch import CLICK, OPEN
from tracking.click_ids import click_id, signer
from tracking.ip_hash import IpHasher
from tracking.links import DonationDestination, destination, donation_destination
from tracking.lookup import CACHE_SIZE, CACHE_TTL_SECONDS, DeliveryMeta, MetaCache, _Lru, load_link_target
from tracking.unsubscribe import UnsubscribePage, page_for, unsubscribe_committed
from tracking.writer import EventWriter
from tracking.writer_process import CHILD_MODULE, ProcessEventWriter
from wildmail.core import tokens
from wildmail.core.clock import Clock, SystemClock, to_micros
from wildmail.core.db import session_factory
from wildmail.core.settings import Settings
from wildmail.core.signing import ints_verifier


class RequestInfo(NamedTuple):
    """The parts of an HTTP request an unsubscribe keeps (the raw IP is hashed, never stored)."""

    method: str = "GET"
    user_agent: str = ""
    purpose: str = ""
    ip: str = ""


def micros_of(clock: Clock) -> Callable[[], int]:
    """A function giving ``clock``'s current time in integer microseconds since the epoch (the
    time of every hit; for the system clock no datetime is made)."""
    if type(clock) is SystemClock:
        return lambda: time_ns() // 1000
    return lambda: to_micros(clock.now())


def new_writer(
    settings: Settings, engine: Engine, cache: MetaCache, child_module: str = CHILD_MODULE
) -> EventWriter:
    """The event writer ``settings.event_writer`` asks for (see :mod:`tracking.writer_process`);
    ``child_module`` is what the writer process runs (the shell passes one that wires the hooks)."""
    if settings.event_writer == "process":
        url = engine.url.render_as_string(hide_password=False)
        return ProcessEventWriter(engine, url, cache, ip_key=settings.secret, child_module=child_module)
    return EventWriter(engine, cache, ip_key=settings.secret)


class Tracker:
    """Token checks, event recording and unsubscribes for one process."""

    def __init__(
        self, settings: Settings, engine: Engine, clock: Clock, *, writer: EventWriter | None = None
    ) -> None:
        self.settings = settings
        self.key = settings.secret
        self._verify_open = tokens.open_verifier(self.key)
        self._verify_click = ints_verifier(self.key, tokens.CLICK, 2)
        self._sign_click_id = signer(self.key)
        self._destinations: _Lru[int, str | DonationDestination] = _Lru(CACHE_SIZE, CACHE_TTL_SECONDS)
        self.engine = engine
        self.clock = clock
        self._micros = micros_of(clock)
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

    def record_pixel(self, token: str, user_agent: bytes, purpose: bytes, method: str, ip: str) -> bool:
        """Queue an open for a pixel token (without its ``.gif``); False (nothing recorded) when the
        token is bad. No database access and nothing computed that the writer can do (see
        :mod:`tracking.wire`): a validly signed id whose delivery no longer exists is dropped by
        the writer."""
        try:
            (delivery_id,) = self._verify_open(token)
        except tokens.BadToken:
            return False
        self.writer.record(OPEN, delivery_id, None, self._micros(), user_agent, purpose, method, ip)
        return True

    def verify_click(self, token: str) -> tuple[int, int] | None:
        """(delivery id, link id) of a validly signed click token, or None."""
        try:
            delivery_id, link_id = self._verify_click(token)
        except tokens.BadToken:
            return None
        return delivery_id, link_id

    def cached_destination(self, link_id: int) -> str | DonationDestination | None:
        """Where a click on ``link_id`` redirects, from this process's cache: the URL, ``""`` when
        it must not redirect (no such link, unsafe stored URL), a :class:`DonationDestination`
        for a donation link (see :meth:`donation_location`), None when not cached."""
        return self._destinations.get(link_id)

    def load_destination(self, link_id: int) -> str | DonationDestination:
        """:meth:`cached_destination` after one short database read (and cached for
        ``CACHE_TTL_SECONDS``, so an edited link or campaign slug is seen within a minute)."""
        target = load_link_target(self.engine, link_id)
        url: str | DonationDestination = ""
        if target is not None:
            found = destination(
                target.link,
                campaign_slug=target.campaign_slug,
                utm_source=self.settings.utm_source,
                utm_medium=self.settings.utm_medium,
            )
            url = found or ""
            if found and target.link.kind == LinkKind.DONATION.value:
                url = donation_destination(found)
        self._destinations.put(link_id, url)
        return url

    def donation_location(self, target: DonationDestination, delivery_id: int, link_id: int) -> str:
        """A donation link's redirect for one click: its URL with the click's signed ``wm_cid``
        (none for a test send, which names no delivery)."""
        if delivery_id == tokens.TEST_DELIVERY:
            return target.plain
        return target.with_click_id(click_id(self.key, delivery_id, link_id, self._sign_click_id))

    def record_click(
        self, delivery_id: int, link_id: int, user_agent: bytes, purpose: bytes, method: str, ip: str
    ) -> None:
        """Queue a click whose token was verified and whose link redirects. A test send's click
        (delivery id 0) records nothing; the writer drops a click of an unknown or forgotten
        person's delivery, or of a link that belongs to another email."""
        if delivery_id != tokens.TEST_DELIVERY:
            self.writer.record(CLICK, delivery_id, link_id, self._micros(), user_agent, purpose, method, ip)

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
