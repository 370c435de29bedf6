"""Property tests: the email fast path agrees with email-validator; arbitrary CSVs never crash."""

from __future__ import annotations

import csv
import io
import string

import pytest
from email_validator import EmailNotValidError, validate_email
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from subscribers.addresses import InvalidValue, normalise_email, normalise_locale
from subscribers.csv_import import import_csv
from subscribers.lifecycle import get_list
from subscribers.models import Subscriber
from tests.subscribers.helpers import make_list

LOCAL = st.text(alphabet=string.ascii_letters + string.digits + "._+-'!#", min_size=1, max_size=20)
LABEL = st.text(alphabet=string.ascii_letters + string.digits + "-", min_size=1, max_size=12)
TLD = st.sampled_from(["org", "com", "de", "test", "local", "x", "c0m", "onion", "io", "xn--p1ai"])
ADDRESS = st.builds(
    lambda lo, labels, t: f"{lo}@{'.'.join(labels)}.{t}", LOCAL, st.lists(LABEL, min_size=1, max_size=3), TLD
)


@given(st.one_of(ADDRESS, st.text(max_size=40)))
@settings(max_examples=400, deadline=None)
def test_normalise_email_agrees_with_email_validator(raw: str) -> None:
    try:
        expected: str | None = validate_email(raw.strip(), check_deliverability=False).normalized.lower()
    except EmailNotValidError:
        expected = None
    try:
        got: str | None = normalise_email(raw)
    except InvalidValue:
        got = None
    assert got == expected


CELL = st.one_of(
    st.text(max_size=12),
    ADDRESS,
    st.sampled_from(["", "Europe/Berlin", "Nowhere/Zone", "en", "!!", "de-DE", '"', ",", "\n"]),
)


@given(rows=st.lists(st.lists(CELL, min_size=0, max_size=6), max_size=25))
@example(rows=[["0@0.A", "\n"]])  # a short row with a quoted line break
@example(rows=[["", "", "", "", "\n", ""], ["0@0.A"], ["\n"]])  # a long one, then a valid row
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_arbitrary_rows_never_crash_and_valid_rows_all_arrive(engine, clock, rows) -> None:
    with Session(engine) as s, s.begin():  # hypothesis reuses the database between examples
        s.execute(delete(Subscriber))
        if get_list(s, "news") is None:
            make_list(s, clock)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["email", "name", "timezone", "locale", "extra"])
    writer.writerows(rows)
    expected: set[str] = set()
    for fields in rows:
        if len(fields) > 5 or not any(f.strip() for f in fields):
            continue
        try:
            email = normalise_email(fields[0] if fields else "")
            name_ok = len(" ".join((fields[1] if len(fields) > 1 else "").split())) <= 200
            loc = fields[3].strip() if len(fields) > 3 else ""
            locale_ok = not loc or _locale_ok(loc)
        except InvalidValue:
            continue
        if name_ok and locale_ok:
            expected.add(email)
    buffer.seek(0)
    report = import_csv(engine, buffer, "news", at=clock.now())
    with Session(engine) as s:
        stored = set(s.scalars(select(Subscriber.email)))
    assert stored == expected
    assert report.created == len(expected)
    assert report.rows == report.created + report.rejected


def _locale_ok(text: str) -> bool:
    try:
        normalise_locale(text)
    except InvalidValue:
        return False
    return True


@pytest.mark.parametrize("raw", ["A@B.example", "ünï@exämple.org", "x@[127.0.0.1]", "a..b@example.org"])
def test_examples_against_email_validator(raw: str) -> None:
    try:
        expected: str | None = validate_email(raw, check_deliverability=False).normalized.lower()
    except EmailNotValidError:
        expected = None
    try:
        got: str | None = normalise_email(raw)
    except InvalidValue:
        got = None
    assert got == expected
