"""What a received message says: bounce (hard, soft, policy block), delay, complaint, auto-reply.

Read with the standard ``email`` package: delivery status notifications per RFC 3464
(``multipart/report; report-type=delivery-status``), complaints per RFC 5965 (``message/feedback-report``,
with the original as ``message/rfc822`` or only its headers as ``text/rfc822-headers``), auto-replies
per RFC 3834 and the usual vacation/challenge marks. Bounces in no standard shape (old Exim, qmail,
Exchange 2003 texts) go through ``flufl.bounce``'s detectors. Nothing here touches the database;
:mod:`inbound.intake` decides what a :class:`Reading` changes.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from email.parser import BytesHeaderParser, HeaderParser
from email.utils import getaddresses

from flufl.bounce import all_failures

from delivery.replies import RECIPIENT_WORDS, RELAY_WORDS


class Kind(enum.StrEnum):
    HARD = "hard"  # the address does not exist or is disabled: suppress
    SOFT = "soft"  # a failure that may clear (mailbox full, gave up after retries): count
    BLOCK = "block"  # refused for policy, reputation, content or sender: the campaign's, not the person's
    DELAY = "delay"  # still trying, or delivered/relayed: nothing to do
    COMPLAINT = "complaint"  # a feedback report (spam complaint)
    AUTO_REPLY = "auto_reply"  # vacation, out-of-office, challenge: never a bounce
    UNKNOWN = "unknown"  # nothing recognisable


BOUNCES = frozenset({Kind.HARD, Kind.SOFT, Kind.BLOCK})


@dataclass(frozen=True)
class Finding:
    """One recipient's fate in a message (a DSN may report several)."""

    kind: Kind
    recipient: str = ""  # the address the report is about ('' when it does not say)
    status: str = ""  # RFC 3463 code, e.g. 5.1.1
    diagnostic: str = ""  # the remote server's words
    why: str = ""  # how the kind was decided, for the kept record


@dataclass(frozen=True)
class Reading:
    """Everything one message says, before any address or delivery is looked up."""

    findings: tuple[Finding, ...]
    message_ids: tuple[str, ...] = ()  # Message-IDs of the returned original (to find the delivery)
    recipients: tuple[str, ...] = ()  # addresses the message was sent to (headers; SMTP adds RCPT TO)
    sender: str = ""  # From: of the received message
    subject: str = ""
    loop: bool = False  # a bounce of a message we sent from a bounce address (never answered)
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def kind(self) -> Kind:
        """The message's main kind: the first finding's."""
        return self.findings[0].kind if self.findings else Kind.UNKNOWN


ENHANCED = re.compile(r"(?<![\d.])([245])\.(\d{1,3})\.(\d{1,3})(?![\d.])")
SMTP_CODE = re.compile(r"(?<!\d)([245])\d\d(?:[ -]|$)")
SENDER_CODES = {(1, 7), (1, 8)}
HARD_CODES = {(2, 1), (4, 4)}  # 5.2.1 mailbox disabled, 5.4.4 no such domain (plus every other 5.1.x)
BLOCK_SUBJECTS = {6, 7}  # 5.6.x content, 5.7.x security and policy
AUTO_SUBJECT = re.compile(
    r"^\s*(auto(matic)?[ -]?(reply|response|antwort)|out of (the )?office|abwesenheit|absence"
    r"|on vacation|vacation reply|away from (my|the) (desk|office)|r[ée]ponse automatique)",
    re.IGNORECASE,
)
CHALLENGE_SUBJECT = re.compile(
    r"(please )?(verify|confirm) (that )?(you are|you're) (a )?(human|real|sender)"
    r"|sender verification|challenge[- ]response|approve your (email|message)|awaiting your confirmation",
    re.IGNORECASE,
)
BOUNCE_SUBJECT = re.compile(
    r"undeliver|delivery (status notification|failure|has failed)|returned mail|mail delivery (failed|system)"
    r"|failure notice|non[- ]?delivery|could not be delivered|warning: message .{0,60}delayed",
    re.IGNORECASE,
)
# What bounce texts outside RFC 3464 say about a mailbox that is gone, besides delivery.replies' words.
GONE_WORDS = re.compile(
    r"doesn.t have an? [\w.-]{0,40} account|no mailbox here|unrouteable address|address rejected",
    re.IGNORECASE,
)
DELAY_WORDS = re.compile(
    r"not yet been delivered|attempts will continue|will (continue to )?(re)?try|still being retried"
    r"|this is only a warning|delivery (has been|is) delayed",
    re.IGNORECASE,
)
DAEMONS = ("mailer-daemon", "postmaster", "mail-daemon")


