"""Simulated donors: some people who click the donate button give, through the donation
webhook over real HTTP, signed as the charity's donation platform would sign it.

Rates: 40% of the people who click donate give, 10 to 30 minutes later, passing the link's
``wm_cid`` back; a quarter of those give days later from the website instead, with no click id
(matched by their address and the campaign in ``utm_campaign``). Amounts are usual gift sizes;
one gift in seven is in euros, so the figures show currencies kept apart.
"""

from __future__ import annotations

import heapq
import json
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from urllib.parse import parse_qsl, urlsplit

import httpx

from donations import webhooks
from tracking.click_ids import PARAM

GIVE_GIVEN_CLICK = 0.4
LATER_SHARE = 0.25
EURO_SHARE = 1 / 7
AMOUNTS = (500, 1000, 1000, 2000, 2500, 2500, 5000, 10000)


@dataclass(order=True)
class Gift:
    """One donation the platform will report at ``at``."""

    at: datetime
    seq: int
    payload: dict[str, object] = field(compare=False)


class Donors:
    """Decides who gives after a donation click, and sends the gifts when their time comes."""

    def __init__(self, rng: random.Random, url: str, secret: str, campaign: str) -> None:
        self.rng, self.url, self.secret, self.campaign = rng, url, secret, campaign
        self.pending: list[Gift] = []
        self.sent = 0

    def after_click(self, email: str, location: str, at: datetime) -> None:
        """A person was redirected to ``location`` (the donation page) at ``at``: maybe they give."""
        rng = self.rng
        if rng.random() >= GIVE_GIVEN_CLICK:
            return
        cid = dict(parse_qsl(urlsplit(location).query)).get(PARAM, "")
        later = rng.random() < LATER_SHARE
        when = at + (timedelta(days=rng.uniform(1, 5)) if later else timedelta(minutes=rng.uniform(10, 30)))
        payload: dict[str, object] = {
            "id": f"demo-{len(self.pending) + self.sent + 1:05d}",
            "amount": rng.choice(AMOUNTS),
            "currency": "EUR" if rng.random() < EURO_SHARE else "GBP",
            "donated_at": when.isoformat(),
            "email": email,
            "utm_campaign": self.campaign,
        }
        if not later:
            payload["wm_cid"] = cid
        heapq.heappush(self.pending, Gift(when, len(self.pending) + self.sent, payload))

    def next_at(self) -> datetime | None:
        return self.pending[0].at if self.pending else None

    def give(self, http: httpx.Client) -> None:
        """Report the next gift to the webhook, signed, as the platform would."""
        gift = heapq.heappop(self.pending)
        body = json.dumps(gift.payload).encode()
        signature = webhooks.sign(self.secret, body, int(gift.at.timestamp()))
        headers = {webhooks.SIGNATURE_HEADER: signature, "Content-Type": "application/json"}
        http.post(self.url, content=body, headers=headers).raise_for_status()
        self.sent += 1
