"""MIME messages: headers, round trips through the stdlib parser, no header injection, DKIM."""

import base64
import re
import subprocess
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.utils import parsedate_to_datetime

import dkim
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from campaigns.compiled import CompiledEmail
from delivery.compose import preview_eml
from delivery.dkim import DkimKey, DkimSigner, dns_record
from delivery.message import HeaderInjection, LinkRef, MessageTemplate, Sender
from delivery.smtp_data import frame
from tests.delivery.factories import HTML, PADDING, TEXT, make_campaign
from tests.reference import personalised, recipient_values
from wildmail.core import tokens

NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
SECRET = b"k" * 32


def sender(**kw):
    return Sender(
        address="news@wildmail.test",
        name="Wildlife Fund",
        base_url="https://mail.example.org",
        secret=SECRET,
        **kw,
    )


def template(subject="Part 1: the leopard's forest", **kw):
    compiled = CompiledEmail(
        email_id=7,
        campaign_id=3,
        position=1,
        subject=subject,
        preheader="",
        html=HTML.replace("{padding}", PADDING),
        text=TEXT,
    )
    return MessageTemplate(
        compiled,
        [LinkRef(41, 1), LinkRef(42, 2)],
        kw.pop("snd", None) or sender(),
        list_slug="leopard",
        list_title="Amur leopard",
        **kw,
    )


def parse(data: bytes):
    return message_from_bytes(data, policy=policy.default)


def test_headers_and_parts_round_trip():
    t = template()
    data = t.render(99, "<wm.3.1.5.abc@wildmail.test>", "ana@example.org", "Ana Lima", NOW)
    assert b"\n" not in data.replace(b"\r\n", b"")  # CRLF only
    assert max(len(line) for line in data.split(b"\r\n")) <= 998
    msg = parse(data)
    assert msg["From"].addresses[0].display_name == "Wildlife Fund"
    assert msg["To"].addresses[0].addr_spec == "ana@example.org"
    assert msg["To"].addresses[0].display_name == "Ana Lima"
    assert msg["Subject"] == "Part 1: the leopard's forest"
    assert msg["Message-ID"] == "<wm.3.1.5.abc@wildmail.test>"
    assert parsedate_to_datetime(msg["Date"]) == NOW
    assert "<leopard.wildmail.test>" in msg["List-Id"]
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    https, mailto = re.findall(r"<([^>]+)>", msg["List-Unsubscribe"])
    assert tokens.parse_unsubscribe(SECRET, https.rsplit("/u/", 1)[1]) == 99
    assert mailto == "mailto:unsubscribe@wildmail.test?subject=unsubscribe"
    assert msg.get_content_type() == "multipart/alternative"
    plain, html = msg.iter_parts()
    assert plain.get_content_type() == "text/plain" and html.get_content_type() == "text/html"
    want_html, want_text = personalised(t.compiled, recipient_values(t, 99, "Ana Lima"))
    assert html.get_content().replace("\r\n", "\n").rstrip("\n") == want_html
    assert plain.get_content().replace("\r\n", "\n").rstrip("\n") == want_text.rstrip("\n")
    clicks = re.findall(r'href="https://mail.example.org/c/([^"]+)"', html.get_content())
    assert [tokens.parse_click(SECRET, c) for c in clicks] == [(99, 41), (99, 42)]


def test_names_are_escaped_in_html_and_plain_in_text():
    data = template().render(1, "<m@x>", "a@example.org", 'Bo <b>"x"</b>', NOW)
    plain, html = parse(data).iter_parts()
    assert "Hello Bo &lt;b&gt;&quot;x&quot;&lt;/b&gt;," in html.get_content()
    assert 'Hello Bo <b>"x"</b>,' in plain.get_content()


NAMES = st.text(
    alphabet=st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp")), min_size=0, max_size=60
)


@settings(max_examples=150, deadline=None)
@given(name=NAMES, subject=NAMES.filter(lambda s: s.strip() != ""))
def test_unicode_names_and_subjects_round_trip(name, subject):
    data = template(subject=subject).render(5, "<m.5@wildmail.test>", "zoe@example.org", name, NOW)
    msg = parse(data)
    assert msg["To"].addresses[0].addr_spec == "zoe@example.org"
    assert msg["To"].addresses[0].display_name == " ".join(name.split())  # whitespace runs folded
    assert str(msg["Subject"]) == subject.strip()
    plain, _html = msg.iter_parts()
    assert f"Hello {name or 'friend'}," in plain.get_content()