def classify_status(status: str, diagnostic: str, action: str = "failed") -> tuple[Kind, str, str]:
    """``(kind, status, why)`` for one failed recipient from its Status and Diagnostic-Code.

    The diagnostic's own enhanced code wins over a vague ``x.0.0`` Status (Gmail and Exchange put
    the precise one there). A 4.x.x that reached ``Action: failed`` is a soft bounce (the sender's
    server gave up); ``delayed``, ``delivered``, ``relayed`` and ``expanded`` are no bounce at all.
    """
    action = action.strip().lower()
    if action and action != "failed":
        return Kind.DELAY, status, f"action {action}: not a failure"
    code = ENHANCED.search(status)
    detail = ENHANCED.search(diagnostic)
    if detail and (code is None or code.group(2, 3) == ("0", "0")):
        code = detail
    if code is None:
        smtp = SMTP_CODE.search(diagnostic)
        if smtp is None:
            return _by_words(diagnostic, "", "no status code")
        first = smtp.group(1)
        return _by_words(diagnostic, f"{first}.0.0", f"SMTP reply {smtp.group(0).strip()}")
    klass, subject, detail_no = int(code.group(1)), int(code.group(2)), int(code.group(3))
    found = f"{klass}.{subject}.{detail_no}"
    if subject == 7:
        return Kind.BLOCK, found, f"{found}: security or policy refusal, not about the person"
    if klass == 4:
        return Kind.SOFT, found, f"{found}: temporary failure the sending server gave up on"
    if klass != 5:
        return Kind.DELAY, found, f"{found}: success code"
    if subject == 1:
        if (subject, detail_no) in SENDER_CODES:
            return Kind.BLOCK, found, f"{found}: about our sender address"
        return Kind.HARD, found, f"{found}: bad destination mailbox"
    if (subject, detail_no) in HARD_CODES:
        return Kind.HARD, found, f"{found}: mailbox disabled or domain without mail host"
    if subject in BLOCK_SUBJECTS or (subject, detail_no) == (2, 3):
        return Kind.BLOCK, found, f"{found}: refused for content or policy"
    if (subject, detail_no) == (0, 0):
        return _by_words(diagnostic, found, f"{found} without detail")
    return Kind.SOFT, found, f"{found}: failure that may clear"


def _by_words(text: str, status: str, why: str) -> tuple[Kind, str, str]:
    if RELAY_WORDS.search(text):
        return Kind.BLOCK, status, f"{why}; the text names a policy or content reason"
    if RECIPIENT_WORDS.search(text) or GONE_WORDS.search(text):
        return Kind.HARD, status, f"{why}; the text says the mailbox does not exist"
    return Kind.SOFT, status, f"{why}; nothing says the mailbox is gone"


def _address(value: str | None) -> str:
    """``rfc822; user@example.org`` (or a plain address) -> ``user@example.org``."""
    if not value:
        return ""
    text = str(value).partition(";")[2] if ";" in str(value) else str(value)
    text = text.strip().strip("<>").strip()
    return text if "@" in text and " " not in text else ""


def _text(value: object) -> str:
    return " ".join(str(value or "").split())


