"""MIME messages: a skeleton built once per email, personalised bytes per recipient.

Per email (:class:`MessageTemplate`): encoded Subject/From/List-Id headers, the multipart
boundary and part headers are prepared once, and the compiled HTML/text are split at their
placeholders (``campaigns.compiled``). Per recipient (:meth:`MessageTemplate.render`): the
tracking URLs are signed, the placeholders filled, both parts quoted-printable encoded (C code)
and spliced into the prebuilt bytes; with a key configured, :mod:`delivery.dkim` signs the result
and its ``DKIM-Signature`` goes in front of both the message and its dot-stuffed wire form.
The parts without the donation ask (for donors who should not be asked again) are prepared
the first time a recipient needs them.
Any header value containing CR or LF is refused (:class:`HeaderInjection`).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from email.header import Header
from email.utils import format_datetime, formataddr

from campaigns.compiled import CompiledEmail
from delivery.dkim import DkimSigner, load_signer
from delivery.qp_template import QPTemplate, interleave, relaxed_lines
from delivery.smtp_data import END_OF_DATA, stuff
from wildmail.core import tokens
from wildmail.core.message_ids import sender_domain
from wildmail.core.settings import Settings

CRLF = b"\r\n"
NAME_FALLBACK = "friend"
SPECIALS = re.compile(r'[][\\()<>@,:;".]')  # email.utils.specialsre: names that need quoting
NOT_IN_ADDRESS = re.compile(r'[ <>,;"]')
BETWEEN_WORDS = re.compile(r"(?<=\S) (?=\S)")  # where a header may fold


class DateHeader:
    """``Date:`` header bytes, formatted once per second (workers send many per second)."""

    def __init__(self) -> None:
        self._last: tuple[tuple[datetime, int], bytes] | None = None  # swapped as one tuple (threads)

    def __call__(self, now: datetime) -> bytes:
        key = (now.replace(microsecond=0), id(now.tzinfo))
        last = self._last
        if last is not None and last[0] == key:
            return last[1]
        value = b"Date: " + format_datetime(now).encode()
        self._last = (key, value)
        return value


class HeaderInjection(ValueError):
    """A header value contains a line break (or is otherwise unusable)."""


def clean(value: str, what: str) -> str:
    """``value`` unchanged, or :class:`HeaderInjection` when it contains CR, LF or NUL."""
    if "\r" in value or "\n" in value or "\x00" in value:
        raise HeaderInjection(f"{what} contains a line break")
    return value


def encode_text(value: str, name: str) -> str:
    """An unstructured header value (outer whitespace dropped: parsers drop it anyway),
    RFC 2047-encoded only when not plain ASCII; a long ASCII value is folded at spaces."""
    value = clean(value, name).strip()
    if value.isascii():
        return fold(value, len(name) + 2)
    return Header(value, "utf-8", header_name=name).encode(linesep="\r\n")


def fold(value: str, used: int, width: int = 78) -> str:
    """``value`` folded before a single space between words wherever the line would pass
    ``width`` (RFC 5322 2.2.3; unfolding gives ``value`` back). ``used``: the header name's
    width on the first line. A word longer than a line stays whole."""
    lines: list[str] = []
    line = ""
    for word in BETWEEN_WORDS.split(value):
        if line and used + len(line) + 1 + len(word) > width:
            lines.append(line)
            line, used = word, 1  # the continuation line starts with the space
        else:
            line = f"{line} {word}" if line else word
    lines.append(line)
    return "\r\n ".join(lines)


def feedback_id(campaign: str, audience: str, organisation: str) -> str:
    """``campaign:list:organisation:wildmail`` for the Feedback-ID header (Gmail's postmaster
    feed groups spam rates by these fields; ids only, no personal data)."""
    fields = [re.sub(r"[^A-Za-z0-9._-]+", "-", f).strip("-") or "none" for f in (campaign, audience)]
    fields.append(re.sub(r"[^a-z0-9]+", "-", organisation.lower()).strip("-") or "none")
    return ":".join((*fields, "wildmail"))


def mailbox(name: str, address: str, what: str) -> str:
    """``Name <address>`` with the name quoted or encoded as needed; ASCII addresses only.

    Runs of whitespace in the name become one space (parsers fold them anyway)."""
    name = " ".join(clean(name, what).split())
    clean(address, what)
    if not address.isascii() or "@" not in address or NOT_IN_ADDRESS.search(address):
        raise HeaderInjection(f"{what} address {address!r} is not a plain ASCII address")
    if not name:
        return address
    if name.isascii() and SPECIALS.search(name) is None:
        return f"{name} <{address}>"  # what formataddr returns for such a name
    return formataddr((name, address), charset="utf-8")


def list_id(title: str, ident: str) -> str:
    """``"Title" <slug.domain>`` for the List-Id header (RFC 2919)."""
    clean(title, "list title")
    if not re.fullmatch(r"[A-Za-z0-9._-]+", ident):
        raise HeaderInjection(f"list id {ident!r} has characters outside letters, digits, '.', '_' and '-'")
    return formataddr((title, ident), charset="utf-8") if title else f"<{ident}>"


@dataclass(frozen=True)
class Sender:
    """Who sends, and where the tracking and unsubscribe URLs point."""

    address: str
    name: str
    base_url: str
    secret: bytes = field(repr=False)
    unsubscribe_mailto: str = ""
    reply_to: str = ""
    dkim: DkimSigner | None = None
    organisation: str = ""
    bounce_domain: str = ""  # per-delivery return path and List-Unsubscribe mailto (inbound)
    bounce_address: str = ""  # one fixed return path (a relay that rewrites it); bounce_domain wins

    @classmethod
    def from_settings(cls, settings: Settings) -> Sender:
        """Sender details (and DKIM signer, when configured) from settings."""
        return cls(
            address=settings.sender_address,
            name=settings.sender_name,
            base_url=settings.base_url,
            secret=settings.secret,
            unsubscribe_mailto=settings.unsubscribe_mailto,
            reply_to=settings.reply_to,
            dkim=load_signer(settings),
            organisation=settings.organisation,
            bounce_domain=settings.bounce_domain,
            bounce_address=settings.bounce_address,
        )

    def envelope_sender(self, delivery_id: int) -> str:
        """The MAIL FROM of one delivery: ``b-<token>@bounce_domain`` (bounces come back signed,
        see ``inbound``), else ``bounce_address``, else the sender address."""
        if self.bounce_domain:
            return tokens.return_path(self.secret, delivery_id, self.bounce_domain)
        return self.bounce_address or self.address

    @property
    def domain(self) -> str:
        return sender_domain(self.address)


@dataclass(frozen=True)
class LinkRef:
    """A tracked link of the email: its row id and its placeholder position."""

    id: int
    position: int


class MessageTemplate:
    """One email's prebuilt MIME skeleton; :meth:`render` makes a recipient's message bytes."""

    def __init__(
        self,
        compiled: CompiledEmail,
        links: Sequence[LinkRef],
        sender: Sender,
        *,
        list_slug: str,
        list_title: str,
        subject_prefix: str = "",
        audience: str = "",
    ) -> None:
        """``list_slug``/``list_title``: the List-Id (the campaign); ``audience``: the slug of
        the subscriber list it goes to (for Feedback-ID)."""
        self.compiled = compiled
        self._parts: dict[bool, tuple[QPTemplate, QPTemplate]] = {}
        self.parts(ask_donation=True)
        self.links = tuple(links)
        self.sender = sender
        mailto = sender.unsubscribe_mailto or f"unsubscribe@{sender.domain}"
        self._mailto = clean(mailto.removeprefix("mailto:"), "unsubscribe address")
        boundary = "=_wm_" + hashlib.sha256(f"{compiled.email_id}:{compiled.html}".encode()).hexdigest()[:24]
        head = [
            b"From: " + mailbox(sender.name, sender.address, "sender").encode(),
            b"Subject: " + encode_text(subject_prefix + compiled.subject, "Subject").encode(),
            b"MIME-Version: 1.0",
            b"List-Id: " + list_id(list_title, f"{list_slug}.{sender.domain}").encode(),
            b"List-Unsubscribe-Post: List-Unsubscribe=One-Click",
            b"Feedback-ID: " + feedback_id(list_slug, audience, sender.organisation).encode(),
        ]
        if sender.reply_to:
            head.append(b"Reply-To: " + mailbox("", sender.reply_to, "reply-to").encode())
        head.append(f'Content-Type: multipart/alternative; boundary="{boundary}"'.encode())
        self._head = CRLF.join(head) + CRLF + CRLF
        part = b'Content-Type: text/%s; charset="utf-8"' + CRLF
        part += b"Content-Transfer-Encoding: quoted-printable" + CRLF + CRLF
        marker = b"--" + boundary.encode()
        self._text_open = (
            b"This is a multi-part message in MIME format." + CRLF + marker + CRLF + part % b"plain"
        )
        self._html_open = marker + CRLF + part % b"html"
        self._close = marker + b"--" + CRLF
        self._date = DateHeader()
        self._mailto_tail = f">,\r\n <mailto:{self._mailto}?subject=unsubscribe>".encode()
        self._bounce_domain = clean(sender.bounce_domain, "bounce domain")
        self._link_keys = tuple((f"LINK_{link.position}", link.id) for link in self.links)
        # The static text after the per-recipient headers, dot-stuffed once for SMTP.
        self._wire = tuple(stuff(x) for x in (self._head, self._text_open, self._html_open, self._close))
        self._relaxed_frame = all(relaxed_lines(x) for x in (self._text_open, self._html_open, self._close))

    def _own_mailto(self, delivery_id: int) -> bytes:
        """The recipient's own List-Unsubscribe mailto (``u-<token>@bounce_domain``): mail to it
        unsubscribes exactly this person, whatever address they write from."""
        address = tokens.unsubscribe_address(self.sender.secret, delivery_id, self._bounce_domain)
        return b">,\r\n <mailto:" + address.encode() + b"?subject=unsubscribe>"

    def parts(self, ask_donation: bool) -> tuple[QPTemplate, QPTemplate]:
        """The encoded (text, html) part templates of one variant, built on first use."""
        found = self._parts.get(ask_donation)
        if found is None:
            html_template, text_template = self.compiled.templates(ask_donation)
            found = (QPTemplate(text_template, escape=False), QPTemplate(html_template, escape=True))
            self._parts[ask_donation] = found
        return found

    def values(self, delivery_id: int, name: str) -> dict[str, str]:
        """Placeholder name -> raw value for one delivery (signed tracking and unsubscribe URLs)."""
        base, key = self.sender.base_url, self.sender.secret
        values = {
            "NAME": name or NAME_FALLBACK,
            "OPEN_URL": tokens.open_url(base, key, delivery_id),
            "UNSUBSCRIBE_URL": tokens.unsubscribe_url(base, key, delivery_id),
            # The reader's own web version; a test send (delivery 0) links the email's.
            "VIEW_URL": tokens.reader_view_url(base, key, delivery_id)
            if delivery_id
            else tokens.view_url(base, key, self.compiled.email_id),
        }
        for link_key, link_id in self._link_keys:
            values[link_key] = tokens.click_url(base, key, delivery_id, link_id)
        return values

    def render(
        self,
        delivery_id: int,
        message_id: str,
        to_address: str,
        to_name: str,
        now: datetime,
        *,
        ask_donation: bool = True,
    ) -> bytes:
        """The complete message bytes (CRLF line ends) for one recipient.

        ``ask_donation`` False leaves out the donation block (donors of campaigns that stop asking).
        """
        return self._build(delivery_id, message_id, to_address, to_name, now, ask_donation, wire=False)[0]

    def render_wire(
        self,
        delivery_id: int,
        message_id: str,
        to_address: str,
        to_name: str,
        now: datetime,
        *,
        ask_donation: bool = True,
    ) -> tuple[bytes, bytes]:
        """``(message, wire)``: :meth:`render`'s bytes, and the same message as SMTP DATA content
        (leading dots doubled, end-of-data line appended). Only the per-recipient inserts are
        scanned for dots; the static text was stuffed once."""
        return self._build(delivery_id, message_id, to_address, to_name, now, ask_donation, wire=True)

    def _build(
        self,
        delivery_id: int,
        message_id: str,
        to_address: str,
        to_name: str,
        now: datetime,
        ask_donation: bool,
        *,
        wire: bool,
    ) -> tuple[bytes, bytes]:
        values = self.values(delivery_id, to_name)
        text_part, html_part = self.parts(ask_donation)
        text_values = text_part.encode_values(values)
        html_values = html_part.encode_values(values)
        # Header values cannot hold a line break (clean), so no header line starts with a dot.
        head = b"".join(
            (
                self._date(now),
                b"\r\nMessage-ID: ",
                clean(message_id, "Message-ID").encode(),
                b"\r\nTo: ",
                mailbox(to_name, to_address, "recipient").encode(),
                b"\r\nList-Unsubscribe: <",
                clean(values["UNSUBSCRIBE_URL"], "unsubscribe URL").encode(),
                self._mailto_tail if not self._bounce_domain else self._own_mailto(delivery_id),
                CRLF,
            )
        )
        message = b"".join(
            (
                head,
                self._head,
                self._text_open,
                *interleave(text_part.pieces, text_values),
                self._html_open,
                *interleave(html_part.pieces, html_values),
                self._close,
            )
        )
        # The signature covers these exact bytes; its own lines never start with a dot, so the
        # same header goes in front of the dot-stuffed form unchanged.
        signature = b""
        if self.sender.dkim is not None:
            relaxed = (
                self._relaxed_frame
                and text_part.relaxed
                and html_part.relaxed
                and all(map(relaxed_lines, text_values))
                and all(map(relaxed_lines, html_values))
            )
            signature = self.sender.dkim.sign(message, relaxed_body=relaxed)
        if not wire:
            return signature + message, b""
        w_head, w_text_open, w_html_open, w_close = self._wire
        stuffed = b"".join(
            (
                signature,
                head,
                w_head,
                w_text_open,
                *interleave(text_part.wire_pieces, [stuff(v) for v in text_values]),
                w_html_open,
                *interleave(html_part.wire_pieces, [stuff(v) for v in html_values]),
                w_close,
                END_OF_DATA,
            )
        )
        message = signature + message
        return message, stuffed
