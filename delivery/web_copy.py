"""One delivery's web version: the email exactly as that reader received it, for a browser.

The "view in your browser" link of every sent email (``/v/r/<token>``, the token signs the
delivery id) opens this page. It is built by the same per-delivery splice the worker uses
(:meth:`delivery.message.MessageTemplate.values`: the reader's name, their signed click and
unsubscribe URLs) filled into the compiled HTML (:func:`campaigns.preview.fill_html`), with one
difference: the open pixel is a blank inline image, so reading the page in a browser is not an
open. A click on the page is that reader's click, as in the email. A deleted delivery or a
forgotten person has no page (None). After an unsubscribe the page still shows (the email was
received); its unsubscribe link then says they are already unsubscribed.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from campaigns.compiled import NotCompiled
from campaigns.preview import SAMPLE_PIXEL, fill_html
from delivery.claim import spared_donors
from delivery.compose import load_template
from delivery.message import Sender
from delivery.models import Delivery
from subscribers.models import Subscriber


def reader_page(session: Session, sender: Sender, delivery_id: int) -> str | None:
    """The HTML of delivery ``delivery_id`` as its reader got it, without the open pixel; None
    when the delivery, its person (or their data, after ``forget``) or its compiled email is gone."""
    query = select(Delivery.id, Delivery.email_id, Delivery.subscriber_id, Delivery.campaign_id)
    delivery = session.execute(query.where(Delivery.id == delivery_id)).first()
    if delivery is None:
        return None
    person = session.get(Subscriber, delivery.subscriber_id)
    if person is None or person.forgotten_at is not None:
        return None
    try:
        template = load_template(session, delivery.email_id, sender)
    except (LookupError, NotCompiled):
        return None
    values = template.values(delivery.id, person.name)
    values["OPEN_URL"] = SAMPLE_PIXEL  # a transparent inline GIF: nothing is requested, no open
    # As the worker decides it (delivery.claim): donors of a campaign that stops asking are spared.
    ask = (delivery.subscriber_id, delivery.campaign_id) not in spared_donors(session, [delivery])
    return fill_html(template.compiled, values, ask)
