"""Every rule that decides whether an open or click was made by a person, with its reason.

The raw event is always stored; these rules only set ``classification`` and ``reason`` on it, so
raw counts stay available and a rule can be revisited later. All thresholds live here.

Opens are ``human`` or ``machine`` (something fetched the pixel without a person reading);
clicks are ``human`` or ``bot`` (something followed the link without a person choosing to).
"""

from __future__ import annotations

import functools
from datetime import datetime, timedelta

from tracking.models import Classification
from wildmail.core.clock import to_micros

HUMAN = Classification.HUMAN.value
MACHINE = Classification.MACHINE.value
BOT = Classification.BOT.value

# Apple Mail Privacy Protection fetches every remote image through Apple's proxy as soon as the
# message is delivered, whether or not the person ever reads it. Its user agent is exactly this
# string (real browsers and mail clients always add a platform and engine after it).
MPP_USER_AGENT = "Mozilla/5.0"

# Gmail downloads images through its proxy when the person opens the message (not at delivery),
# so a fetch by the proxy is a real open even though the request comes from Google.
GMAIL_PROXY_MARKER = "googleimageproxy"

# Security gateways and link scanners follow every link (and often fetch images) on arrival to
# check them. Matched as lower-case substrings of the user agent. HTTP libraries are here because
# a person clicking in a mail client never sends a library's default agent.
SCANNER_AGENT_MARKERS: tuple[str, ...] = (
    "barracuda",
    "proofpoint",
    "mimecast",
    "safelinks",
    "microsoft defender",
    "ms-atp",
    "symantec",
    "trendmicro",
    "forcepoint",
    "ironport",
    "fortinet",
    "fortiguard",
    "sophos",
    "cisco",
    "paloalto",
    "zscaler",
    "python-requests",
    "python-urllib",
    "aiohttp",
    "python-httpx",
    "curl/",
    "wget/",
    "go-http-client",
    "java/",
    "okhttp",
    "apache-httpclient",
    "libwww-perl",
    "node-fetch",
    "axios/",
    "headlesschrome",
    "phantomjs",
    "bot",
    "spider",
    "crawler",
    "scanner",
)

# Browsers announce speculative loads (link prefetch, prerender) with these headers; a prefetch
# is not a person's action.
PREFETCH_HEADERS = ("purpose", "sec-purpose", "x-purpose", "x-moz")

# Nobody receives, opens and reads a message within a couple of seconds of it leaving our
# server; an image fetch that early is the receiving system (MPP, a gateway) at delivery time.
OPEN_MIN_DELAY = timedelta(seconds=2)

# Clicking needs opening, reading and choosing a link: anything within a few seconds of sending
# is a scanner following links on arrival.
CLICK_MIN_DELAY = timedelta(seconds=5)

# Every email carries an invisible link no person can see or click. A hit on it proves the
# recipient's links are being followed by a machine, so that recipient's clicks within this many
# seconds either side (scanners click all links at once, in any order) are bots too.
HONEYPOT_WINDOW = timedelta(seconds=10)

REASON_HEAD = "head-request"
REASON_PREFETCH = "prefetch-header"
REASON_MPP = "apple-mpp"
REASON_GMAIL = "gmail-proxy"
REASON_SCANNER = "scanner-agent"
REASON_NO_AGENT = "no-user-agent"
REASON_BARE_AGENT = "bare-user-agent"
REASON_TOO_SOON = "too-soon-after-send"
REASON_HONEYPOT = "honeypot"
REASON_HONEYPOT_WINDOW = "near-honeypot"
REASON_IMPLIED = "implied-by-click"


def is_prefetch(purpose: str) -> bool:
    """True when a Purpose / Sec-Purpose style header value announces a prefetch or prerender."""
    value = purpose.lower()
    return "prefetch" in value or "prerender" in value


@functools.lru_cache(maxsize=4096)  # few distinct agents hit us; each is checked once
def is_scanner_agent(user_agent: str) -> bool:
    """True when the user agent belongs to a known link scanner, gateway or HTTP library."""
    ua = user_agent.lower()
    return any(marker in ua for marker in SCANNER_AGENT_MARKERS)


