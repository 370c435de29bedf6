"""The RSS 2.0 feed of a public campaign (``/archive/<slug>/feed.xml``).

Written with the standard library's ElementTree, which escapes every text and attribute. Links
are absolute (``base_url``); each item's ``guid`` is a tag URI (RFC 4151) of the email's id, so
it stays the same when a subject or title is edited and the page's clean URL changes with it.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import datetime
from email.utils import format_datetime
from urllib.parse import urlsplit

from delivery.archive import ArchiveEmail, PublicCampaign

ATOM = "http://www.w3.org/2005/Atom"


def campaign_url(base_url: str, campaign: PublicCampaign) -> str:
    """The absolute address of a campaign's archive page."""
    return f"{base_url.rstrip('/')}/archive/{campaign.slug}/"


def email_url(base_url: str, campaign: PublicCampaign, email: ArchiveEmail) -> str:
    """The absolute address of an email's archive page."""
    return f"{campaign_url(base_url, campaign)}{email.stem}"


def guid(base_url: str, campaign: PublicCampaign, email: ArchiveEmail) -> str:
    """``tag:<host>,<campaign's creation day>:wildmail/email/<id>``: never changes for an email."""
    host = urlsplit(base_url).hostname or "localhost"
    return f"tag:{host},{campaign.created_at.date().isoformat()}:wildmail/email/{email.id}"


def item_date(campaign: PublicCampaign, email: ArchiveEmail) -> datetime:
    """When the email was published (first sent); an unsent one listed by choice: the campaign's creation."""
    return email.published_at or campaign.created_at


def rss(base_url: str, campaign: PublicCampaign, description: str) -> bytes:
    """The feed's bytes (UTF-8, with the XML declaration); newest email first."""
    ET.register_namespace("atom", ATOM)
    root = ET.Element("rss", {"version": "2.0"})
    channel = ET.SubElement(root, "channel")
    ET.SubElement(channel, "title").text = campaign.title
    ET.SubElement(channel, "link").text = campaign_url(base_url, campaign)
    ET.SubElement(channel, "description").text = description or campaign.title
    self_url = f"{campaign_url(base_url, campaign)}feed.xml"
    ET.SubElement(
        channel, f"{{{ATOM}}}link", {"href": self_url, "rel": "self", "type": "application/rss+xml"}
    )
    emails = sorted(campaign.emails, key=lambda e: (item_date(campaign, e), e.position), reverse=True)
    if emails:
        ET.SubElement(channel, "lastBuildDate").text = format_datetime(item_date(campaign, emails[0]))
    for email in emails:
        item = ET.SubElement(channel, "item")
        ET.SubElement(item, "title").text = email.subject
        ET.SubElement(item, "link").text = email_url(base_url, campaign, email)
        ET.SubElement(item, "guid", {"isPermaLink": "false"}).text = guid(base_url, campaign, email)
        ET.SubElement(item, "pubDate").text = format_datetime(item_date(campaign, email))
        if email.preheader:
            ET.SubElement(item, "description").text = email.preheader
    out: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return out
