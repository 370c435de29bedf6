"""The application context: the store and the settings, built once per process by `startup`."""

from __future__ import annotations

from sqlalchemy import Engine

from delivery.message import Sender
from wildmail.core.clock import Clock, SystemClock
from wildmail.core.message_ids import MessageIdKey, sender_domain
from wildmail.core.settings import Settings
from wildmail.core.store import Store


class AppContext(Store):
    """What the shell (commands, worker processes, web requests) wires the domain from.

    It is a `Store` with the settings beside it: the domain takes the `Store` part and the
    configuration values it needs as explicit arguments, never the settings object through this.
    """

    def __init__(self, settings: Settings, engine: Engine, clock: Clock | None = None) -> None:
        super().__init__(engine, clock or SystemClock())
        self.settings = settings

    def sender(self) -> Sender:
        """The sender every message is built for (with its DKIM signer when a key is configured)."""
        return Sender.from_settings(self.settings)

    @property
    def message_ids(self) -> MessageIdKey:
        """The key the tick makes delivery Message-IDs with."""
        return MessageIdKey(self.settings.secret, sender_domain(self.settings.sender_address))
