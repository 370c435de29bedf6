"""The refusal classifier: only a permanent refusal about the recipient may suppress."""

import pytest

from delivery.models import SmtpPhase
from delivery.replies import Verdict, classify, reply_shape

RCPT, DATA, MAIL = SmtpPhase.RCPT, SmtpPhase.DATA, SmtpPhase.MAIL


@pytest.mark.parametrize(
    "code,text,phase,want",
    [
        (550, "5.1.1 <a@b.org>: Recipient address rejected: User unknown", RCPT, Verdict.RECIPIENT),
        (550, "5.2.1 mailbox disabled", RCPT, Verdict.RECIPIENT),
        (550, "5.4.4 unable to route", RCPT, Verdict.RECIPIENT),
        (554, "5.1.1 no such mailbox", DATA, Verdict.RECIPIENT),
        (550, "User unknown in local recipient table", RCPT, Verdict.RECIPIENT),
        (550, "rejected", RCPT, Verdict.RECIPIENT),  # nothing to go on at RCPT: the streak guards it
        (554, "5.7.1 <a@b.org>: Relay access denied", RCPT, Verdict.RELAY),
        (554, "5.7.1 <a@b.org>: Recipient address rejected: Access denied", RCPT, Verdict.RELAY),
        (550, "5.1.7 bad sender mailbox", RCPT, Verdict.RELAY),
        (550, "5.1.8 sender domain does not resolve", RCPT, Verdict.RELAY),
        (500, "5.3.0 Error: command failed", RCPT, Verdict.RELAY),
        (554, "5.5.1 no valid recipients", RCPT, Verdict.RELAY),
        (552, "5.2.3 message too large", DATA, Verdict.RELAY),
        (550, "5.0.0 relay not permitted", RCPT, Verdict.RELAY),  # x.0.0 says nothing: the text decides
        (530, "Authentication required", RCPT, Verdict.RELAY),
        (554, "rejected", DATA, Verdict.RELAY),  # after DATA the shared content is the likelier cause
        (554, "Message refused as spam", DATA, Verdict.RELAY),
        (550, "Mailbox unavailable: blocked for spam", RCPT, Verdict.RELAY),  # both named: never suppress
        (553, "sender rejected", MAIL, Verdict.RELAY),
        (550, "5.1.1 user unknown", MAIL, Verdict.RELAY),  # nobody named yet at MAIL
        (552, "5.2.2 mailbox full", RCPT, Verdict.TRANSIENT),
        (550, "4.2.0 try later", RCPT, Verdict.TRANSIENT),  # contradictory: never suppress
        (451, "4.7.1 greylisted", RCPT, Verdict.TRANSIENT),
        (None, "connection lost", DATA, Verdict.TRANSIENT),
    ],
)
def test_classify(code, text, phase, want):
    assert classify(code, text, phase) is want


def test_reply_shape_ignores_the_address_and_spacing():
    a = reply_shape(550, "5.1.1 <Reader1@Example.org>: Recipient address rejected:  User unknown")
    b = reply_shape(550, "5.1.1 <reader2@example.org>: recipient address rejected: user unknown")
    assert a == b and "example" not in a
    assert reply_shape(550, "5.1.1 x@y.org unknown") != reply_shape(551, "5.1.1 x@y.org unknown")
