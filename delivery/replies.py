"""What an SMTP refusal is about: this recipient, the relay/sender/content, or nothing lasting.

Only a permanent failure about the recipient may suppress an address. A refusal about the relay
(relaying denied, authentication), the sender, the content (spam, virus, size) or a policy says
nothing about the person: the relay is paused and the delivery waits. The RFC 3463 enhanced
status code (``x.y.z`` at the start of the text) decides when present; the text is read only
when there is none (or it is the uninformative ``x.0.0``).
"""

from __future__ import annotations

import enum
import re

from delivery.models import SmtpPhase


class Verdict(enum.StrEnum):
    RECIPIENT = "recipient"  # permanent and about this address: bounce and suppress it
    RELAY = "relay"  # about the relay, sender, content or policy: pause the relay, keep the delivery
    TRANSIENT = "transient"  # try this message again later (no suppression, no pause)


ENHANCED = re.compile(r"^\s*([245])\.(\d{1,3})\.(\d{1,3})(?![\d.])")
# Enhanced codes about the address that are still not about the recipient: 5.1.7 bad sender
# mailbox syntax, 5.1.8 bad sender's system address.
SENDER_CODES = {(1, 7), (1, 8)}
# Mailbox-level codes that are not a lasting fact about the person: 5.2.2 mailbox full (often
# cleared later) and 5.2.3 message too large (our content) are not suppressions.
MAILBOX_LATER = {(2, 2)}
MAILBOX_CONTENT = {(2, 3)}
RECIPIENT_ROUTING = {(4, 4)}  # 5.4.4 unable to route: the recipient's domain has no mail host

RELAY_WORDS = re.compile(
    r"relay(ing)?\s+(access\s+)?(denied|not\s+permitted|prohibited|refused)|not\s+permitted\s+to\s+relay"
    r"|auth(entication)?\s+required|must\s+(first\s+)?auth|not\s+authori[sz]ed|access\s+denied"
    r"|spam|junk|virus|malware|phish|black\s*list|block\s*list|blocked|banned|reputation"
    r"|policy|content|rejected\s+as|sender|mail\s+from|from\s+address|dmarc|spf|dkim"
    r"|too\s+many|rate\s+limit|quota\s+exceeded\s+for\s+(sender|account|user\s+account)"
    r"|message\s+(size|too\s+(big|large))|exceeds",
    re.IGNORECASE,
)
RECIPIENT_WORDS = re.compile(
    r"user\s+unknown|unknown\s+(user|recipient|mailbox)|no\s+such\s+(user|mailbox|recipient|address)"
    r"|mailbox\s+(unavailable|not\s+found|does\s+not\s+exist|disabled|inactive)|does\s+not\s+exist"
    r"|(address|recipient|user|account)\s+(not\s+found|unknown|disabled|inactive|doesn.t\s+exist)"
    r"|invalid\s+(recipient|mailbox|address)|recipient\s+address\s+rejected",
    re.IGNORECASE,
)


def enhanced_code(text: str) -> tuple[int, int, int] | None:
    """The RFC 3463 status code opening the reply text (``5.1.1 ...``), if any."""
    found = ENHANCED.match(text)
    if found is None:
        return None
    return int(found.group(1)), int(found.group(2)), int(found.group(3))


def classify(code: int | None, text: str, phase: SmtpPhase) -> Verdict:
    """Judge one refusal: ``code`` is the SMTP reply code, ``text`` the reply after it."""
    if code is None or not 500 <= code < 600:
        return Verdict.TRANSIENT
    if phase in (SmtpPhase.CONNECT, SmtpPhase.MAIL, SmtpPhase.NONE):
        return Verdict.RELAY  # refused before any recipient was named: the session or the sender
    status = enhanced_code(text)
    if status is not None and status[0] != 5:
        return Verdict.TRANSIENT  # a 5xx with a 4.x.x detail contradicts itself: never suppress on it
    if status is not None and (status[1], status[2]) != (0, 0):
        return _by_status(status[1], status[2])
    return _by_text(text, phase)


def _by_status(subject: int, detail: int) -> Verdict:
    if subject == 1:
        return Verdict.RELAY if (subject, detail) in SENDER_CODES else Verdict.RECIPIENT
    if subject == 2:
        if (subject, detail) in MAILBOX_LATER:
            return Verdict.TRANSIENT
        return Verdict.RELAY if (subject, detail) in MAILBOX_CONTENT else Verdict.RECIPIENT
    if subject == 4:
        return Verdict.RECIPIENT if (subject, detail) in RECIPIENT_ROUTING else Verdict.TRANSIENT
    # 5.3.x mail system, 5.5.x protocol, 5.6.x content, 5.7.x security and policy, unknown subjects.
    return Verdict.RELAY


def _by_text(text: str, phase: SmtpPhase) -> Verdict:
    if RELAY_WORDS.search(text):
        return Verdict.RELAY  # checked first: when a reply names both, never suppress
    if RECIPIENT_WORDS.search(text):
        return Verdict.RECIPIENT
    # Nothing recognisable: at RCPT the refusal is about the recipient named; after DATA the
    # content (the same for everyone) is the likelier cause, so nobody is suppressed for it.
    return Verdict.RECIPIENT if phase == SmtpPhase.RCPT else Verdict.RELAY


ADDRESS = re.compile(r"<[^<>\s]*>|[^\s<>()\[\]\"',;:]+@[^\s<>()\[\]\"',;:]+")


def reply_shape(code: int | None, text: str) -> str:
    """The reply with addresses removed and spacing/case evened out, to spot the same answer
    given to many different recipients (a relay refusing everyone with a recipient-like code)."""
    stripped = without_addresses(text.lower())
    return f"{code or ''} {' '.join(stripped.split())}".strip()


def without_addresses(text: str) -> str:
    """``text`` with every email address replaced by ``<>`` (alerts are shown to admins and logged)."""
    return ADDRESS.sub("<>", text)
