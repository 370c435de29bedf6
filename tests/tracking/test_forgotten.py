"""After ``forget`` the person's old links still work, but record nothing about them."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from subscribers.models import Subscriber
from subscribers.privacy import forget
from tests.tracking.conftest import BROWSER_UA, flush
from wildmail.core.db import write_transaction

UA = {"User-Agent": BROWSER_UA}


@pytest.mark.postgres
def test_a_forgotten_persons_pixel_and_clicks_record_no_events(client, world, engine, clock):
    with write_transaction(engine) as s:
        person = s.scalars(select(Subscriber).where(Subscriber.id == world.subscribers[0])).one()
        forget(s, person, clock.now())
    clock.advance(minutes=1)

    pixel = client.get(world.open_path(0), headers=UA)
    assert pixel.status_code == 200 and pixel.headers["content-type"] == "image/gif"
    for link in ("content", "donation"):
        click = client.get(world.click_path(link, 0), headers=UA, follow_redirects=False)
        assert click.status_code == 302 and click.headers["location"].startswith("https://")
    # the other reader is tracked as before (the writer is working)
    client.get(world.open_path(1), headers=UA)
    client.get(world.click_path("content", 1), headers=UA, follow_redirects=False)
    flush(client)

    assert world.events(delivery_id=world.deliveries[0]) == []
    assert {(e.kind, e.implied) for e in world.events(delivery_id=world.deliveries[1])} == {
        ("open", False),
        ("click", False),
    }
    with engine.connect() as conn:
        flags = dict(conn.exec_driver_sql("SELECT subscriber_id, donation_clicked FROM enrolments").all())
    assert not flags[world.subscribers[0]]
