"""Simulated subscribers: who they are and how their mail clients behave.

The mix follows published industry shapes rather than any one sender's data: roughly a third of
readers on Apple Mail (whose privacy proxy fetches every image at delivery), a third on Gmail (whose
image proxy fetches only when a person opens), the rest on desktop clients, and some on corporate
gateways whose link scanners follow every link within seconds of delivery.
"""

from __future__ import annotations

import csv
import random
from dataclasses import dataclass, replace
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
# What comes back later, by mail to the return path (see wildmail.demo.mailback): a mailbox closed
# behind an accepting gateway (a DSN hours later), a mailbox that is always full (soft bounces),
# and people who press "report spam" (a feedback report).
LATE_HARD_SHARE = 0.006
SOFT_SHARE = 0.008
COMPLAINT_SHARE = 0.0015  # under the circuit breaker's 0.1% of sends (complaints come after email 2)
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
    late: str = ""  # "" | "hard" | "soft" | "complaint": what their mail system sends back later


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
    # Drawn with their own generator, so the people above (and the readers after) stay as they were.
    picker = random.Random(count)
    rest = [i for i in range(count) if i not in bouncing]
    shares = (("hard", LATE_HARD_SHARE), ("soft", SOFT_SHARE), ("complaint", COMPLAINT_SHARE))
    for late, share in shares:
        for i in picker.sample(rest, max(1, round(count * share))):
            if not people[i].late:
                people[i] = replace(people[i], late=late)
    return people


def write_csv(people: list[Person], path: Path) -> Path:
    """Write the people as an import CSV (email, name, timezone, client as an attribute)."""
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["email", "name", "timezone", "mail_client"])
        for p in people:
            w.writerow([p.email, p.name, p.timezone, p.client])
    return path
