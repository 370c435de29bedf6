"""The test relay for delivery tests: streamed (PIPELINING, as every real relay) unless a test asks
for the plain path with ``@pytest.mark.parametrize("smtp_server", [...], indirect=True)``."""

from collections.abc import Iterator

import pytest

from wildmail.runtime.smtp_sink import RecordingSMTPServer

BOTH_PATHS = pytest.mark.parametrize("smtp_server", ["streamed", "plain"], indirect=True)
"""Run a test against a relay with PIPELINING (streamed) and one without (one reply at a time)."""


@pytest.fixture
def smtp_server(request: pytest.FixtureRequest) -> Iterator[RecordingSMTPServer]:
    """A real SMTP server on a free loopback port; inject faults with fail/delay/drop."""
    path = getattr(request, "param", "streamed")
    server = RecordingSMTPServer(pipelining=path == "streamed").start()
    yield server
    server.stop()
