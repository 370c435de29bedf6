"""Which endpoint URLs may be called: http(s) only, and no private network unless allowed (SSRF)."""

from __future__ import annotations

from urllib.parse import urlsplit

from wildmail.core.netguard import BlockedAddress, Unresolved, check_public_url


class WebhookError(ValueError):
    """A user mistake about an endpoint or a delivery (bad URL, unknown id, unknown event type)."""


def check_url(url: str) -> str:
    """``url`` when it is an absolute http(s) URL with a host and no credentials; WebhookError otherwise."""
    url = url.strip()
    if any(c.isspace() or ord(c) < 32 for c in url) or len(url) > 2000:
        raise WebhookError(f"{url!r} is not a URL (spaces, control characters, or over 2,000 characters)")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise WebhookError(f"{url!r} is not a URL") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise WebhookError(f"{url!r}: an endpoint must be an http:// or https:// URL with a host")
    if parts.username or parts.password:
        raise WebhookError(f"{url!r}: put no user name or password in the URL (the signature authenticates)")
    del port  # parsed only to reject a bad port early
    return url


def refuse_private(url: str, allow_private: bool, *, unresolved_ok: bool = False) -> None:
    """Raise WebhookError when the URL's host is (or resolves to) a private, loopback, link-local
    or otherwise non-public address and ``allow_private`` is off (:mod:`wildmail.core.netguard`
    decides). ``unresolved_ok``: a host that does not resolve yet passes (registration); it is
    checked again before every delivery."""
    if allow_private:
        return
    try:
        check_public_url(url)
    except Unresolved as exc:
        if not unresolved_ok:
            raise WebhookError(str(exc)) from None
    except BlockedAddress as exc:
        raise WebhookError(
            f"{exc}; set webhooks_allow_private = true to allow endpoints on your own network"
        ) from None
