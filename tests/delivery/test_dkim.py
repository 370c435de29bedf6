"""Our DKIM signer against dkimpy, an independent implementation, on generated messages."""

from __future__ import annotations

import base64
import re
from email.header import Header

import dkim
import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from dkim.canonicalization import Relaxed
from hypothesis import given, settings
from hypothesis import strategies as st

from delivery.dkim import DkimKey, DkimSigner, dns_record, relaxed_body, relaxed_header, split_message

DOMAIN = "mail.wildmail.test"
RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
ED_KEY = ed25519.Ed25519PrivateKey.generate()
RECORDS = {f"rs1._domainkey.{DOMAIN}.": dns_record(RSA_KEY), f"ed1._domainkey.{DOMAIN}.": dns_record(ED_KEY)}
SIGNER = DkimSigner([DkimKey("rs1", DOMAIN, RSA_KEY), DkimKey("ed1", DOMAIN, ED_KEY)])


def dns(name: bytes, timeout: int = 5) -> bytes:
    return RECORDS.get(name.decode(), "").encode()


def tags(data: bytes, idx: int = 0) -> dict[str, str]:
    """The tags of the ``idx``-th DKIM-Signature (whitespace removed)."""
    fields, _body = split_message(data)
    values = [v for n, v in fields if n.lower() == b"dkim-signature"]
    text = re.sub(rb"\s+", b"", values[idx]).decode()
    return dict(part.split("=", 1) for part in text.split(";") if part)


def verify_all(data: bytes) -> bool:
    """Both signatures verify (dkimpy checks one signature per call)."""
    checker = dkim.DKIM(data)
    return all(checker.verify(idx=i, dnsfunc=dns) for i in range(2))


WSP = st.sampled_from([" ", "  ", "\t", " \t "])
WORD = st.text(
    st.characters(min_codepoint=33, max_codepoint=126, exclude_characters=":"), min_size=1, max_size=12
)
PHRASE = st.lists(st.tuples(WORD, WSP), min_size=1, max_size=30).map(lambda ws: "".join(w + s for w, s in ws))
BODY_LINE = st.one_of(
    st.just(""),
    PHRASE,
    st.text(st.characters(min_codepoint=32, max_codepoint=126), min_size=200, max_size=990),  # long lines
    st.lists(WSP, min_size=1, max_size=3).map("".join),  # whitespace only
)


def folded(value: str) -> str:
    """``value`` with some spaces turned into folds (CRLF + the same space)."""
    return re.sub(r"(\S)( |\t)(?=\S)", lambda m: m.group(1) + "\r\n" + m.group(2), value, count=3)


@st.composite
def messages(draw: st.DrawFn) -> bytes:
    subject = draw(st.one_of(PHRASE, st.text(min_size=1, max_size=60)))
    if subject.isascii() and "\r" not in subject and "\n" not in subject:
        subject_value = draw(st.sampled_from([subject, folded(subject)])) + draw(
            st.sampled_from(["", " ", "\t "])
        )
    else:  # non-ASCII: RFC 2047, folded by the encoder
        subject_value = Header(subject, "utf-8", header_name="Subject").encode(linesep="\r\n")
    headers = [
        ("From", "Wildlife Fund <news@wildmail.test>"),
        (
            "To",
            Header(draw(st.text(min_size=1, max_size=30)), "utf-8").encode(linesep="\r\n")
            + " <a@example.org>",
        ),
        ("Subject", subject_value),
        ("Date", "Mon, 05 Jan 2026 09:00:00 +0000"),
        ("Message-ID", "<m.1@wildmail.test>"),
        ("MIME-Version", "1.0"),
        ("Content-Type", folded('text/plain;  charset="utf-8"')),
        ("X-Extra", draw(PHRASE)),  # not signed: may change in transit
    ]
    if draw(st.booleans()):
        headers.append(("List-Unsubscribe", "<https://mail.example.org/u/abc>,\r\n <mailto:u@wildmail.test>"))
        headers.append(("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"))
    if draw(st.booleans()):
        headers.append(("Reply-To", "desk@wildmail.test"))
    order = draw(st.permutations(headers))
    spacing = draw(st.sampled_from([" ", "", "\t", "  "]))
    head = "".join(f"{name}:{spacing}{value}\r\n" for name, value in order)
    lines = draw(st.lists(BODY_LINE, max_size=25))
    trailing = draw(st.sampled_from(["", "\r\n", "\r\n\r\n\r\n", " \r\n\t\r\n"]))
    body = "\r\n".join(lines) + ("\r\n" if lines else "") + trailing
    return head.encode() + b"\r\n" + body.encode()


