"""Provider webhooks: Amazon SES (through SNS), Postmark, SendGrid and Mailgun, each verified, then
read into the same :class:`inbound.parse.Finding` a bounce message gives and handed to the intake.

Verification, per provider (any failure is a :class:`Refused`, answered 403 with one log line):

* SES/SNS: the message is signed (SignatureVersion 1: SHA1withRSA, 2: SHA256withRSA) by the
  certificate at ``SigningCertURL``, which must be ``https://sns.<region>.amazonaws.com/....pem``
  (any other host is refused before anything is fetched); the topic must be ``ses_topic_arn``.
  A subscription confirmation is confirmed by fetching its ``SubscribeURL`` (same host rule).
* Postmark: HTTP basic auth whose password is ``postmark_webhook_secret`` (Postmark puts the
  credentials of the webhook URL in the request).
* SendGrid: the signed event webhook's ECDSA P-256 signature over timestamp + body, checked with
  ``sendgrid_webhook_public_key``.
* Mailgun: HMAC-SHA256 of timestamp + token with ``mailgun_webhook_signing_key``.

Every request (or event) older than ``webhook_max_age_seconds`` is refused as stale; an event seen
before (its provider id) is acknowledged and ignored, so a replay changes nothing.
Fetching is injected (:data:`Fetch`): the web app wires :func:`https_fetch`; tests serve their own
certificate without any network.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.serialization import load_der_public_key
from sqlalchemy import Engine

from inbound.intake import Arrival, Decision, Intake, process_event
from inbound.parse import Finding, Kind, classify_status
from wildmail.core.settings import Settings

log = logging.getLogger("wildmail.inbound")

Fetch = Callable[[str], bytes]
SNS_HOST = re.compile(r"sns\.[a-z0-9-]{1,40}\.amazonaws\.com(\.cn)?")


class Refused(ValueError):
    """The request is not signed, signed wrongly, stale or not for us (HTTP 403)."""


class NotConfigured(LookupError):
    """The provider's secret is not set: its endpoint does not exist (HTTP 404)."""


@dataclass(frozen=True)
class Event:
    """One provider event, read: its id (for replays), finding, and what finds the delivery."""

    event_id: str
    finding: Finding
    message_ids: tuple[str, ...] = ()
    return_path: str = ""
    at: datetime | None = None


@dataclass(frozen=True)
class WebhookConfig:
    max_age: timedelta
    ses_topic_arn: str = ""
    postmark_secret: str = ""
    sendgrid_key: str = ""
    mailgun_key: str = ""

    @classmethod
    def from_settings(cls, s: Settings) -> WebhookConfig:
        return cls(
            timedelta(seconds=s.webhook_max_age_seconds),
            s.ses_topic_arn,
            s.postmark_webhook_secret,
            s.sendgrid_webhook_public_key,
            s.mailgun_webhook_signing_key,
        )


Reader = Callable[[WebhookConfig, datetime], list[Event]]  # a provider's verify-and-read, bound to a request


def https_fetch(url: str) -> bytes:
    """GET an AWS URL over verified HTTPS (the certificate or the subscription confirmation)."""
    check_sns_url(url)
    response = httpx.get(url, timeout=10.0, follow_redirects=False)
    response.raise_for_status()
    return response.content


def check_sns_url(url: str) -> None:
    """Refuse any URL that is not https on an ``sns.<region>.amazonaws.com`` host."""
    parts = urlsplit(url)
    if (
        parts.scheme != "https"
        or not SNS_HOST.fullmatch(parts.hostname or "")
        or parts.port not in (None, 443)
    ):
        raise Refused(f"SNS URL {url[:200]!r} is not on an sns.<region>.amazonaws.com host")
    if parts.username or parts.password:
        raise Refused("SNS URL carries credentials")


def _fresh(at: datetime | None, config: WebhookConfig, now: datetime, what: str) -> None:
    if at is None:
        raise Refused(f"{what} has no timestamp")
    if abs(now - at) > config.max_age:
        raise Refused(
            f"{what} is stale ({at.isoformat()}, more than {int(config.max_age.total_seconds())} s)"
        )


