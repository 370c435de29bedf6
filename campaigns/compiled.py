"""The contract between rendering (once per email) and sending (once per recipient).

An email is compiled once into HTML and text holding placeholders ``%%WM_<NAME>%%``:
``WM_NAME`` (recipient's name or a greeting fallback), ``WM_OPEN_URL``, ``WM_UNSUBSCRIBE_URL``,
``WM_VIEW_URL`` (the "view in your browser" page: the reader's own, or the email's for tests and
previews) and ``WM_LINK_<position>`` (click URL of the email's ``Link`` at that position).
The donation ask is wrapped in an optional block, ``<!--%%WM_IF_DONATION%%-->`` ...
``<!--%%WM_END_DONATION%%-->`` in HTML (comments survive MJML and CSS inlining) and marker
lines ``%%WM_IF_DONATION%%`` / ``%%WM_END_DONATION%%`` in text, so donors can be spared it.
:class:`CompiledEmail` cuts both variants (with and without the ask) at the placeholders
once, so personalising a message is a join of precomputed segments: no template engine
per recipient.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from campaigns.models import Email

PLACEHOLDER = re.compile(r"%%WM_([A-Z0-9_]+)%%")
DONATION_BEGIN_HTML = "<!--%%WM_IF_DONATION%%-->"
DONATION_END_HTML = "<!--%%WM_END_DONATION%%-->"
DONATION_BEGIN_TEXT = "%%WM_IF_DONATION%%"
DONATION_END_TEXT = "%%WM_END_DONATION%%"
DONATION_BLOCK = re.compile(  # HTML comments stay in the flow; text marker lines go entirely
    r"(?:<!--%%WM_IF_DONATION%%-->|%%WM_IF_DONATION%%\n?)(.*?)"
    r"(?:<!--%%WM_END_DONATION%%-->|%%WM_END_DONATION%%\n?)",
    re.S,
)
DONATION_MARKER = re.compile(r"%%WM_(?:IF|END)_DONATION%%")


class MissingField(KeyError):
    """A placeholder in the compiled email has no value for this recipient."""


@dataclass(frozen=True)
class Recipient:
    """The only per-recipient data that goes into a message body."""

    name: str
    open_url: str
    unsubscribe_url: str
    link_urls: Mapping[int, str] = field(default_factory=dict)
    ask_donation: bool = True
    view_url: str = ""

    def values(self) -> dict[str, str]:
        """Placeholder name -> raw (unescaped) value."""
        out = {
            "NAME": self.name,
            "OPEN_URL": self.open_url,
            "UNSUBSCRIBE_URL": self.unsubscribe_url,
            "VIEW_URL": self.view_url,
        }
        for position, url in self.link_urls.items():
            out[f"LINK_{position}"] = url
        return out


class UnbalancedBlock(ValueError):
    """A donation block marker has no partner (or blocks are nested)."""


def donation_variants(template: str) -> tuple[str, str]:
    """``template`` with the donation blocks kept (markers removed) and with them dropped."""
    if "%%WM_IF_DONATION%%" not in template and "%%WM_END_DONATION%%" not in template:
        return template, template
    kept = DONATION_BLOCK.sub(lambda m: m.group(1), template)
    dropped = DONATION_BLOCK.sub("", template)
    if DONATION_MARKER.search(kept) or DONATION_MARKER.search(dropped):
        raise UnbalancedBlock("donation block markers are unbalanced or nested")
    return kept, dropped


@dataclass(frozen=True)
class Template:
    """A part cut at its placeholders, once: ``literals[0], names[0], literals[1], ...`` (one
    more literal than names). The one placeholder template type: the worker QP-encodes its
    literals once (``delivery.qp_template``); previews fill it as text (:meth:`fill`)."""

    literals: tuple[str, ...]
    names: tuple[str, ...]

    @classmethod
    def parse(cls, text: str) -> Template:
        """``text`` cut at every ``%%WM_<NAME>%%``."""
        literals: list[str] = []
        names: list[str] = []
        last = 0
        for match in PLACEHOLDER.finditer(text):
            literals.append(text[last : match.start()])
            names.append(match.group(1))
            last = match.end()
        literals.append(text[last:])
        return cls(tuple(literals), tuple(names))

    def fill(self, values: Mapping[str, str]) -> str:
        """The text with each placeholder replaced by its value (:class:`MissingField` if none)."""
        parts = [self.literals[0]]
        for name, literal in zip(self.names, self.literals[1:], strict=True):
            try:
                parts.append(values[name])
            except KeyError:
                raise MissingField(name) from None
            parts.append(literal)
        return "".join(parts)


@dataclass(frozen=True)
class CompiledEmail:
    """One email's compiled HTML and text, ready to personalise many times."""

    email_id: int
    campaign_id: int
    position: int
    subject: str
    preheader: str
    html: str
    text: str
    _variants: dict[bool, tuple[str, str]] = field(init=False, repr=False, compare=False)
    _templates: dict[bool, tuple[Template, Template]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        html_ask, html_no_ask = donation_variants(self.html)
        text_ask, text_no_ask = donation_variants(self.text)
        variants = {True: (html_ask, text_ask), False: (html_no_ask, text_no_ask)}
        object.__setattr__(self, "_variants", variants)
        templates = {ask: (Template.parse(h), Template.parse(t)) for ask, (h, t) in variants.items()}
        object.__setattr__(self, "_templates", templates)

    @property
    def placeholders(self) -> frozenset[str]:
        """Every placeholder name used in either part (of the variant with the donation ask)."""
        html_template, text_template = self._templates[True]
        return frozenset(html_template.names) | frozenset(text_template.names)

    @property
    def has_donation_block(self) -> bool:
        """Whether the variant without the donation ask differs from the one with it."""
        return self._variants[True] != self._variants[False]

    def parts(self, ask_donation: bool = True) -> tuple[str, str]:
        """(html, text) of one variant: placeholders kept, block markers resolved."""
        return self._variants[ask_donation]

    def templates(self, ask_donation: bool = True) -> tuple[Template, Template]:
        """(html, text) of one variant as :class:`Template`, cut at the placeholders."""
        return self._templates[ask_donation]


class NotCompiled(ValueError):
    """The email has no compiled HTML yet (compile the campaign first)."""


def compiled_email(email: Email) -> CompiledEmail:
    """The :class:`CompiledEmail` of an ``Email`` row (its compiled HTML/text with placeholders).

    Link placeholders ``%%WM_LINK_<n>%%`` refer to ``email.links`` by ``Link.position``;
    build ``Recipient.link_urls`` as ``{link.position: click_url(link.id)}``.
    """
    if not email.compiled_html or not email.compiled_text:
        raise NotCompiled(f"email {email.position} of campaign {email.campaign_id} is not compiled")
    return CompiledEmail(
        email_id=email.id,
        campaign_id=email.campaign_id,
        position=email.position,
        subject=email.subject,
        preheader=email.preheader,
        html=email.compiled_html,
        text=email.compiled_text,
    )
