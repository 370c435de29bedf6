"""File transport for dry runs: each message becomes an ``.eml`` file in a folder."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from delivery.transport import Envelope, LeaseLost

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def eml_name(message_id: str, recipient: str) -> str:
    """A safe file name for one message."""
    stem = _UNSAFE.sub("_", message_id.strip("<>") or recipient)
    return f"{stem[:180]}.eml"


@dataclass
class FileTransport:
    """Writes messages into ``folder`` instead of sending them (atomically, via rename)."""

    folder: Path
    name: str = "file"

    def __post_init__(self) -> None:
        self.folder = Path(self.folder)
        self.folder.mkdir(parents=True, exist_ok=True)

    def send(self, envelope: Envelope, before_data: Callable[[], bool]) -> str:
        """Write the message; see :class:`delivery.transport.Transport`."""
        if not before_data():
            raise LeaseLost(envelope.message_id)
        target = self.folder / eml_name(envelope.message_id, envelope.recipient)
        tmp = target.with_suffix(".tmp")
        tmp.write_bytes(envelope.data)
        tmp.replace(target)
        return f"250 written {target.name}"

    def close(self) -> None:
        """Nothing to release."""