def _when(text: object) -> datetime | None:
    try:
        value = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _epoch(value: object) -> datetime | None:
    try:
        return datetime.fromtimestamp(int(str(value)), UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return None


def _json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise Refused("body is not JSON") from None


# --- Amazon SES through SNS

SNS_FIELDS = {
    "Notification": ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"),
    "SubscriptionConfirmation": (
        "Message",
        "MessageId",
        "SubscribeURL",
        "Timestamp",
        "Token",
        "TopicArn",
        "Type",
    ),
    "UnsubscribeConfirmation": (
        "Message",
        "MessageId",
        "SubscribeURL",
        "Timestamp",
        "Token",
        "TopicArn",
        "Type",
    ),
}


def verify_sns(message: dict[str, Any], fetch: Fetch) -> None:
    """Check an SNS message's signature against the certificate at its (checked) URL."""
    kind = message.get("Type")
    names = SNS_FIELDS.get(str(kind))
    if names is None:
        raise Refused(f"unknown SNS message type {str(kind)[:40]!r}")
    url = str(message.get("SigningCertURL", ""))
    check_sns_url(url)
    text = "".join(
        f"{name}\n{message[name]}\n" for name in names if name in message and message[name] is not None
    )
    try:
        signature = base64.b64decode(str(message.get("Signature", "")), validate=True)
    except binascii.Error:
        raise Refused("SNS signature is not base64") from None
    # Version 1 is SHA1withRSA: what SNS still signs with unless the topic asks for version 2.
    digest = {"1": hashes.SHA1(), "2": hashes.SHA256()}.get(str(message.get("SignatureVersion")))  # noqa: S303
    if digest is None or not signature:
        raise Refused("SNS message is unsigned or of an unknown signature version")
    try:
        cert = x509.load_pem_x509_certificate(fetch(url))
    except (ValueError, httpx.HTTPError) as exc:
        raise Refused(f"SNS signing certificate unusable: {exc}") from None
    now = datetime.now(UTC)
    if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
        raise Refused("SNS signing certificate is not valid now")
    key = cert.public_key()
    if not isinstance(key, rsa.RSAPublicKey):
        raise Refused("SNS signing certificate has no RSA key")
    try:
        key.verify(signature, text.encode(), padding.PKCS1v15(), digest)
    except InvalidSignature:
        raise Refused("SNS signature does not match") from None


def ses_events(body: bytes, config: WebhookConfig, fetch: Fetch, now: datetime) -> list[Event]:
    """The events of one SNS POST (none for a subscription confirmation, which is confirmed here)."""
    if not config.ses_topic_arn:
        raise NotConfigured("ses_topic_arn is not set")
    message = _json(body)
    if not isinstance(message, dict):
        raise Refused("SNS body is not an object")
    verify_sns(message, fetch)
    if message.get("TopicArn") != config.ses_topic_arn:
        raise Refused(f"SNS topic {str(message.get('TopicArn'))[:200]!r} is not ses_topic_arn")
    _fresh(_when(message.get("Timestamp")), config, now, "SNS message")
    if message["Type"] == "SubscriptionConfirmation":
        url = str(message.get("SubscribeURL", ""))
        check_sns_url(url)
        fetch(url)
        log.info("SNS subscription to %s confirmed", config.ses_topic_arn)
        return []
    if message["Type"] != "Notification":
        return []
    payload = json.loads(str(message.get("Message", "{}")))
    return list(_ses_payload(payload, str(message.get("MessageId", ""))))


def _ses_payload(payload: dict[str, Any], sns_id: str) -> Iterable[Event]:
    kind = payload.get("notificationType") or payload.get("eventType")
    mail = payload.get("mail") or {}
    ids = tuple(
        str(h.get("value", ""))
        for h in mail.get("headers") or []
        if isinstance(h, dict) and str(h.get("name", "")).lower() == "message-id"
    )
    common = mail.get("commonHeaders") or {}
    if common.get("messageId"):
        ids += (str(common["messageId"]),)
    source = str(mail.get("source", ""))
    if kind == "Bounce":
        bounce = payload.get("bounce") or {}
        for n, r in enumerate(bounce.get("bouncedRecipients") or []):
            finding = _ses_bounce(bounce, r)
            yield Event(f"ses:{sns_id}:{n}", finding, ids, source)
    elif kind == "Complaint":
        complaint = payload.get("complaint") or {}
        feedback = str(complaint.get("complaintFeedbackType", "abuse"))
        for n, r in enumerate(complaint.get("complainedRecipients") or []):
            finding = Finding(
                Kind.COMPLAINT if feedback != "not-spam" else Kind.UNKNOWN,
                str(r.get("emailAddress", "")).lower(),
                why=f"SES complaint ({feedback})",
            )
            yield Event(f"ses:{sns_id}:{n}", finding, ids, source)


def _ses_bounce(bounce: dict[str, Any], r: dict[str, Any]) -> Finding:
    address = str(r.get("emailAddress", "")).lower()
    btype, sub = str(bounce.get("bounceType", "")), str(bounce.get("bounceSubType", ""))
    status, diag = str(r.get("status", "")), str(r.get("diagnosticCode", ""))
    if status or diag:
        kind, code, why = classify_status(status, diag)
        if btype == "Permanent" and kind is Kind.SOFT and sub in ("General", "NoEmail", "Suppressed"):
            kind, why = Kind.HARD, f"{why}; SES calls it Permanent/{sub}"
    elif btype == "Permanent" and sub in ("General", "NoEmail", "Suppressed", "OnAccountSuppressionList"):
        kind, code, why = Kind.HARD, "", f"SES Permanent/{sub}"
    elif sub in ("MessageTooLarge", "ContentRejected", "AttachmentRejected"):
        kind, code, why = Kind.BLOCK, "", f"SES {btype}/{sub}"
    else:
        kind, code, why = Kind.SOFT, "", f"SES {btype}/{sub}"
    return Finding(kind, address, code, diag[:500], f"SES bounce: {why}")


# --- Postmark


def postmark_events(body: bytes, authorization: str, config: WebhookConfig, now: datetime) -> list[Event]:
    if not config.postmark_secret:
        raise NotConfigured("postmark_webhook_secret is not set")
    scheme, _, value = authorization.partition(" ")
    try:
        password = base64.b64decode(value, validate=True).decode().partition(":")[2]
    except (binascii.Error, UnicodeDecodeError):
        password = ""
    if scheme.lower() != "basic" or not hmac.compare_digest(
        password.encode(), config.postmark_secret.encode()
    ):
        raise Refused("Postmark request without the webhook's credentials")
    data = _json(body)
    if not isinstance(data, dict):
        raise Refused("Postmark body is not an object")
    record = str(data.get("RecordType", ""))
    at = _when(data.get("BouncedAt") or data.get("ReceivedAt") or data.get("DeliveredAt"))
    _fresh(at, config, now, "Postmark event")
    address = str(data.get("Email", "")).lower()
    event_id = f"postmark:{data.get('ID') or data.get('MessageID')}:{record}"
    if record == "SpamComplaint" or data.get("Type") == "SpamComplaint":
        return [Event(event_id, Finding(Kind.COMPLAINT, address, why="Postmark spam complaint"), at=at)]
    if record != "Bounce":
        return []
    btype = str(data.get("Type", ""))
    details = f"{data.get('Description', '')} {data.get('Details', '')}".strip()
    if btype in ("HardBounce", "BadEmailAddress", "ManuallyDeactivated", "AddressChange"):
        finding = Finding(Kind.HARD, address, diagnostic=details[:500], why=f"Postmark {btype}")
    elif btype in ("SpamNotification", "Blocked", "ContentRelated", "DMARCPolicy", "VirusNotification"):
        finding = Finding(Kind.BLOCK, address, diagnostic=details[:500], why=f"Postmark {btype}")
    elif btype in ("AutoResponder", "Subscribe", "Unsubscribe", "OpenRelayTest", "ChallengeVerification"):
        finding = Finding(Kind.AUTO_REPLY, address, why=f"Postmark {btype}")
    else:
        finding = Finding(Kind.SOFT, address, diagnostic=details[:500], why=f"Postmark {btype or 'bounce'}")
    return [Event(event_id, finding, at=at)]


# --- SendGrid


def sendgrid_events(
    body: bytes, signature: str, timestamp: str, config: WebhookConfig, now: datetime
) -> list[Event]:
    if not config.sendgrid_key:
        raise NotConfigured("sendgrid_webhook_public_key is not set")
    try:
        key = load_der_public_key(base64.b64decode(config.sendgrid_key))
        raw_signature = base64.b64decode(signature, validate=True)
    except (ValueError, binascii.Error):
        raise Refused("SendGrid signature or key is not usable") from None
    if not isinstance(key, ec.EllipticCurvePublicKey) or not raw_signature:
        raise Refused("SendGrid request is unsigned")
    try:
        key.verify(raw_signature, timestamp.encode() + body, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        raise Refused("SendGrid signature does not match") from None
    _fresh(_epoch(timestamp), config, now, "SendGrid request")
    events = _json(body)
    if not isinstance(events, list):
        raise Refused("SendGrid body is not a list")
    out = []
    for e in events:
        if not isinstance(e, dict):
            continue
        name, address = str(e.get("event", "")), str(e.get("email", "")).lower()
        ids = tuple(str(e[k]) for k in ("smtp-id",) if e.get(k))
        event_id = f"sendgrid:{e.get('sg_event_id') or hashlib.sha256(json.dumps(e).encode()).hexdigest()}"
        if name == "spamreport":
            finding = Finding(Kind.COMPLAINT, address, why="SendGrid spam report")
        elif name in ("bounce", "dropped"):
            status, reason = str(e.get("status", "")), str(e.get("reason", ""))
            kind, code, why = classify_status(status, reason)
            if e.get("type") == "blocked":
                kind, why = Kind.BLOCK, f"{why}; SendGrid says blocked"
            if name == "dropped" and "bounced address" in reason.lower():
                kind, why = Kind.HARD, "SendGrid dropped: a bounced address"
            elif name == "dropped" and kind is not Kind.HARD:
                continue  # dropped for our own reasons (unsubscribed, spam content): not a bounce
            finding = Finding(kind, address, code, reason[:500], f"SendGrid {name}: {why}")
        else:
            continue
        out.append(Event(event_id, finding, ids, at=_epoch(e.get("timestamp"))))
    return out


# --- Mailgun


def mailgun_events(body: bytes, config: WebhookConfig, now: datetime) -> list[Event]:
    if not config.mailgun_key:
        raise NotConfigured("mailgun_webhook_signing_key is not set")
    data = _json(body)
    sig = data.get("signature") if isinstance(data, dict) else None
    if not isinstance(sig, dict):
        raise Refused("Mailgun request is unsigned")
    timestamp, token, given = (str(sig.get(k, "")) for k in ("timestamp", "token", "signature"))
    expected = hmac.new(config.mailgun_key.encode(), (timestamp + token).encode(), hashlib.sha256).hexdigest()
    if not given or not hmac.compare_digest(given.encode(), expected.encode()):
        raise Refused("Mailgun signature does not match")
    _fresh(_epoch(timestamp), config, now, "Mailgun request")
    e = data.get("event-data") or {}
    name, address = str(e.get("event", "")), str(e.get("recipient", "")).lower()
    headers = (e.get("message") or {}).get("headers") or {}
    mid = str(headers.get("message-id", ""))
    ids = (mid if mid.startswith("<") else f"<{mid}>",) if mid else ()
    event_id = f"mailgun:{e.get('id') or token}"
    if name == "complained":
        return [Event(event_id, Finding(Kind.COMPLAINT, address, why="Mailgun complaint"), ids)]
    if name != "failed":
        return []
    status = e.get("delivery-status") or {}
    text = " ".join(str(status.get(k, "")) for k in ("enhanced-code", "code", "message", "description"))
    kind, code, why = classify_status(str(status.get("enhanced-code", "")), text)
    if e.get("severity") == "temporary":
        kind, why = Kind.DELAY, "Mailgun temporary failure (Mailgun retries)"
    elif e.get("reason") == "suppress-bounce":
        kind, why = Kind.HARD, "Mailgun: on its bounce list"
    return [Event(event_id, Finding(kind, address, code, text.strip()[:500], f"Mailgun failed: {why}"), ids)]


def handle(
    engine: Engine, intake: Intake, provider: str, events: list[Event], now: datetime
) -> list[Decision]:
    """Hand each event to the intake (replays are acknowledged and ignored there)."""
    decisions = []
    for event in events:
        raw = json.dumps(
            {"provider": provider, "event": event.event_id, "recipient": event.finding.recipient}
        ).encode()
        arrival = Arrival(raw, provider, (event.return_path,) if event.return_path else ())
        decisions.append(
            process_event(engine, intake, arrival, event.event_id, event.finding, event.message_ids, now)
        )
    return decisions
