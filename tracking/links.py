"""Where a click goes: the stored link URL, plus UTM parameters on donation links.

The destination always comes from the ``Link`` row; nothing in the request can change it.
Only http(s) URLs are followed, so a bad row can never become a ``javascript:`` redirect.
"""

from __future__ import annotations

from typing import NamedTuple
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

from campaigns.models import LinkKind
from tracking.click_ids import PARAM
from tracking.lookup import LinkMeta

SAFE_SCHEMES = ("http", "https")


def with_utm(url: str, *, source: str, medium: str, campaign: str) -> str:
    """``url`` with utm_source/utm_medium/utm_campaign added.

    Existing query parameters are kept in order (blank values too); a UTM parameter the link
    already sets is left as the author wrote it. The fragment stays at the end.
    """
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    present = {key for key, _ in query}
    for key, value in (("utm_source", source), ("utm_medium", medium), ("utm_campaign", campaign)):
        if value and key not in present:
            query.append((key, value))
    return urlunsplit(parts._replace(query=urlencode(query, quote_via=quote)))


def is_safe_destination(url: str) -> bool:
    """True for an absolute http(s) URL with a host and no control characters."""
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in url):
        return False
    parts = urlsplit(url)
    return parts.scheme.lower() in SAFE_SCHEMES and bool(parts.netloc)


def destination(link: LinkMeta, *, campaign_slug: str, utm_source: str, utm_medium: str) -> str | None:
    """The URL a click on ``link`` redirects to, or None when the stored URL is not safe."""
    if not is_safe_destination(link.url):
        return None
    if link.kind == LinkKind.DONATION.value:
        return with_utm(link.url, source=utm_source, medium=utm_medium, campaign=campaign_slug)
    return link.url


class DonationDestination(NamedTuple):
    """A donation link's UTM-tagged URL, cut where each click's ``wm_cid`` goes, so the redirect
    only joins three strings (see :mod:`tracking.click_ids`)."""

    head: str  # the URL up to the end of its query, ending in "?" or "&"
    tail: str  # "#fragment", or ""

    def with_click_id(self, cid: str) -> str:
        """The URL with ``wm_cid=<cid>`` as its last query parameter."""
        return f"{self.head}{PARAM}={cid}{self.tail}"

    @property
    def plain(self) -> str:
        """The URL without a click id (test sends: no delivery to name)."""
        return self.head[:-1] + self.tail


def donation_destination(url: str) -> DonationDestination:
    """``url`` (already UTM-tagged) ready for a ``wm_cid``; one the author wrote is dropped (it
    could only name someone else's click)."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != PARAM]
    encoded = urlencode(query, quote_via=quote)
    head = urlunsplit(parts._replace(query=encoded, fragment=""))
    tail = f"#{parts.fragment}" if parts.fragment else ""
    return DonationDestination(head + ("&" if encoded else "?"), tail)
