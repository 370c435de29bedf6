"""Quoted-printable splicing: encoded once per email, values spliced per recipient, exact round trip."""

import binascii

from hypothesis import given, settings
from hypothesis import strategies as st

from campaigns.compiled import CompiledEmail, Recipient, Template
from campaigns.preview import personalise
from delivery.qp_template import QPTemplate, crlf, encode_general, encode_piece
from tests.reference import personalised

# Literal template text never holds the placeholder marker itself (a stray "%%WM_" next to a
# placeholder would make a different placeholder; Hypothesis draws such strings from this file).
TEXT = st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=300).filter(
    lambda t: "%%" not in t
)
# Personal values never hold line breaks: the name is refused with CR/LF (delivery.message.clean,
# it also goes into the To header) and tracking URLs are base64url. Nor are they empty: an empty
# name becomes the greeting fallback and URLs always have a path. Templates may hold anything.
VALUE = st.text(
    alphabet=st.characters(blacklist_categories=["Cs"], blacklist_characters="\r\n"),
    min_size=1,
    max_size=300,
)
HOLES = st.sampled_from(["%%WM_NAME%%", "%%WM_OPEN_URL%%", "%%WM_UNSUBSCRIBE_URL%%", "%%WM_LINK_1%%"])


@settings(max_examples=300, deadline=None)
@given(parts=st.lists(st.tuples(TEXT, HOLES), max_size=6), tail=TEXT, name=VALUE, url=VALUE)
def test_splice_decodes_to_the_filled_template(parts, tail, name, url):
    template = "".join(a + b for a, b in parts) + tail
    compiled = CompiledEmail(1, 1, 1, "s", "", template, template)
    person = Recipient(name=name, open_url=url + "o", unsubscribe_url=url + "u", link_urls={1: url + "1"})
    want_html, want_text = personalised(compiled, person.values())
    assert personalise(compiled, person) == (want_html, want_text)  # the previews' text fill
    for escape, want in ((True, want_html), (False, want_text)):
        encoded = QPTemplate(Template.parse(template), escape=escape).render(person.values())
        lines = encoded.split(b"\r\n")
        assert lines[-1] == b""  # ends with a line break
        assert all(len(line) <= 76 for line in lines)
        assert b"\n" not in encoded.replace(b"\r\n", b"")
        decoded = binascii.a2b_qp(encoded).decode("utf-8")
        expected = crlf(want)
        if not expected.endswith("\r\n"):
            expected += "\r\n"
        assert decoded == expected


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), min_size=1, max_size=90))
def test_ascii_fast_path_encodes_like_the_general_path(value):
    assert encode_piece(value) == encode_general(value)
    assert encode_piece(value + "\u00e9") == encode_general(value + "\u00e9")
