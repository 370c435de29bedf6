"""The member list: keyset pages, address and name prefix search, list and status filters."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from subscribers import lifecycle, privacy
from subscribers.members import Cursor, SearchBy, full_scan_search, search_members
from subscribers.models import Subscriber

pytestmark = pytest.mark.postgres
NOW = datetime(2026, 1, 5, 9, tzinfo=UTC)
PEOPLE = [
    ("ana@example.org", "Ana Lima"),
    ("ana.lima@example.net", "ana maria"),
    ("anabel@example.org", "Anabel"),
    ("a-nb@example.org", "Émile Zola"),
    ("bo@example.org", "Bo"),
    ("carla@example.org", "anatole"),
    ("anb@example.org", "ANNA"),
]


@pytest.fixture
def people(engine):
    with Session(engine) as s, s.begin():
        news = lifecycle.create_list(s, "news", at=NOW)
        other = lifecycle.create_list(s, "other", at=NOW)
        ids = {}
        for i, (email, name) in enumerate(PEOPLE):
            sub = Subscriber(email=email, name=name, status="active", created_at=NOW, updated_at=NOW)
            s.add(sub)
            s.flush()
            ids[email] = sub.id
            lifecycle.add_membership(s, sub, news.id if i % 2 == 0 else other.id, NOW)
        return ids, news.id


def _emails(page) -> list[str]:
    return [m.email for m in page.members]


def test_browsing_is_newest_first_in_keyset_pages(engine, people) -> None:
    ids, _ = people
    with Session(engine) as s:
        first = search_members(s, limit=3)
        assert _emails(first) == ["anb@example.org", "carla@example.org", "bo@example.org"]
        assert first.next_cursor == Cursor(ids["bo@example.org"])
        second = search_members(s, limit=3, after=first.next_cursor)
        third = search_members(s, limit=3, after=second.next_cursor)
    assert _emails(second) == ["a-nb@example.org", "anabel@example.org", "ana.lima@example.net"]
    assert _emails(third) == ["ana@example.org"] and third.next_cursor is None


def test_address_prefix_search_in_address_order_across_pages(engine, people) -> None:
    with Session(engine) as s:
        first = search_members(s, query="  ANA", limit=2)
        assert first.next_cursor is not None
        rest = search_members(s, query="ana", after=Cursor.decode(first.next_cursor.encode()), limit=2)
    # "a-nb@" and "anb@" do not start with "ana": byte order, whatever the database collation.
    assert _emails(first) == ["ana.lima@example.net", "ana@example.org"]
    assert _emails(rest) == ["anabel@example.org"] and rest.next_cursor is None


def test_name_prefix_search_ignores_ascii_case(engine, people) -> None:
    with Session(engine) as s:
        first = search_members(s, query="An", by=SearchBy.NAME, limit=3)
        rest = search_members(s, query="An", by=SearchBy.NAME, after=first.next_cursor, limit=3)
        accented = search_members(s, query="Ém", by=SearchBy.NAME)
    assert [m.name for m in first.members] == ["Ana Lima", "ana maria", "Anabel"]
    assert [m.name for m in rest.members] == ["anatole", "ANNA"]
    assert [m.name for m in accented.members] == ["Émile Zola"]


def test_list_and_status_filters(engine, people) -> None:
    ids, news = people
    with Session(engine) as s, s.begin():
        lifecycle.unsubscribe(s, ids["anabel@example.org"], "admin", NOW)
    with Session(engine) as s:
        members = search_members(s, list_id=news)
        searched = search_members(s, list_id=news, query="ana")
        gone = search_members(s, status="unsubscribed")
        active_news = search_members(s, list_id=news, status="active", limit=1)
    assert _emails(members) == ["anb@example.org", "bo@example.org", "anabel@example.org", "ana@example.org"]
    assert _emails(searched) == ["ana@example.org", "anabel@example.org"]
    assert _emails(gone) == ["anabel@example.org"]
    assert _emails(active_news) == ["anb@example.org"] and active_news.next_cursor is not None


def test_forgotten_people_are_not_listed(engine, people) -> None:
    ids, _ = people
    with Session(engine) as s, s.begin():
        bo = s.get(Subscriber, ids["bo@example.org"])
        assert bo is not None
        privacy.forget(s, bo, NOW)
    with Session(engine) as s:
        assert "bo@example.org" not in _emails(search_members(s))
        assert search_members(s, query="forgotten").members == []


def test_baseline_finds_the_same_rows(engine, people) -> None:
    with Session(engine) as s:
        indexed = [m.id for m in search_members(s, query="ana").members]
        assert full_scan_search(s, "ana") == indexed


@pytest.mark.parametrize("text_", ["", "x", "12x:a", "99999999999999999999:a"])
def test_malformed_cursor_means_first_page(text_) -> None:
    assert Cursor.decode(text_) is None


def test_searches_read_an_index(engine, people, backend) -> None:
    """The plan of each search names an index (SQLite's EXPLAIN QUERY PLAN; PostgreSQL's EXPLAIN
    with sequential scans disabled, as a million-row table would make the planner choose)."""
    queries = {
        "email": "SELECT id FROM subscribers WHERE email >= 'ana' AND email < 'ana\U0010ffff' "
        "ORDER BY email LIMIT 51",
        "name": "SELECT id FROM subscribers WHERE lower(name) >= 'an' AND lower(name) < 'an\U0010ffff' "
        "ORDER BY lower(name), id LIMIT 51",
    }
    with engine.connect() as conn:
        for kind, sql in queries.items():
            if backend == "sqlite":
                plan = " ".join(str(r[-1]) for r in conn.execute(text("EXPLAIN QUERY PLAN " + sql)))
            else:
                conn.execute(text("SET enable_seqscan = off"))
                plan = " ".join(str(r[0]) for r in conn.execute(text("EXPLAIN " + sql)))
            if backend == "sqlite":
                assert "INDEX" in plan and "TEMP B-TREE" not in plan, (kind, plan)
            else:
                assert "Index Scan" in plan and "Sort" not in plan.replace("Sort Key", ""), (kind, plan)


@pytest.mark.parametrize("by", [SearchBy.EMAIL, SearchBy.NAME])
def test_small_list_search_pages_like_the_index_search(engine, people, monkeypatch, by) -> None:
    """A list smaller than the prefix's matches is searched from its members: the same rows, order
    and cursors as the index path, page after page."""
    import subscribers.members as members_module

    _, news = people

    def pages(**kw) -> list[list[int]]:
        out, after = [], None
        with Session(engine) as s:
            while True:
                page = search_members(s, query="a", by=by, list_id=news, limit=1, after=after, **kw)
                out.append([m.id for m in page.members])
                if page.next_cursor is None:
                    return out
                after = page.next_cursor

    from_members = pages()
    monkeypatch.setattr(members_module, "MEMBER_SCAN", 0)  # every list counts as big: the index path
    from_index = pages()
    assert from_members == from_index and len(from_index) >= 2
    assert pages(status="unsubscribed") == [[]]


def test_filtered_search_checks_a_bounded_number_of_matches_per_page(engine, people, monkeypatch) -> None:
    """With a list filter on a big list (index path) and SCAN_CAP matches per page, a page that
    runs out of matches is partial and its cursor continues the search: nothing is skipped."""
    import subscribers.members as members_module

    _, news = people
    monkeypatch.setattr(members_module, "MEMBER_SCAN", 0)
    monkeypatch.setattr(members_module, "SCAN_CAP", 2)
    seen, partial, after = [], 0, None
    with Session(engine) as s:
        while True:
            page = search_members(s, query="a", list_id=news, limit=5, after=after)
            seen += _emails(page)
            partial += page.partial
            if page.next_cursor is None:
                break
            after = page.next_cursor
    # matches of "a" in address order: a-nb, ana.lima (both on the other list), ana, anabel, anb
    assert seen == ["ana@example.org", "anabel@example.org", "anb@example.org"]
    assert partial >= 2