@pytest.mark.parametrize(
    "field,value",
    [
        ("name", "Eve\r\nBcc: victim@example.org"),
        ("name", "Eve\nX: y"),
        ("address", "eve@example.org\r\nBcc: a@b.c"),
    ],
)
def test_header_injection_is_refused(field, value):
    kwargs = {"name": "Eve", "address": "eve@example.org", field: value}
    with pytest.raises(HeaderInjection):
        template().render(1, "<m@x>", kwargs["address"], kwargs["name"], NOW)


def test_injection_in_subject_or_sender_is_refused_when_building():
    with pytest.raises(HeaderInjection):
        template(subject="Hi\r\nBcc: x@example.org")
    with pytest.raises(HeaderInjection):
        template(snd=Sender(address="a@b.c", name="X\nY", base_url="https://x", secret=SECRET))


def rsa_key(pem: bytes) -> RSAPrivateKey:
    key = load_pem_private_key(pem, None)
    assert isinstance(key, RSAPrivateKey)
    return key


def _rsa_key(tmp_path):
    key = tmp_path / "dkim.pem"
    subprocess.run(["openssl", "genrsa", "-out", str(key), "2048"], check=True, capture_output=True)
    der = subprocess.run(
        ["openssl", "rsa", "-in", str(key), "-pubout", "-outform", "DER"], check=True, capture_output=True
    ).stdout
    return key.read_bytes(), base64.b64encode(der)


def test_dkim_signature_verifies_and_covers_list_unsubscribe(tmp_path):
    private, public = _rsa_key(tmp_path)
    t = template(snd=sender(dkim=DkimSigner([DkimKey("wm1", "wildmail.test", rsa_key(private))])))
    data = t.render(12, "<m.12@wildmail.test>", "ana@example.org", "Ana Lima", NOW)
    assert data.startswith(b"DKIM-Signature:")

    def dns(name, timeout=5):
        assert name == b"wm1._domainkey.wildmail.test."
        return b"v=DKIM1; k=rsa; p=" + public

    assert dkim.verify(data, dnsfunc=dns)
    signature = parse(data)["DKIM-Signature"]
    found = re.search(r"h=([^;]+)", re.sub(r"\s+", "", str(signature)))
    assert found is not None
    signed = {h.lower() for h in found.group(1).split(":")}
    assert {"list-unsubscribe", "list-unsubscribe-post", "from", "subject", "to"} <= signed
    tampered = data.replace(
        b"List-Unsubscribe-Post: List-Unsubscribe=One-Click", b"List-Unsubscribe-Post: nope"
    )
    assert not dkim.verify(tampered, dnsfunc=dns)


def test_preview_eml_from_the_database(ctx):
    c = make_campaign(ctx, emails=1)
    with ctx.session() as s:
        from campaigns.models import Email

        email_id = s.query(Email.id).filter_by(campaign_id=c.id).scalar()
    msg = parse(preview_eml(ctx, ctx.sender(), email_id, "preview@example.org", "Pat"))
    assert msg["To"].addresses[0].addr_spec == "preview@example.org"
    assert msg["Subject"] == "Part 1: the leopard's forest"
    assert "Hello Pat," in next(msg.iter_parts()).get_content()


def test_donors_message_leaves_out_the_ask_and_its_parts_are_built_once_on_demand():
    t = template()
    assert set(t._parts) == {True}  # the variant without the ask is prepared only when needed
    data = t.render(99, "<m@x>", "ana@example.org", "Ana Lima", NOW, ask_donation=False)
    again = t.render(98, "<m@x>", "bo@example.org", "Bo", NOW, ask_donation=False)
    assert set(t._parts) == {True, False}
    plain, html = parse(data).iter_parts()
    want_html, want_text = personalised(t.compiled, recipient_values(t, 99, "Ana Lima"), ask_donation=False)
    assert html.get_content().replace("\r\n", "\n").rstrip("\n") == want_html
    assert plain.get_content().replace("\r\n", "\n").rstrip("\n") == want_text.rstrip("\n")
    clicks = re.findall(r'href="https://mail.example.org/c/([^"]+)"', html.get_content())
    assert [tokens.parse_click(SECRET, c) for c in clicks] == [(99, 41)]
    assert "Donate" not in html.get_content() + plain.get_content()
    assert "Donate" in parse(t.render(99, "<m@x>", "a@example.org", "A", NOW)).as_string()
    assert b"Bo" in again


