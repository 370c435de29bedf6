"""Send one ready message through the configured relay (confirmation mails, test sends).

Bulk sending goes through ``delivery``'s pooled transport instead; this is the simple path for
single messages that the application shell sends on a user's request. TLS always verifies the
relay's certificate (system CAs plus ``smtp_ca_file``); with ``smtp_tls = "starttls"`` a relay
that does not offer STARTTLS is refused rather than spoken to in clear text.
"""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage

from wildmail.settings import Settings


class MailError(RuntimeError):
    """The relay refused the message or could not be reached."""


def tls_context(settings: Settings) -> ssl.SSLContext:
    """A verifying client context: system CAs, plus ``smtp_ca_file`` when set."""
    context = ssl.create_default_context()
    if settings.smtp_ca_file:
        context.load_verify_locations(cafile=settings.smtp_ca_file)
    return context


def send_one(settings: Settings, message: EmailMessage) -> None:
    """Deliver ``message`` to its To/Cc recipients through the relay in ``settings``."""
    relay = f"{settings.smtp_host}:{settings.smtp_port}"
    try:
        if settings.smtp_tls == "implicit":
            client: smtplib.SMTP = smtplib.SMTP_SSL(
                settings.smtp_host,
                settings.smtp_port,
                timeout=settings.smtp_timeout,
                context=tls_context(settings),
            )
        else:
            client = smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=settings.smtp_timeout)
        with client:
            client.ehlo()
            if settings.smtp_tls == "starttls":
                if not client.has_extn("starttls"):
                    raise MailError(f"{relay} does not offer STARTTLS; refusing to send in clear text")
                client.starttls(context=tls_context(settings))
                client.ehlo()
            if settings.smtp_user:
                if not client.has_extn("auth"):
                    raise MailError(f"{relay} does not offer AUTH; not sending the password")
                client.login(settings.smtp_user, settings.smtp_password)
            client.send_message(message)
    except smtplib.SMTPAuthenticationError as exc:
        error = exc.smtp_error
        reply = error.decode("utf-8", "replace") if isinstance(error, bytes) else str(error)
        raise MailError(
            f"{relay} refused the login as {settings.smtp_user!r}: {exc.smtp_code} {reply}"
        ) from exc
    except (smtplib.SMTPException, OSError) as exc:
        raise MailError(f"could not send through {relay}: {exc}") from exc
