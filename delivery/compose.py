"""Loading message templates from the database, and one-off messages (preview, test send)."""

from __future__ import annotations

import dataclasses
import threading
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from campaigns.compiled import compiled_email
from campaigns.models import Campaign, Email, Link
from campaigns.variant_models import SubjectVariant
from delivery.message import LinkRef, MessageTemplate, Sender
from subscribers.models import SubscriberList
from wildmail.core.message_ids import delivery_message_id, one_off_message_id
from wildmail.core.store import Store


def load_template(
    s: Session, email_id: int, sender: Sender, subject_prefix: str = "", variant_id: int | None = None
) -> MessageTemplate:
    """Build the MIME skeleton of one stored email (of its subject variant ``variant_id``: that
    subject, and the parts compiled with that preheader)."""
    email = s.get(Email, email_id)
    if email is None:
        raise LookupError(f"email {email_id} does not exist")
    compiled = compiled_email(email)  # raises campaigns.compiled.NotCompiled
    variant = s.get(SubjectVariant, variant_id) if variant_id is not None else None
    if variant is not None and variant.email_id == email_id and variant.compiled_html:
        compiled = dataclasses.replace(
            compiled,
            subject=variant.subject,
            preheader=variant.preheader,
            html=variant.compiled_html,
            text=variant.compiled_text,
        )
    campaign = s.get(Campaign, email.campaign_id)
    assert campaign is not None
    links = s.execute(select(Link.id, Link.position).where(Link.email_id == email_id)).all()
    audience = s.scalar(select(SubscriberList.slug).where(SubscriberList.id == campaign.list_id)) or ""
    return MessageTemplate(
        compiled,
        [LinkRef(i, p) for i, p in links],
        sender,
        list_slug=campaign.slug,
        list_title=campaign.public_title,
        subject_prefix=subject_prefix,
        audience=audience,
    )


class TemplateCache:
    """Per-process cache of skeletons by email and subject variant (emails do not change once
    sending starts; each variant has its own prebuilt parts)."""

    def __init__(self, sender: Sender) -> None:
        self.sender = sender
        self._items: dict[tuple[int, int | None], MessageTemplate] = {}
        self._lock = threading.Lock()

    def get(self, store: Store, email_id: int, variant_id: int | None = None) -> MessageTemplate:
        key = (email_id, variant_id)
        with self._lock:
            found = self._items.get(key)
        if found is None:
            with store.session() as s:
                found = load_template(s, email_id, self.sender, variant_id=variant_id)
            with self._lock:
                self._items[key] = found
        return found


def build_message(
    store: Store,
    sender: Sender,
    email_id: int,
    to: str,
    name: str = "",
    *,
    delivery_id: int = 0,
    subject_prefix: str = "",
    now: datetime | None = None,
    ask_donation: bool = True,
) -> bytes:
    """One complete message for ``email_id`` to ``to`` (tracking URLs carry ``delivery_id``;
    0 means a test or preview: links redirect, nothing is recorded, the unsubscribe page says
    it was a test). ``ask_donation`` False leaves out the donation ask, as donors of campaigns
    with ``stop_donation_after_click`` get it. Every test message gets a Message-ID of its own."""
    with store.session() as s:
        template = load_template(s, email_id, sender, subject_prefix)
    campaign_id = template.compiled.campaign_id
    if delivery_id == 0:
        mid = one_off_message_id("test", sender.domain, campaign_id, email_id)
    else:
        mid = delivery_message_id(sender.secret, sender.domain, campaign_id, 0, 0)
    return template.render(delivery_id, mid, to, name, now or store.clock.now(), ask_donation=ask_donation)


def preview_eml(
    store: Store, sender: Sender, email_id: int, to: str = "preview@example.org", name: str = ""
) -> bytes:
    """The ``.eml`` bytes a marketer can open in a mail client to preview ``email_id``."""
    return build_message(store, sender, email_id, to, name, subject_prefix="")
