"""The dashboard's campaign page, overview, CSV export and offline report show attributed donations."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

from donations.intake import Attribution, checked, record_committed
from tests.dashboard.conftest import fast_hashing, log_in, users  # noqa: F401 (fixtures)
from tests.tracking.conftest import make_world
from tracking.click_ids import click_id


def test_campaign_page_overview_and_exports_show_the_money(client, users, ctx, engine, settings, clock):  # noqa: F811
    world = make_world(engine, settings.secret, clock.now(), recipients=2)
    attribution = Attribution.from_settings(settings)
    for ext, amount, code, i in (("a", 2500, "EUR", 0), ("b", 1000, "GBP", 1)):
        cid = click_id(settings.secret, world.deliveries[i], world.links["donation"])
        item = checked(
            source="test",
            external_id=ext,
            amount=amount,
            currency_code=code,
            donated_at=clock.now(),
            wm_cid=cid,
        )
        record_committed(engine, item, attribution, clock.now())
    clock.advance(hours=1)
    log_in(client, users["staff"])
    page = client.get("/dashboard/campaigns/leopards").text
    section = page[page.index('id="donations-h"') : page.index("Over time")]
    assert "25.00 EUR, 10.00 GBP" in section and "12500.00 EUR, 5000.00 GBP" in section  # per 1,000 of 2
    assert client.get("/dashboard").text.count("25.00 EUR, 10.00 GBP") == 1
    rows = list(csv.DictReader(io.StringIO(client.get("/dashboard/campaigns/leopards/export.csv").text)))
    assert (rows[-1]["raised_EUR"], rows[-1]["raised_GBP"], rows[-1]["donations"]) == ("25.00", "10.00", "2")
    report = client.get("/dashboard/campaigns/leopards/report.html").text
    assert "<h2>Donations</h2>" in report and "25.00 EUR, 10.00 GBP" in report


def test_no_donations_yet_says_where_they_come_from(client, users, engine, settings, clock):  # noqa: F811
    make_world(engine, settings.secret, clock.now() - timedelta(hours=1), recipients=1)
    log_in(client, users["staff"])
    page = client.get("/dashboard/campaigns/leopards").text
    assert "No donations attributed yet" in page and "wildmail donations import" in page
