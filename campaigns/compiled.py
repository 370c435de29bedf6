"""The contract between rendering (once per email) and sending (once per recipient).

An email is compiled once into HTML and text holding placeholders ``%%WM_<NAME>%%``:
``WM_NAME`` (recipient's name or a greeting fallback), ``WM_OPEN_URL``, ``WM_UNSUBSCRIBE_URL``
and ``WM_LINK_<position>`` (click URL of the email's ``Link`` at that position).
:class:`CompiledEmail` splits both parts at the placeholders once, so personalising a
message is a join of precomputed segments: no template engine per recipient.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from campaigns.models import Email

PLACEHOLDER = re.compile(r"%%WM_([A-Z0-9_]+)%%")


class MissingField(KeyError):
    """A placeholder in the compiled email has no value for this recipient."""


@dataclass(frozen=True)
class Recipient:
    """The only per-recipient data that goes into a message body."""

    name: str
    open_url: str
    unsubscribe_url: str
    link_urls: Mapping[int, str] = field(default_factory=dict)

    def values(self) -> dict[str, str]:
        """Placeholder name -> raw (unescaped) value."""
        out = {"NAME": self.name, "OPEN_URL": self.open_url, "UNSUBSCRIBE_URL": self.unsubscribe_url}
        for position, url in self.link_urls.items():
            out[f"LINK_{position}"] = url
        return out


def _split(template: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Literal segments and the placeholder names between them (len(lits) = len(names) + 1)."""
    literals: list[str] = []
    names: list[str] = []
    last = 0
    for match in PLACEHOLDER.finditer(template):
        literals.append(template[last : match.start()])
        names.append(match.group(1))
        last = match.end()
    literals.append(template[last:])
    return tuple(literals), tuple(names)


def _join(literals: tuple[str, ...], names: tuple[str, ...], values: Mapping[str, str]) -> str:
    parts = [literals[0]]
    for name, literal in zip(names, literals[1:], strict=True):
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
    _html_split: tuple[tuple[str, ...], tuple[str, ...]] = field(init=False, repr=False, compare=False)
    _text_split: tuple[tuple[str, ...], tuple[str, ...]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_html_split", _split(self.html))
        object.__setattr__(self, "_text_split", _split(self.text))

    @property
    def placeholders(self) -> frozenset[str]:
        """Every placeholder name used in either part."""
        return frozenset(self._html_split[1]) | frozenset(self._text_split[1])

    def personalise(self, recipient: Recipient) -> tuple[str, str]:
        """(html, text) for one recipient; values are HTML-escaped in the HTML part only."""
        raw = recipient.values()
        escaped = {k: html.escape(v, quote=True) for k, v in raw.items()}
        html_out = _join(*self._html_split, escaped)
        text_out = _join(*self._text_split, raw)
        return html_out, text_out


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
