"""Rows and messages for the inbound tests: sent deliveries, and DSNs/ARF reports about them."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy.orm import Session

from campaigns.models import CampaignStatus, Email
from delivery.models import Delivery
from wildmail.core import tokens
from wildmail.core.message_ids import delivery_message_id
from wildmail.runtime.context import AppContext

BOUNCE_DOMAIN = "bounces.wildmail.test"
CORPUS = Path(__file__).parent / "corpus"


def sent_deliveries(
    ctx: AppContext,
    campaign_id: int,
    subscriber_ids: list[int],
    position: int = 1,
    at: datetime | None = None,
) -> list[int]:
    """One sent delivery of email ``position`` per subscriber (the campaign is running)."""
    at = at or ctx.clock.now()
    secret = ctx.settings.secret
    with ctx.session() as s:
        email = s.query(Email).filter_by(campaign_id=campaign_id, position=position).one()
        email.campaign.status = CampaignStatus.RUNNING.value
        rows = [
            Delivery(
                subscriber_id=sid,
                email_id=email.id,
                campaign_id=campaign_id,
                position=position,
                state="sent",
                smtp_phase="done",
                attempts=1,
                next_attempt_at=at,
                message_id=delivery_message_id(secret, "wildmail.test", campaign_id, position, sid),
                queued_at=at,
                sent_at=at,
                updated_at=at,
            )
            for sid in subscriber_ids
        ]
        s.add_all(rows)
        s.commit()
        return [r.id for r in rows]


def delivery(ctx: AppContext, delivery_id: int) -> Delivery:
    with Session(ctx.engine) as s:
        found = s.get(Delivery, delivery_id)
        assert found is not None
        s.expunge(found)
        return found


def return_path(ctx: AppContext, delivery_id: int) -> str:
    return tokens.return_path(ctx.settings.secret, delivery_id, BOUNCE_DOMAIN)


def dsn(
    recipient: str,
    status: str = "5.1.1",
    diagnostic: str = "smtp; 550 5.1.1 user unknown",
    *,
    to: str = "news@wildmail.test",
    message_id: str = "<unrelated@example.net>",
    action: str = "failed",
) -> bytes:
    """An RFC 3464 report about ``recipient``, as an MTA writes it (CRLF line ends)."""
    text = (
        f"From: MAILER-DAEMON@mx.example.net\nTo: {to}\nSubject: Undelivered Mail Returned to Sender\n"
        'MIME-Version: 1.0\nContent-Type: multipart/report; report-type=delivery-status; boundary="b1"\n\n'
        f"--b1\nContent-Type: text/plain\n\nYour message could not be delivered.\n\n"
        f"--b1\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx.example.net\n\n"
        f"Final-Recipient: rfc822; {recipient}\nAction: {action}\nStatus: {status}\n"
        f"Diagnostic-Code: {diagnostic}\n\n"
        f"--b1\nContent-Type: text/rfc822-headers\n\nFrom: news@wildmail.test\nTo: {recipient}\n"
        f"Message-ID: {message_id}\nSubject: Part 1\n\n--b1--\n"
    )
    return text.replace("\n", "\r\n").encode()


def arf(recipient: str, *, to: str = "fbl@wildmail.test", message_id: str = "<x@example.net>") -> bytes:
    """An RFC 5965 complaint whose original is given as headers only."""
    text = (
        f"From: fbl@isp.example\nTo: {to}\nSubject: abuse report\nMIME-Version: 1.0\n"
        'Content-Type: multipart/report; report-type=feedback-report; boundary="b2"\n\n'
        "--b2\nContent-Type: text/plain\n\nA complaint.\n\n"
        "--b2\nContent-Type: message/feedback-report\n\n"
        "Feedback-Type: abuse\nUser-Agent: test/1\nVersion: 1\n"
        f"Original-Rcpt-To: {recipient}\n\n"
        f"--b2\nContent-Type: text/rfc822-headers\n\nFrom: news@wildmail.test\nTo: {recipient}\n"
        f"Message-ID: {message_id}\n\n--b2--\n"
    )
    return text.replace("\n", "\r\n").encode()


def weeks(n: int) -> timedelta:
    return timedelta(weeks=n)
