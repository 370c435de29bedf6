"""The design settings (logo_url, brand_colour, default_locale) are checked like every setting,
and reach the compiled email; a campaign's front matter overrides them."""

from __future__ import annotations

import pytest

from campaigns.article import parse_article_text
from campaigns.compiling import branding
from campaigns.models import Campaign
from campaigns.render import EmailContent, render_email
from wildmail.core.settings import Settings, SettingsError


@pytest.mark.parametrize(
    ("key", "value", "env"),
    [
        ("brand_colour", "green", "WILDMAIL_BRAND_COLOUR"),
        ("default_locale", "English please", "WILDMAIL_DEFAULT_LOCALE"),
        ("logo_url", "ftp://example.org/logo.png", "WILDMAIL_LOGO_URL"),
    ],
)
def test_bad_design_setting_names_the_setting(key, value, env):
    with pytest.raises(SettingsError, match=env):
        Settings().with_overrides(**{key: value})


def test_settings_and_front_matter_reach_the_email():
    settings = Settings().with_overrides(
        logo_url="https://example.org/logo.png", brand_colour="#123456", default_locale="fr"
    )
    campaign = Campaign(
        title="internal", article_title="Les loutres", locale="", logo_url="", brand_colour="",
        organisation="", hero_image="", article_metadata={}, images={}, template="",
        render_engine="css-inline", donation_url="https://give.example/", donation_text="Donner",
    )  # fmt: skip
    content = EmailContent(1, 1, "Titre", "Sujet", "", ["Un paragraphe."], 1, "text")
    html = render_email(content, branding(campaign, settings)).html
    assert '<html lang="fr"' in html and "#123456" in html.lower()
    assert 'src="https://example.org/logo.png"' in html and 'alt="Wildlife Fund"' in html
    campaign.brand_colour, campaign.locale, campaign.organisation = "#abcdef", "cy", "Otter Trust"
    html = render_email(content, branding(campaign, settings)).html
    assert '<html lang="cy"' in html and "#abcdef" in html.lower() and "#123456" not in html.lower()
    assert 'alt="Otter Trust"' in html and "\u201cLes loutres\u201d" in html


def test_front_matter_design_keys_are_checked():
    article = parse_article_text("---\nbrand_colour: '#8a4b2a'\nlocale: en-GB\n---\nText.\n", "a.md")
    assert article.options == {"brand_colour": "#8a4b2a", "locale": "en-GB"}
