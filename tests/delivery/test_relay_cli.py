"""``wildmail relay status`` and ``resume`` through the real CLI."""

from datetime import timedelta

import pytest

from delivery import ratelimit
from tests.delivery.test_cli import run

pytestmark = pytest.mark.postgres


def test_status_shows_the_alert_and_resume_lifts_it(ctx, settings, backend):
    assert "no relay used yet" in run(settings, "relay", "status").output
    year = timedelta(days=365)  # the CLI reads the real clock: a pause that is surely still on
    until = ratelimit.pause(
        ctx, "relay.example:587", "relay refused at rcpt: 554 5.7.1 Relay access denied", year, year
    )
    shown = run(settings, "relay", "status")
    assert shown.exit_code == 0, shown.output
    assert "relay.example:587" in shown.output and "paused" in shown.output
    assert "Relay access denied" in shown.output and until.date().isoformat() in shown.output
    resumed = run(settings, "relay", "resume", "relay.example:587")
    assert resumed.exit_code == 0 and "resumed" in resumed.output
    after = run(settings, "relay", "status")
    assert "sending" in after.output and "Relay access denied" not in after.output
    missing = run(settings, "relay", "resume", "nowhere:25")
    assert missing.exit_code == 2 and "known relays: relay.example:587" in missing.output
