"""What each simulated reader's mail client does with a received message, and when.

Rates per delivered message (before the reader's own ``interest`` factor): a person opens about
22% of the time, less further along the series; an opener clicks about 12% of the time, a third of
those on the donation button; 0.2% unsubscribe with the one-click header. Apple Mail's proxy fetches
the pixel at delivery for every Apple reader; corporate link scanners follow every link, the hidden
honeypot included, a second or two after delivery.
"""

from __future__ import annotations

import quopri
import random
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from wildmail.demo.population import Person

OPEN_RATE = 0.36
SERIES_DECAY = 0.93
CLICK_GIVEN_OPEN = 0.09
DONATION_SHARE = 0.33
UNSUBSCRIBE_RATE = 0.002

UA = {
    "apple_proxy": "Mozilla/5.0",
    "apple": "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko)",
    "gmail": "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)",
    "gmail_click": "Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124 Mobile",
    "desktop": "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Thunderbird/128.3.0",
    "corporate": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/124.0 Edg/124.0",
    "scanner": "Mozilla/5.0 (compatible; Barracuda Sentinel link protection)",
}

_PIXEL = re.compile(r'src="([^"]*/o/[^"]+\.gif)"')
_CLICK = re.compile(r'href="([^"]*/c/[^"]+)"')
_UNSUB = re.compile(r"<(https?://[^>]+)>")


@dataclass(order=True)
class Action:
    """One HTTP request a client will make at ``at``."""

    at: datetime
    seq: int
    method: str = field(compare=False)
    url: str = field(compare=False)
    user_agent: str = field(compare=False)
    data: dict[str, str] | None = field(default=None, compare=False)


@dataclass
class Links:
    """The tracked URLs found in one received message."""

    pixel: str | None
    clicks: list[str]
    unsubscribe: str | None


def header(raw: bytes, name: str) -> str:
    """One header's unfolded value from raw message bytes ('' when absent)."""
    head = raw.split(b"\r\n\r\n", 1)[0].replace(b"\r\n ", b" ").replace(b"\r\n\t", b" ")
    match = re.search(rb"^" + re.escape(name.encode()) + rb":[ \t]*(.*)$", head, re.MULTILINE | re.IGNORECASE)
    return match.group(1).decode("ascii", "replace").strip() if match else ""


def find_links(raw: bytes) -> Links:
    """Extract the pixel, click and one-click unsubscribe URLs from a received message.

    A reader's client only needs the URLs, so this decodes quoted-printable over the raw bytes
    instead of building a full ``EmailMessage`` (ten times slower for the same answer).
    """
    html = quopri.decodestring(raw.split(b"\r\n\r\n", 1)[1]).decode("utf-8", "replace")
    pixel = _PIXEL.search(html)
    unsub = next((u for u in _UNSUB.findall(header(raw, "List-Unsubscribe")) if u.startswith("http")), None)
    return Links(pixel.group(1) if pixel else None, list(dict.fromkeys(_CLICK.findall(html))), unsub)


class Reader:
    """Turns (person, message, delivery time) into timed HTTP actions."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.seq = 0

    def _act(
        self, at: datetime, method: str, url: str, ua: str, data: dict[str, str] | None = None
    ) -> Action:
        self.seq += 1
        return Action(at, self.seq, method, url, ua, data)

    def react(
        self,
        person: Person,
        links: Links,
        position: int,
        delivered: datetime,
        kind_of: dict[str, str],
        appeal: float = 1.0,
    ) -> list[Action]:
        """Actions for one message. ``kind_of`` maps click URL -> link kind (content/donation/honeypot);
        ``appeal`` multiplies the chance of opening (a subject people like more)."""
        rng, out = self.rng, []
        if person.client == "apple" and links.pixel:
            out.append(
                self._act(
                    delivered + timedelta(seconds=rng.uniform(20, 240)), "GET", links.pixel, UA["apple_proxy"]
                )
            )
        if person.client == "corporate":
            start = delivered + timedelta(seconds=rng.uniform(0.5, 2.5))
            for i, url in enumerate(links.clicks):
                out.append(self._act(start + timedelta(milliseconds=150 * i), "GET", url, UA["scanner"]))
        p_open = min(1.0, OPEN_RATE * person.interest * SERIES_DECAY ** (position - 1) * appeal)
        if rng.random() < p_open:
            opened = delivered + timedelta(hours=min(72.0, rng.lognormvariate(1.2, 1.0)))
            human_ua = UA["apple"] if person.client == "apple" else UA[person.client]
            if links.pixel and person.client != "apple":  # Apple's proxy already fetched the image
                out.append(self._act(opened, "GET", links.pixel, human_ua))
            visible = [u for u in links.clicks if kind_of.get(u) in ("content", "donation")]
            if visible and rng.random() < CLICK_GIVEN_OPEN:
                donation = [u for u in visible if kind_of.get(u) == "donation"]
                content = [u for u in visible if kind_of.get(u) == "content"] or visible
                target = (
                    rng.choice(donation)
                    if donation and rng.random() < DONATION_SHARE
                    else rng.choice(content)
                )
                click_ua = UA["gmail_click"] if person.client == "gmail" else human_ua
                out.append(
                    self._act(opened + timedelta(seconds=rng.uniform(15, 300)), "GET", target, click_ua)
                )
        if links.unsubscribe and rng.random() < UNSUBSCRIBE_RATE:
            at = delivered + timedelta(hours=rng.uniform(0.2, 24))
            out.append(
                self._act(at, "POST", links.unsubscribe, UA["gmail_click"], {"List-Unsubscribe": "One-Click"})
            )
        return out