def _fields(part: Message) -> list[Message]:
    """The field blocks of a delivery-status or feedback-report part (the email package parses
    ``message/delivery-status`` into blocks; other report types stay text)."""
    payload = part.get_payload()
    if isinstance(payload, list):
        return [p for p in payload if isinstance(p, Message)]
    if isinstance(payload, bytes):
        payload = payload.decode("utf-8", "replace")
    if not isinstance(payload, str):
        return []
    blocks = re.split(r"\r?\n[ \t]*\r?\n", payload.strip())
    return [HeaderParser().parsestr(block + "\n", headersonly=True) for block in blocks if block.strip()]


def _returned_ids(msg: Message) -> tuple[str, ...]:
    """Message-IDs of every returned original or header block in ``msg``."""
    ids: list[str] = []
    for part in msg.walk():
        ctype = part.get_content_type()
        heads: list[Message] = []
        if ctype in ("message/rfc822", "message/global"):
            payload = part.get_payload()
            if isinstance(payload, list):
                heads = [p for p in payload if isinstance(p, Message)]
        elif ctype in ("text/rfc822-headers", "text/global-headers"):
            body = part.get_payload(decode=True)
            if isinstance(body, bytes):
                heads = [BytesHeaderParser().parsebytes(body.lstrip())]
        for head in heads:
            value = head.get("Message-ID")
            if value:
                ids.append(_text(value))
    if not ids:  # a bounce quoting the original as plain text (flufl's territory)
        for part in msg.walk():
            if part.get_content_maintype() == "text":
                body = part.get_payload(decode=True)
                if isinstance(body, bytes):
                    found = re.search(rb"(?im)^message-id:\s*(<[^>\s]{1,300}>)", body)
                    if found:
                        ids.append(found.group(1).decode("ascii", "replace"))
                        break
    return tuple(dict.fromkeys(ids))


def _dsn(msg: Message, part: Message) -> list[Finding]:
    blocks = _fields(part)
    findings = []
    for block in blocks[1:] or blocks:
        recipient = _address(block.get("Final-Recipient")) or _address(block.get("Original-Recipient"))
        if not recipient and not block.get("Action"):
            continue
        kind, status, why = classify_status(
            _text(block.get("Status")), _text(block.get("Diagnostic-Code")), _text(block.get("Action"))
        )
        findings.append(
            Finding(kind, recipient.lower(), status, _text(block.get("Diagnostic-Code"))[:500], f"DSN: {why}")
        )
    return findings


def _complaint(part: Message) -> list[Finding]:
    blocks = _fields(part)
    report = blocks[0] if blocks else Message()
    feedback = _text(report.get("Feedback-Type")).lower()
    recipient = _address(report.get("Original-Rcpt-To")) or _address(report.get("Removal-Recipient"))
    if feedback in ("not-spam", "auth-failure", "dkim"):
        return [Finding(Kind.UNKNOWN, recipient.lower(), why=f"feedback report of type {feedback!r}")]
    return [Finding(Kind.COMPLAINT, recipient.lower(), why=f"ARF feedback report ({feedback or 'no type'})")]


def _auto_reply(msg: Message) -> str:
    """Why ``msg`` is an automatic answer (RFC 3834 or the usual vacation/challenge marks), or ''."""
    submitted = _text(msg.get("Auto-Submitted")).lower()
    if submitted.startswith("auto-replied"):
        return f"Auto-Submitted: {submitted}"
    for name in ("X-Autoreply", "X-Autorespond", "X-Autoresponder", "X-Vacation"):
        if msg.get(name) is not None:
            return f"{name} header"
    exchange = _text(msg.get("X-Auto-Response-Suppress")) and _text(msg.get("In-Reply-To"))
    if exchange and AUTO_SUBJECT.search(_text(msg.get("Subject"))):
        return "Exchange automatic reply"
    if _text(msg.get("Precedence")).lower() == "auto_reply":
        return "Precedence: auto_reply"
    subject = _text(msg.get("Subject"))
    if AUTO_SUBJECT.search(subject):
        return "subject of an out-of-office or automatic reply"
    if CHALLENGE_SUBJECT.search(subject):
        return "challenge-response mail asking the sender to confirm"
    if submitted.startswith("auto-generated") and not BOUNCE_SUBJECT.search(subject):
        return f"Auto-Submitted: {submitted}"
    return ""


