"""Rollup tables the stats package maintains from ``events`` (created by migration 0005).

The figures are read from these small tables instead of scanning millions of events:

* ``stats_cursor``: how far (``events.id``) the rollup has consumed the event log.
* ``stats_marks``: one row per delivery that has any event, a bit set of what happened to it
  (human open, machine open, human click, donation click, unsubscribe, ...). A bit that flips
  from 0 to 1 adds one to the matching ``u_*`` (unique) total.
* ``stats_totals``: per campaign and email position, a count per metric name.
* ``stats_hourly``: per campaign, a count per metric and UTC hour (epoch hours).
* ``stats_links``: per link, a count per metric (top links).
"""

from __future__ import annotations

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from wildmail.core.db import Base


class StatsCursor(Base):
    """The last event id folded into the rollup tables."""

    __tablename__ = "stats_cursor"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    last_event_id: Mapped[int] = mapped_column(BigInteger, default=0)


class StatsMark(Base):
    """What has happened to one delivery so far, as bits (see ``stats.rollup``)."""

    __tablename__ = "stats_marks"

    delivery_id: Mapped[int] = mapped_column(
        ForeignKey("deliveries.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    marks: Mapped[int] = mapped_column(Integer, default=0)


class StatsTotal(Base):
    """A counter per (campaign, email position, metric)."""

    __tablename__ = "stats_totals"

    campaign_id: Mapped[int] = mapped_column(
        ForeignKey("campaigns.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    position: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    metric: Mapped[str] = mapped_column(String(32), primary_key=True)
    n: Mapped[int] = mapped_column(BigInteger, default=0)


class StatsHourly(Base):
    """A counter per (campaign, metric, UTC hour since the epoch)."""

    __tablename__ = "stats_hourly"

    campaign_id: Mapped[int] = mapped_column(
        ForeignKey("campaigns.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    metric: Mapped[str] = mapped_column(String(32), primary_key=True)
    hour: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    n: Mapped[int] = mapped_column(BigInteger, default=0)


class StatsLink(Base):
    """A counter per (link, metric)."""

    __tablename__ = "stats_links"

    link_id: Mapped[int] = mapped_column(
        ForeignKey("links.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    metric: Mapped[str] = mapped_column(String(32), primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    n: Mapped[int] = mapped_column(BigInteger, default=0)

    __table_args__ = (Index(None, "campaign_id"),)
