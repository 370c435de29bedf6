"""CSV import: good, bad, duplicate and suppressed rows; idempotence; rejects; file errors."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from subscribers import lifecycle
from subscribers.csv_import import ImportFileError, import_csv
from subscribers.models import ConsentEvent, ConsentSource, ListMembership, Subscriber, Suppression
from tests.subscribers.helpers import count, history, make_list

pytestmark = pytest.mark.postgres

GOOD = """email,name,timezone,locale,Country,Tier
ada@example.org,Ada,Europe/Berlin,en,ru,gold
BOB@Example.ORG,Bob,Not/AZone,de-DE,cn,
not-an-address,Broken,,,,
carol@example.org,Carol,,pt_BR,,silver
Ada@example.org,Ada Again,,,,
dan@example.org,Dan,,!!,,
eve@example.org,Eve,,,de,,extra

"""


@pytest.fixture
def session(engine):
    with Session(engine, expire_on_commit=False) as s:
        yield s


@pytest.fixture
def news(session, clock):
    lst = make_list(session, clock)
    session.commit()
    return lst


def write(tmp_path: Path, text: str, name: str = "people.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_good_bad_and_duplicate_rows(engine, session, news, clock, tmp_path) -> None:
    rejects = io.StringIO()
    seen: list[tuple[int, int, int | None]] = []
    report = import_csv(
        engine, write(tmp_path, GOOD), "news", at=clock.now(), rejects=rejects,
        progress=lambda *a: seen.append(a), chunk_size=2,
    )  # fmt: skip
    assert (report.rows, report.created, report.rejected, report.duplicates) == (7, 3, 4, 1)
    assert [(r.line, r.reason.split(":")[0]) for r in report.rejects] == [
        (4, "invalid email address"),
        (6, "duplicate"),
        (7, "locale '!!' is not a language tag like 'en' or 'pt-BR'"),
        (8, "row has 7 fields but the header has 6"),
    ]
    rows = list(csv.reader(io.StringIO(rejects.getvalue())))
    assert rows[0] == ["line", "reason", "email", "name", "timezone", "locale", "Country", "Tier"]
    assert [r[0] for r in rows[1:]] == ["3", "4", "6", "7", "8"] and rows[2][2] == "not-an-address"
    assert (
        rows[1][1]
        == "imported with a warning: unknown time zone 'Not/AZone' ignored; the campaign's time zone applies"
    )
    assert report.warned == 1 and [(w.line, w.reason[:17]) for w in report.warnings] == [
        (3, "unknown time zone")
    ]
    people = {s.email: s for s in session.scalars(select(Subscriber))}
    assert sorted(people) == ["ada@example.org", "bob@example.org", "carol@example.org"]
    ada, bob, carol = people["ada@example.org"], people["bob@example.org"], people["carol@example.org"]
    assert (ada.name, ada.timezone, ada.locale, ada.attributes) == (
        "Ada",
        "Europe/Berlin",
        "en",
        {"country": "ru", "tier": "gold"},
    )
    assert (bob.timezone, bob.locale, bob.attributes) == (None, "de-DE", {"country": "cn"})
    assert carol.locale == "pt-BR" and carol.status == "active" and carol.confirmed_at == clock.now()
    assert all(s.lists[0].slug == "news" for s in people.values())
    assert history(session, ada.id) == [(None, "active", "import")]
    assert seen and seen[-1][0] == 7 and seen[-1][1] == seen[-1][2]


def test_reimport_changes_nothing(engine, session, news, clock, tmp_path) -> None:
    path = write(tmp_path, GOOD)
    import_csv(engine, path, "news", at=clock.now())
    before = [
        (s.id, s.updated_at, s.attributes)
        for s in session.scalars(select(Subscriber).order_by(Subscriber.id))
    ]
    events = count(session, ConsentEvent)
    report = import_csv(engine, path, "news", at=clock.advance(days=1))
    assert (report.created, report.updated, report.activated, report.joined, report.unchanged) == (
        0,
        0,
        0,
        0,
        3,
    )
    session.expire_all()
    after = [
        (s.id, s.updated_at, s.attributes)
        for s in session.scalars(select(Subscriber).order_by(Subscriber.id))
    ]
    assert after == before and count(session, ConsentEvent) == events


def test_upsert_keeps_history_and_merges(engine, session, news, clock, tmp_path) -> None:
    import_csv(
        engine,
        write(tmp_path, "email,name,color\nada@example.org,Ada,green\n"),
        "news",
        status="pending",
        at=clock.now(),
    )
    ada = session.scalars(select(Subscriber)).one()
    assert ada.status == "pending"
    other = make_list(session, clock, "other")
    session.commit()
    text = "email,name,size,timezone\nADA@example.org,,large,Asia/Tokyo\n"
    report = import_csv(engine, write(tmp_path, text, "b.csv"), "other", at=clock.advance(hours=1))
    assert (report.updated, report.activated, report.joined) == (1, 1, 1)
    session.expire_all()
    ada = session.get(Subscriber, ada.id)
    assert (ada.name, ada.status, ada.timezone) == ("Ada", "active", "Asia/Tokyo")
    assert ada.attributes == {"color": "green", "size": "large"}
    assert sorted(lst.slug for lst in ada.lists) == ["news", "other"] and other.id
    assert history(session, ada.id) == [(None, "pending", "import"), ("pending", "active", "import")]


def test_never_reactivates_anyone_who_left(engine, session, news, clock, tmp_path) -> None:
    text = "email\n" + "".join(f"p{i}@example.org\n" for i in range(4))
    import_csv(engine, write(tmp_path, text), "news", status="pending", at=clock.now())
    subs = list(session.scalars(select(Subscriber).order_by(Subscriber.id)))
    at = clock.advance(hours=1)
    lifecycle.unsubscribe(session, subs[0], ConsentSource.ONE_CLICK, at)
    lifecycle.mark_bounced(session, subs[1], at)
    lifecycle.mark_complained(session, subs[2], at)
    lifecycle.suppress(session, "ghost@example.org", "forgotten", at)
    session.commit()
    report = import_csv(
        engine, write(tmp_path, text + "GHOST@example.org\n", "again.csv"), "news", at=clock.advance(hours=1)
    )
    assert (report.suppressed, report.activated, report.created) == (4, 1, 0)
    session.expire_all()
    assert [s.status for s in session.scalars(select(Subscriber).order_by(Subscriber.id))] == [
        "unsubscribed", "bounced", "complained", "active",
    ]  # fmt: skip
    assert lifecycle.find_subscriber(session, "ghost@example.org") is None


def test_dry_run_changes_nothing(engine, session, news, clock, tmp_path) -> None:
    report = import_csv(engine, write(tmp_path, GOOD), "news", dry_run=True, at=clock.now())
    assert report.dry_run and (report.created, report.rejected) == (3, 4)
    assert count(session, Subscriber) == 0 and count(session, ListMembership) == 0


def test_session_target_runs_in_callers_transaction(session, news, clock, tmp_path) -> None:
    report = import_csv(session, write(tmp_path, GOOD), "news", at=clock.now())
    assert report.created == 3 and count(session, Subscriber) == 3
    session.rollback()
    assert count(session, Subscriber) == 0


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty"),
        (b"name,phone\nAda,1\n", "no 'email' column"),
        (b"email,Email\nx@example.org,y@example.org\n", "appears twice"),
        (b"email,\xff\xfe\nok@example.org\n", "not UTF-8"),
    ],
)
def test_file_errors_name_the_file(engine, news, tmp_path, content, message) -> None:
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    with pytest.raises(ImportFileError, match=message) as info:
        import_csv(engine, path, "news")
    assert "bad.csv" in str(info.value)


def test_missing_file_and_unknown_list(engine, news, tmp_path) -> None:
    with pytest.raises(ImportFileError, match="cannot open"):
        import_csv(engine, tmp_path / "nope.csv", "news")
    with pytest.raises(lifecycle.UnknownList, match="news"):
        import_csv(engine, write(tmp_path, GOOD), "tigers")


def test_undecodable_row_is_rejected_and_the_rest_kept(engine, session, news, tmp_path) -> None:
    path = tmp_path / "latin1.csv"
    path.write_bytes(b"email,name\na@example.org,Jos\xe9\nb@example.org,Bo\n")
    rejects = io.StringIO()
    report = import_csv(engine, path, "news", rejects=rejects)
    assert report.created == 1 and [(r.line, r.reason[:9]) for r in report.rejects] == [(2, "not UTF-8")]
    assert "Jos\ufffd" in rejects.getvalue()


def test_bom_crlf_and_quoted_fields(engine, session, news, tmp_path) -> None:
    text = '\ufeffEmail,Name\r\n"ada@example.org","Lovelace, Ada"\r\n'
    report = import_csv(engine, write(tmp_path, text), "news")
    assert report.created == 1
    assert session.scalars(select(Subscriber.name)).one() == "Lovelace, Ada"
    assert count(session, Suppression) == 0


def test_database_error_in_writer_reaches_the_caller(engine, news, tmp_path, monkeypatch) -> None:
    from subscribers import bulk_sql

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(bulk_sql, "insert_new", broken)
    text = "email\n" + "".join(f"p{i}@example.org\n" for i in range(50))
    with pytest.raises(RuntimeError, match="disk full"):
        import_csv(engine, write(tmp_path, text), "news", chunk_size=5)


def test_a_broken_line_is_rejected_and_the_rows_around_it_kept(engine, session, news, tmp_path) -> None:
    old = csv.field_size_limit(20)  # a field over the limit is a broken CSV at that line
    try:
        big = tmp_path / "big.csv"
        big.write_text(
            "email\na@example.org\n" + "x" * 50 + "@example.org\nb@example.org\n", encoding="utf-8"
        )
        report = import_csv(engine, big, "news")
    finally:
        csv.field_size_limit(old)
    assert [(r.line, r.reason) for r in report.rejects] == [
        (3, "broken CSV (field larger than field limit (20))")
    ]
    assert sorted(session.scalars(select(Subscriber.email))) == ["a@example.org", "b@example.org"]