@settings(max_examples=200, deadline=None)
@given(message=messages())
def test_signatures_verify_with_dkimpy(message):
    data = SIGNER.sign(message) + message
    assert verify_all(data)
    assert tags(data, 0)["a"] == "rsa-sha256" and tags(data, 1)["a"] == "ed25519-sha256"
    assert tags(data, 0)["c"] == "relaxed/relaxed"


@settings(max_examples=300, deadline=None)
@given(message=messages())
def test_canonical_forms_equal_dkimpys(message):
    fields, body = split_message(message)
    assert relaxed_body(body) == Relaxed.canonicalize_body(body)
    ours = b"".join(relaxed_header(n, v) for n, v in fields)
    theirs = b"".join(n + b":" + v for n, v in Relaxed.canonicalize_headers(fields))
    assert ours == theirs


@pytest.mark.parametrize("body", [b"", b"\r\n", b"\r\n\r\n", b"a", b"a \t b  \r\n\r\n \r\n", b"x\r\n\t"])
def test_edge_bodies_equal_dkimpys(body):
    assert relaxed_body(body) == Relaxed.canonicalize_body(body)


def test_h_lists_present_headers_and_oversigns_the_four():
    message = (
        b"From: a@wildmail.test\r\nTo: b@example.org\r\nSubject: Hi\r\n"
        b"Date: Mon, 05 Jan 2026 09:00:00 +0000\r\nMessage-ID: <x@y>\r\nMIME-Version: 1.0\r\n"
        b"Content-Type: text/plain\r\nList-Id: <l.wildmail.test>\r\n"
        b"List-Unsubscribe: <https://x/u>\r\nList-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n"
        b"Feedback-ID: 1:main:wf:wildmail\r\nReply-To: r@wildmail.test\r\nX-Other: 1\r\n\r\nbody\r\n"
    )
    data = SIGNER.sign(message) + message
    names = [n.lower() for n in tags(data)["h"].split(":")]
    for name in ("from", "subject", "list-unsubscribe", "list-unsubscribe-post"):
        assert names.count(name) == 2
    for name in (
        "to",
        "date",
        "message-id",
        "mime-version",
        "content-type",
        "list-id",
        "feedback-id",
        "reply-to",
    ):
        assert names.count(name) == 1
    assert "x-other" not in names
    assert verify_all(data)
    # a second Subject (or a first List-Unsubscribe where there was none) breaks the signature
    assert not dkim.verify(b"Subject: Other\r\n" + data, dnsfunc=dns)
    bare = b"From: a@wildmail.test\r\nSubject: Hi\r\n\r\nbody\r\n"
    signed = SIGNER.sign(bare) + bare
    assert dkim.verify(signed, dnsfunc=dns)
    assert not dkim.verify(
        signed.replace(b"\r\n\r\n", b"\r\nList-Unsubscribe: <https://evil/u>\r\n\r\n", 1), dnsfunc=dns
    )


def test_signature_lines_stay_short_and_never_start_with_a_dot():
    message = b"From: a@wildmail.test\r\nSubject: Hi\r\n\r\n.body\r\n"
    header = SIGNER.sign(message)
    lines = header.split(b"\r\n")[:-1]
    assert all(len(line) <= 78 for line in lines)
    assert all(not line.startswith(b".") for line in lines)


def test_the_dns_record_publishes_the_public_key():
    value = dns_record(RSA_KEY)
    assert value.startswith("v=DKIM1; k=rsa; p=")
    assert base64.b64decode(value.split("p=")[1])
    assert dns_record(ED_KEY).startswith("v=DKIM1; k=ed25519; p=")
    assert len(base64.b64decode(dns_record(ED_KEY).split("p=")[1])) == 32
