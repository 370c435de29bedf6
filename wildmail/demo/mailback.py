"""What the demo's mail world sends back, later, to each message's return path: DSNs (RFC 3464)
for mailboxes closed behind an accepting gateway or always full, and feedback reports (RFC 5965)
from people who press "report spam". They are delivered by SMTP to the real inbound listener."""

from __future__ import annotations

import random
import smtplib
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from wildmail.demo.readers import header

DSN = """From: Mail Delivery System <MAILER-DAEMON@mx.{domain}>
To: {return_path}
Subject: Undelivered Mail Returned to Sender
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="dsn-{n}"

--dsn-{n}
Content-Type: text/plain; charset=us-ascii

Your message to <{rcpt}> could not be delivered.

--dsn-{n}
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.{domain}

Final-Recipient: rfc822; {rcpt}
Action: failed
Status: {status}
Diagnostic-Code: smtp; {diagnostic}

--dsn-{n}
Content-Type: text/rfc822-headers

{headers}
--dsn-{n}--
"""

ARF = """From: Feedback Loop <fbl@{domain}>
To: {return_path}
Subject: Complaint about a message
MIME-Version: 1.0
Content-Type: multipart/report; report-type=feedback-report; boundary="arf-{n}"

--arf-{n}
Content-Type: text/plain; charset=us-ascii

A recipient marked this message as spam.

--arf-{n}
Content-Type: message/feedback-report

Feedback-Type: abuse
User-Agent: demo-fbl/1.0
Version: 1
Original-Rcpt-To: {rcpt}

--arf-{n}
Content-Type: text/rfc822-headers

{headers}
--arf-{n}--
"""

FAILURES = {
    "hard": ("5.1.1", "550 5.1.1 <{rcpt}>: mailbox closed"),
    "soft": ("5.2.2", "552 5.2.2 <{rcpt}>: mailbox full"),
}


@dataclass(order=True)
class Mail:
    at: datetime
    n: int
    return_path: str = field(compare=False)
    data: bytes = field(compare=False)


def answer(
    late: str, rcpt: str, return_path: str, data: bytes, sent: datetime, n: int, rng: random.Random
) -> Mail:
    """The message ``late`` ("hard", "soft" or "complaint") makes ``rcpt``'s mail world send back."""
    domain = rcpt.rpartition("@")[2]
    names = ("From", "To", "Subject", "Date", "Message-ID")
    headers = "".join(f"{name}: {header(data, name)}\n" for name in names)
    if late == "complaint":
        text = ARF.format(domain=domain, return_path=return_path, n=n, rcpt=rcpt, headers=headers)
        at = sent + timedelta(hours=rng.uniform(3, 48))
    else:
        status, diagnostic = FAILURES[late]
        text = DSN.format(
            domain=domain, return_path=return_path, n=n, rcpt=rcpt, status=status,
            diagnostic=diagnostic.format(rcpt=rcpt), headers=headers,
        )  # fmt: skip
        at = sent + timedelta(hours=rng.uniform(0.5, 20))
    return Mail(at, n, return_path, text.replace("\n", "\r\n").encode())


def deliver(host: str, port: int, mail: Mail) -> None:
    """Send one message back over SMTP, from the null sender as bounces are."""
    with smtplib.SMTP(host, port, timeout=30) as smtp:
        smtp.sendmail("", [mail.return_path], mail.data)
