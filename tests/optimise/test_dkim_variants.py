"""Messages built from subject variants are DKIM-signed over their own Subject (RSA and Ed25519,
verified with dkimpy after a real SMTP trip)."""

from __future__ import annotations

from email import message_from_bytes, policy

from delivery.lifecycle import get_campaign
from delivery.smtp_transport import SmtpTransport
from optimise.subject_tests import start_test
from tests.delivery.test_dkim_end_to_end import (  # noqa: F401 - keys and signing are fixtures
    CAMPAIGN_HEADERS,
    check_signed,
    keys,
    sample_campaign,
    send_every_week,
    signing,
)

VARIANTS = [("Léopards de l'Amour — la suite", "Un aperçu"), ("Only 130 leopards are left", "Read on")]


def test_variant_messages_verify_with_their_own_subject(signing, clock, smtp_server, keys) -> None:  # noqa: F811
    sample_campaign(signing, people=8)
    with signing.session() as s:
        start_test(s, signing.settings, get_campaign(s, "amur-leopard"), 1, VARIANTS, now=clock.now())
        s.commit()
    send_every_week(signing, clock, SmtpTransport("127.0.0.1", smtp_server.port, timeout=5), 1)
    subjects = set()
    for received in smtp_server.messages:
        check_signed(received.data, keys[2], CAMPAIGN_HEADERS)  # a changed Subject fails, too
        subjects.add(str(message_from_bytes(received.data, policy=policy.default)["Subject"]))
    assert subjects == {v[0] for v in VARIANTS}
