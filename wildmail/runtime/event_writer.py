"""The event writer's child process, wired like every other wildmail process (the outbox then
stores a donation click's event only when a webhook endpoint wants it); the work is
:func:`tracking.writer_process.main`'s."""

from __future__ import annotations

from tracking import writer_process
from wildmail.runtime.startup import wire_hooks


def main() -> None:
    """Entry point of ``python -m wildmail.runtime.event_writer``."""
    wire_hooks()
    writer_process.main()


if __name__ == "__main__":
    main()
