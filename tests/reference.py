"""Reference implementations that tests compare production code against (the product never uses them).

Written the plain way, from the description rather than from the production code: a regular
expression substitution instead of precomputed segments, URLs signed one by one.
"""

from __future__ import annotations

import html
from collections.abc import Mapping

from campaigns.compiled import PLACEHOLDER, CompiledEmail
from delivery.message import NAME_FALLBACK, MessageTemplate
from wildmail.core import tokens


def fill(template: str, values: Mapping[str, str]) -> str:
    """``template`` with every ``%%WM_<NAME>%%`` replaced by ``values[NAME]``."""
    return PLACEHOLDER.sub(lambda match: values[match.group(1)], template)


def personalised(
    compiled: CompiledEmail, values: Mapping[str, str], ask_donation: bool = True
) -> tuple[str, str]:
    """(html, text) one recipient reads: values HTML-escaped in the HTML part only."""
    html_source, text_source = compiled.parts(ask_donation)
    escaped = {name: html.escape(value, quote=True) for name, value in values.items()}
    return fill(html_source, escaped), fill(text_source, values)


def recipient_values(template: MessageTemplate, delivery_id: int, name: str) -> dict[str, str]:
    """The placeholder values of one delivery: name (or the greeting fallback), signed URLs."""
    base, key = template.sender.base_url, template.sender.secret
    values = {
        "NAME": name or NAME_FALLBACK,
        "OPEN_URL": tokens.open_url(base, key, delivery_id),
        "UNSUBSCRIBE_URL": tokens.unsubscribe_url(base, key, delivery_id),
    }
    for link in template.links:
        values[f"LINK_{link.position}"] = tokens.click_url(base, key, delivery_id, link.id)
    return values