def _non_standard(msg: Message) -> list[Finding]:
    """Bounces in no standard shape, found by flufl.bounce's detectors."""
    temporary, permanent = all_failures(msg)
    body = "\n".join(
        part.get_payload(decode=True).decode("utf-8", "replace")  # type: ignore[union-attr]
        for part in msg.walk()
        if part.get_content_maintype() == "text" and isinstance(part.get_payload(decode=True), bytes)
    )
    if DELAY_WORDS.search(body):  # a warning that quotes an address: nothing has failed yet
        temporary, permanent = temporary | permanent, frozenset()
    findings = []
    for raw in sorted(permanent):
        address = (raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)).lower()
        context = _near(body, address)
        kind, status, why = classify_status("", context)
        findings.append(Finding(kind, address, status, context[:500], f"non-standard bounce: {why}"))
    for raw in sorted(temporary - permanent):
        address = (raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)).lower()
        findings.append(Finding(Kind.DELAY, address, why="non-standard delay warning"))
    return findings


def _near(body: str, address: str) -> str:
    """The text around an address in a bounce body (its reason is usually on the next lines)."""
    at = body.lower().find(address)
    if at < 0:
        return _text(body[:600])
    return _text(body[max(0, at - 100) : at + 400])


def _recipients(msg: Message) -> tuple[str, ...]:
    values = [
        str(v)
        for name in ("Delivered-To", "X-Original-To", "To", "Envelope-To")
        for v in msg.get_all(name) or []
    ]
    return tuple(dict.fromkeys(a.lower() for _, a in getaddresses(values) if "@" in a))


def read_message(raw: bytes) -> Reading:
    """Read one received message (bytes as they arrived). Never raises on malformed input: what
    cannot be read is a :class:`Kind.UNKNOWN` finding saying why."""
    try:
        msg = message_from_bytes(raw)
        return _read(msg)
    except Exception as exc:  # hostile input must never stop the intake
        return Reading((Finding(Kind.UNKNOWN, why=f"unreadable message: {type(exc).__name__}"),))


def _read(msg: Message) -> Reading:
    subject = _text(msg.get("Subject"))[:300]
    common = {
        "message_ids": _returned_ids(msg),
        "recipients": _recipients(msg),
        "sender": ", ".join(a for _, a in getaddresses([str(v) for v in msg.get_all("From") or []]))[:300],
        "subject": subject,
    }
    findings: list[Finding] = []
    for part in msg.walk():
        ctype = part.get_content_type()
        if ctype == "message/feedback-report":
            findings = _complaint(part)
            break
        if ctype in ("message/delivery-status", "message/global-delivery-status"):
            findings = _dsn(msg, part)
            break
    status_report = (
        msg.get_content_type() == "multipart/report" and msg.get_param("report-type") == "delivery-status"
    )
    if not findings and status_report:
        findings = [Finding(Kind.UNKNOWN, why="delivery-status report without its status part")]
    # Bounce daemons mark their mail Auto-Submitted too: what looks like a bounce is read as one first.
    sender = str(common["sender"]).lower()
    bounce_like = (
        sender.partition("@")[0] in DAEMONS
        or BOUNCE_SUBJECT.search(subject) is not None
        or msg.get("X-Failed-Recipients") is not None
    )
    if not findings and bounce_like:
        findings = _non_standard(msg)
    if not findings:
        why = _auto_reply(msg)
        if why:
            findings = [Finding(Kind.AUTO_REPLY, why=why)]
    if not findings and not bounce_like:
        findings = _non_standard(msg)
    if not findings:
        findings = [Finding(Kind.UNKNOWN, why="no bounce, complaint or automatic reply recognised")]
    return Reading(tuple(findings), **common)  # type: ignore[arg-type]