DOTTED_TEXT = (
    "Hello %%WM_NAME%%,\n.a line that starts with a dot\n..two\n.\nRead: %%WM_LINK_1%%\n%%WM_NAME%%\n"
)
DOTTED_HTML = (
    '<p>Hi %%WM_NAME%%</p>\n.dot <a href="%%WM_LINK_2%%">x</a>\n%%WM_NAME%%\n.\n<img src="%%WM_OPEN_URL%%">'
)


def _dotted_template(**kw):
    compiled = CompiledEmail(
        email_id=8,
        campaign_id=3,
        position=1,
        subject="Dots",
        preheader="",
        html=DOTTED_HTML,
        text=DOTTED_TEXT,
    )
    return MessageTemplate(
        compiled,
        [LinkRef(41, 1), LinkRef(42, 2)],
        kw.pop("snd", None) or sender(),
        list_slug="l",
        list_title="L",
    )


@settings(max_examples=150, deadline=None)
@given(name=NAMES | st.sampled_from([".", "..", ".Ana", ". .", "." * 80, ".é" * 50]))
def test_wire_form_is_the_dot_stuffed_message(name):
    """What the SMTP transport sends (stuffed per insert) equals stuffing the whole message."""
    for t in (template(), _dotted_template()):
        for ask in (True, False):
            data, wire = t.render_wire(
                9, "<m.9@wildmail.test>", "zoe@example.org", name, NOW, ask_donation=ask
            )
            assert data == t.render(9, "<m.9@wildmail.test>", "zoe@example.org", name, NOW, ask_donation=ask)
            assert wire == frame(data)


@settings(max_examples=200, deadline=None)
@given(
    lines=st.lists(st.text(alphabet=".a \r", max_size=6), max_size=6), tail=st.text(alphabet=".a", max_size=3)
)
def test_frame_doubles_each_leading_dot_and_ends_the_data(lines, tail):
    """Against the rule read line by line (RFC 5321 4.5.2), not against the same replace;
    an unterminated last line gets its CRLF."""
    data = "".join(f"{line}\r\n" for line in lines) + tail
    assume(data)
    complete = [*lines, tail] if tail else lines
    want = "".join(("." + line if line.startswith(".") else line) + "\r\n" for line in complete)
    assert frame(data.encode()) == want.encode() + b".\r\n"


def test_wire_form_with_dkim_is_the_dot_stuffed_signed_message(tmp_path):
    private, _public = _rsa_key(tmp_path)
    t = _dotted_template(snd=sender(dkim=DkimSigner([DkimKey("wm1", "wildmail.test", rsa_key(private))])))
    data, wire = t.render_wire(12, "<m.12@wildmail.test>", "ana@example.org", ".Ana", NOW)
    assert data.startswith(b"DKIM-Signature:")
    assert wire == frame(data)


ED_KEY = Ed25519PrivateKey.generate()
ED_RECORD = dns_record(ED_KEY).encode()
WHITESPACE_NAMES = st.lists(
    st.sampled_from(["Ana", "Lima", " ", "  ", "\t", "é", "x" * 40]), min_size=1, max_size=8
).map("".join)


@settings(max_examples=150, deadline=None)
@given(name=WHITESPACE_NAMES | NAMES, spaced=st.booleans())
def test_signed_bodies_verify_whichever_whitespace_the_name_and_template_hold(name, spaced):
    """The signer skips canonicalising bodies whose lines are already relaxed; names with runs of
    spaces or tabs, and templates with them, take the general path: dkimpy verifies both."""
    assume(name.strip())
    compiled = CompiledEmail(
        email_id=9,
        campaign_id=3,
        position=1,
        subject="Spaces",
        preheader="",
        html=HTML.replace("{padding}", PADDING),
        text=TEXT + ("\nTwo  spaces\tand a tab \n" if spaced else ""),
    )
    signer = DkimSigner([DkimKey("ed1", "wildmail.test", ED_KEY)])
    t = MessageTemplate(
        compiled, [LinkRef(41, 1), LinkRef(42, 2)], sender(dkim=signer), list_slug="l", list_title="L"
    )
    data = t.render(5, "<m.5@wildmail.test>", "ana@example.org", name, NOW)

    def dns(record, timeout=5):
        assert record == b"ed1._domainkey.wildmail.test."
        return b"v=DKIM1; k=ed25519; p=" + ED_RECORD.split(b"p=")[1]

    assert dkim.verify(data, dnsfunc=dns)
