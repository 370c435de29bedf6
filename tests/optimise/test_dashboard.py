"""The email's "subject test and resend" page over HTTP: forms behind CSRF and roles, mistakes
shown with what was typed, the figures per variant once deliveries went out."""

from __future__ import annotations

from tests.dashboard.conftest import fast_hashing, log_in, post_form, users  # noqa: F401 - fixtures
from tests.optimise.conftest import Series, start

PAGE = "/dashboard/campaigns/leopard/emails/1/tuning"


def test_a_marketer_starts_a_test_and_sets_a_resend(series: Series, users) -> None:  # noqa: F811
    client = series.client
    log_in(client, users["marketer"])
    page = client.get(PAGE)
    assert page.status_code == 200 and "Start the test" in page.text
    refused = client.post(
        f"{PAGE.removesuffix('/tuning')}/subject-test", data={"subject_1": "A", "subject_2": "B"}
    )
    assert refused.status_code == 403  # no CSRF token
    one = post_form(
        client, PAGE, "/dashboard/campaigns/leopard/emails/1/subject-test", {"subject_1": "Only one"}
    )
    assert one.status_code == 400 and "give 2 to 4 variants (got 1)" in one.text
    assert 'value="Only one"' in one.text  # what was typed is kept
    form = {
        "subject_1": "Meet the Amur leopard",
        "preheader_1": "Eighty-four left",
        "subject_2": "Only 84 leopards <left>",
        "criterion": "human_clicks",
        "confidence": "0.9",
        "max_sample": "400",
    }
    made = post_form(client, PAGE, "/dashboard/campaigns/leopard/emails/1/subject-test", form)
    assert made.status_code == 303
    start(series, 8)
    series.run()
    shown = client.get(PAGE).text
    assert 'data-verdict="running"' in shown and "Only 84 leopards &lt;left&gt;" in shown  # escaped
    assert "counted on human clicks, confidence 90 %" in shown
    saved = post_form(
        client,
        PAGE,
        "/dashboard/campaigns/leopard/emails/1/resend",
        {"resend_subject": "In case you missed it", "after_days": "3"},
    )
    assert saved.status_code == 303
    assert (
        "After 3 days with <strong>In case you missed it</strong>: 0 resent of 8 sent"
        in client.get(PAGE).text
    )
    late = post_form(
        client,
        PAGE,
        "/dashboard/campaigns/leopard/emails/1/resend",
        {"resend_subject": "X", "after_days": "9"},
    )
    assert late.status_code == 400 and "shorter than the series&#39; cadence" in late.text
    stopped = post_form(
        client, PAGE, "/dashboard/campaigns/leopard/emails/1/subject-test/stop", {"winner": "2"}
    )
    assert stopped.status_code == 303 and 'data-verdict="stopped"' in client.get(PAGE).text


def test_staff_can_not_change_tests(series: Series, users) -> None:  # noqa: F811
    log_in(series.client, users["staff"])
    assert series.client.get(PAGE).status_code == 403