@functools.lru_cache(maxsize=4096)
def open_agent_verdict(user_agent: str) -> tuple[str, str] | None:
    """What the user agent alone says about a pixel fetch, or None when it looks like a person
    (the delay rule then decides). Memoised: a busy campaign sees few distinct agents."""
    if user_agent == MPP_USER_AGENT:
        return MACHINE, REASON_MPP
    if GMAIL_PROXY_MARKER in user_agent.lower():
        # Final, before the delay rule: the proxy only fetches when the person opens the mail.
        return HUMAN, REASON_GMAIL
    if not user_agent.strip():
        return MACHINE, REASON_NO_AGENT
    if is_scanner_agent(user_agent):
        return MACHINE, REASON_SCANNER
    return None


@functools.lru_cache(maxsize=4096)
def click_agent_verdict(user_agent: str) -> tuple[str, str] | None:
    """What the user agent alone says about a click, or None when it looks like a person."""
    if not user_agent.strip():
        return BOT, REASON_NO_AGENT
    if user_agent == MPP_USER_AGENT:
        # A person's browser always sends a full agent; the bare token is a script or proxy.
        return BOT, REASON_BARE_AGENT
    if is_scanner_agent(user_agent):
        return BOT, REASON_SCANNER
    return None


OPEN_MIN_DELAY_MICROS = OPEN_MIN_DELAY // timedelta(microseconds=1)


def classify_open(
    *, user_agent: str, method: str, prefetch: bool, sent_at: datetime | None, at: datetime
) -> tuple[str, str]:
    """(classification, reason) of a pixel fetch; reason is empty for a plain human open."""
    sent_micros = to_micros(sent_at) if sent_at is not None else None
    return classify_open_micros(user_agent, method, prefetch, sent_micros, to_micros(at))


def classify_open_micros(
    user_agent: str, method: str, prefetch: bool, sent_micros: int | None, micros: int
) -> tuple[str, str]:
    """:func:`classify_open` with both times as integer microseconds since the epoch (the event
    writer's form: no datetime per event)."""
    if method == "HEAD":
        return MACHINE, REASON_HEAD
    if prefetch:
        return MACHINE, REASON_PREFETCH
    verdict = open_agent_verdict(user_agent)
    if verdict is not None:
        return verdict
    if sent_micros is not None and micros - sent_micros < OPEN_MIN_DELAY_MICROS:
        return MACHINE, REASON_TOO_SOON
    return HUMAN, ""


CLICK_MIN_DELAY_MICROS = CLICK_MIN_DELAY // timedelta(microseconds=1)
HONEYPOT_WINDOW_MICROS = HONEYPOT_WINDOW // timedelta(microseconds=1)


def classify_click(
    *,
    user_agent: str,
    method: str,
    prefetch: bool,
    sent_at: datetime | None,
    at: datetime,
    honeypot: bool,
) -> tuple[str, str]:
    """(classification, reason) of a click, before the honeypot window (applied by the writer)."""
    sent_micros = to_micros(sent_at) if sent_at is not None else None
    return classify_click_micros(user_agent, method, prefetch, sent_micros, to_micros(at), honeypot)


def classify_click_micros(
    user_agent: str, method: str, prefetch: bool, sent_micros: int | None, micros: int, honeypot: bool
) -> tuple[str, str]:
    """:func:`classify_click` with both times as integer microseconds since the epoch."""
    if honeypot:
        return BOT, REASON_HONEYPOT
    if method == "HEAD":
        return BOT, REASON_HEAD
    if prefetch:
        return BOT, REASON_PREFETCH
    verdict = click_agent_verdict(user_agent)
    if verdict is not None:
        return verdict
    if sent_micros is not None and micros - sent_micros < CLICK_MIN_DELAY_MICROS:
        return BOT, REASON_TOO_SOON
    return HUMAN, ""


def near_honeypot(at: datetime, honeypot_hits: list[datetime]) -> bool:
    """True when ``at`` lies within :data:`HONEYPOT_WINDOW` of any honeypot hit."""
    return near_honeypot_micros(to_micros(at), [to_micros(hit) for hit in honeypot_hits])


def near_honeypot_micros(micros: int, honeypot_hits: list[int]) -> bool:
    """:func:`near_honeypot` with integer microseconds since the epoch."""
    return any(abs(micros - hit) <= HONEYPOT_WINDOW_MICROS for hit in honeypot_hits)
