"""Send one ready message through the configured relay (confirmation mails, notices).

Bulk sending goes through ``delivery``'s pooled transport instead; this is the simple path for
single messages that the application shell sends on a user's request. The message is turned
into its wire bytes here and signed by :mod:`delivery.dkim` when a key is configured, so the
signature covers exactly what is sent. TLS always verifies the
relay's certificate (system CAs plus ``smtp_ca_file``); with ``smtp_tls = "starttls"`` a relay
that does not offer STARTTLS is refused rather than spoken to in clear text.
"""

from __future__ import annotations

import smtplib
import ssl
from copy import deepcopy
from email import policy
from email.headerregistry import AddressHeader
from email.message import EmailMessage

from delivery.dkim import DkimSigner, load_signer
from wildmail.core.settings import Settings


class MailError(RuntimeError):
    """The relay refused the message or could not be reached."""


def tls_context(settings: Settings) -> ssl.SSLContext:
    """A verifying client context: system CAs, plus ``smtp_ca_file`` when set."""
    context = ssl.create_default_context()
    if settings.smtp_ca_file:
        context.load_verify_locations(cafile=settings.smtp_ca_file)
    return context


def wire_bytes(message: EmailMessage, signer: DkimSigner | None) -> tuple[str, list[str], bytes, bool]:
    """``(from, recipients, data, international)``: the envelope and the CRLF bytes to send
    (Bcc left out, DKIM-signed when ``signer`` is given)."""
    sender = message["Sender"] or message["From"]
    recipients = [
        address.addr_spec
        for name in ("To", "Cc", "Bcc")
        for header in message.get_all(name, [])
        if isinstance(header, AddressHeader)
        for address in header.addresses
    ]
    from_addr = sender.addresses[0].addr_spec if isinstance(sender, AddressHeader) else str(sender)
    international = not all(a.isascii() for a in (from_addr, *recipients))
    message = _without_bcc(message)
    data = message.as_bytes(policy=policy.SMTPUTF8 if international else policy.SMTP)
    if signer is not None:
        data = signer.sign(data) + data
    return from_addr, recipients, data, international


def _without_bcc(message: EmailMessage) -> EmailMessage:
    if "Bcc" not in message:
        return message
    copy = deepcopy(message)
    del copy["Bcc"]
    return copy


def send_one(settings: Settings, message: EmailMessage) -> None:
    """Deliver ``message`` to its To/Cc/Bcc recipients through the relay in ``settings``,
    DKIM-signed when a key is configured."""
    from_addr, recipients, data, international = wire_bytes(message, load_signer(settings))
    options = ["SMTPUTF8", "BODY=8BITMIME"] if international else []
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
            client.sendmail(from_addr, recipients, data, mail_options=options)
    except smtplib.SMTPAuthenticationError as exc:
        error = exc.smtp_error
        reply = error.decode("utf-8", "replace") if isinstance(error, bytes) else str(error)
        raise MailError(
            f"{relay} refused the login as {settings.smtp_user!r}: {exc.smtp_code} {reply}"
        ) from exc
    except (smtplib.SMTPException, OSError) as exc:
        raise MailError(f"could not send through {relay}: {exc}") from exc
