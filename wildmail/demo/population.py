"""Simulated subscribers: who they are and how their mail clients behave.

The mix follows published industry shapes rather than any one sender's data: roughly a third of
readers on Apple Mail (whose privacy proxy fetches every image at delivery), a third on Gmail (whose
image proxy fetches only when a person opens), the rest on desktop clients, and some on corporate
gateways whose link scanners follow every link within seconds of delivery.
"""

from __future__ import annotations

import csv
import random
from dataclasses import dataclass
from pathlib import Path

TIMEZONES = (
    "Europe/London",
    "Europe/Paris",
    "America/New_York",
    "America/Los_Angeles",
    "Asia/Tokyo",
    "Australia/Sydney",
    "Asia/Kolkata",
    "Pacific/Auckland",
)
FIRST_NAMES = (
    "Ana",
    "Bo",
    "Chen",
    "Dara",
    "Eli",
    "Femi",
    "Greta",
    "Hiro",
    "Ines",
    "Jonas",
    "Kira",
    "Luca",
    "Maya",
    "Nils",
    "Olga",
    "Pavel",
    "Quinn",
    "Rosa",
    "Sami",
    "Tara",
    "Uma",
    "Viktor",
    "Wen",
    "Yara",
)
DOMAINS = ("example.org", "example.net", "example.com", "mail.example", "corp.example")

CLIENTS = ("apple", "gmail", "desktop", "corporate")
BOUNCE_SHARE = 0.006  # addresses that no longer exist: hard bounces at RCPT
SCANNED_SHARE = 0.05  # readers behind a corporate gateway that scans every link
CLIENT_WEIGHTS = (0.35, 0.33, 0.22, 0.10)


@dataclass(frozen=True)
class Person:
    """One simulated subscriber and the habits of their mail client."""

    email: str
    name: str
    timezone: str
    client: str  # apple | gmail | desktop | corporate
    interest: float  # scales the chance of opening
    bounces: bool  # the address does not exist: the SMTP server answers 550


def make_population(count: int, rng: random.Random) -> list[Person]:
    """``count`` people with unique addresses, spread over several time zones."""
    people = []
    bouncing = set(rng.sample(range(count), max(1, round(count * BOUNCE_SHARE))))
    for i in range(count):
        first = rng.choice(FIRST_NAMES)
        domain = "corp.example" if rng.random() < SCANNED_SHARE else rng.choice(DOMAINS[:4])
        client = "corporate" if domain == "corp.example" else rng.choices(CLIENTS[:3], CLIENT_WEIGHTS[:3])[0]
        people.append(
            Person(
                email=f"{first.lower()}.{i:05d}@{domain}",
                name=first,
                timezone=rng.choice(TIMEZONES),
                client=client,
                interest=min(2.0, rng.lognormvariate(0, 0.6)),
                bounces=i in bouncing,
            )
        )
    return people


def write_csv(people: list[Person], path: Path) -> Path:
    """Write the people as an import CSV (email, name, timezone, client as an attribute)."""
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["email", "name", "timezone", "mail_client"])
        for p in people:
            w.writerow([p.email, p.name, p.timezone, p.client])
    return path
