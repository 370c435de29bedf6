"""The subscribe form's address and the HTML a charity pastes into its own site.

Every form of ours carries a CSRF token, which a form on another site cannot have; so the
embedded form asks for the address with a plain GET to ``/subscribe/<slug>``, which opens our
sign-up page with the address filled in, and the person confirms there (then by email on
double opt-in lists). Nothing is subscribed by the embedded form alone.
"""

from __future__ import annotations

from html import escape
from urllib.parse import quote


def form_url(base_url: str, slug: str) -> str:
    """The public sign-up page of a list."""
    return f"{base_url.rstrip('/')}/subscribe/{quote(slug)}"


def embed_html(base_url: str, slug: str, list_name: str) -> str:
    """A small HTML form to paste into another page (values escaped; no script, no style)."""
    url, field = escape(form_url(base_url, slug)), escape(f"wildmail-email-{slug}")
    return (
        f'<form method="get" action="{url}" target="_blank">\n'
        f'  <label for="{field}">Your email address</label>\n'
        f'  <input id="{field}" type="email" name="email" required autocomplete="email">\n'
        f'  <button type="submit">Subscribe to {escape(list_name)}</button>\n'
        "</form>\n"
    )
