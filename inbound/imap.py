"""``wildmail inbound poll``: read an IMAP mailbox (imap-tools), for those who cannot run an MX.

Each message in ``imap_folder`` goes through the intake; a message tied to one of our deliveries
moves to ``imap_processed_folder``, any other to ``imap_unknown_folder`` (both created when
missing). Nothing is deleted, so a mistake can always be looked at again. Messages larger than
``inbound_max_bytes`` are not downloaded: they are recorded as too big and moved to the unknown folder.
"""

from __future__ import annotations

import contextlib
import imaplib
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from imap_tools import BaseMailBox, MailBox, MailBoxStartTls, MailBoxUnencrypted
from imap_tools.errors import MailboxLoginError
from sqlalchemy import Engine

from inbound.intake import Arrival, Decision, Intake, process
from wildmail.core.settings import ENV_PREFIX, Settings


class ImapSetupError(ValueError):
    """A missing or wrong IMAP setting (exit 2)."""


class ImapError(RuntimeError):
    """The server could not be reached or refused us (exit 1)."""


@dataclass(frozen=True)
class MailboxSettings:
    host: str
    port: int
    tls: str
    user: str
    password: str = field(repr=False)
    folder: str
    processed: str
    unknown: str
    ca_file: str = ""

    @classmethod
    def from_settings(cls, s: Settings) -> MailboxSettings:
        for key in ("imap_host", "imap_user", "imap_password"):
            if not getattr(s, key):
                raise ImapSetupError(f"{ENV_PREFIX}{key.upper()} (or '{key}' in wildmail.toml) is not set")
        return cls(
            s.imap_host,
            s.imap_port,
            s.imap_tls,
            s.imap_user,
            s.imap_password,
            s.imap_folder,
            s.imap_processed_folder,
            s.imap_unknown_folder,
            s.smtp_ca_file,
        )


def _open(m: MailboxSettings) -> BaseMailBox:
    context = ssl.create_default_context(cafile=m.ca_file or None)
    if m.tls == "implicit":
        return MailBox(m.host, m.port, timeout=30, ssl_context=context)
    if m.tls == "starttls":
        return MailBoxStartTls(m.host, m.port, timeout=30, ssl_context=context)
    return MailBoxUnencrypted(m.host, m.port, timeout=30)


def poll(
    engine: Engine, intake: Intake, m: MailboxSettings, now: Callable[[], datetime]
) -> list[tuple[str, Decision]]:
    """Read every message in the folder once; ``(uid, decision)`` for each."""
    try:
        box = _open(m)
        box.login(m.user, m.password, initial_folder=m.folder)
    except MailboxLoginError:
        raise ImapError(f"IMAP server {m.host}:{m.port} refused the login of {m.user!r}") from None
    except (TimeoutError, OSError, ssl.SSLError, imaplib.IMAP4.error) as exc:
        raise ImapError(f"cannot reach IMAP server {m.host}:{m.port}: {exc}") from None
    results: list[tuple[str, Decision]] = []
    try:
        for name in (m.processed, m.unknown):
            if not box.folder.exists(name):
                box.folder.create(name)
        heads = list(box.fetch(mark_seen=False, headers_only=True, bulk=True))
        small = [h.uid for h in heads if h.uid and h.size_rfc822 <= intake.max_bytes]
        big = [h for h in heads if h.uid and h.size_rfc822 > intake.max_bytes]
        moves: dict[str, list[str]] = {m.processed: [], m.unknown: []}
        if small:
            for msg in box.fetch(mark_seen=False, uid_list=small, bulk=50):
                arrival = Arrival(msg.obj.as_bytes(), "imap")
                decision = process(engine, intake, arrival, now())
                results.append((msg.uid or "", decision))
                moves[m.processed if decision.delivery_id is not None else m.unknown].append(msg.uid or "")
        for head in big:
            note = f"Subject: {head.subject}\r\n\r\n(not downloaded: {head.size_rfc822} bytes)\r\n".encode()
            decision = process(engine, intake, Arrival(note, "imap", size=head.size_rfc822), now())
            results.append((head.uid or "", decision))
            moves[m.unknown].append(head.uid or "")
        for folder, uids in moves.items():
            if uids:
                box.move(uids, folder)
    except (OSError, imaplib.IMAP4.error) as exc:
        raise ImapError(f"IMAP server {m.host}:{m.port}: {exc}") from None
    finally:
        with contextlib.suppress(OSError, imaplib.IMAP4.error):
            box.logout()
    return results
