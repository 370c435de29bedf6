"""Send one ready message through the configured relay (confirmation mails, test sends).

Bulk sending goes through ``delivery``'s pooled transport instead; this is the simple path for
single messages that the application shell sends on a user's request.
"""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage

from wildmail.settings import Settings


class MailError(RuntimeError):
    """The relay refused the message or could not be reached."""


def send_one(settings: Settings, message: EmailMessage) -> None:
    """Deliver ``message`` to its To/Cc recipients through the relay in ``settings``."""
    try:
        if settings.smtp_tls == "implicit":
            client: smtplib.SMTP = smtplib.SMTP_SSL(
                settings.smtp_host,
                settings.smtp_port,
                timeout=settings.smtp_timeout,
                context=ssl.create_default_context(),
            )
        else:
            client = smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=settings.smtp_timeout)
        with client:
            if settings.smtp_tls == "starttls":
                client.starttls(context=ssl.create_default_context())
            if settings.smtp_user:
                client.login(settings.smtp_user, settings.smtp_password)
            client.send_message(message)
    except (smtplib.SMTPException, OSError) as exc:
        raise MailError(f"could not send through {settings.smtp_host}:{settings.smtp_port}: {exc}") from exc
