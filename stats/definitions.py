"""Every figure the CLI, the dashboard and the demo show, defined once.

Delivery figures (from ``deliveries.state``, per email position and in total):

* ``sent``: deliveries handed to the relay to the end: state ``sent``, ``bounced`` or ``unknown``.
* ``bounced`` (hard bounces): state ``bounced`` (refused by the relay at once, or a later hard
  bounce: a DSN or provider event read by ``inbound``, or soft bounces past the threshold).
* ``soft_bounces``: deliveries with a soft bounce reported after sending (mailbox full, gave up
  after retries); ``blocked``: deliveries refused later for policy, reputation or content (5.7.x,
  4.7.x). Neither suppresses the person; both count as not delivered.
* ``unknown``: state ``unknown`` (the connection broke during DATA; not resent, reported apart).
* ``delivered`` = ``sent`` - ``bounced`` - ``soft_bounces`` - ``blocked`` (an unknown counts as
  delivered: the relay most likely has it).
* ``queued``: still waiting (``queued``, ``sending``, ``retry_wait``); ``suppressed``: never sent.

Engagement figures (from ``events``, folded into the rollup tables by :mod:`stats.rollup`):

* ``human_openers`` (unique human opens): deliveries with at least one human open event, an
  implied open (``Event.implied``, written when a human clicks) or a human click on a content or
  donation link. ``machine_openers``: deliveries with a machine or bot open (e.g. Apple Mail
  Privacy Protection); shown apart and never part of the rates.
* ``human_clickers``: deliveries with a human click on a content or donation link (clicks on the
  honeypot or unsubscribe links never count). ``donors``: deliveries with a human click on a
  donation link; ``donation_clicks``: the number of such click events.
* ``unsubscribes`` / ``complaints``: deliveries with an unsubscribe / complaint event (complaints
  come from feedback reports and provider events, read by ``inbound``).
* Raw (unfiltered) counts: ``opens_raw`` every open event that is not implied, whatever its
  classification; ``clicks_raw`` every click event (bots, honeypot included); ``clicks_human``
  human clicks on content and donation links; ``opens_implied``; ``opens_machine``.

Rates (``None`` when the denominator is 0):

* ``open_rate`` = human_openers / delivered; ``ctr`` = human_clickers / delivered;
* ``click_to_open`` = human_clickers / human_openers; ``donation_ctr`` = donors / delivered;
* ``unsubscribe_rate`` = unsubscribes / delivered; ``donation_conversion`` (see Donations).

Aggregate-only campaigns (``Campaign.track_identity`` false, ``Event.delivery_id`` null): an
event cannot be tied to a person, so each such event counts as one "unique" (the unique figures
become event counts: human open events incl. implied ones, human clicks, donation clicks,
unsubscribes). Campaigns mixing both add the two.

Drop-off along the series: in a drip series a subscriber gets email n only after email 1, so the
cohort is the delivered of email 1: for each position n, ``received`` = delivered of email n and
``opened`` = human_openers of email n, each also as a share of delivered of email 1.

Repeated clicks: a click by the same delivery on the same link, with the same classification,
within :data:`REPEAT_WINDOW` of such a click stored before it is a *repeat* (a reload, a double
click, a replayed URL). Repeats stay in the event log and count in no figure: not in the uniques,
the click and donation counts (raw ones included), the timeline or the per-link counts. The window
slides: a click every few minutes counts once. Events without a delivery (aggregate-only
campaigns) cannot be told apart, so each still counts.

Resends to non-openers (``deliveries.kind`` ``resend``, see ``optimise.resend``) are figures of
their own: their delivery states and their events are kept under position ``-n`` for email ``n``
(:func:`resend_position`), shown as their own row after the email's, and they count in the
campaign's totals like any delivery. A subject-test variant's figures are in ``optimise``.
Donations (from the ``donations`` table, which :mod:`donations` fills from webhooks and CSV
imports; money reported by the platform, not events, so nothing here waits for settling):

* ``donations``: donations attributed to an email (by its signed ``wm_cid``, or by the donor's
  address and ``utm_campaign`` within ``donation_window_days``; see :mod:`donations.matching`),
  each counted once whatever its amount. Unmatched donations count in no email or campaign.
* ``raised``: the sum of their amounts, per currency, in minor units (cents); amounts in
  different currencies are never added together.
* ``revenue_per_1000`` = raised / delivered x 1,000, per currency, in minor units (rounded).
* ``converted``: deliveries with a human donation click (``donors``) and an attributed donation;
  ``donation_conversion`` = converted / donors (the share of donation clickers who gave).
  A donation matched to a bot's or a scanner's click id still counts in ``donations`` and
  ``raised``, but not in the conversion, whose denominator is human clickers.

Timeline: per UTC hour (and per UTC day, the sum of its hours): human open events (implied
included), human clicks on content and donation links, human donation clicks, unsubscribes.
Top links: per link, human clicks and all clicks.
"""

from __future__ import annotations

from datetime import timedelta

REPEAT_WINDOW = timedelta(minutes=10)  # a click this soon after the same click is a repeat

# Bits of ``stats_marks.marks``: what has happened to one delivery.
HUMAN_OPEN = 1
MACHINE_OPEN = 2
HUMAN_CLICK = 4
DONATION = 8
UNSUBSCRIBE = 16
COMPLAINT = 32
BOUNCE = 64  # a hard bounce reported after sending (a DSN, a provider event)
SOFT_BOUNCE = 128
BLOCKED = 256  # refused for policy, reputation or content: the campaign's, not the person's
BOUNCE_KIND_BITS = {"hard": BOUNCE, "soft": SOFT_BOUNCE, "block": BLOCKED}

# Unique metric (``stats_totals.metric``) incremented when a bit flips from 0 to 1.
UNIQUE_METRIC = {
    HUMAN_OPEN: "u.open",
    MACHINE_OPEN: "u.machine",
    HUMAN_CLICK: "u.click",
    DONATION: "u.donation",
    UNSUBSCRIBE: "u.unsub",
    COMPLAINT: "u.complaint",
    BOUNCE: "u.bounce",
    SOFT_BOUNCE: "u.bounce.soft",
    BLOCKED: "u.bounce.block",
}

# Event-count metrics in ``stats_totals``.
OPENS_HUMAN = "ev.open.human"
OPENS_IMPLIED = "ev.open.implied"
OPENS_MACHINE = "ev.open.machine"
CLICKS_RAW = "ev.click.all"
CLICKS_HUMAN = "ev.click.human"
DONATION_CLICKS = "ev.donation.human"
DONATION_CLICKS_RAW = "ev.donation.all"
UNSUB_EVENTS = "ev.unsub"
COMPLAINT_EVENTS = "ev.complaint"
BOUNCE_EVENTS = "ev.bounce"

# Timeline metrics in ``stats_hourly``.
TIMELINE_METRICS = ("opens", "clicks", "donations", "unsubscribes")

# Link metrics in ``stats_links``.
LINK_HUMAN = "click.human"
LINK_ALL = "click.all"

SENT_STATES = ("sent", "bounced", "unknown")


def resend_position(position: int) -> int:
    """Where the figures of email ``position``'s resend are kept (see the module docstring)."""
    return -abs(position)


QUEUED_STATES = ("queued", "sending", "retry_wait")
