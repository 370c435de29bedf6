"""Activation hook: lets campaigns enrol new subscribers without subscribers importing campaigns.

The composition root (:func:`wildmail.runtime.startup.wire_hooks`, called by ``open_context``)
registers ``campaigns.enrolment.enrol_on_activation`` with :func:`on_activated`; importing a module
registers nothing. A hook is called inside the caller's transaction whenever a subscriber
becomes an active member of a list: on confirmation, on single opt-in, and when an active
subscriber joins another list. CSV imports do not call hooks (a million calls would defeat the
bulk path); the campaign tick enrols imported active members itself.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy.orm import Session

from subscribers.models import Subscriber

ActivationHook = Callable[[Session, Subscriber, int, datetime], None]
"""``hook(session, subscriber, list_id, at)``."""

_hooks: list[ActivationHook] = []


def on_activated(hook: ActivationHook) -> ActivationHook:
    """Register ``hook`` (idempotent)."""
    if hook not in _hooks:
        _hooks.append(hook)
    return hook


def remove_hook(hook: ActivationHook) -> None:
    """Unregister ``hook`` if it is registered."""
    if hook in _hooks:
        _hooks.remove(hook)


def registered() -> tuple[ActivationHook, ...]:
    """The hooks registered so far, in order."""
    return tuple(_hooks)


def fire_activated(session: Session, subscriber: Subscriber, list_id: int, at: datetime) -> None:
    """Call every registered hook in registration order."""
    for hook in list(_hooks):
        hook(session, subscriber, list_id, at)
