"""Send one ready message through the configured relay (confirmation mails, notices).

Bulk sending goes through ``delivery``'s pooled transport instead; this is the simple path for
single messages that the application shell sends on a user's request. It meets the relay the
way the worker does (:func:`delivery.smtp_transport.open_session`: the same TLS, certificate,
STARTTLS and AUTH policy). The message is turned into its wire bytes here and signed by
:mod:`delivery.dkim` when a key is configured, so the signature covers exactly what is sent.
"""

from __future__ import annotations

import smtplib
from copy import deepcopy
from email import policy
from email.headerregistry import AddressHeader
from email.message import EmailMessage

from delivery.dkim import DkimSigner, load_signer
from delivery.smtp_transport import open_session
from delivery.transport import SendFailure
from wildmail.core.settings import Settings


class MailError(RuntimeError):
    """The relay refused the message or could not be reached."""


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
        client = open_session(
            settings.smtp_host,
            settings.smtp_port,
            tls=settings.smtp_tls,
            user=settings.smtp_user,
            password=settings.smtp_password,
            ca_file=settings.smtp_ca_file,
            timeout=settings.smtp_timeout,
        )
    except SendFailure as exc:
        code = f"{exc.code} " if exc.code else ""
        raise MailError(f"could not send through {relay}: {code}{exc.reply}") from None
    try:
        with client:
            client.sendmail(from_addr, recipients, data, mail_options=options)
    except (smtplib.SMTPException, OSError) as exc:
        raise MailError(f"could not send through {relay}: {exc}") from exc
