"""The rule module on its own: thresholds and their edges."""

from datetime import UTC, datetime, timedelta
from typing import Any

from tracking import classify as c

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def test_open_delay_edge():
    args: dict[str, Any] = dict(user_agent="Thunderbird/115", method="GET", prefetch=False, sent_at=T0)
    assert c.classify_open(at=T0 + c.OPEN_MIN_DELAY - timedelta(microseconds=1), **args)[0] == "machine"
    assert c.classify_open(at=T0 + c.OPEN_MIN_DELAY, **args) == ("human", "")
    assert c.classify_open(at=T0, **{**args, "sent_at": None}) == ("human", "")


def test_gmail_proxy_right_after_send_is_still_human():
    ua = "Mozilla/5.0 (via ggpht.com GoogleImageProxy)"
    assert c.classify_open(user_agent=ua, method="GET", prefetch=False, sent_at=T0, at=T0) == (
        "human",
        "gmail-proxy",
    )


def test_mpp_only_for_the_exact_agent():
    kw: dict[str, Any] = dict(method="GET", prefetch=False, sent_at=None, at=T0)
    assert c.classify_open(user_agent="Mozilla/5.0", **kw) == ("machine", "apple-mpp")
    assert c.classify_open(user_agent="Mozilla/5.0 (iPhone)", **kw) == ("human", "")


def test_click_rules_order_and_window():
    kw: dict[str, Any] = dict(
        user_agent="Firefox/120", method="GET", prefetch=False, sent_at=T0, at=T0 + timedelta(minutes=5)
    )
    assert c.classify_click(honeypot=True, **kw) == ("bot", "honeypot")
    assert c.classify_click(honeypot=False, **kw) == ("human", "")
    assert c.classify_click(honeypot=False, **{**kw, "at": T0 + timedelta(seconds=4)}) == (
        "bot",
        "too-soon-after-send",
    )
    assert c.near_honeypot(T0 + c.HONEYPOT_WINDOW, [T0]) and c.near_honeypot(T0 - c.HONEYPOT_WINDOW, [T0])
    assert not c.near_honeypot(T0 + c.HONEYPOT_WINDOW + timedelta(microseconds=1), [T0])


def test_prefetch_values():
    assert c.is_prefetch("prefetch") and c.is_prefetch("prefetch;prerender") and not c.is_prefetch("")
